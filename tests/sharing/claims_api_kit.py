"""The claims API over the synthetic library, with clients granted all, one or no claim type."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient

from api.clients import ClientStore
from hub.settings import Settings
from hub.wiring import api_app
from storage.library import LibraryStore, engine_for
from tests.sharing.claims_fixtures import seed

PURPOSE = "social-assistance-review"


@dataclass
class ClaimsApi:
    http: TestClient
    settings: Settings
    clients: ClientStore
    app: Any
    granted: str  # every claim type
    partial: str  # person.alive only (granted as claim:person.alive)
    ungranted: str  # no claims grant at all

    def headers(self, key: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key or self.granted}", "X-Purpose": PURPOSE}

    def ask(self, body: dict[str, Any], key: str | None = None, batch: bool = False) -> Any:
        path = "/v1/batch/claims/verify" if batch else "/v1/claims/verify"
        return self.http.post(path, json=body, headers=self.headers(key))

    def audit(self) -> list[dict[str, Any]]:
        from sqlalchemy import select

        from api.audit import audit_log

        log = self.app.state.hub.audit
        log.flush()
        with log.engine.connect() as conn:
            return [
                dict(r._mapping) for r in conn.execute(select(audit_log).order_by(audit_log.c.id))
            ]


def claims_api(settings: Settings) -> Iterator[ClaimsApi]:
    seed(LibraryStore(engine_for(settings.db_url)))
    app = api_app(settings, background=False)
    store = app.state.hub.clients
    until = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)
    granted = store.add("approvals-a", "Approval system A", rate_limit=10_000)
    partial = store.add("approvals-p", "Approval system P", rate_limit=10_000)
    ungranted = store.add("approvals-b", "Approval system B", rate_limit=10_000)
    store.grant("approvals-a", "claims", PURPOSE, until)
    store.grant("approvals-p", "claim:person.alive", PURPOSE, until)
    store.grant("approvals-b", "population", PURPOSE, until)
    with TestClient(app, raise_server_exceptions=False) as http:
        yield ClaimsApi(http, settings, store, app, granted, partial, ungranted)
