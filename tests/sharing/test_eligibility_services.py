"""Services tier: a policy run, its applications and a form prefill on PostgreSQL. The run reads
the library from PostgreSQL in one scan and picks the hand-computed people; a re-run (also two
runs at once, as the DAG and a clerk's `hub policies run` may start) leaves one application per
person per period; a person who died is dropped; the application's form is prefilled from the
golden records with their sources."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from schemas import forms, policies
from sharing.eligibility import ApplicationStore, library_table, run_on_store
from sharing.forms import allow_all, prefill
from storage.library import POPULATION, LibraryStore, engine_for
from tests.servicekit import own_database
from tests.sharing.test_eligibility import (
    APRIL,
    DAY2,
    DIES,
    JUST,
    MARCH,
    OLD,
    SOON,
    _merge,
    lib_with_people,
    open_applications,
    reads,
)

pytestmark = pytest.mark.services
POLICY = "elderly-allowance"


@pytest.fixture
def lib() -> Iterator[LibraryStore]:
    with own_database() as url:
        engine = engine_for(url)
        assert engine.dialect.name == "postgresql"
        try:
            yield lib_with_people(LibraryStore(engine))
        finally:
            engine.dispose()


def run(lib: LibraryStore, day: dt.date) -> object:
    return run_on_store(policies.get(POLICY), lib, reads(lib), day)


def test_the_policy_read_on_postgresql_equals_the_point_reads(lib: LibraryStore) -> None:
    fields = list(policies.get(POLICY).fields())
    table = lib.field_columns(POPULATION, fields)
    for row in table.to_pylist():
        record = lib.record(POPULATION, row.pop("subject"))
        assert record is not None and row == {f: record.value(f) for f in fields}
    typed = library_table(lib, POPULATION, fields)
    assert typed.num_rows == table.num_rows == len(lib.subjects(POPULATION))


def test_runs_on_postgresql_leave_one_application_per_person_per_period(
    lib: LibraryStore,
) -> None:
    march = run_on_store(policies.get(POLICY), lib, reads(lib), MARCH)
    assert (march.eligible, len(march.created), march.ended) == (3, 3, 0)
    again = run_on_store(policies.get(POLICY), lib, reads(lib), MARCH)
    assert (len(again.created), again.ended) == (0, 0)
    # two runs of the next period at once: both finish, one application between them
    with ThreadPoolExecutor(2) as pool:
        both = list(pool.map(lambda _: run(lib, APRIL), range(2)))
    assert sorted(len(r.created) for r in both) == [0, 1]  # type: ignore[attr-defined]
    assert open_applications(lib) == {
        OLD: ["2026-03"],
        JUST: ["2026-03"],
        DIES: ["2026-03"],
        SOON: ["2026-04"],
    }
    _merge(
        lib,
        "population",
        "ca_marriage_death-2",
        DAY2,
        {DIES: {"deceased": "1", "death_date": "2026-03-20"}},
        ["deceased", "death_date"],
    )
    may = run_on_store(policies.get(POLICY), lib, reads(lib), dt.date(2026, 5, 4))
    assert (len(may.created), may.ended) == (0, 1)
    assert DIES not in open_applications(lib)
    store = ApplicationStore(lib.engine)
    changes = store.since(POLICY)
    assert [r["subject"] for r in changes][-1] == DIES  # the ending is the latest change
    last = dt.datetime.fromisoformat(changes[-1]["updated_at"])
    assert store.since(POLICY, last, after=changes[-1]["application_id"]) == []


def test_a_form_is_prefilled_from_postgresql_with_its_sources(lib: LibraryStore) -> None:
    filled = prefill(forms.get(POLICY), OLD, reads(lib), allow_all, dt.date(2026, 3, 1)).to_json()
    by_key = {f["key"]: f for f in filled["fields"]}
    assert by_key["age"]["value"] == "85"
    assert by_key["age"]["source"]["dataset"] == "ps_household"
    assert by_key["age"]["source"]["authoritative"] is True
    run(lib, MARCH)
    (application,) = [r for r in ApplicationStore(lib.engine).since(POLICY) if r["subject"] == OLD]
    assert {f["key"]: f["value"] for f in application["form"]["fields"]}["age"] == "85"


def test_a_postgresql_library_keeps_its_snapshot_in_the_given_folder(
    lib: LibraryStore, tmp_path: Path
) -> None:
    """As the hub wires it (the folder in its home): the first policy read builds the snapshot,
    the next is served from it, and a merge makes it stale, never served."""
    from storage.library import snapshot as snap

    kept = LibraryStore(lib.engine, snapshots=tmp_path / "library-snapshots")
    fields = list(policies.get(POLICY).fields())
    assert snap.load(kept, POPULATION, fields) is None
    first = library_table(kept, POPULATION, fields)  # scans, and keeps what it read
    served = snap.load(kept, POPULATION, fields)
    assert served is not None and served.num_rows == first.num_rows
    assert list((tmp_path / "library-snapshots").glob("population-*.arrow"))
    _merge(
        kept,
        "population",
        "ca_marriage_death-2",
        DAY2,
        {DIES: {"deceased": "1", "death_date": "2026-03-20"}},
        ["deceased", "death_date"],
    )
    assert snap.load(kept, POPULATION, fields) is None  # stale from the merge on
    again = library_table(kept, POPULATION, fields).to_pylist()
    assert next(r for r in again if r["subject"] == DIES)["death_date"] == dt.date(2026, 3, 20)
