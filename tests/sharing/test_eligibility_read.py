"""A policy's read of the library: one scan of the golden records gives every subject with the
winning value of each field the policy reads — the authoritative source's over a newer one, the
newest otherwise, null where no source has the field — the same as each subject's own golden
record says."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import Any

import pyarrow as pa
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import event

from schemas import policies
from sharing.eligibility import library_table
from storage.library import POPULATION, LibraryStore, engine_for
from tests.sharing.claims_fixtures import person_id

T0 = dt.datetime(2025, 1, 10, 8, 0, tzinfo=dt.UTC)
A = person_id("340402", "19400505", "111")  # household register and two later sources
B = person_id("340403", "19460301", "222")  # household register only
C = person_id("340404", "19460302", "333")  # only the later, non-authoritative sources
D = person_id("110101", "19350101", "444")  # household register and the death register
FIELDS = ["birth_date", "household_division", "deceased", "death_date", "phone"]


def _merge(
    lib: LibraryStore,
    run: str,
    dataset: str,
    days: int,
    rows: dict[str, dict[str, str | None]],
    auth: list[str],
) -> None:
    subjects = sorted(rows)
    names = sorted({k for r in rows.values() for k in r})
    columns = {n: [rows[s].get(n) for s in subjects] for n in names}
    when = T0 + dt.timedelta(days=days)
    lib.merge(POPULATION, run, dataset, when, subjects, columns, auth)


def _several_sources(lib: LibraryStore) -> LibraryStore:
    _merge(
        lib,
        "hh-1",
        "ps_household",
        0,
        {
            A: {"birth_date": "1940-05-05", "household_division": "340402"},
            B: {"birth_date": "1946-03-01", "household_division": "340403"},
            D: {"birth_date": "1935-01-01", "household_division": "110101"},
        },
        ["birth_date", "household_division"],
    )
    # newer but not authoritative for birth dates: loses them, gives the phone (only source)
    _merge(
        lib,
        "ins-1",
        "hrss_insurance",
        30,
        {A: {"birth_date": "1941-01-01", "phone": '13"9\\1'}, C: {"phone": "138"}},
        [],
    )
    _merge(lib, "dr-1", "ca_marriage_death", 40, {D: {"deceased": "1", "death_date": "2025"}}, [])
    # newer still and not authoritative: wins the phone of A over the older source
    _merge(lib, "ins-2", "hrss_insurance", 50, {A: {"phone": "137"}, C: {"deceased": "0"}}, [])
    return lib


def _by_record(lib: LibraryStore, fields: list[str]) -> dict[str, dict[str, str | None]]:
    """Each subject's golden values as its own point read gives them (the reference)."""
    out = {}
    for subject in lib.subjects(POPULATION):
        record = lib.record(POPULATION, subject)
        assert record is not None
        out[subject] = {f: record.value(f) for f in fields}
    return out


def _rows(table: pa.Table) -> dict[str, dict[str, Any]]:
    return {r.pop("subject"): r for r in table.to_pylist()}


def _column(table: pa.Table, name: str) -> dict[str, Any]:
    return {r["subject"]: r[name] for r in table.select(["subject", name]).to_pylist()}


def test_one_scan_gives_the_winning_value_of_each_field(tmp_path: Path) -> None:
    lib = _several_sources(LibraryStore(engine_for(f"sqlite:///{tmp_path / 'hub.db'}")))
    table = lib.field_columns(POPULATION, FIELDS)
    assert table.column_names == ["subject", *FIELDS]
    assert sorted(table.column("subject").to_pylist()) == sorted([A, B, C, D])
    assert _rows(table) == {
        A: {
            "birth_date": "1940-05-05",  # the authoritative register beats the newer source
            "household_division": "340402",
            "deceased": None,
            "death_date": None,
            "phone": "137",  # no authority: the newest wins
        },
        B: {
            "birth_date": "1946-03-01",
            "household_division": "340403",
            "deceased": None,
            "death_date": None,
            "phone": None,
        },
        C: {
            "birth_date": None,
            "household_division": None,
            "deceased": "0",
            "death_date": None,
            "phone": "138",
        },
        D: {
            "birth_date": "1935-01-01",
            "household_division": "110101",
            "deceased": "1",
            "death_date": "2025",
            "phone": None,
        },
    }
    assert _rows(table) == _by_record(lib, FIELDS)
    some = lib.field_columns(POPULATION, ["phone", "nickname"], [D, A, "unknown", A])
    assert _rows(some) == {
        A: {"phone": "137", "nickname": None},
        D: {"phone": None, "nickname": None},
    }
    assert lib.field_values(POPULATION, "phone") == {A: "137", C: "138"}


def test_the_policy_read_is_typed_and_equals_the_point_reads(tmp_path: Path) -> None:
    lib = _several_sources(LibraryStore(engine_for(f"sqlite:///{tmp_path / 'hub.db'}")))
    policy = policies.get("elderly-allowance")
    table = library_table(lib, POPULATION, policy.fields())
    assert table.column_names == ["subject", *policy.fields()]
    assert table.schema.field("birth_date").type == pa.date32()
    assert _column(table, "birth_date") == {
        A: dt.date(1940, 5, 5),
        B: dt.date(1946, 3, 1),
        C: None,
        D: dt.date(1935, 1, 1),
    }
    assert _column(table, "deceased") == {A: None, B: None, C: "0", D: "1"}


def test_a_policy_reads_the_library_in_one_query(tmp_path: Path) -> None:
    """However many fields a policy reads, the golden records are scanned once (not a subject
    list and then one scan per field)."""
    lib = _several_sources(LibraryStore(engine_for(f"sqlite:///{tmp_path / 'hub.db'}")))
    lib.run_meta(POPULATION, "hh-1")  # run descriptions are cached: not what is counted
    seen: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(lib.engine, "before_cursor_execute", count)
    try:
        library_table(lib, POPULATION, policies.get("elderly-allowance").fields())
    finally:
        event.remove(lib.engine, "before_cursor_execute", count)
    assert len([s for s in seen if "library_statements" in s]) == 1


def test_an_empty_library_reads_as_an_empty_table(tmp_path: Path) -> None:
    lib = LibraryStore(engine_for(f"sqlite:///{tmp_path / 'hub.db'}"))
    table = lib.field_columns(POPULATION, ["name"])
    assert (table.num_rows, table.column_names) == (0, ["subject", "name"])


SUBJECTS = [A, B, C, D]
VALUE = st.one_of(st.none(), st.sampled_from(["1", "张三", 'q"', "b\\s", "t\tn", ""]))
RUN = st.tuples(
    st.dictionaries(st.sampled_from(SUBJECTS), st.fixed_dictionaries({f: VALUE for f in FIELDS})),
    st.sets(st.sampled_from(FIELDS)),  # the fields the run is the authoritative source of
    st.integers(0, 3),  # its day: runs of the same day are ordered by run id
)


@hsettings(max_examples=60, deadline=None)
@given(st.lists(RUN, min_size=1, max_size=4))
def test_the_columns_equal_every_subjects_golden_record(runs: list[Any]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        lib = LibraryStore(engine_for(f"sqlite:///{Path(tmp) / 'hub.db'}"))
        for i, (rows, auth, day) in enumerate(runs):
            _merge(lib, f"run-{i}", f"dataset_{i % 2}", day, rows, sorted(auth))
        assert _rows(lib.field_columns(POPULATION, FIELDS)) == _by_record(lib, FIELDS)
        lib.engine.dispose()
