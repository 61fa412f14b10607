"""Issuance through the API, bulk issuance and governance on PostgreSQL (services tier): the
Idempotency-Key store, the job rows and the findings behave as on SQLite."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.settings import Settings

pytestmark = pytest.mark.services

MR = "11430100005543215L"  # 长沙市市场监督管理局


@pytest.fixture
def pg_settings(tmp_path: Path) -> Iterator[Settings]:
    """Settings on a fresh PostgreSQL database of the services tier (dropped afterwards)."""
    import psycopg
    from servicekit import libpq_url, service_env

    from storage.engine import make_engine

    base = service_env()["HUB_DATABASE_URL"]
    name = f"hub_issuing_{secrets.token_hex(4)}"
    with psycopg.connect(libpq_url(base), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = base.rsplit("/", 1)[0] + "/" + name
    settings = Settings(home=tmp_path / "hub", key_passphrase="test-passphrase", database_url=url)
    settings.ensure_dirs()
    try:
        yield settings
    finally:
        from licence import authorities
        from schemas import licence_types

        # the registries read this database, which is dropped now: back to the YAML files
        licence_types.use_registry(None)
        authorities.use_registry(None)
        make_engine(url).dispose()
        with psycopg.connect(libpq_url(base), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_issuance_api_bulk_and_governance_on_postgresql(pg_settings: Settings) -> None:
    from fastapi.testclient import TestClient

    from hub.wiring import api_app, library_store
    from licence.bulk import BulkIssuer, library_rows
    from licence.governance import ENTITY_NOT_OPERATING
    from licence.governance_run import run_governance
    from schemas import licence_types, uscc
    from storage.library import LEGAL_ENTITY

    ids = []
    for i in range(4):
        org = f"MA9{i:05d}"
        body = "91430100" + org + uscc.org_code_check(org)
        ids.append(body + uscc.check_character(body))
    library = library_store(pg_settings)
    library.merge(
        LEGAL_ENTITY,
        "mr-1",
        "mr_enterprise",
        dt.datetime(2026, 1, 5, tzinfo=dt.UTC),
        ids,
        {
            "entity_name": [f"企业{i}" for i in range(4)],
            "legal_rep_name": ["李雷"] * 4,
            "registered_address": ["长沙"] * 4,
            "established_date": ["2019-04-01"] * 4,
            "registered_capital": ["1000000"] * 4,
            "registration_status": ["1"] * 4,
        },
    )
    app = api_app(pg_settings, background=False)
    state = app.state.hub
    svc = state.licences
    svc.ensure_ca()
    svc.create_seal(MR)
    key = state.clients.add("city-mr", "city", rate_limit=1000)
    until = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)
    state.clients.grant("city-mr", "issue", "licence-issuance", until, ["business_licence"])
    svc.store.bind_client("city-mr", MR)
    fields = {
        "entity_type": "有限责任公司",
        "legal_representative": "李雷",
        "registered_capital": "100万元",
        "established": "2019-04-01",
        "address": "长沙",
        "business_scope": "软件开发",
    }

    def item(i: int, name: str | None = None) -> dict[str, object]:
        holder = {"id": ids[i], "name": name or f"企业{i}"}
        return {"type": "business_licence", "holder": holder, "fields": fields}

    h = {"Authorization": f"Bearer {key}", "X-Purpose": "licence-issuance"}
    with TestClient(app, raise_server_exceptions=False) as http:
        first = http.post("/v1/licences", json=item(0), headers={**h, "Idempotency-Key": "k1"})
        again = http.post("/v1/licences", json=item(0), headers={**h, "Idempotency-Key": "k1"})
        other = http.post("/v1/licences", json=item(1), headers={**h, "Idempotency-Key": "k1"})
        batch = http.post(
            "/v1/batch/licences",
            json={"items": [item(1), item(2, "别的名字")]},
            headers={**h, "Idempotency-Key": "b1"},
        )
    assert first.status_code == again.status_code == 201 and again.json() == first.json()
    assert other.status_code == 409
    assert (batch.json()["issued"], batch.json()["refused"]) == (1, 1)
    assert len(svc.store.licences()) == 2

    # bulk from the library: the two without a business licence yet; run twice, issued once
    lt = licence_types.get("business_licence")
    source = library_rows(
        library,
        LEGAL_ENTITY,
        lt,
        [],
        {"entity_type": "有限责任公司", "business_scope": "软件开发"},
        svc.store.holders_with(lt.code),
    )
    done = BulkIssuer(svc, chunk=1).run("business_licence", MR, source)
    assert (done.issued, done.refused) == (2, [])
    again_done = BulkIssuer(svc, chunk=1).run("business_licence", MR, source)
    assert again_done.resumed == 2 and len(svc.store.licences()) == 4

    # governance: entity 3 deregistered -> its business licence suspended
    library.merge(
        LEGAL_ENTITY,
        "mr-2",
        "mr_enterprise",
        dt.datetime(2026, 2, 5, tzinfo=dt.UTC),
        [ids[3]],
        {"registration_status": ["4"]},
        ["registration_status"],
    )
    result = run_governance(svc, library)
    assert [(f.holder_id, f.kind) for f in result.findings] == [(ids[3], ENTITY_NOT_OPERATING)]
    assert len(result.suspended) == 1
    assert svc.row(result.suspended[0])["status"] == "suspended"
