"""Services tier: the sharing API on PostgreSQL + MinIO, and uploads started through the
Airflow REST API of the running scheduler."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.audit import audit_log
from api.audit_verify import verify
from hub.settings import Settings
from hub.wiring import api_app
from tests.api.conftest import PERSON, PERSON_NAME, PURPOSE, seed_library
from tests.servicekit import services_settings

pytestmark = pytest.mark.services


@pytest.fixture
def pg_settings(tmp_path: Path) -> Settings:
    return services_settings(tmp_path)


@pytest.fixture
def http(pg_settings: Settings) -> Iterator[tuple[TestClient, str]]:
    seed_library(pg_settings)
    app = api_app(pg_settings, background=False)
    store = app.state.hub.clients
    cid = f"svc-{time.time_ns()}"
    key = store.add(cid, "services client", rate_limit=1000)
    until = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    store.grant(cid, "population", PURPOSE, until, ["name"])
    store.grant(cid, "verify-person", PURPOSE, until)
    store.grant(cid, "datasets", PURPOSE, until, ["ps_household"])
    with TestClient(app) as client:
        yield client, key


def test_records_verification_and_audit_on_postgresql(http: tuple[TestClient, str]) -> None:
    client, key = http
    h = {"Authorization": f"Bearer {key}", "X-Purpose": PURPOSE}
    r = client.get(f"/v1/persons/{PERSON}", headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["fields"]["name"]["value"] == PERSON_NAME
    assert r.json()["fields"]["name"]["updated_at"].endswith("Z")
    state = client.app.state.hub  # type: ignore[attr-defined]
    # committed by the writer thread before the answer: visible at once to another connection
    with state.audit.engine.connect() as conn:
        rows = conn.execute(
            select(audit_log.c.client_id, audit_log.c.fields, audit_log.c.status).where(
                audit_log.c.subject_hash == state.audit.subject_hash(PERSON)
            )
        ).all()
    assert [tuple(row) for row in rows] == [
        (state.clients.authenticate(key).client_id, "name", 200)
    ]
    v = client.post("/v1/verify/person", json={"id": PERSON, "name": PERSON_NAME}, headers=h)
    assert v.json() == {"match": True}
    assert state.audit.digest() is not None
    state.ledger.sequence()
    report = verify(state.audit.engine, state.ledger)
    assert report.ok and report.rows_covered >= 2, report.problems


def test_upload_starts_the_airflow_dag(
    http: tuple[TestClient, str], pg_settings: Settings, tmp_path: Path
) -> None:
    from hub.synth import generate

    assert pg_settings.airflow_api_url, "services env has no Airflow API URL"
    client, key = http
    files = generate(tmp_path / "synth", persons=20, entities=2, dirt=0.0, seed=time.time_ns())
    data = files.files["ps_household"].read_bytes()
    h = {"Authorization": f"Bearer {key}", "X-Purpose": PURPOSE}
    r = client.post("/v1/datasets/ps_household/uploads?filename=p.csv", content=data, headers=h)
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["started_by"] == "airflow" and body["dag_run_id"]
    s = pg_settings
    with httpx.Client(base_url=s.airflow_api_url, timeout=30) as af:
        token = af.post(
            "/auth/token", json={"username": s.airflow_username, "password": s.airflow_password}
        ).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        state = None
        for _ in range(120):
            run = af.get(
                f"/api/v2/dags/ingest_ps_household/dagRuns/{body['dag_run_id']}", headers=auth
            ).json()
            state = run.get("state")
            if state in ("success", "failed"):
                break
            time.sleep(2)
    assert state == "success"
