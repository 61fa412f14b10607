"""Services tier: Schemathesis with every check on (positive and negative data, documented
status codes and content types, response schemas, ignored authentication, ...) against a real
`hub serve` on PostgreSQL — what the fast in-process test (test_api_schemathesis.py) does
against the app, here through uvicorn, HTTP and a server database."""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import (
    negative_data_rejection,
    positive_data_acceptance,
)

from api.clients import ClientStore
from hub.settings import Settings
from storage.library import engine_for
from tests.api.conftest import PURPOSE, seed_library
from tests.servicekit import session_database_url

pytestmark = pytest.mark.services

EXAMPLES = 10
HUB = str(Path(sys.executable).with_name("hub"))
# CSC answers a random PIN, OTP or SAD with its documented 400 "invalid_request": the API
# working, so "schema-valid request accepted" does not apply there (as in the fast test); nor
# to the witness, which answers a random body with the C2SP protocol's documented 400
SEMANTIC_REJECTION = (
    "/csc/v2/credentials/authorize",
    "/csc/v2/signatures/signHash",
    "/v1/witness/add-checkpoint",
    # the catalogue refuses (422) a request naming fields or purposes it does not have
    "/v1/access-requests",
    "/v1/disputes",
)


def _excluded(path: str, mode: GenerationMode) -> list[Any]:
    excluded: list[Any] = []
    if path in SEMANTIC_REJECTION:
        excluded.append(positive_data_acceptance)
    if mode is GenerationMode.NEGATIVE and path == "/v1/licences/verify":
        # by design a body that is not a licence gets an explained verdict (200, "malformed"),
        # not a refusal: the caller learns what is wrong with the file they hold
        excluded.append(negative_data_rejection)
    return excluded


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A `hub serve` on PostgreSQL (objects on local disk), a client granted every scope."""
    url = session_database_url()
    settings = Settings(home=tmp_path / "hub", database_url=url, key_passphrase="services-test")
    settings.ensure_dirs()
    seed_library(settings)
    store = ClientStore(engine_for(settings.db_url))
    cid = f"fuzz-{time.time_ns()}"
    key = store.add(cid, "schemathesis", rate_limit=1e6)
    until = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    for scope in ("population", "legal-entity", "verify-person", "verify-entity", "licences"):
        store.grant(cid, scope, PURPOSE, until)
    store.grant(cid, "ledger", PURPOSE, until)
    port = _free_port()
    env = {
        **os.environ,
        "HUB_HOME": str(settings.home),
        "HUB_DATABASE_URL": url,
        "HUB_OBJECTS": "local",
        "HUB_AIRFLOW_API_URL": "",
        "HUB_KEY_PASSPHRASE": settings.key_passphrase,
        # schemathesis sends thousands of requests with wrong keys from one address
        "HUB_API_STRANGER_RATE": "1000000",
        "HUB_API_PUBLIC_RATE": "1000000",
    }
    server = subprocess.Popen(
        [HUB, "serve", "--port", str(port), "--no-background"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                httpx.get(f"{base}/v1/health", timeout=1)
                break
            except httpx.TransportError:
                assert server.poll() is None, server.stderr.read() if server.stderr else ""
                time.sleep(0.2)
        yield base, key
    finally:
        server.terminate()
        server.communicate(timeout=30)


def _conformance(operation: Any, mode: GenerationMode, headers: dict[str, str]) -> Any:
    @given(case=operation.as_strategy(generation_mode=mode))
    @hypothesis_settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def check(case: Any) -> None:
        case.call_and_validate(
            headers=headers, excluded_checks=_excluded(operation.path, mode), timeout=30
        )

    return check


def test_a_real_server_on_postgresql_conforms_to_its_openapi(served: tuple[str, str]) -> None:
    base, key = served
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 22
    # the key only: the purpose header is generated from its schema (the registered codes)
    headers = {"Authorization": f"Bearer {key}"}
    failures = []
    for operation in operations:
        for mode in GenerationMode:
            try:
                _conformance(operation, mode, headers)()
            except Unsatisfiable:
                continue  # nothing to generate: no negative request to GET /v1/health exists
            except BaseException as exc:  # collect every operation's failures, then report
                if isinstance(exc, KeyboardInterrupt):
                    raise
                failures.append(f"{operation.method.upper()} {operation.path} [{mode.value}]")
                failures.append(str(exc)[:1500])
    assert not failures, "\n".join(failures)
