"""A company's authorisations of agents are changed in one transaction: the limit of live
grants holds under grants at once, and no grant or revocation exists without its ledger entry."""

from __future__ import annotations

import datetime as dt
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, create_engine, event, select

from holder import agents as agents_mod
from holder import store
from holder.agents import AgentRefused, Agents
from schemas import resident_id
from storage.engine import configure_sqlite, make_engine

COMPANY = "91340100MA2N0JXX0P"
REP = "340102198001010012"
UNTIL = (dt.date.today() + dt.timedelta(days=30)).isoformat()


def _person(serial: int) -> str:
    body = f"34010219900101{serial:03d}"
    return body + resident_id.check_character(body)


def _agents(path: Path, log_in: Any = None, slow: float = 0.0) -> tuple[Agents, list[bytes]]:
    logged: list[bytes] = []

    def log(data: bytes) -> int:
        time.sleep(slow)  # a ledger that takes its time: the window a race would need
        logged.append(data)
        return len(logged)

    engine = make_engine(f"sqlite:///{path}")
    return Agents(engine, log, lambda s: "h" + s[-4:], log_in=log_in), logged


def _rows(a: Agents) -> list[object]:
    with a.engine.connect() as conn:
        return list(conn.execute(select(store.agents)).all())


def test_grants_at_once_never_pass_the_limit_of_live_agents(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(agents_mod, "MAX_LIVE", 3)
    first, _ = _agents(tmp_path / "hub.db", slow=0.02)
    engine = create_engine(f"sqlite:///{tmp_path / 'hub.db'}")  # a second instance's pool
    event.listen(engine, "connect", lambda conn, _record: configure_sqlite(conn))
    other = Agents(engine, first.log, first.subject_hash)
    start = threading.Barrier(12)
    refused: list[int] = []

    def grant(i: int) -> None:
        start.wait()
        try:
            (first if i % 2 else other).grant(COMPANY, REP, _person(100 + i), UNTIL, "all")
        except AgentRefused as exc:
            refused.append(exc.status)

    threads = [threading.Thread(target=grant, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert first.count_live(COMPANY) == 3
    assert refused == [409] * 9


def test_a_grant_whose_ledger_entry_fails_is_not_stored(tmp_path: Path) -> None:
    def broken(conn: Connection, data: bytes) -> int:
        raise RuntimeError("the log is unavailable")

    a, _ = _agents(tmp_path / "hub.db", log_in=broken)
    with pytest.raises(RuntimeError):
        a.grant(COMPANY, REP, _person(101), UNTIL, "all")
    assert _rows(a) == [] and a.count_live(COMPANY) == 0


def test_a_revocation_whose_ledger_entry_fails_leaves_the_grant_live(tmp_path: Path) -> None:
    calls: list[bytes] = []

    def log_in(conn: Connection, data: bytes) -> int:
        if calls:
            raise RuntimeError("the log is unavailable")
        calls.append(data)
        return 1

    a, _ = _agents(tmp_path / "hub.db", log_in=log_in)
    made = a.grant(COMPANY, REP, _person(102), UNTIL, "all")
    with pytest.raises(RuntimeError):
        a.revoke(COMPANY, REP, made.ref)
    found = a.get(made.ref)
    assert found is not None and found.ended_at is None
    assert a.live_of(COMPANY, made.agent) == found


def test_the_entry_is_queued_in_the_grants_own_transaction(tmp_path: Path) -> None:
    seen: list[tuple[bytes, int]] = []

    def log_in(conn: Connection, data: bytes) -> int:
        # inside the transaction: the grant's row is there for this connection
        seen.append((data, len(conn.execute(select(store.agents)).all())))
        return len(seen)

    a, logged = _agents(tmp_path / "hub.db", log_in=log_in)
    made = a.grant(COMPANY, REP, _person(103), UNTIL, "present")
    assert logged == []  # not the separate append
    ((data, rows),) = seen
    assert rows == 1 and made.ref.encode() in data and made.agent.encode() not in data
