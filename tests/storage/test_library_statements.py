"""Statements built by Arrow equal the Python path's; a subject one run spoke of is read from its
statement alone, and gets a stored golden record once a second run speaks of it."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from hub.settings import Settings
from storage.library import (
    POPULATION,
    GoldenReader,
    LibraryError,
    LibraryStore,
    Statements,
    engine_for,
    statements_from_arrow,
    text_sort_indices,
)
from storage.library.encoding import as_statements as python_statements
from tests.storage.old_layouts import add_old_run, create_before_run_numbers

A, B, C = "110105194912310021", "110105194912310048", "34040219800101001X"
FIELDS = ("name", "phone", "address")
# hostile text too: quotes, backslashes, control characters, look-alikes, astral characters
VALUES = st.one_of(
    st.none(),
    st.sampled_from(["张三", 'a"b', "c\\d", "tab\there", "x\ny", "\x00", "＝cmd", "𠀀", ""]),
    st.text(max_size=6),
)
ROWS = st.lists(
    st.tuples(st.sampled_from([A, B, C, "91340100MA2N0001X3"]), *[VALUES] * len(FIELDS)),
    max_size=25,
)


# keys as the library gets them: IDs of one length, mixed lengths, ties, empty and non-ASCII
# values, NUL and over-long ones (which take Arrow's own sort), nulls
KEYS = st.lists(
    st.one_of(
        st.sampled_from([A, B, C, "91340100MA2N0001X3", "", "a", "a\x00", "z" * 25, "é", None]),
        st.text(max_size=26),
        st.from_regex(r"[0-9]{17}[0-9X]", fullmatch=True),
    ),
    max_size=40,
)


@settings(max_examples=400, deadline=None)
@given(KEYS)
def test_text_sort_indices_is_arrows_stable_sort(keys: list[str | None]) -> None:
    import pyarrow.compute as pc

    values = pa.array(keys, pa.string())
    assert text_sort_indices(values).to_pylist() == pc.sort_indices(values).to_pylist()
    assert (
        text_sort_indices(values.slice(1)).to_pylist()
        == pc.sort_indices(values.slice(1)).to_pylist()
    )


def test_text_sort_indices_orders_ids_by_their_bytes() -> None:
    ids = ["34040319860124156X", "110105194912310021", "34040319860124156X", "11010519491231002"]
    # equal IDs keep their order; a shorter ID sorts before the longer one it begins
    assert text_sort_indices(pa.array(ids)).to_pylist() == [3, 1, 0, 2]


@settings(max_examples=300, deadline=None)
@given(ROWS)
def test_arrow_statements_equal_the_python_path(rows: list[tuple[str | None, ...]]) -> None:
    rows = sorted(rows, key=lambda r: str(r[0]))  # stable: a subject's later row stays later
    subjects = [str(r[0]) for r in rows]
    columns = {f: [r[i + 1] for r in rows] for i, f in enumerate(FIELDS)}
    # columns as slices of longer arrays, as a chunk of a sorted table is
    ours = statements_from_arrow(
        pa.array(subjects, pa.string()),
        {f: pa.array(['"\\', *v], pa.string()).slice(1) for f, v in columns.items()},
    )
    want = python_statements(subjects, columns)
    assert list(ours.subjects) == list(want.subjects)
    assert list(ours.docs) == list(want.docs)  # the same text, byte for byte
    assert ours.facts == want.facts
    assert ours.fields == tuple(sorted(FIELDS))
    # each statement: its values in field order, the later row of a subject winning per field
    expected: dict[str, dict[str, str]] = {}
    for subject, *values in rows:
        expected.setdefault(str(subject), {}).update(
            {f: v for f, v in zip(FIELDS, values, strict=True) if v is not None}
        )
    decoded = {
        s: dict(zip(ours.fields, msgspec.json.decode(d), strict=True))
        for s, d in zip(ours.subjects, ours.docs, strict=True)
    }
    assert {s: {f: v for f, v in d.items() if v is not None} for s, d in decoded.items()} == {
        s: v for s, v in expected.items() if v
    }


def test_arrow_statements_refuse_unsorted_rows_and_null_subjects() -> None:
    name = pa.array(["a", "b"], pa.string())
    with pytest.raises(LibraryError, match="sorted by subject"):
        statements_from_arrow(pa.array([B, A]), {"name": name})
    with pytest.raises(LibraryError, match="subject on every row"):
        statements_from_arrow(pa.array([A, None], pa.string()), {"name": name})
    with pytest.raises(LibraryError, match="not text"):
        statements_from_arrow(pa.array([A, B]), {"age": pa.array([1, 2])})


def _t(day: int) -> datetime:
    return datetime(2024, 1, day, 9, 0, tzinfo=UTC)


def _stored(lib: LibraryStore) -> set[str]:
    with lib.engine.connect() as conn:
        return {s for (s,) in conn.execute(text("SELECT subject FROM library_records"))}


def test_a_subject_one_run_spoke_of_is_read_from_its_statement(settings: Settings) -> None:
    lib = LibraryStore(engine_for(settings.db_url))
    chunk = statements_from_arrow(
        pa.array([A, B]), {"name": pa.array(["张三", "李四"]), "phone": pa.array([None, "1"])}
    )
    assert lib.merge_chunks(POPULATION, "r1", "ps_household", _t(1), [chunk], ["name"]) == 3
    assert _stored(lib) == set()  # nothing written twice
    rec = lib.person(A)
    assert rec is not None and rec.value("name") == "张三" and rec.fields["name"].authoritative
    assert lib.names([A, B, C]) == {A: "张三", B: "李四"}
    assert lib.subjects(POPULATION) == [A, B]
    assert lib.person_exists(B) and not lib.person_exists(C)
    reader = GoldenReader(lib)
    assert [r[:4] for r in reader.rows(POPULATION, B)] == [
        ("name", "李四", "ps_household", "r1"),
        ("phone", "1", "ps_household", "r1"),
    ]
    assert reader.rows(POPULATION, C) == []

    # a second run: a non-authoritative name loses but the record is now stored; a new phone wins
    lib.merge(POPULATION, "r2", "hrss_insurance", _t(5), [A, C], {"name": ["張三", "王五"]})
    lib.merge(POPULATION, "r3", "ca_marriage", _t(6), [B], {"phone": ["2"]})
    assert _stored(lib) == {A, B}  # C is still known from one run only
    assert lib.names([A, C]) == {A: "张三", C: "王五"}
    assert lib.field_values(POPULATION, "phone") == {B: "2"}
    assert lib.agreement(POPULATION, "r2") == (0, 1)  # 張三 disagrees with the household's 张三
    assert [r[:4] for r in reader.rows(POPULATION, B)] == [
        ("name", "李四", "ps_household", "r1"),
        ("phone", "2", "ca_marriage", "r3"),
    ]
    snapshot = {(s, f): (v, run) for _, s, f, v, _, run, _, _ in lib.golden_snapshot()}
    assert snapshot == {
        (A, "name"): ("张三", "r1"),
        (B, "name"): ("李四", "r1"),
        (B, "phone"): ("2", "r3"),
        (C, "name"): ("王五", "r2"),
    }
    # merging a run again changes nothing
    lib.merge(POPULATION, "r3", "ca_marriage", _t(6), [B], {"phone": ["2"]})
    assert {(s, f): (v, run) for _, s, f, v, _, run, _, _ in lib.golden_snapshot()} == snapshot


def test_statements_chunks_and_python_chunks_mix(settings: Settings) -> None:
    lib = LibraryStore(engine_for(settings.db_url))
    first = Statements(("name",), [A], ['["张三"]'], 1)
    lib.merge_chunks(POPULATION, "r1", "ps_household", _t(1), [first, ([B], {"name": ["李四"]})])
    assert lib.names([A, B]) == {A: "张三", B: "李四"}
    with pytest.raises(LibraryError, match="increasing order"):
        lib.merge_chunks(POPULATION, "r2", "ps_household", _t(2), [([B], {"name": ["x"]}), first])
    with pytest.raises(LibraryError, match=r"same fields: \['phone'\] are new"):
        lib.merge_chunks(POPULATION, "r2", "ps_household", _t(2), [first, ([C], {"phone": ["1"]})])
    # a chunk with fewer fields is stored in the run's layout; refused merges changed nothing
    lib.merge_chunks(
        POPULATION,
        "r3",
        "ca_marriage",
        _t(3),
        [([A], {"name": ["张三"], "phone": ["9"]}), ([B], {"name": ["李四"]})],
    )
    lib.merge_chunks(POPULATION, "r4", "ca_marriage", _t(4), [([A], {"phone": ["8"]}), ([C], {})])
    assert lib.names([A, B, C]) == {A: "张三", B: "李四"}
    assert lib.field_values(POPULATION, "phone") == {A: "8"}


def test_a_hub_with_object_statements_reads_and_merges_on(settings: Settings) -> None:
    """Statements written before runs kept a layout are JSON objects, keyed by library, subject
    and run id; the hub opens (numbering the run, rewriting its statements), reads them and
    merges over them."""
    engine = engine_for(settings.db_url)
    with engine.begin() as conn:
        create_before_run_numbers(conn, with_fields=False)
        add_old_run(
            conn,
            POPULATION,
            "old",
            "ps_household",
            "2024-01-01 09:00:00.000000",
            '["name"]',
            {A: '{"name":"张三","phone":"1"}', B: '{"name":"李四"}'},
        )
    lib = LibraryStore(engine)  # adds the layout column and the run numbers
    assert lib.names([A, B]) == {A: "张三", B: "李四"}
    rec = lib.person(A)
    assert rec is not None and rec.value("phone") == "1"
    assert GoldenReader(lib).rows(POPULATION, B)[0][:2] == ("name", "李四")
    lib.merge(POPULATION, "new", "hrss_insurance", _t(5), [A], {"phone": ["2"], "name": ["x"]})
    assert lib.names([A]) == {A: "张三"}  # the household register is authoritative for names
    assert lib.field_values(POPULATION, "phone") == {A: "2"}
    # merging the old run again (its statements stay objects) changes nothing
    before = lib.golden_snapshot()
    lib.merge(POPULATION, "old", "ps_household", _t(1), [B], {"name": ["李四"]}, ["name"])
    assert lib.golden_snapshot() == before
