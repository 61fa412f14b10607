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
