"""Property-based conformance: schemathesis drives every operation of the OpenAPI document with
generated requests (authenticated, with a granted purpose) and finds no 5xx and no response
that violates the document. Bounded: a few examples per operation."""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.api.conftest import Api

EXAMPLES = 10
# CSC answers a random PIN, OTP or SAD with its documented 400 "invalid_request": that is the
# API working, so schemathesis's "schema-valid request accepted" check does not apply there;
# every other check (no 5xx, documented status codes, content types, response schemas) does.
# Likewise the witness answers a random body with the C2SP protocol's documented 400.
SEMANTIC_REJECTION = (
    "/csc/v2/credentials/authorize",
    "/csc/v2/signatures/signHash",
    "/v1/witness/add-checkpoint",
    # checked against the data catalogue: fields, purposes, legal basis, dates (422 naming why)
    "/v1/access-requests",
    "/v1/disputes",
)


def _conformance(operation: Any, headers: dict[str, str], excluded: list[Any]) -> Any:
    @given(case=operation.as_strategy())
    @hypothesis_settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def check(case: Any) -> None:
        case.call_and_validate(headers=headers, excluded_checks=excluded)

    return check


def test_api_conforms_to_its_openapi(api: Api) -> None:
    state = api.http.app.state.hub
    # the address limits hold strangers to a few requests a second: schemathesis sends
    # thousands with wrong keys to check they are refused, which is what this test is about
    state.stranger_rate = state.public_rate = state.public_burst = 1e6
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.http.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    paths = {op.path for op in operations}
    # the sharing API, licence verification and the cloud-signature API are all covered
    assert {"/v1/persons/{id}", "/v1/licences/verify", "/csc/v2/signatures/signHash"} <= paths
    assert len(operations) >= 22
    headers = api.headers()
    for operation in operations:
        excluded = [positive_data_acceptance] if operation.path in SEMANTIC_REJECTION else []
        try:
            _conformance(operation, headers, excluded)()
        except Exception as exc:
            exc.add_note(f"operation: {operation.method.upper()} {operation.path}")
            raise
