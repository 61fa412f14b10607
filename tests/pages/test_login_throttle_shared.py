"""Sign-in pauses shared by API instances: a guesser gets the allowance once, however many
instances the load balancer spreads the guesses over, and the table names nobody."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, select

from api.pages.throttle import LoginThrottle, SharedLoginThrottle, failures_table

KEY = b"k" * 32
ID = "11010519491231002X"
ADDRESS = "203.0.113.9"


def _engine(tmp_path: Path) -> Engine:
    return create_engine(f"sqlite:///{tmp_path / 'hub.db'}")


def _two_instances(engine: Engine, **kw: float) -> tuple[SharedLoginThrottle, SharedLoginThrottle]:
    # two processes on one database: separate objects, separate engines
    other = create_engine(engine.url)
    return (
        SharedLoginThrottle(engine, "holder", KEY, **kw),  # type: ignore[arg-type]
        SharedLoginThrottle(other, "holder", KEY, **kw),  # type: ignore[arg-type]
    )


def test_failures_on_two_instances_count_together(tmp_path: Path) -> None:
    a, b = _two_instances(_engine(tmp_path), allowed=4, first=60, longest=900)
    now = 1_000_000.0
    pauses = [(a if i % 2 else b).failed(ID, ADDRESS, now=now + i) for i in range(6)]
    assert pauses[:3] == [0.0] * 3  # the allowance is 4 in all, not 4 per instance
    assert pauses[3] == pytest.approx(60.0) and pauses[4] == pytest.approx(120.0)
    assert pauses[5] == pytest.approx(240.0)
    assert a.wait(ID, ADDRESS, now=now + 6) == pytest.approx(239.0)
    assert b.wait(ID, ADDRESS, now=now + 6) == pytest.approx(239.0)
    assert a.wait(ID, "10.20.0.7", now=now + 6) == 0.0  # the owner's desk is not paused


def test_the_shared_rule_is_the_in_memory_rule(tmp_path: Path) -> None:
    shared = SharedLoginThrottle(_engine(tmp_path), "staff", KEY, 3, 30, 200)
    local = LoginThrottle(3, 30, 200)
    for t in range(9):
        assert shared.failed("admin", ADDRESS, now=float(t)) == local.failed(
            "admin", ADDRESS, now=float(t)
        )


def test_success_clears_the_pair_for_every_instance(tmp_path: Path) -> None:
    a, b = _two_instances(_engine(tmp_path), allowed=1, first=60, longest=60)
    assert a.failed(ID, ADDRESS, now=10.0) == pytest.approx(60.0)
    b.succeeded(ID, ADDRESS)
    assert a.wait(ID, ADDRESS, now=11.0) == 0.0


def test_a_quiet_pair_is_forgotten_and_pruned(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    throttle = SharedLoginThrottle(engine, "staff", KEY, 1, 60, 60, forget=100.0)
    assert throttle.failed("old", ADDRESS, now=0.0) > 0
    assert throttle.wait("old", ADDRESS, now=50.0) > 0
    assert throttle.wait("old", ADDRESS, now=200.0) == 0.0  # quiet for longer than forget
    assert throttle.failed("old", ADDRESS, now=200.0) == pytest.approx(60.0)  # counts from 1
    for i in range(400):  # a flood of made-up names later: the forgotten pairs go
        throttle.failed(f"made-up-{i}", ADDRESS, now=1_000.0)
    with engine.connect() as conn:
        lasts = conn.execute(select(failures_table.c.last)).scalars().all()
    assert min(lasts) >= 1_000.0 - 100.0


def test_the_table_holds_no_name_and_no_address(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    SharedLoginThrottle(engine, "holder", KEY).failed(ID, ADDRESS)
    with engine.connect() as conn:
        rows = conn.execute(select(failures_table)).all()
    text = repr(rows)
    assert len(rows) == 1 and ID not in text and ADDRESS not in text and ID[:6] not in text
    # another hub's secret gives another key: the rows cannot be joined across hubs
    assert SharedLoginThrottle(engine, "holder", b"x" * 32).pair(ID, ADDRESS) != rows[0].pair


def test_an_unreachable_database_still_pauses_in_this_process() -> None:
    engine = create_engine("postgresql+psycopg://hub:x@127.0.0.1:9/hub?connect_timeout=2")
    throttle = SharedLoginThrottle(engine, "staff", KEY, allowed=2, first=60, longest=60)
    assert throttle.failed("admin", ADDRESS) == 0.0
    assert throttle.failed("admin", ADDRESS) == pytest.approx(60.0, abs=1)
    assert throttle.wait("admin", ADDRESS) > 0


def test_an_embedded_hub_keeps_its_pauses_in_memory() -> None:
    assert not SharedLoginThrottle.suits(create_engine("sqlite://"))
