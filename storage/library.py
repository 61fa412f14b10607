"""The population and legal-entity libraries: facts with provenance, golden records, runs.

Every value a department sends is a *fact* (library, subject, field, value, dataset, run, time).
The *golden* table keeps, per (library, subject, field), the winning fact: one from the field's
authoritative source (一数一源) beats any other; otherwise the newest wins. Both tables are written
in bulk inside one transaction per merge together with the run's status, so a killed merge leaves
no trace and re-runs to the same state. On SQLite the facts go through the DB-API
``executemany`` with ``INSERT ... ON CONFLICT``; on PostgreSQL one wide row per subject is
streamed with ``COPY`` into a temporary staging table and both tables are filled from it by
``INSERT ... SELECT`` inside the server (``ON CONFLICT`` only where a key can already exist).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from operator import itemgetter
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    create_engine,
    event,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

POPULATION = "population"
LEGAL_ENTITY = "legal-entity"
LIBRARIES = (POPULATION, LEGAL_ENTITY)

metadata = MetaData()

facts = Table(
    "library_facts",
    metadata,
    Column("library", String(16), primary_key=True),
    Column("subject", String(32), primary_key=True),
    Column("field", String(64), primary_key=True),
    Column("run_id", String(80), primary_key=True),
    Column("value", Text, nullable=False),
    Column("dataset", String(64), nullable=False),
    Column("observed_at", DateTime, nullable=False),
    Column("authoritative", Boolean, nullable=False),
    sqlite_with_rowid=False,  # clustered on the key: one B-tree per table, not two
)

golden = Table(
    "library_golden",
    metadata,
    Column("library", String(16), primary_key=True),
    Column("subject", String(32), primary_key=True),
    Column("field", String(64), primary_key=True),
    Column("value", Text, nullable=False),
    Column("dataset", String(64), nullable=False),
    Column("run_id", String(80), nullable=False),
    Column("observed_at", DateTime, nullable=False),
    Column("authoritative", Boolean, nullable=False),
    sqlite_with_rowid=False,
)

runs = Table(
    "ingest_runs",
    metadata,
    Column("run_id", String(80), primary_key=True),
    Column("dataset", String(64), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("object_key", Text, nullable=False),
    Column("filename", Text, nullable=False, default=""),
    Column("status", String(16), nullable=False),
    Column("rows_in", Integer),
    Column("rows_accepted", Integer),
    Column("rows_quarantined", Integer),
    Column("received_at", DateTime, nullable=False),
    Column("finished_at", DateTime),
    Column("message", Text),
    UniqueConstraint("dataset", "sha256", name="uq_run_dataset_sha"),
)

quarantine = Table(
    "quarantine_index",
    metadata,
    Column("run_id", String(80), primary_key=True),
    Column("dataset", String(64), nullable=False),
    Column("object_key", Text, nullable=False),
    Column("rows", Integer, nullable=False),
    Column("reasons", Text, nullable=False),  # "code=count;..." summary, no personal data
    Column("created_at", DateTime, nullable=False),
    Column("resubmitted_as", String(80)),
)

RUN_STATUSES = ("landed", "read", "checked", "quarantined", "merged", "published", "failed")


class LibraryError(Exception):
    """A library operation was refused (unknown library, unknown run, bad input)."""


@dataclass(frozen=True)
class FactView:
    """One value with who said it and when."""

    value: str
    dataset: str
    run_id: str
    observed_at: datetime
    authoritative: bool


@dataclass(frozen=True)
class GoldenRecord:
    """A person or entity: the winning value per field, with its source and the full history."""

    library: str
    subject: str
    fields: dict[str, FactView]
    history: dict[str, list[FactView]] = field(default_factory=dict)

    def value(self, name: str) -> str | None:
        fact = self.fields.get(name)
        return fact.value if fact else None


def engine_for(db_url: str) -> Engine:
    """An engine for the hub database; SQLite gets WAL and a busy timeout for concurrent runs.

    Server databases get ``pool_pre_ping``: after a PostgreSQL restart the pooled connections are
    dead, and a re-run must get a fresh one instead of failing on the first statement.
    """
    if db_url.startswith("sqlite"):
        engine = create_engine(db_url, future=True)
    else:
        engine = create_engine(db_url, future=True, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA cache_size=-131072")  # 128 MiB page cache for bulk merges
            cur.close()

    return engine


def _insert(engine: Engine, table: Table) -> Any:
    if engine.dialect.name == "postgresql":
        return postgresql.insert(table)
    if engine.dialect.name == "sqlite":
        return sqlite.insert(table)
    raise LibraryError(f"unsupported database dialect {engine.dialect.name!r}")


def _wins(a: FactView, b: FactView | None) -> bool:
    """Does fact ``a`` beat the current winner ``b``? Authoritative first, then newest."""
    if b is None:
        return True
    if a.authoritative != b.authoritative:
        return a.authoritative
    return (a.observed_at, a.run_id) >= (b.observed_at, b.run_id)


class LibraryStore:
    """Read and bulk-merge API over the library tables."""

    CHUNK = 20_000

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        metadata.create_all(engine)

    # ---- runs ---------------------------------------------------------------------------
    def find_run(self, dataset: str, sha256: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(runs).where(and_(runs.c.dataset == dataset, runs.c.sha256 == sha256))
            ).first()
        return dict(row._mapping) if row else None

    def get_run(self, run_id: str) -> dict[str, Any]:
        with self.engine.connect() as conn:
            row = conn.execute(select(runs).where(runs.c.run_id == run_id)).first()
        if row is None:
            raise LibraryError(f"unknown run {run_id!r} (see `hub runs`)")
        return dict(row._mapping)

    def open_run(
        self,
        run_id: str,
        dataset: str,
        sha256: str,
        object_key: str,
        filename: str,
        received_at: datetime,
    ) -> dict[str, Any]:
        """Record a landed file; an existing run for the same (dataset, sha256) is returned."""
        stmt = (
            _insert(self.engine, runs)
            .values(
                run_id=run_id,
                dataset=dataset,
                sha256=sha256,
                object_key=object_key,
                filename=filename,
                status="landed",
                received_at=received_at,
            )
            .on_conflict_do_nothing()
        )
        with self.engine.begin() as conn:
            conn.execute(stmt)
        run = self.find_run(dataset, sha256)
        assert run is not None
        return run

    def set_run(self, run_id: str, **values: Any) -> None:
        if "status" in values and values["status"] not in RUN_STATUSES:
            raise LibraryError(f"unknown run status {values['status']!r}")
        with self.engine.begin() as conn:
            conn.execute(update(runs).where(runs.c.run_id == run_id).values(**values))

    def list_runs(self, dataset: str | None = None) -> list[dict[str, Any]]:
        stmt = select(runs).order_by(runs.c.received_at, runs.c.run_id)
        if dataset:
            stmt = stmt.where(runs.c.dataset == dataset)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(stmt)]

    # ---- quarantine index ---------------------------------------------------------------
    def record_quarantine(
        self, run_id: str, dataset: str, object_key: str, rows: int, reasons: Mapping[str, int]
    ) -> None:
        summary = ";".join(f"{k}={v}" for k, v in sorted(reasons.items()))
        stmt = (
            _insert(self.engine, quarantine)
            .values(
                run_id=run_id,
                dataset=dataset,
                object_key=object_key,
                rows=rows,
                reasons=summary,
                created_at=datetime.now(UTC).replace(tzinfo=None),
            )
            .on_conflict_do_nothing()
        )
        with self.engine.begin() as conn:
            conn.execute(stmt)

    def list_quarantine(self, dataset: str | None = None) -> list[dict[str, Any]]:
        stmt = select(quarantine).order_by(quarantine.c.created_at)
        if dataset:
            stmt = stmt.where(quarantine.c.dataset == dataset)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(stmt)]

    def mark_resubmitted(self, run_id: str, new_run_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(quarantine)
                .where(quarantine.c.run_id == run_id)
                .values(resubmitted_as=new_run_id)
            )

    # ---- merge --------------------------------------------------------------------------
    def merge(
        self,
        library: str,
        run_id: str,
        dataset: str,
        observed_at: datetime,
        subjects: Sequence[str | None],
        columns: Mapping[str, Sequence[Any]],
        authoritative_for: Iterable[str] = (),
        *,
        after_facts: Any = None,
    ) -> int:
        """Merge one run's accepted rows; returns the number of facts written.

        ``columns`` maps library field -> values aligned with ``subjects``; nulls are skipped (a
        missing value never erases a known one). Facts, golden records and the run's status
        change in one transaction. ``after_facts`` is a test hook called between the two bulk
        writes (used to kill the process mid-merge).
        """
        if library not in LIBRARIES:
            raise LibraryError(f"unknown library {library!r}; expected one of {LIBRARIES}")
        auth = set(authoritative_for)
        observed = observed_at.astimezone(UTC).replace(tzinfo=None)
        for name, values in columns.items():
            if len(values) != len(subjects):
                raise LibraryError(f"column {name!r} has {len(values)} values, not {len(subjects)}")
        with self.engine.begin() as conn:
            if self.engine.dialect.name == "postgresql":
                written = self._merge_postgres(
                    conn, library, run_id, dataset, observed, subjects, columns, auth, after_facts
                )
            elif self.engine.dialect.name == "sqlite":
                rows = _fact_tuples(library, run_id, dataset, observed, subjects, columns, auth)
                self._merge_sqlite(conn, rows, after_facts)
                written = len(rows)
            else:
                raise LibraryError(
                    f"unsupported database dialect {self.engine.dialect.name!r}: "
                    "use sqlite:/// or postgresql+psycopg://"
                )
            conn.execute(update(runs).where(runs.c.run_id == run_id).values(status="merged"))
        return written

    def _merge_postgres(
        self,
        conn: Any,
        library: str,
        run_id: str,
        dataset: str,
        observed: datetime,
        subjects: Sequence[str | None],
        columns: Mapping[str, Sequence[Any]],
        auth: set[str],
        after_facts: Any,
    ) -> int:
        """PostgreSQL hot path: COPY wide rows into a staging table, then merge in SQL.

        One staging row per subject (not per fact) keeps the COPY stream and the Python work
        small; the server unpivots it into facts with a ``LATERAL (VALUES ...)``. Rows are sent
        sorted by subject and the fields are unpivoted in name order, so both primary-key
        B-trees are filled in key order. Same end state as the SQLite path: nulls are skipped and
        a later duplicate row of the same subject wins per field.
        """
        from psycopg import DataError, sql

        names = sorted(columns)
        if not names:
            return 0
        cols = [_text_column(columns[n]) for n in names]
        wide = [r for r in zip(subjects, *cols, strict=True) if r[0] is not None]
        wide.sort(key=itemgetter(0))  # stable: duplicates keep file order
        wide = _last_non_null_per_subject(wide)
        if not wide:
            return 0
        written = sum(len(c) - c.count(None) for c in list(zip(*wide, strict=True))[1:])

        stage = sql.Identifier("library_stage")
        stage_cols = [sql.Identifier(f"c{i}") for i in range(len(names))]
        cur = conn.connection.driver_connection.cursor()
        cur.execute(
            sql.SQL("CREATE TEMPORARY TABLE {} (subject text, {}) ON COMMIT DROP").format(
                stage, sql.SQL(", ").join(sql.SQL("{} text").format(c) for c in stage_cols)
            )
        )
        try:
            with cur.copy(sql.SQL("COPY {} FROM STDIN").format(stage)) as copy:
                copy.set_types(["text"] * (len(names) + 1))
                for row in wide:
                    copy.write_row(row)
        except DataError as exc:
            # not chained: the server's message quotes the offending row (personal data)
            raise LibraryError(_copy_refused(run_id, names, wide, exc)) from None
        cur.execute(sql.SQL("ANALYZE {}").format(stage))  # row counts for the join plans below

        unpivot = sql.SQL(", ").join(
            sql.SQL("({}, s.{}, {})").format(sql.Literal(n), c, sql.Literal(n in auth))
            for n, c in zip(names, stage_cols, strict=True)
        )
        target = sql.SQL(
            "(library, subject, field, value, dataset, run_id, observed_at, authoritative)"
        )

        def insert(table: str, where: str = "", conflict: str = "") -> sql.Composed:
            return sql.SQL(
                "INSERT INTO {} {} SELECT %(library)s::text, s.subject, v.field, v.value, "
                "%(dataset)s::text, %(run_id)s::text, %(observed)s::timestamp, v.auth "
                "FROM {} AS s CROSS JOIN LATERAL (VALUES {}) AS v(field, value, auth) "
                "WHERE v.value IS NOT NULL {} {}"
            ).format(
                sql.Identifier(table), target, stage, unpivot, sql.SQL(where), sql.SQL(conflict)
            )

        known = (
            "AND {} EXISTS (SELECT 1 FROM library_golden AS g "
            "WHERE g.library = %(library)s::text AND g.subject = s.subject)"
        )
        params = {"library": library, "dataset": dataset, "run_id": run_id, "observed": observed}
        # facts of a new run cannot conflict; ON CONFLICT costs several times a plain insert,
        # so it is only the fallback (a re-merge of the same run)
        _plain_or(
            cur,
            insert("library_facts"),
            insert("library_facts", conflict="ON CONFLICT DO NOTHING"),
            params,
        )
        if after_facts is not None:
            after_facts()
        # golden: subjects already in the library go through the precedence upsert; the
        # others (all of them on a first load) are plain inserts. Upsert first, so the plain
        # insert's NOT EXISTS still sees only the subjects that were there before this merge.
        # If a concurrent merge added one of "our" new subjects meanwhile, every staged row
        # goes through the upsert (re-upserting a row this merge wrote changes nothing).
        cur.execute(insert("library_golden", known.format(""), _GOLDEN_UPSERT), params)
        _plain_or(
            cur,
            insert("library_golden", known.format("NOT")),
            insert("library_golden", conflict=_GOLDEN_UPSERT),
            params,
        )
        cur.close()
        return written

    def _merge_sqlite(self, conn: Any, tuples: list[tuple[Any, ...]], after_facts: Any) -> None:
        """SQLite hot path: the DB-API cursor's executemany over key-ordered tuples.

        SQLAlchemy's per-row parameter processing dominated the merge (about 7,000 facts/s);
        plain tuples through sqlite3 are an order of magnitude faster.
        """
        cols = ("library", "subject", "field", "run_id", "value", "dataset")
        names = ", ".join((*cols, "observed_at", "authoritative"))
        marks = ", ".join("?" * 8)
        cur = conn.connection.driver_connection.cursor()
        cur.executemany(
            f"INSERT INTO library_facts ({names}) VALUES ({marks}) ON CONFLICT DO NOTHING", tuples
        )
        if after_facts is not None:
            after_facts()
        cur.executemany(
            f"INSERT INTO library_golden ({names}) VALUES ({marks}) {_GOLDEN_UPSERT}",
            tuples,
        )
        cur.close()

    # ---- reads --------------------------------------------------------------------------
    def record(self, library: str, subject: str, as_of: date | None = None) -> GoldenRecord | None:
        """One subject's golden record, optionally as known at the end of day ``as_of``."""
        stmt = (
            select(facts)
            .where(and_(facts.c.library == library, facts.c.subject == subject))
            .order_by(facts.c.observed_at, facts.c.run_id)
        )
        if as_of is not None:
            end = datetime.combine(as_of, time.max)
            stmt = stmt.where(facts.c.observed_at <= end)
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        if not rows:
            return None
        history: dict[str, list[FactView]] = {}
        winners: dict[str, FactView] = {}
        for r in rows:
            fv = FactView(r.value, r.dataset, r.run_id, r.observed_at, bool(r.authoritative))
            history.setdefault(r.field, []).append(fv)
            if _wins(fv, winners.get(r.field)):
                winners[r.field] = fv
        return GoldenRecord(library, subject, winners, history)

    def person(self, id_number: str, as_of: date | None = None) -> GoldenRecord | None:
        return self.record(POPULATION, id_number, as_of)

    def entity(self, uscc: str, as_of: date | None = None) -> GoldenRecord | None:
        return self.record(LEGAL_ENTITY, uscc, as_of)

    def golden_values(self, library: str, field_name: str) -> dict[str, str]:
        """subject -> current golden value of one field (bulk read for cross-source checks)."""
        stmt = select(golden.c.subject, golden.c.value).where(
            and_(golden.c.library == library, golden.c.field == field_name)
        )
        with self.engine.connect() as conn:
            return {s: v for s, v in conn.execute(stmt)}

    def subjects(self, library: str) -> list[str]:
        stmt = select(golden.c.subject).where(golden.c.library == library).distinct()
        with self.engine.connect() as conn:
            return sorted(s for (s,) in conn.execute(stmt))

    def person_exists(self, id_number: str) -> bool:
        stmt = (
            select(golden.c.subject)
            .where(and_(golden.c.library == POPULATION, golden.c.subject == id_number))
            .limit(1)
        )
        with self.engine.connect() as conn:
            return conn.execute(stmt).first() is not None

    def names(self, id_numbers: Iterable[str]) -> dict[str, str]:
        """Golden ``name`` per resident ID, for holder checks (missing IDs are absent)."""
        ids = list(id_numbers)
        out: dict[str, str] = {}
        with self.engine.connect() as conn:
            for i in range(0, len(ids), 500):
                stmt = select(golden.c.subject, golden.c.value).where(
                    and_(
                        golden.c.library == POPULATION,
                        golden.c.field == "name",
                        golden.c.subject.in_(ids[i : i + 500]),
                    )
                )
                out.update({s: v for s, v in conn.execute(stmt)})
        return out

    def golden_snapshot(self) -> list[tuple[Any, ...]]:
        """Every golden row, sorted (used to compare end states in tests)."""
        with self.engine.connect() as conn:
            return sorted(tuple(r) for r in conn.execute(select(golden)))

    def fact_count(self) -> int:
        from sqlalchemy import func

        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(facts)).scalar_one())


_GOLDEN_UPSERT = (
    "ON CONFLICT (library, subject, field) DO UPDATE SET value = excluded.value, "
    "dataset = excluded.dataset, run_id = excluded.run_id, "
    "observed_at = excluded.observed_at, authoritative = excluded.authoritative "
    "WHERE excluded.authoritative > library_golden.authoritative "
    "OR (excluded.authoritative = library_golden.authoritative "
    "AND (excluded.observed_at > library_golden.observed_at "
    "OR (excluded.observed_at = library_golden.observed_at "
    "AND excluded.run_id >= library_golden.run_id)))"
)


def _plain_or(cur: Any, plain: Any, fallback: Any, params: Mapping[str, Any]) -> None:
    """Run ``plain``; if it hits a unique key, undo it (savepoint) and run ``fallback``.

    A concurrent merge inserting the same keys, or a re-merge of the same run, takes the
    fallback; everything else keeps the speed of a plain insert.
    """
    from psycopg.errors import UniqueViolation

    cur.execute("SAVEPOINT library_merge")
    try:
        cur.execute(plain, params)
    except UniqueViolation:
        cur.execute("ROLLBACK TO SAVEPOINT library_merge")
        cur.execute(fallback, params)
    cur.execute("RELEASE SAVEPOINT library_merge")


def _copy_refused(
    run_id: str, names: Sequence[str], wide: Sequence[tuple[Any, ...]], exc: Exception
) -> str:
    """Why PostgreSQL refused the staged rows, naming the field but never a value."""
    for i, name in enumerate(names, start=1):
        if any(row[i] is not None and "\x00" in row[i] for row in wide):
            return (
                f"run {run_id}: field {name!r} holds a NUL (0x00) character, which PostgreSQL "
                "text cannot store; quarantine such rows (reason CONTROL_CHAR) before merging"
            )
    return f"run {run_id}: PostgreSQL refused the staged rows: {exc.__class__.__name__}"


def _fact_tuples(
    library: str,
    run_id: str,
    dataset: str,
    observed: datetime,
    subjects: Sequence[str | None],
    columns: Mapping[str, Sequence[Any]],
    auth: set[str],
) -> list[tuple[Any, ...]]:
    """One row tuple per non-null fact, in primary-key order, one per (subject, field).

    A later row of the same subject wins per field. Tuples are in the column order
    ``library, subject, field, run_id, value, dataset, observed_at, authoritative``, with the
    time in SQLAlchemy's SQLite storage format (so Core reads it back unchanged). Key order
    makes the B-tree inserts append-like instead of random page touches.
    """
    stamp = observed.strftime("%Y-%m-%d %H:%M:%S.%f")
    latest: dict[tuple[str, str], str] = {}
    for name, values in columns.items():
        for subject, value in zip(subjects, values, strict=True):
            if value is not None and subject is not None:
                latest[(subject, name)] = value if type(value) is str else _text(value)
    return [
        (library, subject, name, run_id, value, dataset, stamp, 1 if name in auth else 0)
        for (subject, name), value in sorted(latest.items())
    ]


def _text_column(values: Sequence[Any]) -> Sequence[str | None]:
    """A column as text the way facts store it; all-text columns pass through untouched."""
    if set(map(type, values)) <= {str, type(None)}:
        return values
    return [None if v is None else _text(v) for v in values]


def _last_non_null_per_subject(
    wide: list[tuple[Any, ...]],
) -> list[tuple[Any, ...]]:
    """Collapse rows of the same subject (sorted by subject, file order kept) into one.

    Per field the last non-null value wins, exactly like per-fact deduplication.
    """
    out: list[tuple[Any, ...]] = []
    for row in wide:
        if out and out[-1][0] == row[0]:
            prev = out[-1]
            out[-1] = tuple(p if v is None else v for p, v in zip(prev, row, strict=True))
        else:
            out.append(row)
    return out


def _text(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)
