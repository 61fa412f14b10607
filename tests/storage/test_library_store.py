"""Library store: precedence (authoritative source, then newest), as-of reads, idempotent merge."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest

from hub.settings import Settings
from storage.library import POPULATION, LibraryError, LibraryStore, engine_for, metadata
from tests.servicekit import session_database_url

PID = "11010519491231002X"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def lib(request: pytest.FixtureRequest, settings: Settings) -> Iterator[LibraryStore]:
    if request.param == "sqlite":
        yield LibraryStore(engine_for(settings.db_url))
        return
    # this session's own database: the services' hub database belongs to the scheduler's tasks
    engine = engine_for(session_database_url())
    metadata.drop_all(engine)  # a clean library per test
    yield LibraryStore(engine)
    metadata.drop_all(engine)
    engine.dispose()


def _t(day: int) -> datetime:
    return datetime(2024, 1, day, 9, 0, tzinfo=UTC)


def test_newest_wins_without_authority(lib: LibraryStore) -> None:
    lib.merge(POPULATION, "r1", "hrss_insurance", _t(1), [PID], {"phone": ["13800000001"]})
    lib.merge(POPULATION, "r2", "ca_marriage", _t(3), [PID], {"phone": ["13800000002"]})
    rec = lib.person(PID)
    assert rec is not None
    assert rec.value("phone") == "13800000002"
    assert rec.fields["phone"].dataset == "ca_marriage"
    assert [f.value for f in rec.history["phone"]] == ["13800000001", "13800000002"]


def test_authoritative_source_beats_newer(lib: LibraryStore) -> None:
    lib.merge(POPULATION, "r1", "ps_household", _t(1), [PID], {"name": ["张三"]}, ["name"])
    lib.merge(POPULATION, "r2", "hrss_insurance", _t(5), [PID], {"name": ["張三"]})
    rec = lib.person(PID)
    assert rec is not None and rec.value("name") == "张三"
    assert rec.fields["name"].authoritative
    # golden table agrees with the fact-based read
    assert lib.names([PID]) == {PID: "张三"}


def test_as_of_answers_what_was_known(lib: LibraryStore) -> None:
    lib.merge(POPULATION, "r1", "ca_marriage", _t(1), [PID], {"marital_status": ["10"]})
    lib.merge(POPULATION, "r2", "ca_marriage", _t(10), [PID], {"marital_status": ["20"]})
    old = lib.person(PID, as_of=date(2024, 1, 5))
    assert old is not None and old.value("marital_status") == "10"
    assert lib.person(PID, as_of=date(2023, 12, 31)) is None
    now = lib.person(PID)
    assert now is not None and now.value("marital_status") == "20"


def test_merge_twice_changes_nothing_and_nulls_do_not_erase(lib: LibraryStore) -> None:
    lib.merge(POPULATION, "r1", "ps", _t(1), [PID], {"name": ["张三"], "phone": ["1"]})
    snap = lib.golden_snapshot()
    n = lib.fact_count()
    lib.merge(POPULATION, "r1", "ps", _t(1), [PID], {"name": ["张三"], "phone": ["1"]})
    assert lib.golden_snapshot() == snap and lib.fact_count() == n
    lib.merge(POPULATION, "r2", "ps", _t(2), [PID], {"phone": [None]})
    rec = lib.person(PID)
    assert rec is not None and rec.value("phone") == "1"


def test_lookups_and_errors(lib: LibraryStore) -> None:
    assert not lib.person_exists(PID)
    lib.merge(POPULATION, "r1", "ps", _t(1), [PID], {"name": ["张三"]})
    assert lib.person_exists(PID)
    assert lib.names([PID, "110105194912310021"]) == {PID: "张三"}
    with pytest.raises(LibraryError, match="unknown library"):
        lib.merge("nope", "r", "d", _t(1), [], {})


def test_chunked_merge_equals_one_merge_and_refuses_overlapping_chunks(lib: LibraryStore) -> None:
    a, b, c = "11010519491231002X", "110105194912310021", "110105194912310048"
    lib.merge(POPULATION, "r0", "ps", _t(1), [b], {"name": ["乙"]}, ["name"])
    n = lib.merge_chunks(
        POPULATION,
        "r1",
        "hrss",
        _t(2),
        [  # subjects sort as b < a < c
            ([b, b], {"name": ["x", "y"], "phone": ["2", None]}),
            ([a, c], {"name": ["甲", None], "phone": ["1", "3"]}),
        ],
    )
    assert n == 5  # a: name, phone; b: name (the later row), phone (the earlier one); c: phone
    assert lib.names([a, b, c]) == {a: "甲", b: "乙"}  # the authoritative name of b stays
    rec = lib.person(b)
    assert rec is not None and rec.value("phone") == "2" and rec.history["name"][-1].value == "y"
    assert lib.agreement(POPULATION, "r1") == (0, 1)  # "y" against the authority's "乙"
    before = lib.golden_snapshot()
    with pytest.raises(LibraryError, match="disjoint subjects in increasing order"):
        lib.merge_chunks(
            POPULATION, "r2", "hrss", _t(3), [([c], {"phone": ["4"]}), ([a], {"phone": ["5"]})]
        )
    assert lib.golden_snapshot() == before and lib.fact_count() == 6  # nothing of r2 stayed
    # a later run over subjects the library holds, in two chunks: both chunks update records
    lib.merge_chunks(
        POPULATION,
        "r3",
        "hrss",
        _t(4),
        [([b], {"phone": ["\\b\t"]}), ([a, c], {"phone": ["\\a", "c\n"]})],
    )
    assert lib.field_values(POPULATION, "phone") == {a: "\\a", b: "\\b\t", c: "c\n"}


def test_a_hub_in_the_one_row_per_field_layout_is_upgraded(settings: Settings) -> None:
    """Facts of the earlier layout become statements and golden records on first open."""
    import sqlite3

    con = sqlite3.connect(settings.sqlite_path)
    con.executescript(
        "CREATE TABLE library_facts (library TEXT, subject TEXT, field TEXT, run_id TEXT, "
        "value TEXT, dataset TEXT, observed_at DATETIME, authoritative BOOLEAN, "
        "PRIMARY KEY (library, subject, field, run_id));"
        "CREATE TABLE library_golden (library TEXT, subject TEXT, field TEXT, value TEXT, "
        "dataset TEXT, run_id TEXT, observed_at DATETIME, authoritative BOOLEAN, "
        "PRIMARY KEY (library, subject, field));"
    )
    rows = [
        (PID, "name", "r1", "张三", "ps_household", "2024-01-01 09:00:00.000000", 1),
        (PID, "phone", "r1", "1", "ps_household", "2024-01-01 09:00:00.000000", 0),
        (PID, "name", "r2", "張三", "hrss", "2024-01-05 09:00:00.000000", 0),
        (PID, "phone", "r2", "2", "hrss", "2024-01-05 09:00:00.000000", 0),
    ]
    con.executemany(
        "INSERT INTO library_facts (library, subject, field, run_id, value, dataset, observed_at, "
        "authoritative) VALUES ('population', ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    con.commit()
    con.close()
    lib = LibraryStore(engine_for(settings.db_url))
    rec = lib.person(PID)
    assert rec is not None
    assert rec.value("name") == "张三" and rec.fields["name"].authoritative
    assert rec.value("phone") == "2" and rec.fields["phone"].dataset == "hrss"
    assert [f.value for f in rec.history["name"]] == ["张三", "張三"]
    assert lib.fact_count() == 4
    assert lib.person(PID, as_of=date(2024, 1, 2)).value("phone") == "1"  # type: ignore[union-attr]
    con = sqlite3.connect(settings.sqlite_path)
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    con.close()
    assert "library_facts" not in tables and "library_golden" not in tables


def test_run_statuses_nothing_sets_are_refused_and_a_legacy_read_run_stays_readable(
    settings: Settings,
) -> None:
    from sqlalchemy import update

    from storage.library.schema import runs

    lib = LibraryStore(engine_for(settings.db_url))
    lib.open_run("run-1", "ps_population", "ab" * 32, "landing/x", "x.csv", _t(1))
    for never_set in ("quarantined", "read"):
        with pytest.raises(LibraryError, match=f"unknown run status '{never_set}'"):
            lib.set_run("run-1", status=never_set)
    with lib.engine.begin() as conn:  # a hub from before the read step joined the check step
        conn.execute(update(runs).where(runs.c.run_id == "run-1").values(status="read"))
    assert [r["status"] for r in lib.list_runs("ps_population")] == ["read"]
    lib.set_run("run-1", status="checked")  # the check step moves such a run on
    assert lib.list_runs()[0]["status"] == "checked"
