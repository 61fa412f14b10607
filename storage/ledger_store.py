"""SQL tables of the Merkle log (portable SQLAlchemy Core: SQLite default, PostgreSQL later).

``ledger_entries`` holds every entry in log order with its leaf hash, written once when it is
appended (an acknowledged entry is a committed row there); the entries at or after the last
checkpoint's size are the queue the sequencer signs next. ``ledger_nodes`` holds every perfect
subtree hash of level >= ``NODE_LEVEL`` of the signed tree (the lower ones are folded from at
most 2^NODE_LEVEL leaf hashes when read), so any proof is O(log n) indexed reads;
``ledger_checkpoints`` the signed checkpoints (one per batch, keyed by size: the largest is the
signed tree's size); ``ledger_anchors`` the embedded anchor's witnessed notes;
``ledger_anchor_queue`` the checkpoints a remote anchor (Fabric) has witnessed or is yet to.
``ledger_pending`` is the queue of logs written before entries were placed when appended: the
log adopts its rows (ids kept) when opened, so it stays empty.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    Engine,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    func,
    select,
)
from sqlalchemy.exc import DBAPIError

from storage.engine import make_engine as engine_factory

metadata = MetaData()

# 64-bit keys everywhere; on SQLite spelled INTEGER, since only an INTEGER PRIMARY KEY is the
# table's rowid: a BIGINT primary key is a second B-tree beside it, and every append and node
# insert paid for both (bench.ledger: the bare inserts of the same rows ran 2.7x faster)
KEY = BigInteger().with_variant(Integer(), "sqlite")

meta = Table(
    "ledger_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", String(256), nullable=False),
)
pending = Table(
    "ledger_pending",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("data", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), server_default=func.current_timestamp()),
)
entries = Table(
    "ledger_entries",
    metadata,
    Column("idx", KEY, primary_key=True, autoincrement=False),
    Column("entry_id", BigInteger, nullable=False, unique=True),
    Column("leaf", LargeBinary(32), nullable=False),
    Column("data", LargeBinary, nullable=False),
)
nodes = Table(
    "ledger_nodes",
    metadata,
    # node_key(level, index): one integer primary key keeps lookups a plain indexed IN
    Column("key", KEY, primary_key=True, autoincrement=False),
    Column("hash", LargeBinary(32), nullable=False),
)
checkpoints = Table(
    "ledger_checkpoints",
    metadata,
    Column("size", BigInteger, primary_key=True, autoincrement=False),
    Column("root", LargeBinary(32), nullable=False),
    Column("note", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), server_default=func.current_timestamp()),
)
anchors = Table(
    "ledger_anchors",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("size", BigInteger, nullable=False, unique=True),
    Column("root", LargeBinary(32), nullable=False),
    Column("note", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), server_default=func.current_timestamp()),
)
# Checkpoints for a remote anchor (Fabric): queued when signed, anchored oldest first; the
# reference (transaction id, block) is null while the backend is unreachable.
anchor_queue = Table(
    "ledger_anchor_queue",
    metadata,
    Column("size", BigInteger, primary_key=True, autoincrement=False),
    Column("backend", String(16), nullable=False),
    Column("reference", String(128)),
    Column("block", BigInteger),
    Column("queued_at", DateTime(timezone=True), server_default=func.current_timestamp()),
    Column("anchored_at", DateTime(timezone=True)),
)


# the lowest level of stored interior nodes: levels 1-3 are 7/8 of all interior nodes, and a
# proof folds its 14 leaf hashes below level 4 in microseconds, while storing those rows cost
# the sequencer a third of its time (300k appends: 1.5 s of node inserts, 0.2 s now)
NODE_LEVEL = 4
IN_CHUNK = 500  # ids per IN (...) list: far below SQLite's and PostgreSQL's parameter limits


def node_key(level: int, index: int) -> int:
    """One integer per perfect subtree: index in the high bits, level (< 64) in the low 6."""
    return (index << 6) | level


def make_engine(url: str) -> Engine:
    """The hub database's engine (:func:`storage.engine.make_engine`: one per URL; on SQLite,
    WAL keeps readers from blocking the sequencer)."""
    return engine_factory(url)


def create_tables(engine: Engine) -> None:
    metadata.create_all(engine)


def _placeholder(conn: Connection) -> str:
    # hot paths use the DB-API cursor directly (SQLAlchemy's per-row parameter processing
    # dominated sequencing); only the placeholder differs between sqlite3 and psycopg
    return "?" if conn.dialect.paramstyle == "qmark" else "%s"


def raw_cursor(conn: Connection) -> Any:
    """The DB-API cursor of this connection, inside its current transaction."""
    return conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]


def get_nodes(conn: Connection, wanted: Iterable[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
    """Perfect-subtree hashes by (level, index): level 0 from the leaves, the rest from nodes."""
    wanted = list(wanted)
    out: dict[tuple[int, int], bytes] = {}
    leaves = [i for lv, i in wanted if lv == 0]
    inner = [node_key(lv, i) for lv, i in wanted if lv > 0]
    ph = _placeholder(conn)
    cur = raw_cursor(conn)
    try:
        # chunks keep each IN list under the database's bound-parameter limit (bulk receipts)
        for lo in range(0, len(leaves), IN_CHUNK):
            part = leaves[lo : lo + IN_CHUNK]
            marks = ",".join([ph] * len(part))
            cur.execute(f"SELECT idx, leaf FROM ledger_entries WHERE idx IN ({marks})", part)
            out.update({(0, int(i)): bytes(h) for i, h in cur.fetchall()})
        for lo in range(0, len(inner), IN_CHUNK):
            part = inner[lo : lo + IN_CHUNK]
            marks = ",".join([ph] * len(part))
            cur.execute(f"SELECT key, hash FROM ledger_nodes WHERE key IN ({marks})", part)
            out.update({(int(k) & 63, int(k) >> 6): bytes(h) for k, h in cur.fetchall()})
    finally:
        cur.close()
    missing = [n for n in wanted if n not in out]
    if missing:
        raise LookupError(f"the store lacks tree nodes {missing[:5]}: is the tree that large?")
    return out


def entries_by_id(
    conn: Connection, entry_ids: Sequence[int]
) -> list[tuple[int, int, bytes, bytes]]:
    """(entry id, leaf index, leaf hash, data) of the sequenced entries among ``entry_ids``."""
    ph = _placeholder(conn)
    ids = [int(e) for e in entry_ids]
    out: list[tuple[int, int, bytes, bytes]] = []
    cur = raw_cursor(conn)
    try:
        for lo in range(0, len(ids), IN_CHUNK):
            part = ids[lo : lo + IN_CHUNK]
            marks = ",".join([ph] * len(part))
            cur.execute(
                f"SELECT entry_id, idx, leaf, data FROM ledger_entries WHERE entry_id IN ({marks})",
                part,
            )
            out.extend((int(e), int(i), bytes(h), bytes(d)) for e, i, h, d in cur.fetchall())
    finally:
        cur.close()
    return out


def bulk_insert(conn: Connection, table: Table, columns: Sequence[str], rows: list[Any]) -> None:
    """executemany of tuples through the DB-API cursor (same transaction as ``conn``)."""
    if not rows:
        return
    ph = _placeholder(conn)
    sql = (
        f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join([ph] * len(columns))})"
    )
    cur = raw_cursor(conn)
    try:
        cur.executemany(sql, rows)
    except conn.dialect.loaded_dbapi.Error as exc:
        # same exception classes as SQLAlchemy's own paths (IntegrityError, OperationalError)
        raise DBAPIError.instance(sql, None, exc, conn.dialect.loaded_dbapi.Error) from exc
    finally:
        cur.close()


def fetch_pending(conn: Connection) -> list[tuple[int, bytes]]:
    """(id, data) of an earlier version's queued entries, in queue order."""
    cur = raw_cursor(conn)
    try:
        cur.execute("SELECT id, data FROM ledger_pending ORDER BY id")
        return [(int(i), bytes(d)) for i, d in cur.fetchall()]
    finally:
        cur.close()


def _scalar(conn: Connection, sql: str) -> Any:
    """The single value of a parameterless query, through the DB-API cursor (in the current
    transaction): the head reads run in every append, where SQLAlchemy's statement handling
    cost more than the indexed reads themselves."""
    cur = raw_cursor(conn)
    try:
        cur.execute(sql)
        row = cur.fetchone()
    finally:
        cur.close()
    return None if row is None else row[0]


def tree_size(conn: Connection) -> int:
    """Size of the signed tree: the last checkpoint's (its nodes commit with it)."""
    last = _scalar(conn, f"SELECT max(size) FROM {checkpoints.name}")
    return 0 if last is None else int(last)


def log_head(conn: Connection) -> tuple[int, int]:
    """(next leaf index, next entry id): where the next appended entry goes.

    Taken after ``lock_head`` in a writing transaction; two separate maxima, so each is read
    from the end of its index (one query with both would scan the table on SQLite).
    """
    idx = _scalar(conn, f"SELECT max(idx) FROM {entries.name}")
    eid = _scalar(conn, f"SELECT max(entry_id) FROM {entries.name}")
    return (0 if idx is None else int(idx) + 1), (0 if eid is None else int(eid)) + 1


def lock_head(conn: Connection) -> None:
    """Serialise writers of the log on PostgreSQL (a row lock on the log's meta row until the
    transaction ends); SQLite serialises writers itself (it would render no FOR UPDATE)."""
    if conn.dialect.name != "sqlite":
        conn.execute(select(meta.c.key).where(meta.c.key == "hash").with_for_update()).first()


def leaves(conn: Connection, begin: int, end: int) -> list[bytes]:
    """Leaf hashes of the entries ``begin <= idx < end``, in order (one index range read)."""
    ph = _placeholder(conn)
    cur = raw_cursor(conn)
    try:
        cur.execute(
            f"SELECT leaf FROM ledger_entries WHERE idx >= {ph} AND idx < {ph} ORDER BY idx",
            (begin, end),
        )
        return [bytes(h) for (h,) in cur.fetchall()]
    finally:
        cur.close()
