"""Which engine a read that may trail goes to (storage.replica): the primary unless a replica is
configured and keeps up, and the primary again when the replica fails under a read (the
services tier's tests/services/test_pg_replica.py runs the same against a real standby)."""

from __future__ import annotations

import socket

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, text

from api.routers import health
from hub.settings import Settings
from hub.wiring import api_app
from storage.engine import make_engine
from storage.replica import ReadRouting, ReplicaState, replica_engine


def _closed_port() -> int:
    """A loopback port nothing listens on (connections to it are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _where(conn: Connection) -> str:
    return str(conn.engine.url.get_backend_name())


@pytest.fixture
def primary(settings: Settings) -> Engine:
    return make_engine(settings.db_url)


class _KeepsUp(ReadRouting):
    """A routing whose replica (``replica_url``, whatever the primary) passed its last check,
    whatever it answers to reads."""

    def __init__(self, primary: Engine, replica_url: str, **kw: float) -> None:
        super().__init__(primary, **kw)
        self.replica = replica_engine(replica_url)

    def check(self) -> ReplicaState:
        return ReplicaState(configured=True, serving=True, lag_seconds=0.0, lag_bytes=0)


def test_without_a_replica_reads_go_to_the_primary(primary: Engine) -> None:
    routing = ReadRouting(primary)
    assert routing.read(_where) == "sqlite"
    state = routing.state()
    assert not state.configured and not state.serving


@pytest.mark.parametrize(
    ("primary_url", "replica_url", "why"),
    [
        ("sqlite:///hub.db", "sqlite:///elsewhere.db", "the replica must be PostgreSQL"),
        ("sqlite:///hub.db", "postgresql+psycopg://hub:x@127.0.0.1:2/hub", "is not PostgreSQL"),
        (
            "postgresql+psycopg://hub:x@127.0.0.1:1/hub_test_1",
            "postgresql+psycopg://hub:x@127.0.0.1:2/hub",
            "names another database",
        ),
    ],
)
def test_a_replica_of_another_database_is_never_read(
    primary_url: str, replica_url: str, why: str
) -> None:
    """A process handed its own database (a test's, a benchmark's SQLite file) beside a
    shell's HUB_DATABASE_REPLICA_URL reads its own database, and says why."""
    routing = ReadRouting(make_engine(primary_url), replica_url)
    assert routing.replica is None
    state = routing.state()
    assert not state.configured and not state.serving and why in state.detail


def test_a_replica_failing_under_a_read_sends_it_to_the_primary(primary: Engine) -> None:
    url = f"postgresql+psycopg://hub:secret@127.0.0.1:{_closed_port()}/hub"
    routing = _KeepsUp(primary, url, retry=60.0)
    assert routing.state().serving
    # the read is answered by the primary; the replica is left alone for a while
    assert routing.read(lambda conn: conn.execute(text("SELECT 41 + 1")).scalar_one()) == 42
    state = routing.state()
    assert state.configured and not state.serving and state.detail == "OperationalError"
    assert "secret" not in state.detail and "127.0.0.1" not in state.detail
    assert routing.read(_where) == "sqlite"


def test_a_statement_error_is_not_hidden_by_the_fallback(primary: Engine) -> None:
    routing = _KeepsUp(primary, f"postgresql+psycopg://hub:x@127.0.0.1:{_closed_port()}/hub")

    def wrong(conn: Connection) -> object:
        raise RuntimeError("the read itself failed")

    with pytest.raises(RuntimeError, match="the read itself failed"):
        routing.read(wrong)


def test_without_a_replica_readiness_says_so_and_reads_go_to_the_primary(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(health, "READY_TTL", 0.0)
    with TestClient(api_app(settings, background=False)) as client:
        body = client.get("/v1/health/ready").json()
    assert body["status"] == "ready" and body["degraded"] == []
    assert body["replica"] == {
        "ok": True,
        "detail": "",
        "configured": False,
        "reads": "primary",
        "lag_seconds": None,
        "lag_bytes": None,
    }


def test_a_replica_beside_the_embedded_database_is_reported_unused(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(health, "READY_TTL", 0.0)
    monkeypatch.setenv("HUB_DATABASE_REPLICA_URL", "postgresql+psycopg://hub:pw@127.0.0.1:2/hub")
    mine = Settings(home=settings.home, key_passphrase="test-passphrase")  # as a shell's env
    with TestClient(api_app(mine, background=False)) as client:
        r = client.get("/v1/health/ready")
    assert r.status_code == 200 and r.json()["status"] == "ready"
    assert r.json()["replica"]["configured"] is False
    assert "not PostgreSQL" in r.json()["replica"]["detail"] and "pw" not in r.text
