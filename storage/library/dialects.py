"""The few statements a merge runs, per database: SQLite through the DB-API's ``executemany``,
PostgreSQL with ``COPY`` (text and binary) under a per-library advisory lock."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from itertools import chain, repeat
from typing import Any

from storage.library.encoding import PreparedStatements
from storage.library.model import LibraryError, RunMeta, encode_json, meta_from_row
from storage.library.pgcopy import (
    BINARY_COPY_SIGNATURE,
    BINARY_COPY_TRAILER,
    binary_copy_rows,
    copy_escape,
    copy_escaped,
)
from storage.library.schema import (
    PARTITION_HASH_SQL,
    RUN_NUMBERS,
    STATEMENTS_BY_RUN,
    STATEMENTS_RUN_INDEX,
    STATEMENTS_WITH_RUNS,
    partition_names,
    records,
    statements,
)

# the partitions of the statements and the golden records on PostgreSQL, by remainder
_STATEMENTS_PARTS = partition_names(statements)
_RECORDS_PARTS = partition_names(records)
# a statement of the run found and probed in both keys costs about as much as this many rows
# of a pass over a partition (EXPLAIN ANALYZE on the tier, 1.2 M subjects, loaded machine:
# ~10 µs a probed statement, ~2 µs a row hashed)
PROBE_COST = 5
# the memory a load's index build may use: each partition's sort in memory up to ~40 M
# statements (10 M: 16 sorts of ~40 MB); PostgreSQL splits it between the build's processes
KEY_BUILD_MEMORY = "256MB"
KEY_BUILD_WORKERS = 1


class Dialect:
    """The few statements a merge needs, per database (raw DB-API cursor: bulk speed)."""

    mark = "?"  # the driver's parameter placeholder

    def __init__(self, cur: Any, library: str) -> None:
        self.cur = cur
        self.library = library
        self.run_no = 0  # the merged run's number (add_merge), named by its statements

    def add_merge(self, run_id: str, meta: RunMeta) -> bool:
        """Record the run (True) or find it recorded already (False), and its number."""
        raise NotImplementedError

    def _run_no(self, run_id: str) -> int:
        m = self.mark
        self.cur.execute(
            f"SELECT run_no FROM library_merges WHERE library = {m} AND run_id = {m}",
            (self.library, run_id),
        )
        return int(self.cur.fetchone()[0])

    def add_statements(self, subjects: Sequence[str], docs: Sequence[str], first: bool) -> None:
        raise NotImplementedError

    def has_other_runs(self, run_id: str) -> bool:
        m = self.mark
        self.cur.execute(
            f"SELECT 1 FROM library_merges WHERE library = {m} AND run_id <> {m} LIMIT 1",
            (self.library, run_id),
        )
        return self.cur.fetchone() is not None

    def streams(self) -> bool:
        """Can this database stream a new run's statements (:meth:`copy_prepared`,
        :meth:`copy_statements`) and find the subjects they meet (:meth:`met_subjects`)?"""
        return False

    def copy_prepared(self, prepared: PreparedStatements) -> None:
        """Write a new run's plain statements straight from Arrow (the caller has checked
        order and layout). The writing may go on in the background until :meth:`end_copy`."""
        raise NotImplementedError

    def copy_statements(self, subjects: Sequence[str], docs: Sequence[str]) -> None:
        """Write a new run's statements through the stream of :meth:`copy_prepared`."""
        raise NotImplementedError

    def met_subjects(self, run_rows: int) -> Iterator[tuple[list[str], list[str]]]:
        """After a streamed run's ``run_rows`` statements are written: (subjects, their
        statements) of the run, in batches, whose subject has a golden record or another
        run's statement in this library (the subjects whose records the run may change)."""
        raise NotImplementedError

    def end_copy(self, exc: BaseException | None = None) -> None:
        """Finish what :meth:`copy_prepared` started (abandon it if ``exc``), before any other
        statement of the merge runs."""

    def end_load(self) -> None:
        """After a merge's last statement is written: restore what the load set aside."""

    def known(self, subjects: Sequence[str]) -> tuple[dict[str, str], dict[str, tuple[str, str]]]:
        """The stored golden records of these subjects, and for those without one the single
        statement another run made (run id, statement): its golden record until now."""
        records = dict(self._records(subjects))
        single: dict[str, tuple[str, str]] = {}
        for subject, other, doc in self._other_statements(
            [s for s in subjects if s not in records]
        ):
            if subject in single:
                raise LibraryError(
                    f"library {self.library} is inconsistent: a subject has statements from "
                    "several runs but no golden record"
                )
            single[subject] = (other, doc)
        return records, single

    def lock(self) -> None:
        """Take the library's write lock (a merge takes it with :meth:`add_merge`)."""

    def records_of(self, subjects: Sequence[str]) -> dict[str, str]:
        """The stored golden records of these subjects (those that have one)."""
        return dict(self._records(subjects))

    def statements_of(self, subjects: Sequence[str]) -> Iterable[tuple[str, str, str]]:
        """(subject, run id, statement) of every run that spoke of these subjects."""
        raise NotImplementedError

    def retracted(self) -> set[str]:
        """The runs of this library their source retracted."""
        m = self.mark
        self.cur.execute(
            f"SELECT run_id FROM library_retractions WHERE library = {m}", (self.library,)
        )
        return {r for (r,) in self.cur.fetchall()}

    def _records(self, subjects: Sequence[str]) -> Iterable[tuple[str, str]]:
        raise NotImplementedError

    def _other_statements(self, subjects: Sequence[str]) -> Iterable[tuple[str, str, str]]:
        raise NotImplementedError

    def run_meta(self, run_ids: list[str]) -> dict[str, RunMeta]:
        raise NotImplementedError

    def write_records(self, fresh: list[tuple[str, str]], changed: list[tuple[str, str]]) -> None:
        raise NotImplementedError

    def finish(
        self, run_id: str, facts: int, compared: int, agreeing: int, fields: Sequence[str]
    ) -> None:
        m = self.mark
        self.cur.execute(
            f"UPDATE library_merges SET facts = {m}, compared = {m}, agreeing = {m}, "
            f"fields = {m} WHERE library = {m} AND run_id = {m}",
            (facts, compared, agreeing, encode_json(list(fields)).decode(), self.library, run_id),
        )


_MERGE_COLUMNS = (
    "library, run_id, dataset, observed_at, authoritative, facts, compared, agreeing, run_no"
)


class SqliteDialect(Dialect):
    """SQLite: the first write takes the database's single write lock until commit, so the
    golden records read after it cannot change under the merge."""

    def add_merge(self, run_id: str, meta: RunMeta) -> bool:
        self.cur.execute(
            f"INSERT INTO library_merges ({_MERGE_COLUMNS}) VALUES (?, ?, ?, ?, ?, 0, 0, 0, "
            "(SELECT coalesce(max(run_no), 0) + 1 FROM library_merges)) ON CONFLICT DO NOTHING",
            (
                self.library,
                run_id,
                meta.dataset,
                meta.observed_at.strftime("%Y-%m-%d %H:%M:%S.%f"),
                encode_json(sorted(meta.authoritative)).decode(),
            ),
        )
        first = bool(self.cur.rowcount == 1)
        self.run_no = self._run_no(run_id)
        return first

    def add_statements(self, subjects: Sequence[str], docs: Sequence[str], first: bool) -> None:
        self.cur.executemany(
            "INSERT INTO library_statements (subject, run_no, doc) VALUES (?, ?, ?) "
            + ("" if first else "ON CONFLICT DO NOTHING"),
            zip(subjects, repeat(self.run_no), docs),
        )

    def _by_subjects(
        self, select: str, subjects: Sequence[str], *after: object
    ) -> Iterable[tuple[Any, ...]]:
        """The rows of ``select`` (its ``{marks}`` the subjects' placeholders, between the
        library and ``after``), in batches within SQLite's parameter limit."""
        for i in range(0, len(subjects), 900):
            part = subjects[i : i + 900]
            marks = ", ".join("?" * len(part))
            self.cur.execute(select.format(marks=marks), (self.library, *part, *after))
            yield from self.cur.fetchall()

    def _records(self, subjects: Sequence[str]) -> Iterable[tuple[str, str]]:
        return self._by_subjects(
            "SELECT subject, doc FROM library_records WHERE library = ? AND subject IN ({marks})",
            subjects,
        )

    def statements_of(self, subjects: Sequence[str]) -> Iterable[tuple[str, str, str]]:
        return self._by_subjects(
            f"SELECT s.subject, m.run_id, s.doc FROM {STATEMENTS_WITH_RUNS} "
            "WHERE m.library = ? AND s.subject IN ({marks})",
            subjects,
        )

    def _other_statements(self, subjects: Sequence[str]) -> Iterable[tuple[str, str, str]]:
        return self._by_subjects(
            f"SELECT s.subject, m.run_id, s.doc FROM {STATEMENTS_WITH_RUNS} "
            "WHERE m.library = ? AND s.subject IN ({marks}) AND s.run_no <> ?",
            subjects,
            self.run_no,
        )

    def run_meta(self, run_ids: list[str]) -> dict[str, RunMeta]:
        marks = ", ".join("?" * len(run_ids))
        self.cur.execute(
            "SELECT run_id, dataset, observed_at, authoritative, fields FROM library_merges "
            f"WHERE library = ? AND run_id IN ({marks})",
            (self.library, *run_ids),
        )
        return {r: meta_from_row(d, o, a, f) for r, d, o, a, f in self.cur.fetchall()}

    def write_records(self, fresh: list[tuple[str, str]], changed: list[tuple[str, str]]) -> None:
        lib = self.library
        if fresh:
            self.cur.executemany(
                "INSERT INTO library_records (library, subject, doc) VALUES (?, ?, ?)",
                [(lib, s, d) for s, d in fresh],
            )
        if changed:
            self.cur.executemany(
                "UPDATE library_records SET doc = ? WHERE library = ? AND subject = ?",
                [(d, lib, s) for s, d in changed],
            )


class PostgresDialect(Dialect):
    """PostgreSQL: merges of one library are serialised by a transaction-level advisory lock;
    statements and new golden records are streamed with COPY."""

    mark = "%s"

    def __init__(self, cur: Any, library: str) -> None:
        super().__init__(cur, library)
        self._copying: Any = None  # the open COPY of copy_prepared, and its Copy object
        self._stream: Any = None
        self._set_aside: list[str] = []  # the statements' indexes set aside: their DDL
        self._key_decided = False

    def add_merge(self, run_id: str, meta: RunMeta) -> bool:
        self.cur.execute(
            "SELECT pg_advisory_xact_lock(hashtext(%s))", (f"hub.library:{self.library}",)
        )
        self.cur.execute(
            f"INSERT INTO library_merges ({_MERGE_COLUMNS}) VALUES (%s, %s, %s, %s, %s, 0, 0, 0, "
            f"nextval('{RUN_NUMBERS}')) ON CONFLICT DO NOTHING RETURNING run_no",
            (
                self.library,
                run_id,
                meta.dataset,
                meta.observed_at,
                encode_json(sorted(meta.authoritative)).decode(),
            ),
        )
        row = self.cur.fetchone()
        self.run_no = int(row[0]) if row is not None else self._run_no(run_id)
        return row is not None

    def _copy(self, statement: str, rows: Iterable[tuple[str, ...]]) -> None:
        """COPY text rows, formatted here: one write per 10,000 rows instead of psycopg's
        per-row formatting (the JSON text holds no raw control characters, only backslashes
        to escape)."""
        with self.cur.copy(statement) as copy:
            lines: list[str] = []
            for row in rows:
                lines.append("\t".join(map(copy_escape, row)))
                if len(lines) == 10_000:
                    copy.write(("\n".join(lines) + "\n").encode())
                    lines.clear()
            if lines:
                copy.write(("\n".join(lines) + "\n").encode())

    def streams(self) -> bool:
        return True

    def _stream_rows(self) -> Any:
        """The run's one COPY of statements, opened on first use."""
        if self._copying is None:
            if not self._key_decided:  # once per merge, before its first statement is written
                self._key_decided = True
                self._set_aside = self._set_indexes_aside()
            # one COPY for all the run's chunks, fed by a writer thread: the server parses and
            # stores one chunk while the next is joined here (a COPY per chunk made it wait).
            # Binary format: no escaping to check or undo, a fifth less work for the server
            from psycopg.copy import QueuedLibpqWriter

            self._copying = self.cur.copy(
                "COPY library_statements (subject, run_no, doc) FROM STDIN (FORMAT BINARY)",
                writer=QueuedLibpqWriter(self.cur),
            )
            self._stream = self._copying.__enter__()
            self._stream.write(BINARY_COPY_SIGNATURE)
        return self._stream

    def copy_prepared(self, prepared: PreparedStatements) -> None:
        rows = binary_copy_rows([prepared.subjects, self.run_no, prepared.text])
        self._stream_rows().write(rows)

    def copy_statements(self, subjects: Sequence[str], docs: Sequence[str]) -> None:
        import pyarrow as pa

        columns = [pa.array(subjects, pa.string()), self.run_no, pa.array(docs, pa.string())]
        self._stream_rows().write(binary_copy_rows(columns))

    def met_subjects(
        self, run_rows: int, batch: int = 10_000
    ) -> Iterator[tuple[list[str], list[str]]]:
        """Per partition, the run's statements whose subject has a golden record or another
        run's statement in the library, sorted by subject, found one of two ways by the run's
        share of the partition (its statistics refreshed first: the run's rows are new):

        - a run small beside the library: its statements read through the block-range index
          of run numbers (:data:`storage.library.schema.STATEMENTS_BY_RUN`), each subject
          probed in the two keys: the cost is the run's, however large the library;
        - a run of a size near the library's: one pass over the partition's records and
          other statements into hash tables (ten million probes would cost more than two
          passes over ten million rows).

        Both give the same rows; a look-up costs about PROBE_COST passes over a row."""
        self.cur.execute("SET LOCAL work_mem = '256MB'")  # the hash tables in memory
        self.cur.execute("SET LOCAL jit = off")  # compiling costs more than these queries
        self.cur.execute(
            "SELECT coalesce(array_agg(run_no), '{}') FROM library_merges "
            "WHERE library = %s AND run_no <> %s",
            (self.library, self.run_no),
        )
        others = list(self.cur.fetchone()[0])
        args = {"run": self.run_no, "lib": self.library, "others": others}
        for stmts, recs in zip(_STATEMENTS_PARTS, _RECORDS_PARTS, strict=True):
            self.cur.execute(f"ANALYZE {stmts}")
            self.cur.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", (stmts,))
            rows_there = max(0.0, float(self.cur.fetchone()[0]))
            if run_rows / len(_STATEMENTS_PARTS) * PROBE_COST > rows_there:
                query = (
                    f"SELECT s.subject, s.doc FROM {stmts} s WHERE s.run_no = %(run)s AND ("
                    f"s.subject IN (SELECT r.subject FROM {recs} r WHERE r.library = %(lib)s) "
                    f"OR s.subject IN (SELECT o.subject FROM {stmts} o "
                    "WHERE o.run_no = ANY(%(others)s)))"
                )
            else:  # LIMIT 1 keeps each look-up a probe of the key, row by row
                query = (
                    f"SELECT s.subject, s.doc FROM {stmts} s "
                    "LEFT JOIN LATERAL (SELECT 1 AS hit FROM "
                    f"{recs} r WHERE r.library = %(lib)s AND r.subject = s.subject LIMIT 1) a "
                    "ON true LEFT JOIN LATERAL (SELECT 1 AS hit FROM "
                    f"{stmts} o WHERE o.subject = s.subject AND o.run_no = ANY(%(others)s) "
                    "LIMIT 1) b ON true "
                    "WHERE s.run_no = %(run)s AND (a.hit IS NOT NULL OR b.hit IS NOT NULL)"
                )
            self.cur.execute(query + " ORDER BY s.subject", args)
            rows = self.cur.fetchall()
            for i in range(0, len(rows), batch):
                part = rows[i : i + batch]
                yield [r[0] for r in part], [r[1] for r in part]

    def end_copy(self, exc: BaseException | None = None) -> None:
        copying, stream, self._copying, self._stream = self._copying, self._stream, None, None
        if copying is not None:
            if exc is None:
                stream.write(BINARY_COPY_TRAILER)
            copying.__exit__(type(exc) if exc else None, exc, exc.__traceback__ if exc else None)

    def _set_indexes_aside(self) -> list[str]:
        """Drop the statements' primary key and block-range index for a load into an empty
        table, to build them once at the end (:meth:`end_load`): PostgreSQL's advice for bulk
        loads. A million-row first load's COPY takes half the time without a B-tree to update
        row by row, and the block-range index, cheap to build in one pass, costs the COPY
        about a sixth of the server's CPU when kept up row by row (same-run A/B, 1 M rows).
        Only with the table to itself (an exclusive lock taken without waiting); otherwise, or
        if the table has rows, they stay. Returns the statements that restore what was dropped;
        a rolled-back merge restores it with everything else."""
        import psycopg

        self.cur.execute("SELECT EXISTS (SELECT 1 FROM library_statements)")
        if self.cur.fetchone()[0]:
            return []
        self.cur.execute("SAVEPOINT hub_statements_key")
        try:
            self.cur.execute("LOCK TABLE library_statements IN ACCESS EXCLUSIVE MODE NOWAIT")
        except psycopg.errors.LockNotAvailable:  # a reader or another merge: keep the key
            self.cur.execute("ROLLBACK TO SAVEPOINT hub_statements_key")
            return []
        self.cur.execute("RELEASE SAVEPOINT hub_statements_key")
        self.cur.execute("SELECT EXISTS (SELECT 1 FROM library_statements)")
        if self.cur.fetchone()[0]:  # rows committed before the lock was granted
            return []
        restore: list[str] = []
        self.cur.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = 'library_statements'::regclass AND contype = 'p'"
        )
        key = self.cur.fetchone()
        if key is not None:
            name, definition = str(key[0]), str(key[1])
            self.cur.execute(f'ALTER TABLE library_statements DROP CONSTRAINT "{name}"')
            restore.append(f'ALTER TABLE library_statements ADD CONSTRAINT "{name}" {definition}')
        self.cur.execute("SELECT to_regclass(%s) IS NOT NULL", (STATEMENTS_RUN_INDEX,))
        if self.cur.fetchone()[0]:
            self.cur.execute(f"DROP INDEX {STATEMENTS_RUN_INDEX}")
            restore.append(STATEMENTS_BY_RUN)
        return restore

    def end_load(self) -> None:
        restore, self._set_aside = self._set_aside, []
        if restore:  # each built in one pass: faster than an index insert per row
            # each partition's sort in memory, and at most one worker beside this backend:
            # 1 GB let PostgreSQL start two workers for each of the 16 partitions' builds,
            # three processes on the tier's two cores
            self.cur.execute(f"SET LOCAL maintenance_work_mem = '{KEY_BUILD_MEMORY}'")
            self.cur.execute(f"SET LOCAL max_parallel_maintenance_workers = {KEY_BUILD_WORKERS}")
            for statement in restore:
                self.cur.execute(statement)

    def _copy_columns(self, statement: str, columns: Sequence[str | Sequence[str]]) -> None:
        """COPY rows given column-wise (a ``str`` is the same value on every row), the text
        assembled by C-level joins instead of per-row formatting."""
        n = len(next(c for c in columns if not isinstance(c, str)))
        with self.cur.copy(statement) as copy:
            for start in range(0, n, 20_000):
                parts: list[Iterable[str]] = []
                for i, c in enumerate(columns):
                    if isinstance(c, str):
                        parts.append(repeat(copy_escape(c)))
                    else:
                        parts.append(copy_escaped(c[start : start + 20_000]))
                    parts.append(repeat("\t" if i < len(columns) - 1 else "\n"))
                # the repeats are endless: the sliced columns end the rows
                copy.write("".join(chain.from_iterable(zip(*parts, strict=False))).encode())

    def add_statements(self, subjects: Sequence[str], docs: Sequence[str], first: bool) -> None:
        if first:  # a new run's statements cannot exist yet
            self._copy_columns(
                "COPY library_statements (subject, run_no, doc) FROM STDIN",
                [subjects, str(self.run_no), docs],
            )
            return
        self.cur.executemany(
            "INSERT INTO library_statements (subject, run_no, doc) VALUES (%s, %s, %s) "
            "ON CONFLICT DO NOTHING",
            list(zip(subjects, repeat(self.run_no), docs)),
        )

    def partition_groups(self, subjects: Sequence[str]) -> Iterator[tuple[int, list[str]]]:
        """The subjects in batches of 10,000, each batch grouped by the partition that holds
        them (its remainder: a subject's statements and golden record have the same, their
        keys being of one type), so that a batch's look-up probes each partition's key for its
        own few hundred subjects: one ``= ANY`` of the 10,000 on the partitioned table probed
        every partition for all of them, and made a merge's look-up of the subjects it
        touches twice as slow at 200,000 subjects. The remainder is PostgreSQL's own hash
        partitioning of a text key (:data:`PARTITION_HASH_SQL`), one hash per subject."""
        for i in range(0, len(subjects), 10_000):
            self.cur.execute(
                f"SELECT {PARTITION_HASH_SQL.format(key='q.s')}, array_agg(q.s) "
                "FROM unnest(%s::text[]) AS q(s) GROUP BY 1",
                (list(subjects[i : i + 10_000]),),
            )
            yield from ((int(r), list(part)) for r, part in self.cur.fetchall())

    def _records(self, subjects: Sequence[str]) -> Iterable[tuple[str, str]]:
        for r, part in self.partition_groups(subjects):
            self.cur.execute(
                f"SELECT subject, doc FROM {_RECORDS_PARTS[r]} "
                "WHERE library = %s AND subject = ANY(%s)",
                (self.library, part),
            )
            yield from self.cur.fetchall()

    def lock(self) -> None:
        self.cur.execute(
            "SELECT pg_advisory_xact_lock(hashtext(%s))", (f"hub.library:{self.library}",)
        )

    def statements_of(self, subjects: Sequence[str]) -> Iterable[tuple[str, str, str]]:
        for r, part in self.partition_groups(subjects):
            self.cur.execute(
                f"SELECT s.subject, m.run_id, s.doc FROM {_STATEMENTS_PARTS[r]} s "
                "JOIN library_merges m ON m.run_no = s.run_no "
                "WHERE m.library = %s AND s.subject = ANY(%s)",
                (self.library, part),
            )
            yield from self.cur.fetchall()

    def _other_statements(self, subjects: Sequence[str]) -> Iterable[tuple[str, str, str]]:
        for r, part in self.partition_groups(subjects):
            self.cur.execute(
                f"SELECT s.subject, m.run_id, s.doc FROM {_STATEMENTS_PARTS[r]} s "
                "JOIN library_merges m ON m.run_no = s.run_no "
                "WHERE m.library = %s AND s.subject = ANY(%s) AND s.run_no <> %s",
                (self.library, part, self.run_no),
            )
            yield from self.cur.fetchall()

    def run_meta(self, run_ids: list[str]) -> dict[str, RunMeta]:
        self.cur.execute(
            "SELECT run_id, dataset, observed_at, authoritative, fields FROM library_merges "
            "WHERE library = %s AND run_id = ANY(%s)",
            (self.library, run_ids),
        )
        return {r: meta_from_row(d, o, a, f) for r, d, o, a, f in self.cur.fetchall()}

    def write_records(self, fresh: list[tuple[str, str]], changed: list[tuple[str, str]]) -> None:
        lib = self.library
        if fresh:  # under the library's lock nobody else can add these subjects meanwhile
            self._copy(
                "COPY library_records (library, subject, doc) FROM STDIN",
                ((lib, s, d) for s, d in fresh),
            )
        if changed:  # one staging table per transaction, emptied for each chunk
            self.cur.execute(
                "CREATE TEMPORARY TABLE IF NOT EXISTS library_changed (subject text, doc text) "
                "ON COMMIT DROP"
            )
            self.cur.execute("TRUNCATE library_changed")
            self._copy("COPY library_changed FROM STDIN", changed)
            self.cur.execute(
                "UPDATE library_records AS r SET doc = c.doc FROM library_changed AS c "
                "WHERE r.library = %s AND r.subject = c.subject",
                (lib,),
            )
