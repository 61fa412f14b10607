"""The library's statements and golden records are hash-partitioned by subject on PostgreSQL
(services tier): the partitions exist with their keys, a read by subject opens one partition,
and a library from before partitioning is moved into them when it is opened."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, text

from storage.engine import make_engine
from storage.library import GOLDEN_POINT_SQL, POPULATION, LibraryError, LibraryStore
from storage.library.schema import PARTITIONED, PARTITIONS, partition_names
from tests.servicekit import own_database

pytestmark = pytest.mark.services

PEOPLE = [f"34040119900101{i:04d}" for i in range(200)]


@pytest.fixture
def engine() -> Iterator[Engine]:
    with own_database() as url:
        engine = make_engine(url)
        yield engine
        engine.dispose()


def _load(store: LibraryStore) -> None:
    """Two runs over the same people: statements and stored golden records in every partition."""
    when = datetime(2024, 1, 1, tzinfo=UTC)
    names = {"name": [f"name{i}" for i in range(len(PEOPLE))]}
    store.merge(POPULATION, "r1", "ps_household", when, PEOPLE, names, ["name"])
    phones = {"phone": [f"138{i:08d}" for i in range(len(PEOPLE))]}
    store.merge(POPULATION, "r2", "hrss_insurance", when.replace(day=2), PEOPLE, phones)


def _partitions(engine: Engine, table: str) -> dict[str, int]:
    """partition -> rows, of a partitioned table (nothing if the table is plain)."""
    with engine.connect() as conn:
        names = conn.execute(
            text("SELECT relid::text FROM pg_partition_tree(:t) WHERE isleaf AND level = 1"),
            {"t": table},
        ).scalars()
        return {n: int(conn.execute(text(f"SELECT count(*) FROM {n}")).scalar_one()) for n in names}


def _keys(engine: Engine, table: str) -> list[str]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                text(
                    "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                    "WHERE conrelid = to_regclass(:t) AND contype = 'p'"
                ),
                {"t": table},
            ).scalars()
        )


def test_statements_and_records_are_partitioned_by_subject(engine: Engine) -> None:
    store = LibraryStore(engine)
    _load(store)
    for table in PARTITIONED:
        rows = _partitions(engine, table.name)
        assert sorted(rows) == partition_names(table)
        assert len(rows) == PARTITIONS
        # every row is in one partition; 200 subjects spread over all of them
        assert sum(rows.values()) == len(PEOPLE) * (2 if table.name == "library_statements" else 1)
        assert all(rows.values()), rows
        # each partition has its own primary key (an index), which holds the subject
        for name in rows:
            (key,) = _keys(engine, name)
            assert "subject" in key, key
    rec = store.person(PEOPLE[7])
    assert rec is not None and rec.value("name") == "name7" and rec.value("phone") == "13800000007"


def _plan(engine: Engine, sql: str, params: dict[str, str] | None = None) -> str:
    with engine.connect() as conn:
        return "\n".join(conn.execute(text(sql), params or {}).scalars())


def _partitions_in(plan: str) -> set[str]:
    every = {n for t in PARTITIONED for n in partition_names(t)}
    return {n for n in every if f" {n} " in plan.replace("\n", " \n ")}


def test_point_read_by_subject_opens_one_partition(engine: Engine) -> None:
    _load(LibraryStore(engine))
    subject = PEOPLE[3]
    literal = GOLDEN_POINT_SQL.replace(":l", f"'{POPULATION}'").replace(":s", f"'{subject}'")
    planned = _partitions_in(_plan(engine, f"EXPLAIN {literal}"))
    # one partition of the golden records and one of the statements, none of the others
    assert len(planned) == 2, planned
    assert {p.rsplit("_p", 1)[0] for p in planned} == {"library_records", "library_statements"}
    # the API's statement is prepared with parameters: a generic plan prunes when it runs
    with engine.connect() as conn:
        conn.execute(text("SET plan_cache_mode = force_generic_plan"))
        prepared = GOLDEN_POINT_SQL.replace(":l", "$1").replace(":s", "$2")
        conn.execute(text(f"PREPARE point (text, text) AS {prepared}"))
        plan = "\n".join(
            conn.execute(
                text(f"EXPLAIN (ANALYZE, COSTS OFF) EXECUTE point ('{POPULATION}', '{subject}')")
            ).scalars()
        )
    # 15 of 16 partitions removed, of the golden records and of the statements
    assert plan.count(f"Subplans Removed: {PARTITIONS - 1}") == 2, plan


def _unpartition(engine: Engine) -> None:
    """Turn the partitioned tables back into plain ones, as a hub from before had them."""
    with engine.begin() as conn:
        for table in PARTITIONED:
            keys = ", ".join(c.name for c in table.primary_key.columns)
            conn.execute(text(f"CREATE TABLE old_{table.name} AS SELECT * FROM {table.name}"))
            conn.execute(text(f"DROP TABLE {table.name}"))
            conn.execute(text(f"ALTER TABLE old_{table.name} RENAME TO {table.name}"))
            conn.execute(text(f"ALTER TABLE {table.name} ADD PRIMARY KEY ({keys})"))


def _run_index(engine: Engine) -> str | None:
    """The definition of the statements' block-range index of run numbers, if it exists."""
    with engine.connect() as conn:
        found = conn.execute(
            text(
                "SELECT indexdef FROM pg_indexes WHERE tablename = 'library_statements' "
                "AND indexname = 'library_statements_run_no'"
            )
        ).scalar()
    return None if found is None else str(found)


def test_library_from_before_partitioning_is_moved_into_partitions(engine: Engine) -> None:
    store = LibraryStore(engine)
    _load(store)
    before = store.golden_snapshot()
    _unpartition(engine)
    assert _partitions(engine, "library_statements") == {}  # plain again
    reopened = LibraryStore(engine)
    for table in PARTITIONED:
        rows = _partitions(engine, table.name)
        assert len(rows) == PARTITIONS and all(rows.values())
        assert len(_keys(engine, table.name)) == 1
    assert reopened.golden_snapshot() == before
    assert _run_index(engine)  # the statements' index of run numbers, made on the way
    with engine.begin() as conn:  # a hub from before that index gets it on open
        conn.execute(text("DROP INDEX library_statements_run_no"))
    assert not _run_index(engine)
    reopened = LibraryStore(engine)
    assert _run_index(engine)
    # and it keeps merging: a third run over the moved rows
    reopened.merge(
        POPULATION,
        "r3",
        "ca_marriage",
        datetime(2024, 1, 3, tzinfo=UTC),
        PEOPLE[:1],
        {"marital_status": ["20"]},
    )
    rec = reopened.person(PEOPLE[0])
    assert rec is not None and rec.value("marital_status") == "20" and rec.value("name") == "name0"


def test_a_merge_looks_subjects_up_in_the_partition_that_holds_them(engine: Engine) -> None:
    """The merge groups the subjects it looks up by partition, computing PostgreSQL's hash
    itself: every subject's group is the partition its rows were stored in."""
    from storage.library.dialects import PostgresDialect

    store = LibraryStore(engine)
    odd = ["", "a\tb", "张三", "x" * 32, "91110000600037341L"]
    subjects = sorted({*PEOPLE, *(f"3404{i:014d}" for i in range(3000)), *odd})
    store.merge(
        POPULATION,
        "r1",
        "ps_household",
        datetime(2024, 1, 1, tzinfo=UTC),
        subjects,
        {"name": ["n"] * len(subjects)},
    )
    with engine.connect() as conn:
        where = text("SELECT subject, tableoid::regclass::text FROM library_statements")
        stored = {subject: table for subject, table in conn.execute(where)}
        cur = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        groups = list(PostgresDialect(cur, POPULATION).partition_groups(subjects))
    names = partition_names(PARTITIONED[0])
    grouped = {s: names[r] for r, part in groups for s in part}
    assert len(grouped) == len(subjects) == len(stored)
    assert grouped == stored


def test_a_server_hashing_keys_otherwise_is_refused_on_open(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from storage.library import schema

    LibraryStore(engine)
    monkeypatch.setattr(schema, "PARTITION_HASH_SQL", schema.PARTITION_HASH_SQL.replace("+", "-"))
    with pytest.raises(LibraryError, match="hashes the library's partition keys differently"):
        LibraryStore(engine)
