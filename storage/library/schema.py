"""The library's tables, and the upgrade of a hub created before their current layout."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    event,
    inspect,
    text,
)
from sqlalchemy import Sequence as DbSequence

from storage.library.model import LibraryError

metadata = MetaData()


merges = Table(
    "library_merges",
    metadata,
    Column("library", String(16), primary_key=True),
    Column("run_id", String(80), primary_key=True),
    Column("dataset", String(64), nullable=False),
    Column("observed_at", DateTime, nullable=False),
    Column("authoritative", Text, nullable=False),  # JSON list of the fields it is the source of
    Column("fields", Text),  # JSON list: the order of its statements' values (null: objects)
    Column("facts", Integer, nullable=False),
    Column("compared", Integer, nullable=False),  # accuracy against authoritative sources
    Column("agreeing", Integer, nullable=False),
    # the run's number, named by its statements (a hub from before them numbers its runs on open)
    Column("run_no", Integer, unique=True),
)


# run numbers on PostgreSQL, where merges of the two libraries can run at once; SQLite has one
# writer at a time and numbers a run max + 1
RUN_NUMBERS = "library_run_no"


DbSequence(RUN_NUMBERS, metadata=metadata)  # created on PostgreSQL only


# On PostgreSQL the statements and the golden records are split into PARTITIONS tables by a
# hash of the subject (both keys hold it, so every key and index is per partition): a
# province's tens of millions of rows become pieces a sixteenth the size, each with its own
# B-tree, vacuumed and analysed on its own, and a read by subject (the API's point read, a
# merge's look-up of the subjects it touches) opens one of them. By hash, not by division: a
# resident ID's or USCC's division is inside the key, so a read by subject could not be pruned
# to a division's partition without the query naming the division, and a province's capital
# would make one partition many times the size of the others. SQLite keeps plain tables.
PARTITIONS = 16  # a power of two (the merge groups subjects by partition: dialects.py)
PARTITION_BY = "HASH (subject)"


statements = Table(
    "library_statements",
    metadata,
    Column("subject", String(32), primary_key=True),
    Column("run_no", Integer, primary_key=True),  # library_merges.run_no: its library and run
    Column("doc", Text, nullable=False),  # a JSON array in the run's field order (see below)
    sqlite_with_rowid=False,  # clustered on the key: one B-tree per table, not two
    postgresql_partition_by=PARTITION_BY,
)


records = Table(
    "library_records",
    metadata,
    Column("library", String(16), primary_key=True),
    Column("subject", String(32), primary_key=True),
    Column("doc", Text, nullable=False),  # {"run id": {"field": "value", ...}, ...}: the winners
    sqlite_with_rowid=False,
    postgresql_partition_by=PARTITION_BY,
)

PARTITIONED = (statements, records)

# the remainder of a text key's hash partition, as PostgreSQL computes it (partbounds.c:
# hashtextextended with HASH_PARTITION_SEED, hash_combine64 with 0, modulo PARTITIONS), in
# bigint arithmetic without overflow: PARTITIONS is a power of two, so the remainder is the
# low bits of the sum, which the low bits of its terms decide
_LOW = PARTITIONS - 1
PARTITION_HASH_SQL = (
    f"((hashtextextended({{key}}, 8816678312871386365) & {_LOW}) "
    f"+ {0x49A0F4DD15E5A8E3 & _LOW}) & {_LOW}"
)
# keys whose partition the formula above must agree on with the server's (checked on open)
_HASH_SAMPLES = ("11010519491231002X", "91110000600037341L", "", "张三", "a\tb", "0" * 32)


def partition_names(table: Table) -> list[str]:
    """The partitions of one of :data:`PARTITIONED` on PostgreSQL, in remainder order."""
    return [f"{table.name}_p{i:02d}" for i in range(PARTITIONS)]


def _create_partitions(table: Table, conn: Connection, **_: object) -> None:
    """After a partitioned table is created (``create_all``, an upgrade): its partitions, which
    inherit its primary key as one index each."""
    if conn.dialect.name != "postgresql":
        return
    for i, name in enumerate(partition_names(table)):
        conn.execute(
            text(
                f"CREATE TABLE {name} PARTITION OF {table.name} "
                f"FOR VALUES WITH (MODULUS {PARTITIONS}, REMAINDER {i})"
            )
        )


for _table in PARTITIONED:
    event.listen(_table, "after_create", _create_partitions)

# On PostgreSQL, a block-range index of the statements' run numbers: a run's statements are
# appended together (the table is insert-only, run numbers grow), so a few bytes per range of
# pages find them, and a merge into a library of ten million subjects reads its own run's pages
# only, not every partition's (:meth:`storage.library.dialects.PostgresDialect.met_subjects`);
# a few bytes per range of pages, unlike a B-tree of every row; a load into the empty table
# builds it once its rows are in (:meth:`storage.library.dialects.PostgresDialect.end_load`)
STATEMENTS_RUN_INDEX = "library_statements_run_no"
STATEMENTS_BY_RUN = (
    f"CREATE INDEX IF NOT EXISTS {STATEMENTS_RUN_INDEX} ON library_statements USING brin (run_no)"
)


def _index_runs(table: Table, conn: Connection, **_: object) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(text(STATEMENTS_BY_RUN))


event.listen(statements, "after_create", _index_runs)


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


retractions = Table(
    "library_retractions",
    metadata,
    Column("run_id", String(80), primary_key=True),  # a merged run its source took back
    Column("library", String(16), nullable=False),
    Column("retracted_at", DateTime, nullable=False),
    Column("reason", Text, nullable=False),
    Column("staff", String(64), nullable=False),
)


pull_batches = Table(
    "pull_batches",
    metadata,
    Column("run_id", String(80), primary_key=True),  # the run the batch was landed as
    Column("dataset", String(64), nullable=False),
    Column("kind", String(16), nullable=False),  # sql | prefix | http
    Column("since", Text),  # the watermark the batch was read after (null: from the start)
    Column("position", Text, nullable=False),  # the watermark, snapshot or file it ends at
    Column("tombstones", Text),  # object key of the subjects it withdraws (JSON list)
    Column("created_at", DateTime, nullable=False),
)


# the statuses the pipeline sets, in the order a run passes them ("failed" from any step;
# "retracted" when its department took a merged run back)
RUN_STATUSES = ("landed", "checked", "merged", "published", "failed", "retracted")
# set only by hubs from before the read step became part of the check step: a run may still
# carry it (the check step moves it on), but nothing writes it any more
LEGACY_RUN_STATUSES = ("read",)


# the legacy layout (one row per field); a hub that still has it is migrated on open
LEGACY_FACTS = "library_facts"


LEGACY_GOLDEN = "library_golden"


# statements (``s``) with their runs (``m``): a statement's library and run id are its run's
STATEMENTS_WITH_RUNS = "library_statements s JOIN library_merges m ON m.run_no = s.run_no"


def subject_queries() -> dict[str, str]:
    """Per library, the SQL that lists its distinct subjects (the keys the Great Expectations
    mirror validates inside the database): the store owns the layout, callers pass it on."""
    return {
        library: f"SELECT DISTINCT s.subject FROM {STATEMENTS_WITH_RUNS} "
        f"WHERE m.library = '{library}'"
        for library in ("population", "legal-entity")
    }


def _columns(conn: Connection, table: str) -> set[str]:
    return {c["name"] for c in inspect(conn).get_columns(table)}


def upgrade_tables(conn: Connection) -> None:
    """Bring the tables of a hub from before the current layout up to date, in one
    transaction (on PostgreSQL under a lock: hubs opened at once upgrade one after the other).

    - Runs keep their statements' field order (``library_merges.fields``).
    - Runs are numbered (``library_merges.run_no``), in the order they were observed, and each
      statement names its run's number instead of its library and run id: the statements
      are rewritten, as many rows as before (checked).
    - On PostgreSQL, the statements and golden records are partitioned by a hash of the
      subject (:data:`PARTITIONS`): a hub from before keeps its rows, copied into the
      partitions (as many as before, checked). The copy writes every row once, under the
      upgrade's lock: for a large library, open it once (any ``hub`` command that opens the
      library) in a maintenance window before starting the API instances.
    - On PostgreSQL, the statements get their block-range index of run numbers
      (:data:`STATEMENTS_BY_RUN`; one read of the table, a small index).
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('hub.library:upgrade'))"))
    else:  # Python's sqlite3 would run the DDL outside the transaction
        conn.exec_driver_sql("BEGIN")
    merge_columns = _columns(conn, "library_merges")
    if "fields" not in merge_columns:
        conn.execute(text("ALTER TABLE library_merges ADD COLUMN fields TEXT"))
    if "run_no" not in merge_columns:
        conn.execute(text("ALTER TABLE library_merges ADD COLUMN run_no INTEGER"))
        conn.execute(
            text("CREATE UNIQUE INDEX uq_library_merges_run_no ON library_merges (run_no)")
        )
        known = conn.execute(
            text("SELECT library, run_id FROM library_merges ORDER BY observed_at, library, run_id")
        ).all()
        if known:
            conn.execute(
                text("UPDATE library_merges SET run_no = :n WHERE library = :l AND run_id = :r"),
                [{"n": n, "l": lib, "r": run} for n, (lib, run) in enumerate(known, 1)],
            )
        if conn.dialect.name == "postgresql":
            conn.execute(
                text("SELECT setval(:seq, :n, false)"), {"seq": RUN_NUMBERS, "n": len(known) + 1}
            )
    if "run_id" in _columns(conn, "library_statements"):
        old = "library_statements_by_run_id"
        conn.execute(text(f"ALTER TABLE library_statements RENAME TO {old}"))
        if conn.dialect.name == "postgresql":  # its key's name is the new table's key's name
            key = conn.execute(
                text(
                    "SELECT conname FROM pg_constraint "
                    f"WHERE conrelid = '{old}'::regclass AND contype = 'p'"
                )
            ).scalar_one()
            conn.execute(text(f'ALTER TABLE {old} DROP CONSTRAINT "{key}"'))
        statements.create(conn)
        moved = conn.execute(
            text(
                "INSERT INTO library_statements (subject, run_no, doc) "
                f"SELECT s.subject, m.run_no, s.doc FROM {old} s JOIN library_merges m "
                "ON m.library = s.library AND m.run_id = s.run_id"
            )
        ).rowcount
        had = conn.execute(text(f"SELECT count(*) FROM {old}")).scalar_one()
        if moved != had:
            raise LibraryError(
                f"library_statements: {had - moved} of {had} statements name a run that was "
                "never merged (library_merges); nothing was changed"
            )
        conn.execute(text(f"DROP TABLE {old}"))
    if conn.dialect.name == "postgresql":
        for table in PARTITIONED:
            if _relkind(conn, table.name) == "r":
                _partition(conn, table)
        conn.execute(text(STATEMENTS_BY_RUN))
        agree = conn.execute(
            text(
                "SELECT bool_and(satisfies_hash_partition('library_statements'::regclass, "
                f"CAST(:n AS int), CAST({PARTITION_HASH_SQL.format(key='s')} AS int), "
                "s::varchar)) "
                "FROM unnest(CAST(:keys AS text[])) s"
            ),
            {"n": PARTITIONS, "keys": list(_HASH_SAMPLES)},
        ).scalar_one()
        if not agree:  # a merge would look for a subject's rows in the wrong partition
            raise LibraryError(
                "this PostgreSQL server hashes the library's partition keys differently from "
                "PARTITION_HASH_SQL (storage/library/schema.py): update it for this version"
            )


def _relkind(conn: Connection, table: str) -> str | None:
    """``r`` for a plain table, ``p`` for a partitioned one (PostgreSQL)."""
    kind = conn.execute(
        text("SELECT relkind FROM pg_class WHERE oid = to_regclass(:t)"), {"t": table}
    ).scalar()
    return None if kind is None else str(kind)


def _partition(conn: Connection, table: Table) -> None:
    """Move a plain table of a hub from before partitioning into its partitioned layout: the
    rows are copied into the new table (as many as before, checked), the old one dropped."""
    old = f"{table.name}_unpartitioned"
    conn.execute(text(f"ALTER TABLE {table.name} RENAME TO {old}"))
    key = conn.execute(  # its key's name is the new table's key's name
        text(
            "SELECT conname FROM pg_constraint "
            f"WHERE conrelid = '{old}'::regclass AND contype = 'p'"
        )
    ).scalar()
    if key is not None:
        conn.execute(text(f'ALTER TABLE {old} DROP CONSTRAINT "{key}"'))
    table.create(conn)
    names = ", ".join(c.name for c in table.columns)
    moved = conn.execute(
        text(f"INSERT INTO {table.name} ({names}) SELECT {names} FROM {old}")
    ).rowcount
    had = conn.execute(text(f"SELECT count(*) FROM {old}")).scalar_one()
    if moved != had:
        raise LibraryError(
            f"{table.name}: {moved} of {had} rows moved into its partitions; nothing was changed"
        )
    conn.execute(text(f"DROP TABLE {old}"))
