"""The PostgreSQL COPY merge ends in exactly the SQLite merge's state (services tier).

Same merges on both back ends — duplicate subjects in one file, nulls, non-text values, hostile
text (tabs, newlines, backslashes that COPY must escape), authoritative and newer sources, a
re-merge of the same run — then the golden tables, the fact counts and the per-subject histories
must be equal.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest

from hub.settings import Settings
from storage.library import (
    LEGAL_ENTITY,
    POPULATION,
    LibraryError,
    LibraryStore,
    engine_for,
    library_text,
    metadata,
)
from tests.servicekit import session_database_url

pytestmark = pytest.mark.services

HOSTILE = ["a\tb", "line\nbreak", "back\\slash", "\\N", "=cmd|' /C calc'!A0", "'; DROP TABLE x;--"]


@pytest.fixture
def both(settings: Settings) -> Iterator[tuple[LibraryStore, LibraryStore]]:
    engine = engine_for(session_database_url())
    metadata.drop_all(engine)
    yield LibraryStore(engine_for(settings.db_url)), LibraryStore(engine)
    metadata.drop_all(engine)
    engine.dispose()


def _batch(rng: random.Random, n: int) -> tuple[list[str | None], dict[str, list[object]]]:
    pool = [f"3404{i:014d}" for i in range(n // 2)]  # small pool: many duplicate subjects
    subjects: list[str | None] = [rng.choice(pool) for _ in range(n)]
    subjects[0] = None  # a row without a usable key is skipped
    cols: dict[str, list[object]] = {
        "name": [rng.choice(["张三", "李四", None, *HOSTILE]) for _ in range(n)],
        "phone": [rng.choice([None, "13800000001", "13900000002"]) for _ in range(n)],
        "birth_date": [rng.choice([None, date(1990, 1, 2), date(1985, 3, 4)]) for _ in range(n)],
        "real_name_verified": [rng.choice([None, True, False]) for _ in range(n)],
        "children": [rng.choice([None, 0, 2]) for _ in range(n)],
    }
    return subjects, cols


def test_copy_merge_equals_sqlite_merge(both: tuple[LibraryStore, LibraryStore]) -> None:
    rng = random.Random(11)
    plan = []
    for k in range(6):
        subjects, cols = _batch(rng, 400)
        auth = ["name"] if k % 2 == 0 else []
        when = datetime(2024, 1, 1 + k % 3, 9, 0, tzinfo=UTC)  # equal times: run id decides
        plan.append((f"r{k}", f"ds{k % 3}", when, subjects, cols, auth))
    plan.append(plan[2])  # the same run merged again changes nothing
    written = []
    for store in both:
        out = []
        for run_id, dataset, when, subjects, cols, auth in plan:
            out.append(store.merge(POPULATION, run_id, dataset, when, subjects, cols, auth))
        written.append(out)
    sqlite_store, pg_store = both
    assert written[0] == written[1]
    assert pg_store.fact_count() == sqlite_store.fact_count() > 0
    assert pg_store.golden_snapshot() == sqlite_store.golden_snapshot()
    for subject in pg_store.subjects(POPULATION)[:50]:
        assert pg_store.person(subject) == sqlite_store.person(subject)
    # hostile text comes back byte for byte from PostgreSQL
    names = set(pg_store.golden_values(POPULATION, "name").values())
    assert names & set(HOSTILE)


def test_copy_merge_edge_cases(both: tuple[LibraryStore, LibraryStore]) -> None:
    when = datetime(2024, 5, 1, tzinfo=UTC)
    uscc = "91110000600037341L"
    for store in both:
        assert store.merge(LEGAL_ENTITY, "e0", "mr", when, [], {}) == 0
        assert store.merge(LEGAL_ENTITY, "e1", "mr", when, [uscc, None], {"name": [None, "x"]}) == 0
        # a later duplicate row wins per field; its null does not erase the earlier value
        n = store.merge(
            LEGAL_ENTITY,
            "e2",
            "mr",
            when,
            [uscc, uscc],
            {"name": ["旧名称", "新名称"], "capital": ["100", None]},
        )
        assert n == 2
        rec = store.entity(uscc)
        assert rec is not None
        assert (rec.value("name"), rec.value("capital")) == ("新名称", "100")
    assert both[0].golden_snapshot() == both[1].golden_snapshot()


def test_concurrent_merge_of_the_same_new_subjects(
    both: tuple[LibraryStore, LibraryStore],
) -> None:
    """Two merges racing on a subject new to the library: both commit, precedence holds.

    The first merge holds its transaction open after writing its statements; the second, on
    the same new subject, must wait for it (the library's merge lock) instead of inserting a
    second golden record or overwriting the first one's values with an older precedence view.
    """
    _, pg = both
    pid = "11010519491231002X"
    early = datetime(2024, 1, 1, tzinfo=UTC)
    late = datetime(2024, 2, 1, tzinfo=UTC)
    inside, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def hold() -> None:
        inside.set()
        assert release.wait(30)

    def run(*args: object, **kw: object) -> None:
        try:
            pg.merge(*args, **kw)  # type: ignore[arg-type]
        except BaseException as exc:  # reported below
            errors.append(exc)

    first = threading.Thread(
        target=run,
        args=(POPULATION, "late-run", "hrss", late, [pid], {"name": ["張三"], "phone": ["2"]}),
        kwargs={"after_facts": hold},
    )
    first.start()
    assert inside.wait(30)
    second = threading.Thread(
        target=run,
        args=(POPULATION, "early-run", "ps", early, [pid], {"name": ["张三"]}, ["name"]),
    )
    second.start()
    time.sleep(1.0)  # the second merge is now waiting for the first one's lock
    assert second.is_alive()
    release.set()
    first.join(30)
    second.join(30)
    assert not errors
    rec = pg.person(pid)
    assert rec is not None
    assert rec.value("name") == "张三" and rec.fields["name"].dataset == "ps"  # authority wins
    assert rec.value("phone") == "2"
    # the golden record agrees with the statements, for the contested field and the other one
    assert pg.golden_values(POPULATION, "name") == {pid: "张三"}
    assert pg.golden_values(POPULATION, "phone") == {pid: "2"}
    assert pg.fact_count() == 3


def test_hostile_and_nul_text_round_trips_on_both(
    both: tuple[LibraryStore, LibraryStore],
) -> None:
    """Values PostgreSQL text cannot hold raw (NUL) or COPY must escape come back unchanged:
    statements and golden records are stored as JSON text, which escapes them."""
    when = datetime(2024, 5, 1, tzinfo=UTC)
    pid = "11010519491231002X"
    for store in both:
        store.merge(POPULATION, "r1", "ps", when, [pid], {"name": ["张三"], "phone": ["138\x00"]})
        rec = store.person(pid)
        assert rec is not None and rec.value("phone") == "138\x00"
        assert store.golden_values(POPULATION, "phone") == {pid: "138\x00"}
    assert both[0].golden_snapshot() == both[1].golden_snapshot()


def test_prepared_chunks_end_as_python_chunks_on_both(
    both: tuple[LibraryStore, LibraryStore],
) -> None:
    """Arrow-prepared chunks (copied as they are by PostgreSQL on a first load, finished in
    Python otherwise: escapes, duplicate subjects, a tab in a subject, later runs) end in the
    state the same rows as Python lists give."""
    import pyarrow as pa

    from storage.library import prepare_statements

    rng = random.Random(5)
    # the first run: one row per subject, which PostgreSQL copies from Arrow as it is, except
    # the last chunk (a name that needs a JSON escape): the COPY of the first chunk must end
    # before that chunk is written the usual way
    clean = [f"3404{i:014d}" for i in range(0, 600, 3)]
    names = [rng.choice(["张三", "李四"]) for _ in clean]
    names[-1] = '张"三\\'
    plan = [
        (
            "p0",
            clean,
            {"name": names, "phone": [str(13800000000 + i) for i in range(len(clean))]},
        )
    ]
    for k in range(1, 4):
        subjects, cols = _batch(rng, 300)
        if k == 1:
            subjects.append("3404\t9")  # COPY must escape this subject
            for c in cols.values():
                c.append(None)
            cols["phone"][-1] = "1"
        # sorted by subject, a subject's later row still later
        rows = sorted((s, i) for i, s in enumerate(subjects) if s is not None)
        order = [i for _, i in rows]
        keys = [s for s, _ in rows]
        text = {
            f: [None if v[i] is None else library_text(v[i]) for i in order]
            for f, v in cols.items()
        }
        plan.append((f"p{k}", keys, text))
    py_sqlite = LibraryStore(engine_for(f"sqlite:///{both[0].engine.url.database}-py"))
    when = datetime(2024, 2, 1, tzinfo=UTC)
    for run_id, keys, text in plan:
        for store in both:
            half = len(keys) // 2
            while 0 < half < len(keys) and keys[half] == keys[half - 1]:
                half += 1
            chunks = [
                prepare_statements(
                    pa.array(keys[a:b], pa.string()),
                    {f: pa.array(v[a:b], pa.string()) for f, v in text.items()},
                )
                for a, b in ((0, half), (half, len(keys)))
            ]
            if run_id == "p0":
                assert [c.plain for c in chunks] == [True, False]
            store.merge_chunks(POPULATION, run_id, "ds", when, chunks, ["name"])
        py_sqlite.merge(POPULATION, run_id, "ds", when, keys, text, ["name"])
    want = py_sqlite.golden_snapshot()
    assert both[0].golden_snapshot() == want
    assert both[1].golden_snapshot() == want
    assert both[1].fact_count() == py_sqlite.fact_count() > 0
    for subject in ("3404\t9", *clean[:10], clean[-1], *plan[2][1][:20]):
        assert both[1].person(subject) == py_sqlite.person(subject)


def _plain_chunks(subjects: list[str], names: list[str]) -> list[object]:
    """A first run's rows as Arrow-prepared chunks PostgreSQL copies as they are."""
    import pyarrow as pa

    from storage.library import prepare_statements

    half = len(subjects) // 2
    return [
        prepare_statements(
            pa.array(subjects[a:b], pa.string()), {"name": pa.array(names[a:b], pa.string())}
        )
        for a, b in ((0, half), (half, len(subjects)))
    ]


@pytest.mark.parametrize("probe_cost", [0, 10**9], ids=["probed", "hashed"])
def test_a_later_run_looks_up_only_the_subjects_it_meets(
    both: tuple[LibraryStore, LibraryStore], monkeypatch: pytest.MonkeyPatch, probe_cost: int
) -> None:
    """A new run into a populated library (PostgreSQL) streams its rows and looks up only the
    subjects another run of the library spoke of (a record, or one statement), not each of its
    subjects: a province's run of ten million new persons meets none of the library's. Its
    golden records equal SQLite's, subject by subject: the met ones merged by precedence, a
    subject only the other library holds left alone; the same whether the database finds them
    by a probe per statement (a run small beside its library) or by hashing the partition."""
    from storage.library import dialects
    from storage.library.dialects import PostgresDialect

    monkeypatch.setattr(dialects, "PROBE_COST", probe_cost)

    looked_up: list[str] = []
    known = PostgresDialect.known

    def counting(self: PostgresDialect, subjects: list[str]) -> object:
        looked_up.extend(subjects)
        return known(self, subjects)

    monkeypatch.setattr(PostgresDialect, "known", counting)
    old = [f"3404{i:014d}" for i in range(0, 400, 2)]
    twice = old[:50]  # two runs before: a stored golden record
    elsewhere = [f"3404{i:014d}" for i in range(1001, 1011)]  # in the other library only
    new = [f"3404{i:014d}" for i in range(1, 300, 2)]  # never seen
    later = sorted({*old[25:75], *new, *elsewhere})  # meets 25 records and 25 single subjects
    when = datetime(2024, 4, 1, tzinfo=UTC)
    for store in both:
        store.merge_chunks(POPULATION, "a", "ds_a", when, _plain_chunks(old, old), ["name"])
        store.merge_chunks(POPULATION, "b", "ds_b", when, _plain_chunks(twice, ["b"] * 50))
        store.merge_chunks(LEGAL_ENTITY, "e", "ds_e", when, _plain_chunks(elsewhere, elsewhere))
        looked_up.clear()
        names = [f"新{s}" for s in later]
        store.merge_chunks(
            POPULATION, "c", "ds_c", datetime(2024, 5, 1, tzinfo=UTC), _plain_chunks(later, names)
        )
    assert sorted(looked_up) == old[25:75]  # PostgreSQL's look-ups: the met subjects alone
    sqlite_store, pg_store = both
    assert pg_store.golden_snapshot() == sqlite_store.golden_snapshot()
    assert pg_store.fact_count() == sqlite_store.fact_count()
    for subject in (*old[20:80], *new[:5], *elsewhere[:3]):
        assert pg_store.person(subject) == sqlite_store.person(subject)
    rec = pg_store.person(old[30])
    assert rec is not None and rec.value("name") == old[30]  # authoritative run a still wins


def _scalar(store: LibraryStore, sql: str) -> str | None:
    """The one value ``sql`` answers on ``store``'s database (None: no row)."""
    from sqlalchemy import text

    with store.engine.connect() as conn:
        return conn.execute(text(sql)).scalar()


def _statements_key(store: LibraryStore) -> str | None:
    return _scalar(
        store,
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = 'library_statements'::regclass AND contype = 'p'",
    )


def _statements_locked_exclusively(
    store: LibraryStore, relation: str = "library_statements"
) -> bool:
    """Does a transaction hold ``relation`` (the statements, or one of their indexes) for
    itself: the table while a first load sets its key aside, an index it dropped meanwhile?"""
    from sqlalchemy import text

    with store.engine.connect() as conn:
        return bool(
            conn.execute(
                text(
                    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE granted AND "
                    "relation = to_regclass(:r) AND mode = 'AccessExclusiveLock')"
                ),
                {"r": relation},
            ).scalar()
        )


def _run_index(store: LibraryStore) -> str | None:
    """The statements' block-range index of run numbers, as committed."""
    return _scalar(
        store,
        "SELECT indexdef FROM pg_indexes WHERE tablename = 'library_statements' "
        "AND indexname = 'library_statements_run_no'",
    )


def test_a_first_load_builds_the_statements_key_once(
    both: tuple[LibraryStore, LibraryStore],
) -> None:
    """A load into the empty statements table sets its primary key and its index of run
    numbers aside (an exclusive lock while it loads) and builds them at the end; a later load
    keeps them and takes no such lock; a failed first load leaves them and no rows; duplicate
    statements are still refused."""
    _, pg = both
    key = _statements_key(pg)
    assert key == "PRIMARY KEY (subject, run_no)"
    run_index = _run_index(pg)
    assert run_index is not None and "brin (run_no)" in run_index
    when = datetime(2024, 3, 1, tzinfo=UTC)
    # subjects a text-format COPY would have to escape go through the binary COPY as they are
    subjects = sorted(["3404\\01", "3404\t02", *(f"3404{i:014d}" for i in range(50))])
    names = [f"名{i}" for i in range(len(subjects))]
    seen: list[bool] = []

    def fail() -> None:
        seen.append(_statements_locked_exclusively(pg))
        seen.append(_statements_locked_exclusively(pg, "library_statements_run_no"))
        raise RuntimeError("killed mid-merge")

    with pytest.raises(RuntimeError, match="killed mid-merge"):
        pg.merge_chunks(
            POPULATION, "r0", "ds", when, _plain_chunks(subjects, names), after_facts=fail
        )
    assert seen == [True, True]  # the key and the run index were set aside ...
    assert _statements_key(pg) == key  # ... and the rollback restored them, with no rows
    assert _run_index(pg) == run_index
    assert pg.subjects(POPULATION) == []
    seen.clear()

    def look() -> None:
        seen.append(_statements_locked_exclusively(pg))

    pg.merge_chunks(POPULATION, "r1", "ds", when, _plain_chunks(subjects, names), after_facts=look)
    assert _statements_key(pg) == key
    assert _run_index(pg) == run_index  # built again once the rows were in
    assert pg.subjects(POPULATION) == subjects
    rec = pg.person("3404\\01")
    assert rec is not None and rec.value("name") == names[subjects.index("3404\\01")]
    # a second library's first run finds rows in the table: the key stays, readers go on
    other = [f"91340100MA2N{i:04d}X3" for i in range(10)]
    pg.merge_chunks(LEGAL_ENTITY, "e1", "ds", when, _plain_chunks(other, other), after_facts=look)
    assert seen == [True, False]
    assert pg.subjects(LEGAL_ENTITY) == other
    # the key refuses a statement the library already has
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError), pg.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO library_statements SELECT :s, run_no, '[]' FROM library_merges "
                "WHERE library = 'population' AND run_id = 'r1'"
            ),
            {"s": subjects[0]},
        )


def test_a_first_load_keeps_the_key_while_the_table_is_read(
    both: tuple[LibraryStore, LibraryStore],
) -> None:
    """A reader inside a transaction on the statements table: the first load does not wait for
    it (nor block it) to set the key aside, it loads with the key in place."""
    from sqlalchemy import text

    _, pg = both
    subjects = [f"3404{i:014d}" for i in range(20)]
    seen: list[bool] = []
    with pg.engine.connect() as reader:
        reader.execute(text("SELECT count(*) FROM library_statements")).scalar()  # holds its lock
        pg.merge_chunks(
            POPULATION,
            "r1",
            "ds",
            datetime(2024, 3, 1, tzinfo=UTC),
            _plain_chunks(subjects, subjects),
            after_facts=lambda: seen.append(_statements_locked_exclusively(pg)),
        )
        assert reader.execute(text("SELECT count(*) FROM library_statements")).scalar() == 20
        reader.rollback()
    assert seen == [False]
    assert pg.subjects(POPULATION) == subjects
    assert _statements_key(pg) == "PRIMARY KEY (subject, run_no)"


def test_a_hub_from_before_run_numbers_is_upgraded_on_open(settings: Settings) -> None:
    """Statements that named their library and run id are rewritten, on both back ends, to
    name the run's number; the runs are numbered in the order they were observed, the golden
    records read as before, and the next merge gets the next number. A statement whose run was
    never merged stops the upgrade, which then changes nothing."""
    from sqlalchemy import inspect, text

    from tests.storage.old_layouts import add_old_run, create_before_run_numbers

    a, b = "110105194912310021", "110105194912310048"
    uscc = "91340100MA2N0001X3"
    pg_engine = engine_for(session_database_url())
    for engine in (engine_for(settings.db_url), pg_engine):
        metadata.drop_all(engine)
        with engine.begin() as conn:
            create_before_run_numbers(conn)
            add_old_run(
                conn,
                POPULATION,
                "later",
                "hrss_insurance",
                "2024-02-01 09:00:00",
                "[]",
                {a: '["x","2"]'},
                '["name","phone"]',
            )
            add_old_run(
                conn,
                POPULATION,
                "first",
                "ps_household",
                "2024-01-01 09:00:00",
                '["name"]',
                {a: '["张三"]', b: '["李四"]'},
                '["name"]',
            )
            add_old_run(
                conn,
                LEGAL_ENTITY,
                "e",
                "mr_entity",
                "2024-01-15 09:00:00",
                "[]",
                {uscc: '["某"]'},
                '["name"]',
            )
            metadata.tables["library_records"].create(conn)  # its layout has not changed
            conn.execute(  # the golden record of the subject both runs spoke of
                text("INSERT INTO library_records VALUES ('population', :s, :d)"),
                {"s": a, "d": '{"first":{"name":"张三"},"later":{"phone":"2"}}'},
            )
        with engine.begin() as conn:
            orphan = "INSERT INTO library_statements VALUES ('population', :s, 'gone', '[]')"
            conn.execute(text(orphan), {"s": b})
        with pytest.raises(LibraryError, match=r"1 of 5 statements name a run that was never"):
            LibraryStore(engine)
        with engine.begin() as conn:  # refused: the old layout is untouched
            assert conn.execute(text("SELECT count(*) FROM library_statements")).scalar() == 5
            conn.execute(text("DELETE FROM library_statements WHERE run_id = 'gone'"))
        lib = LibraryStore(engine)
        with engine.begin() as conn:
            numbers = conn.execute(
                text("SELECT run_id, run_no FROM library_merges ORDER BY run_no")
            ).all()
            assert [tuple(r) for r in numbers] == [("first", 1), ("e", 2), ("later", 3)]
            names = set(inspect(conn).get_table_names())
        assert "library_statements_by_run_id" not in names
        assert lib.subjects(POPULATION) == [a, b] and lib.subjects(LEGAL_ENTITY) == [uscc]
        assert lib.field_values(LEGAL_ENTITY, "name") == {uscc: "某"}
        rec = lib.person(a)
        assert rec is not None and [f.run_id for f in rec.history["name"]] == ["first", "later"]
        lib.merge(POPULATION, "next", "ds", datetime(2024, 3, 1, tzinfo=UTC), [b], {"phone": ["9"]})
        with engine.begin() as conn:
            assert (
                conn.execute(
                    text("SELECT run_no FROM library_merges WHERE run_id = 'next'")
                ).scalar()
                == 4
            )
        assert lib.field_values(POPULATION, "phone") == {a: "2", b: "9"}
        metadata.drop_all(engine)
        engine.dispose()
