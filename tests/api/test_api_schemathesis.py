"""Property-based conformance: schemathesis drives every operation of the OpenAPI document with
generated requests (authenticated, with a granted purpose) and finds no 5xx and no response
that violates the document. Bounded: a few examples per operation."""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings

from tests.api.conftest import Api

EXAMPLES = 10
# the sharing API's operations (pages, licence verification and cloud signature have owners and
# tests of their own)
SHARING = ("/v1/health", "/v1/persons", "/v1/entities", "/v1/verify", "/v1/holders", "/v1/batch")
SHARING += ("/v1/ledger", "/v1/datasets", "/v1/runs")


def test_api_conforms_to_its_openapi(api: Api) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.http.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    operations = [op for op in operations if op.path.startswith(SHARING)]
    assert len(operations) == 16
    headers = api.headers()
    for operation in operations:

        @given(case=operation.as_strategy())
        @hypothesis_settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def check(case: Any) -> None:
            case.call_and_validate(headers=headers)

        try:
            check()
        except Exception as exc:
            exc.add_note(f"operation: {operation.method.upper()} {operation.path}")
            raise
