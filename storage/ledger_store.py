"""SQL tables of the Merkle log (portable SQLAlchemy Core: SQLite default, PostgreSQL later).

``ledger_pending`` is the durable queue (an acknowledged entry is a committed row there);
``ledger_entries`` the sequenced leaves; ``ledger_nodes`` every perfect subtree hash of level
>= 1, so any proof is O(log n) indexed reads; ``ledger_checkpoints`` the signed checkpoints
(one per batch, keyed by size); ``ledger_anchors`` the embedded anchor's witnessed notes.
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
    SmallInteger,
    String,
    Table,
    create_engine,
    event,
    func,
    select,
    tuple_,
)

metadata = MetaData()

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
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("entry_id", BigInteger, nullable=False, unique=True),
    Column("leaf", LargeBinary(32), nullable=False),
    Column("data", LargeBinary, nullable=False),
)
nodes = Table(
    "ledger_nodes",
    metadata,
    Column("level", SmallInteger, primary_key=True, autoincrement=False),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
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


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL (readers never block the sequencer) and a wait."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL survives process kills
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def create_tables(engine: Engine) -> None:
    metadata.create_all(engine)


def get_nodes(conn: Connection, wanted: Iterable[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
    """Perfect-subtree hashes by (level, index): level 0 from the leaves, the rest from nodes."""
    wanted = list(wanted)
    out: dict[tuple[int, int], bytes] = {}
    leaves = [i for lv, i in wanted if lv == 0]
    inner = [(lv, i) for lv, i in wanted if lv > 0]
    if leaves:
        rows = conn.execute(select(entries.c.idx, entries.c.leaf).where(entries.c.idx.in_(leaves)))
        out.update({(0, int(i)): bytes(h) for i, h in rows})
    if inner:
        rows = conn.execute(
            select(nodes.c.level, nodes.c.idx, nodes.c.hash).where(
                tuple_(nodes.c.level, nodes.c.idx).in_(inner)
            )
        )
        out.update({(int(lv), int(i)): bytes(h) for lv, i, h in rows})
    missing = [n for n in wanted if n not in out]
    if missing:
        raise LookupError(f"the store lacks tree nodes {missing[:5]}: is the tree that large?")
    return out


def tree_size(conn: Connection) -> int:
    last = conn.execute(select(func.max(entries.c.idx))).scalar()
    return 0 if last is None else int(last) + 1


def insert_rows(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        conn.execute(table.insert(), list(rows))
