"""The API reads golden records from a streaming replica of PostgreSQL while it keeps up, and
from the primary when it lags or is down, without a failed request (services tier: needs
``scripts/services.sh up replica``)."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from api.routers import health
from hub.settings import Settings
from hub.wiring import api_app
from storage.library import POPULATION, LibraryStore, engine_for
from tests.servicekit import (
    own_database,
    replica_database_url,
    replica_script,
    replica_superuser_url,
)

pytestmark = pytest.mark.services

PURPOSE = "social-assistance-review"
FIRST = "34040119900101001X"
LATER = "340401199001010021"


@dataclass
class Cluster:
    http: TestClient
    library: LibraryStore
    state: Any  # the app's HubState
    headers: dict[str, str]
    replica_statements: list[str]  # statements the API ran on the replica

    def merge(self, run_id: str, subject: str, name: str) -> None:
        when = dt.datetime.now(dt.UTC)
        self.library.merge(POPULATION, run_id, "ps_household", when, [subject], {"name": [name]})

    def name(self, subject: str) -> tuple[int, str | None]:
        r = self.http.get(f"/v1/persons/{subject}", headers=self.headers)
        return r.status_code, r.json().get("fields", {}).get("name", {}).get("value")

    def ready(self) -> dict[str, Any]:
        r = self.http.get("/v1/health/ready")
        assert r.status_code == 200, r.text  # a replica never takes the instance out
        body: dict[str, Any] = r.json()
        return body


def _until(what: Any, timeout: float = 60.0) -> Any:
    """Poll ``what()`` until it is truthy (a wait, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while not (got := what()):
        assert time.monotonic() < deadline, "gave up waiting"
        time.sleep(0.2)
    return got


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cluster]:
    monkeypatch.setattr(health, "READY_TTL", 0.0)  # each request checks again
    with own_database() as url:
        settings = Settings(
            home=tmp_path / "hub",
            key_passphrase="test-passphrase",
            database_url=url,
            database_replica_url=replica_database_url(url),
        )
        settings.ensure_dirs()
        library = LibraryStore(engine_for(url))
        app = api_app(settings, background=False)
        state = app.state.hub
        assert state.reads.replica is not None
        seen: list[str] = []
        event.listen(state.reads.replica, "before_cursor_execute", lambda *a: seen.append(a[2]))
        until = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
        key = state.clients.add("approvals", "Approval system", rate_limit=10_000)
        state.clients.grant("approvals", "population", PURPOSE, until, ["name"])
        headers = {"Authorization": f"Bearer {key}", "X-Purpose": PURPOSE}
        with TestClient(app, raise_server_exceptions=False) as http:
            yield Cluster(http, library, state, headers, seen)
        state.reads.replica.dispose()


def _golden_reads(statements: list[str]) -> int:
    return sum("library_records" in s for s in statements)


def test_a_write_on_the_primary_is_read_through_the_replica(cluster: Cluster) -> None:
    cluster.merge("r1", FIRST, "张三")
    # the replica replays the merge within moments; until then it answers 404
    assert _until(lambda: cluster.name(FIRST) == (200, "张三"))
    assert _golden_reads(cluster.replica_statements) >= 1  # the replica answered
    ready = cluster.ready()
    assert ready["status"] == "ready" and ready["degraded"] == []
    replica = ready["replica"]
    assert replica["configured"] and replica["ok"] and replica["reads"] == "replica"
    assert replica["lag_seconds"] is not None and replica["lag_seconds"] >= 0
    assert replica["lag_bytes"] is not None and replica["lag_bytes"] >= 0
    # the gate's reads (the client and its grants) never go to the replica
    assert not [s for s in cluster.replica_statements if "api_clients" in s or "api_grants" in s]


def test_a_lagging_replica_sends_reads_to_the_primary(cluster: Cluster) -> None:
    cluster.merge("r1", FIRST, "张三")
    assert _until(lambda: cluster.name(FIRST) == (200, "张三"))
    cluster.state.reads.max_lag = 0.001  # any lag at all is too much
    with psycopg.connect(replica_superuser_url(), autocommit=True) as admin:
        admin.execute("SELECT pg_wal_replay_pause()")
        try:
            cluster.merge("r2", LATER, "李四")  # the replica does not replay it
            ready = _until(lambda: (r := cluster.ready())["degraded"] and r)
            assert ready["status"] == "degraded" and ready["failing"] == []
            replica = ready["replica"]
            assert not replica["ok"] and replica["reads"] == "primary"
            assert replica["lag_bytes"] > 0 and replica["lag_seconds"] > 0.001
            assert "lags" in replica["detail"]
            before = _golden_reads(cluster.replica_statements)
            # fresh from the primary, though the replica has not seen it
            assert cluster.name(LATER) == (200, "李四")
            assert cluster.name(FIRST) == (200, "张三")
            assert _golden_reads(cluster.replica_statements) == before
        finally:
            admin.execute("SELECT pg_wal_replay_resume()")
    assert _until(lambda: cluster.ready()["replica"]["reads"] == "replica")


def test_a_killed_replica_falls_back_to_the_primary_without_a_failed_request(
    cluster: Cluster,
) -> None:
    cluster.merge("r1", FIRST, "张三")
    assert _until(lambda: cluster.name(FIRST) == (200, "张三"))
    assert cluster.ready()["replica"]["reads"] == "replica"
    killer = threading.Thread(target=replica_script, args=("down",), kwargs={"crash": True})
    answers: list[tuple[int, str | None]] = []
    try:
        killer.start()
        while killer.is_alive():  # reads go on while the replica is stopped under them
            answers.append(cluster.name(FIRST))
        killer.join()
        for _ in range(20):  # and after: the pooled connections to it are dead
            answers.append(cluster.name(FIRST))
        assert set(answers) == {(200, "张三")}, set(answers)
        ready = cluster.ready()
        assert ready["status"] == "degraded" and ready["degraded"] == ["replica"]
        assert ready["replica"]["reads"] == "primary" and not ready["replica"]["ok"]
        assert ready["replica"]["lag_seconds"] is None
        # writes go on meanwhile, and the primary serves them at once
        cluster.merge("r2", LATER, "李四")
        assert cluster.name(LATER) == (200, "李四")
    finally:
        killer.join()
        replica_script("up")
    # back: it catches up on what it missed, and reads return to it
    assert _until(lambda: cluster.ready()["replica"]["reads"] == "replica")
    before = _golden_reads(cluster.replica_statements)
    assert cluster.name(LATER) == (200, "李四")
    assert _golden_reads(cluster.replica_statements) == before + 1
