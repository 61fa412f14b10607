"""The licence store's tables (SQLAlchemy Core) and the upgrade of older hubs' layout.

The sealed documents themselves live write-once in the object store; these tables are the
index (status, version chain, status-list position, ledger entry id) that lifecycle commands
update, with the registry of types and authorities, issuing clients' idempotency keys, bulk
jobs and governance findings. :class:`licence.store.LicenceStore` reads and writes them.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    inspect,
    text,
)

from storage.engine import make_engine

metadata = MetaData()

ENTRY_COLUMN = "ledger_entry_id"
# its name in hubs from before it was named for what it holds (renamed when the store opens)
_LEGACY_ENTRY_COLUMN = "ledger_index"

seals = Table(
    "licence_seals",
    metadata,
    Column("seal_id", String(40), primary_key=True),
    Column("authority", String(18), nullable=False, index=True),
    Column("name", Text, nullable=False),
    Column("algorithm", String(32), nullable=False),
    Column("key_name", String(128), nullable=False),
    Column("cert_pem", Text, nullable=False),
    Column("picture_sha256", String(64), nullable=False),
    Column("valid_from", DateTime, nullable=False),
    Column("valid_to", DateTime, nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", DateTime, nullable=False),
)

licences = Table(
    "licences",
    metadata,
    Column("licence_id", String(120), primary_key=True),
    Column("type_code", String(21), nullable=False),
    Column("authority", String(18), nullable=False, index=True),
    Column("serial", String(40), nullable=False),
    Column("version", Integer, nullable=False),
    Column("holder_kind", String(8), nullable=False),
    Column("holder_id", String(18), nullable=False, index=True),
    Column("status", String(16), nullable=False),
    Column("reason_code", String(32)),
    Column("reason_text", Text),
    Column("issued_at", DateTime, nullable=False),
    Column("valid_to", String(10)),  # ISO date, or NULL for long-term validity
    Column("object_key", Text, nullable=False),
    Column("document_digest", String(64), nullable=False),
    Column("seal_id", String(40), nullable=False),
    Column("status_index", Integer, nullable=False),
    # the id of the licence's issue entry in the ledger (``ledger_entries.entry_id``), not its
    # position in the log: the log gives it an index only once it is sequenced
    Column(ENTRY_COLUMN, Integer),
    Column("receipt", Text),  # ledger receipt JSON, attached once the entry is sequenced
    Column("superseded_by", String(120)),
    Column("updated_at", DateTime, nullable=False),
)

# where each authority's status list snapshot is in the log, one row per checkpoint
status_lists = Table(
    "licence_status_lists",
    metadata,
    Column("authority", String(18), primary_key=True),
    Column("checkpoint_size", BigInteger, primary_key=True, autoincrement=False),
    Column("log_index", BigInteger, nullable=False),
    Column("size", Integer, nullable=False),
)

# issuing systems' client ids bound to the authority they issue for (``hub authority bind``)
issuing_clients = Table(
    "licence_issuing_clients",
    metadata,
    Column("client_id", String(64), primary_key=True),
    Column("authority", String(18), nullable=False, index=True),
    Column("created_at", DateTime, nullable=False),
)

# Idempotency-Key of issuing requests: the request's digest and the first answer, written in
# the transaction that commits the licences it issued (so a retry never issues twice)
idempotency = Table(
    "licence_idempotency",
    metadata,
    Column("client_id", String(64), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("request_sha256", String(64), nullable=False),
    Column("state", String(8), nullable=False),  # pending | done
    Column("http_status", Integer),
    Column("answer", Text),
    Column("created_at", DateTime, nullable=False),
)

# rows of bulk issuance jobs (``hub licence issue-batch``) already done: issued (licence id) or
# refused (reason), written in the transaction that commits the licences, so a job resumed
# after a crash skips exactly the rows that were done
bulk_rows = Table(
    "licence_bulk_rows",
    metadata,
    Column("job_id", String(64), primary_key=True),
    Column("row_key", String(128), primary_key=True),
    Column("licence_id", String(120)),
    Column("refusal", Text),
)

# the hub's licence types: every version of each, as its YAML text (a change adds a version;
# a licence is drawn with the version in force when it was sealed)
type_versions = Table(
    "licence_type_versions",
    metadata,
    Column("code", String(21), primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("stem", String(64), nullable=False),
    Column("yaml", Text, nullable=False),
    Column("created_at", DateTime, nullable=False),
)

# the hub's issuing authorities and the type codes each may issue (comma-separated)
authority_rows = Table(
    "licence_authorities",
    metadata,
    Column("uscc", String(18), primary_key=True),
    Column("name", Text, nullable=False),
    Column("division", String(6), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("may_issue", Text, nullable=False),
    Column("updated_at", DateTime, nullable=False),
)
SEEDED_AT = dt.datetime(1970, 1, 1)  # the shipped types are in force for every licence

# what each licence was issued to, for governance: the holder's name and legal representative
# as on the licence (written with the licence; backfilled from the document for older ones)
basis_rows = Table(
    "licence_basis",
    metadata,
    Column("licence_id", String(120), primary_key=True),
    Column("holder_name", Text, nullable=False),
    Column("legal_rep", Text),
)

# governance runs (licence_governance DAG, `hub licence governance --run`) and their findings:
# one open finding per licence and kind, with the run that first and last found it
governance_runs = Table(
    "licence_governance_runs",
    metadata,
    Column("run_no", Integer, primary_key=True, autoincrement=True),
    Column("started_at", DateTime, nullable=False),
    Column("finished_at", DateTime),
    Column("checked", Integer),
    Column("found", Integer),
    Column("suspended", Integer),
)

findings = Table(
    "licence_findings",
    metadata,
    Column("finding_id", Integer, primary_key=True, autoincrement=True),
    Column("licence_id", String(120), nullable=False, index=True),
    Column("authority", String(18), nullable=False, index=True),
    Column("type_code", String(21), nullable=False),
    Column("holder_id", String(18), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("evidence", Text, nullable=False),  # JSON: field, values, dataset, library run
    Column("action", String(16), nullable=False),  # flagged | suspended
    Column("first_run", Integer, nullable=False),
    Column("last_run", Integer, nullable=False),
    Column("state", String(8), nullable=False),  # open | resolved
    Column("found_at", DateTime, nullable=False),
    Column("resolved_at", DateTime),
)

counters = Table(
    "licence_counters",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Integer, nullable=False),
)


def engine_for(db_url: str) -> Engine:
    """The hub database's engine (:func:`storage.engine.make_engine`: one per URL)."""
    return make_engine(db_url)


def _licence_columns(conn: Connection) -> set[str]:
    return {c["name"] for c in inspect(conn).get_columns(licences.name)}


def upgrade(engine: Engine) -> None:
    """Bring the licence tables of a hub from before the current layout up to date: a no-op
    on a current hub (one read of the table's columns), else one transaction that changes
    nothing if it fails (on PostgreSQL under a lock, on SQLite under the write lock: hubs
    opened at once upgrade one after the other, and the second finds nothing to do).

    - ``licences.ledger_index`` is renamed ``ledger_entry_id``: it always held the issue
      entry's id, never its index in the log. The values are kept as they are.
    """
    with engine.connect() as conn:
        if _LEGACY_ENTRY_COLUMN not in _licence_columns(conn):
            return
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('hub.licence:upgrade'))"))
        else:  # Python's sqlite3 would run the DDL outside the transaction
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        if _LEGACY_ENTRY_COLUMN not in _licence_columns(conn):
            return  # another process upgraded it meanwhile
        conn.execute(
            text(
                f"ALTER TABLE {licences.name} "
                f"RENAME COLUMN {_LEGACY_ENTRY_COLUMN} TO {ENTRY_COLUMN}"
            )
        )
        if ENTRY_COLUMN not in _licence_columns(conn):
            raise RuntimeError(f"{licences.name}: renaming {_LEGACY_ENTRY_COLUMN} failed")
