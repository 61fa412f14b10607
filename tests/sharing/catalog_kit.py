"""A hub with one household delivery ingested, its app, staff accounts and API clients: what
the catalogue, access-request and dispute tests share."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from api.clients import ClientStore
from api.pages.accounts import StaffAccounts
from hub.settings import Settings
from hub.wiring import api_app
from storage.library import engine_for

PASSWORD = "correct horse battery"
DATASET = "ps_household"
PURPOSE = "social-assistance-review"
UNTIL = dt.datetime(2099, 1, 1, tzinfo=dt.UTC)


@dataclass
class Hub:
    settings: Settings
    ingest: Any
    http: TestClient
    clients: ClientStore
    keys: dict[str, str]

    def served_clients(self) -> ClientStore:
        """The server's own client store (its cache is what a CLI change waits out)."""
        store: ClientStore = self.http.app.state.hub.clients  # type: ignore[attr-defined]
        return store

    def headers(self, client_id: str, purpose: str = PURPOSE) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[client_id]}", "X-Purpose": purpose}


def sign_in(http: TestClient, username: str) -> None:
    page = http.get("/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    signed = http.post(
        "/login",
        data={"csrf_token": token.group(1), "username": username, "password": PASSWORD},
        follow_redirects=False,
    )
    assert signed.status_code == 303, signed.text


def csrf(http: TestClient, path: str) -> str:
    token = re.search(r'name="csrf_token" value="([^"]+)"', http.get(path).text)
    assert token, path
    return token.group(1)


@pytest.fixture
def hub(settings: Settings) -> Iterator[Hub]:
    from hub.synth import generate
    from hub.wiring import ingest_services
    from pipeline.run import run_pipeline

    ingest = ingest_services(settings)
    synth = generate(settings.home / "departments", city="3404", persons=60, entities=5, seed=3)
    run_pipeline(
        ingest, DATASET, synth.files[DATASET].read_bytes(), "household.csv", fail_on_breach=False
    )
    engine = engine_for(settings.db_url)
    cheap = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
    StaffAccounts(engine, cheap).add("clerk", "publisher", PASSWORD)
    store = ClientStore(engine)
    keys = {cid: store.add(cid, f"system {cid}") for cid in ("approvals", "stranger")}
    with TestClient(api_app(settings, background=False)) as http:
        yield Hub(settings, ingest, http, store, keys)


@pytest.fixture
def catalogue_page(hub: Hub) -> str:
    sign_in(hub.http, "clerk")
    page = hub.http.get(f"/catalog/{DATASET}")
    assert page.status_code == 200
    return page.text
