"""Fixtures for the API tests: a small library, clients with and without grants, an app."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from api.clients import ClientStore
from hub.settings import Settings
from hub.wiring import api_app
from storage.library import LEGAL_ENTITY, POPULATION, LibraryStore, engine_for

PERSON = "11010519491231002X"
PERSON_NAME = "张三"
ENTITY = "91110000600037341L"
ENTITY_NAME = "示例科技有限公司"
PURPOSE = "social-assistance-review"
DAY1 = dt.datetime(2026, 1, 10, 8, 0, tzinfo=dt.UTC)
DAY2 = dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.UTC)


def seed_library(settings: Settings) -> LibraryStore:
    lib = LibraryStore(engine_for(settings.db_url))
    lib.merge(
        POPULATION,
        "ps-1",
        "ps_household",
        DAY1,
        [PERSON, "110105194912310021"[:17] + "0"],
        {"name": [PERSON_NAME, "李四"], "mobile": ["13800000000", None], "sex": ["2", "1"]},
        ["name", "sex"],
    )
    lib.merge(POPULATION, "hr-1", "hrss_insurance", DAY2, [PERSON], {"mobile": ["13900000000"]})
    lib.merge(
        LEGAL_ENTITY,
        "mr-1",
        "mr_enterprise",
        DAY1,
        [ENTITY],
        {
            "entity_name": [ENTITY_NAME],
            "legal_rep_name": [PERSON_NAME],
            "registered_capital": ["1000000"],
        },
        ["entity_name"],
    )
    return lib


@dataclass
class Api:
    http: TestClient
    settings: Settings
    clients: ClientStore
    granted: str  # key of a client holding every scope for PURPOSE (names/sex only for persons)
    ungranted: str  # key of a registered client without any grant

    def headers(self, key: str | None = None, purpose: str = PURPOSE) -> dict[str, str]:
        return {"Authorization": f"Bearer {key or self.granted}", "X-Purpose": purpose}


@pytest.fixture
def api(settings: Settings) -> Iterator[Api]:
    seed_library(settings)
    app = api_app(settings, background=False)
    state = app.state.hub
    store = state.clients
    granted = store.add("approvals-a", "Approval system A", rate_limit=1000)
    ungranted = store.add("approvals-b", "Approval system B", rate_limit=1000)
    until = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)
    store.grant("approvals-a", "population", PURPOSE, until, ["name", "sex"])
    for scope in ("legal-entity", "verify-person", "verify-entity", "licences", "ledger"):
        store.grant("approvals-a", scope, PURPOSE, until)
    store.grant("approvals-a", "datasets", PURPOSE, until, ["ps_household"])
    with TestClient(app, raise_server_exceptions=False) as http:
        yield Api(http, settings, store, granted, ungranted)
