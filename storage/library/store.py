"""The population and legal-entity libraries: statements with provenance, golden records, runs.

Every row a department sends becomes a *statement*: what one run (dataset, time) said about one
subject, all its non-null fields in one JSON array (``library_statements``, keyed by subject and
the run's number). The run's library, id, dataset, time, field order and the fields it is the
authoritative source of are kept once per run (``library_merges``, where a merged run gets its
number): a statement holds only what differs from row to row. The *golden record* of a subject
is, per field, the winning value and the run that gave it: a value from the field's
authoritative source (一数一源) beats any other; otherwise the newest wins (then the larger run
id). A subject that more than one run spoke of has its golden record stored in
``library_records``; a subject only one run spoke of has no row there, because its single
statement already is its golden record (every value in it wins), and storing it twice would
double a first load's writes. Statements, golden records and the run's status are written in
one transaction per merge, so a killed merge leaves no trace and a re-run ends in the same state.

One row per subject instead of one per field keeps a merge's write volume at the file's row
count: on SQLite the rows go through the DB-API ``executemany`` in key order, on PostgreSQL they
are streamed with ``COPY``. Precedence is decided in Python over the subjects the library
already holds; concurrent merges of one library are serialised (SQLite's single writer, a
PostgreSQL transaction-level advisory lock), so no read-modify-write is lost.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, time
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, and_, func, insert, inspect, select, text, update

from storage.engine import make_engine
from storage.library.dialects import Dialect, PostgresDialect, SqliteDialect
from storage.library.encoding import PreparedStatements
from storage.library.merge import Precedence, merge_each, recompute, withdraw
from storage.library.model import (
    LEGAL_ENTITY,
    LIBRARIES,
    POPULATION,
    FactView,
    GoldenRecord,
    LibraryError,
    RunMeta,
    Statements,
    as_datetime,
    golden_fields,
    meta_from_row,
    naive_utc,
    record_text,
    statement_values,
)
from storage.library.reads import GOLDEN_ALL, GOLDEN_SOME, golden_columns
from storage.library.replay import replay
from storage.library.runs import RunIndex
from storage.library.schema import (
    LEGACY_FACTS,
    LEGACY_GOLDEN,
    merges,
    metadata,
    records,
    retractions,
    runs,
    statements,
    upgrade_tables,
)
from storage.library.version import count_change, version_metadata

# a golden record with nothing left in it: every value withdrawn or retracted
_EMPTY = "{}"


def engine_for(db_url: str) -> Engine:
    """The hub database's engine (:func:`storage.engine.make_engine`: one per URL)."""
    return make_engine(db_url)


class LibraryStore(RunIndex):
    """Read and bulk-merge API over the library tables."""

    def __init__(self, engine: Engine, snapshots: Path | None = None) -> None:
        """``snapshots``: the folder for the libraries' columnar snapshots when the database
        has no folder of its own (PostgreSQL: the hub's home); an SQLite library keeps them
        beside its file (:func:`storage.library.snapshot.snapshot_folder`)."""
        self.engine = engine
        self.snapshots = snapshots
        metadata.create_all(engine)
        version_metadata.create_all(engine)
        with engine.begin() as conn:
            upgrade_tables(conn)
        self._meta: dict[tuple[str, str], RunMeta] = {}
        if LEGACY_FACTS in inspect(engine).get_table_names():
            self._migrate_legacy()

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
        after_facts: Callable[[], None] | None = None,
    ) -> int:
        """Merge one run's accepted rows; returns the number of facts (non-null fields) written.

        ``columns`` maps library field -> values aligned with ``subjects``; nulls are skipped (a
        missing value never erases a known one) and a later row of the same subject wins per
        field. Statements, golden records and the run's status change in one transaction.
        ``after_facts`` is a test hook called between the two bulk writes (used to kill the
        process mid-merge). Merging the same run again changes nothing.
        """
        return self.merge_chunks(
            library,
            run_id,
            dataset,
            observed_at,
            [(subjects, columns)],
            authoritative_for,
            after_facts=after_facts,
        )

    def merge_chunks(
        self,
        library: str,
        run_id: str,
        dataset: str,
        observed_at: datetime,
        chunks: Iterable[
            Statements
            | PreparedStatements
            | tuple[Sequence[str | None], Mapping[str, Sequence[Any]]]
        ],
        authoritative_for: Iterable[str] = (),
        *,
        after_facts: Callable[[], None] | None = None,
        set_status: bool = True,
        withdrawn: Iterable[str] = (),
    ) -> int:
        """:meth:`merge` of a large run in pieces, still in one transaction.

        Each chunk is ``(subjects, columns)`` like :meth:`merge`'s arguments, or
        :class:`Statements` (see :func:`statements_from_arrow`), or :class:`PreparedStatements`
        (see :func:`prepare_statements`: PostgreSQL copies a first load's Arrow text as it is,
        without a Python object per row); a subject must not appear in two
        chunks, and chunks come in increasing subject order (sort the rows by subject, stably,
        and cut between subjects). Only one chunk is held in memory at a time.

        ``withdrawn`` are the subjects whose values the run's source takes back (tombstones:
        the department deleted them; none of them may be in ``chunks``): each gets a withdrawal
        statement and its golden record falls back to the other sources, in the same
        transaction.
        """
        if library not in LIBRARIES:
            raise LibraryError(f"unknown library {library!r}; expected one of {LIBRARIES}")
        dialect = self.engine.dialect.name
        if dialect not in ("sqlite", "postgresql"):
            raise LibraryError(
                f"unsupported database dialect {dialect!r}: use sqlite:/// or postgresql+psycopg://"
            )
        mine = RunMeta(dataset, naive_utc(observed_at), frozenset(authoritative_for))
        with self.engine.begin() as conn:
            cur = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            db: Dialect = (
                PostgresDialect(cur, library)
                if dialect == "postgresql"
                else SqliteDialect(cur, library)
            )
            first = db.add_merge(run_id, mine)  # takes the library's write lock
            # with no other run in the library every subject is new: no record to read or write
            others = db.has_other_runs(run_id)
            merged = Precedence(run_id, mine, db.run_meta)
            # the run's statement layout: the first chunk's, or what an earlier merge stored
            layout = None if first else db.run_meta([run_id])[run_id].fields
            try:
                written, layout = merge_each(
                    db, chunks, run_id, first, others, merged, layout, after_facts
                )
            except BaseException as exc:
                db.end_copy(exc)
                raise
            db.end_copy()
            db.end_load()
            withdraw(db, withdrawn)
            if first:
                db.finish(run_id, written, merged.compared, merged.agreeing, layout or ())
            count_change(conn, library)  # a snapshot of the library is stale from now on
            if set_status:
                conn.execute(update(runs).where(runs.c.run_id == run_id).values(status="merged"))
            cur.close()
        return written

    def agreement(self, library: str, run_id: str) -> tuple[int, int]:
        """(agreeing, compared) of a merged run's values with the authoritative sources' values
        the library held for the same subjects and fields (GB/T 36344 accuracy), as counted by
        its merge; (0, 0) for a run that was never merged."""
        stmt = select(merges.c.agreeing, merges.c.compared).where(
            and_(merges.c.library == library, merges.c.run_id == run_id)
        )
        with self.engine.connect() as conn:
            row = conn.execute(stmt).first()
        return (int(row[0]), int(row[1])) if row else (0, 0)

    # ---- reads --------------------------------------------------------------------------
    def run_meta(self, library: str, run_id: str) -> RunMeta:
        """A merged run's source, time and authority (cached: it never changes once merged)."""
        key = (library, run_id)
        meta = self._meta.get(key)
        if meta is None:
            stmt = select(
                merges.c.dataset, merges.c.observed_at, merges.c.authoritative, merges.c.fields
            ).where(and_(merges.c.library == library, merges.c.run_id == run_id))
            with self.engine.connect() as conn:
                row = conn.execute(stmt).first()
            if row is None:
                raise LibraryError(f"golden record names run {run_id!r}, which was never merged")
            meta = self._meta[key] = meta_from_row(*row)
        return meta

    def record(self, library: str, subject: str, as_of: date | None = None) -> GoldenRecord | None:
        """One subject's golden record, optionally as known at the end of day ``as_of``."""
        stmt = (
            select(
                merges.c.run_id,
                statements.c.doc,
                merges.c.dataset,
                merges.c.observed_at,
                merges.c.authoritative,
                merges.c.fields,
            )
            .join(merges, merges.c.run_no == statements.c.run_no)
            .where(and_(merges.c.library == library, statements.c.subject == subject))
            .order_by(merges.c.observed_at, merges.c.run_id)
        )
        if as_of is not None:
            stmt = stmt.where(merges.c.observed_at <= datetime.combine(as_of, time.max))
        retracted = select(retractions.c.run_id).where(retractions.c.library == library)
        if as_of is not None:
            retracted = retracted.where(
                retractions.c.retracted_at <= datetime.combine(as_of, time.max)
            )
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
            taken_back = set(conn.execute(retracted).scalars())
        if not rows:
            return None
        history: dict[str, list[FactView]] = {}
        told: list[tuple[str, RunMeta, str]] = []
        for run_id, doc, dataset, observed, auth, layout in rows:
            meta = meta_from_row(dataset, observed, auth, layout)
            told.append((run_id, meta, doc))
            for name, value in statement_values(doc, meta.fields).items():
                fv = FactView(value, dataset, run_id, meta.observed_at, name in meta.authoritative)
                history.setdefault(name, []).append(fv)
        winners = replay(told, taken_back)
        return GoldenRecord(library, subject, dict(sorted(winners.items())), history)

    def person(self, id_number: str, as_of: date | None = None) -> GoldenRecord | None:
        return self.record(POPULATION, id_number, as_of)

    def entity(self, uscc: str, as_of: date | None = None) -> GoldenRecord | None:
        return self.record(LEGAL_ENTITY, uscc, as_of)

    def _golden(
        self, library: str, subjects: Sequence[str] | None
    ) -> Iterable[tuple[str, str | None, str]]:
        """(subject, run id, statement) of subjects one run spoke of and (subject, None, stored
        golden record) of the others, for a library or some of its subjects."""
        sql = GOLDEN_ALL if subjects is None else GOLDEN_SOME
        with self.engine.connect() as conn:
            if subjects is None:
                yield from conn.execute(sql, {"l": library})
                return
            for i in range(0, len(subjects), 400):
                yield from conn.execute(sql, {"l": library, "s": list(subjects[i : i + 400])})

    def _golden_batches(
        self, library: str, subjects: Sequence[str] | None
    ) -> Iterator[Sequence[tuple[str, str | None, str]]]:
        """:meth:`_golden`'s rows in batches, the driver's rows as they are (fetched from its
        cursor without a SQLAlchemy row each)."""
        sql = GOLDEN_ALL if subjects is None else GOLDEN_SOME
        asked: list[dict[str, Any]] = (
            [{"l": library}]
            if subjects is None
            else [
                {"l": library, "s": list(subjects[i : i + 400])}
                for i in range(0, len(subjects), 400)
            ]
        )
        with self.engine.connect() as conn:
            for params in asked:
                result = conn.execute(sql, params)
                while batch := result.cursor.fetchmany(100_000):
                    yield batch

    def field_columns(
        self, library: str, fields: Sequence[str], subjects: Iterable[str] | None = None
    ) -> Any:
        """An Arrow table: ``subject`` (every subject of the library, or those of the given ones
        it holds, in no particular order) and the current golden value of each of ``fields`` as
        text (null if none), from one scan that decodes each golden record once
        (:func:`golden_columns`)."""
        wanted = None if subjects is None else sorted(set(subjects))
        return golden_columns(
            self._golden_batches(library, wanted), fields, partial(self.run_meta, library)
        )

    def field_values(
        self, library: str, field_name: str, subjects: Iterable[str] | None = None
    ) -> dict[str, str]:
        """subject -> current golden value of one field, for all subjects of the library or the
        given ones (subjects without the field are absent): :meth:`field_columns` of one."""
        table = self.field_columns(library, [field_name], subjects)
        present = table.filter(table.column(field_name).is_valid())
        keys = present.column("subject").to_pylist()
        return dict(zip(keys, present.column(field_name).to_pylist(), strict=True))

    def golden_values(self, library: str, field_name: str) -> dict[str, str]:
        """subject -> current golden value of one field (bulk read for cross-source checks)."""
        return self.field_values(library, field_name)

    def _gone(self, library: str) -> Any:
        """The subjects of ``library`` whose every value was withdrawn or retracted."""
        return select(records.c.subject).where(
            and_(records.c.library == library, records.c.doc == _EMPTY)
        )

    def subjects(self, library: str) -> list[str]:
        """The subjects the library holds (not those whose every value was taken back)."""
        stmt = (
            select(statements.c.subject)
            .join(merges, merges.c.run_no == statements.c.run_no)
            .where(merges.c.library == library)
            .where(statements.c.subject.not_in(self._gone(library)))
            .distinct()
            .order_by(statements.c.subject)
        )
        with self.engine.connect() as conn:
            return [s for (s,) in conn.execute(stmt)]

    def person_exists(self, id_number: str) -> bool:
        """True if the population library holds the person (not if every value of theirs was
        withdrawn or retracted); two point reads by key."""
        gone = (
            select(records.c.subject)
            .where(
                and_(
                    records.c.library == POPULATION,
                    records.c.subject == id_number,
                    records.c.doc == _EMPTY,
                )
            )
            .exists()
        )
        stmt = (
            select(statements.c.subject)
            .join(merges, merges.c.run_no == statements.c.run_no)
            .where(and_(merges.c.library == POPULATION, statements.c.subject == id_number))
            .where(~gone)
            .limit(1)
        )
        with self.engine.connect() as conn:
            return conn.execute(stmt).first() is not None

    def names(self, id_numbers: Iterable[str]) -> dict[str, str]:
        """Golden ``name`` per resident ID, for holder checks (missing IDs are absent)."""
        return self.field_values(POPULATION, "name", id_numbers)

    def golden_snapshot(self) -> list[tuple[Any, ...]]:
        """Every golden value as (library, subject, field, value, dataset, run_id, observed_at,
        authoritative), sorted (used to compare end states)."""
        out: list[tuple[Any, ...]] = []
        for library in LIBRARIES:
            meta = partial(self.run_meta, library)
            for subject, run_id, doc in self._golden(library, None):
                record = doc if run_id is None else record_text(run_id, doc, meta(run_id).fields)
                for name, f in golden_fields(record, meta).items():
                    out.append(
                        (
                            library,
                            subject,
                            name,
                            f.value,
                            f.dataset,
                            f.run_id,
                            f.observed_at,
                            f.authoritative,
                        )
                    )
        return sorted(out)

    def fact_count(self) -> int:
        """How many values (non-null fields of statements) the library holds."""
        with self.engine.connect() as conn:
            return int(
                conn.execute(select(func.coalesce(func.sum(merges.c.facts), 0))).scalar_one()
            )

    # ---- retraction ---------------------------------------------------------------------
    def retract_run(
        self,
        run_id: str,
        reason: str,
        staff: str,
        when: datetime,
        *,
        within: Callable[[Connection, dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Take back a whole merged run (its department delivered it by mistake): it counts for
        nothing from now on, the golden records of its subjects fall back to what the other
        runs said, its statements stay as history ("as of" a day before still shows them) and
        the run is marked ``retracted`` with the reason, in one transaction. ``within`` runs in
        that transaction with what was retracted (the caller's audit entry). Returns the run's
        library, dataset and how many subjects it spoke of."""
        if not reason.strip():
            raise LibraryError("say why the run is retracted (--reason)")
        with self.engine.begin() as conn:
            found = conn.execute(
                select(merges.c.library, merges.c.run_no, merges.c.dataset).where(
                    merges.c.run_id == run_id
                )
            ).first()
            if found is None:
                raise LibraryError(f"run {run_id!r} was never merged: nothing to retract")
            library, run_no, dataset = found
            cur = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            db: Dialect = (
                PostgresDialect(cur, library)
                if self.engine.dialect.name == "postgresql"
                else SqliteDialect(cur, library)
            )
            db.lock()
            if conn.execute(
                select(retractions.c.run_id).where(retractions.c.run_id == run_id)
            ).first():
                raise LibraryError(f"run {run_id!r} was retracted already")
            conn.execute(
                insert(retractions).values(
                    run_id=run_id,
                    library=library,
                    retracted_at=naive_utc(when),
                    reason=reason.strip(),
                    staff=staff,
                )
            )
            subjects = list(
                conn.execute(
                    select(statements.c.subject).where(statements.c.run_no == run_no)
                ).scalars()
            )
            recompute(db, subjects)
            cur.close()
            count_change(conn, library)
            conn.execute(
                update(runs)
                .where(runs.c.run_id == run_id)
                .values(status="retracted", message=f"retracted: {reason.strip()}")
            )
            done = {
                "run_id": run_id,
                "library": library,
                "dataset": dataset,
                "subjects": len(subjects),
            }
            if within is not None:
                within(conn, done)
        return done

    def retractions(self) -> list[dict[str, Any]]:
        """The runs taken back, oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(retractions).order_by(retractions.c.retracted_at))
            return [dict(r._mapping) for r in rows]

    # ---- upgrade from the one-row-per-field layout --------------------------------------
    def _migrate_legacy(self) -> None:
        """Move a hub's facts from the old one-row-per-field tables into statements and golden
        records (run by run, in the order they were observed), then drop the old tables.

        Re-running after an interruption re-merges the runs already moved, which changes nothing.
        """
        with self.engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT library, run_id, dataset, observed_at, subject, field, value, "
                    f"authoritative FROM {LEGACY_FACTS} "
                    "ORDER BY observed_at, run_id, library, subject, field"
                )
            ).all()
        runs_seen: dict[tuple[str, str], list[Any]] = {}
        for r in rows:
            runs_seen.setdefault((r[0], r[1]), []).append(r)
        for (library, run_id), facts in runs_seen.items():
            subjects = sorted({f[4] for f in facts})
            pos = {s: i for i, s in enumerate(subjects)}
            columns: dict[str, list[Any]] = {}
            for f in facts:
                columns.setdefault(f[5], [None] * len(subjects))[pos[f[4]]] = f[6]
            auth = {f[5] for f in facts if f[7]}
            self.merge_chunks(
                library,
                run_id,
                facts[0][2],
                as_datetime(facts[0][3]).replace(tzinfo=UTC),
                [(subjects, columns)],
                auth,
                set_status=False,
            )
        with self.engine.begin() as conn:
            conn.execute(text(f"DROP TABLE IF EXISTS {LEGACY_GOLDEN}"))
            conn.execute(text(f"DROP TABLE {LEGACY_FACTS}"))
