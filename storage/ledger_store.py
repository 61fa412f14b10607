"""SQL tables of the Merkle log (portable SQLAlchemy Core: SQLite default, PostgreSQL later).

``ledger_entries`` holds every entry in log order, written once when it is appended (an
acknowledged entry is a committed row there), keyed by its leaf index alone: one B-tree and
the entry's bytes, nothing else (a leaf hash is H(0x00 || data), hashed when read); the
entries at or after the last checkpoint's size are the queue the sequencer signs next. An
entry's id follows from its index: ``ledger_entry_ids`` holds one row per run of consecutive
ids (``first_idx``, ``first_id``), none needed while it is (0, 1), more only where an earlier
version's queue was adopted with its own ids (:class:`EntryIds`). ``ledger_nodes`` holds
every perfect subtree hash of level >= ``NODE_LEVEL`` of the signed tree (the lower ones are
folded from at most 2^NODE_LEVEL leaf hashes when read), so any proof is O(log n) reads;
``ledger_checkpoints`` the signed checkpoints (one per batch, keyed by size: the largest is the
signed tree's size); ``ledger_anchors`` the embedded anchor's witnessed notes;
``ledger_anchor_queue`` the checkpoints a remote anchor (Fabric) has witnessed or is yet to.
``ledger_pending`` is the queue of logs written before entries were placed when appended: the
log adopts its rows (ids kept) when opened, so it stays empty.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from itertools import chain, pairwise
from operator import itemgetter
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
    delete,
    func,
    inspect,
    select,
    text,
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
    # the leaf hash is not stored: a 32-byte column beside 22-byte entries made every append's
    # insert twice as dear (bench.ledger's rows: 6.5 us against 3.5 us each), and the sequencer
    # hashes each entry once anyway (proofs hash the at most 2^NODE_LEVEL leaves they fold)
    Column("idx", KEY, primary_key=True, autoincrement=False),
    Column("data", LargeBinary, nullable=False),
)
# Entry ids by runs: the entries from ``first_idx`` up to the next run's have the ids
# ``first_id``, ``first_id + 1``, ...; the last run goes on for every entry appended after it.
# Before, each entry carried its id in a unique column, a second B-tree that every append
# paid for (a third on logs whose BIGINT key was not the rowid).
entry_ids = Table(
    "ledger_entry_ids",
    metadata,
    Column("first_idx", KEY, primary_key=True, autoincrement=False),
    Column("first_id", BigInteger, nullable=False),
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
# bound values per multi-row INSERT: SQLite before 3.32 allowed 999, PostgreSQL 65535
MAX_PARAMS = 999


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


def get_nodes(
    conn: Connection,
    wanted: Iterable[tuple[int, int]],
    hash_leaves: Callable[[list[bytes]], list[bytes]],
) -> dict[tuple[int, int], bytes]:
    """Perfect-subtree hashes by (level, index): level 0 is ``hash_leaves`` of the entries'
    data, the rest is read from the nodes."""
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
            cur.execute(f"SELECT idx, data FROM ledger_entries WHERE idx IN ({marks})", part)
            found = cur.fetchall()
            hashed = hash_leaves([bytes(d) for _, d in found])
            out.update({(0, int(i)): h for (i, _), h in zip(found, hashed, strict=True)})
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


class EntryIds:
    """The ids of a log's entries: ``runs`` of consecutive ids as (first index, first id), and
    ``end``, the next leaf index. The run at index 0 is (0, 1) unless one is stored there.

    Ids are unique (:func:`record_ids` refuses an id already given), so the runs' id ranges
    are disjoint and the run holding an id is the one with the largest first id not above it.
    """

    def __init__(self, runs: Iterable[tuple[int, int]], end: int) -> None:
        stored = dict(runs)
        stored.setdefault(0, 1)
        self.runs = sorted(stored.items())
        self.end = end
        self._firsts = [i for i, _ in self.runs]
        stops = [*self._firsts[1:], max(end, self.runs[-1][0])]
        # (first id, first index, stop index) of the runs that hold entries, by first id
        self._by_id = sorted(
            (d, i, stop) for (i, d), stop in zip(self.runs, stops, strict=True) if stop > i
        )
        self._id_firsts = [d for d, _, _ in self._by_id]

    def id_of(self, idx: int) -> int:
        """The id of the entry at ``idx`` (or of the one appended there next)."""
        first_idx, first_id = self.runs[bisect_right(self._firsts, idx) - 1]
        return first_id + idx - first_idx

    def index_of(self, entry_id: int) -> int | None:
        """The leaf index of the stored entry ``entry_id`` (None if no entry has it)."""
        k = bisect_right(self._id_firsts, entry_id) - 1
        if k < 0:
            return None
        first_id, first_idx, stop = self._by_id[k]
        idx = first_idx + entry_id - first_id
        return idx if idx < stop else None

    def max_id(self) -> int:
        """The largest id given so far (0 for an empty log)."""
        return max((d + stop - 1 - i for d, i, stop in self._by_id), default=0)


def entry_id_map(conn: Connection) -> EntryIds:
    """The entry ids of the log as stored now (one small read and the end of the index)."""
    end = conn.execute(select(func.max(entries.c.idx))).scalar()
    runs = conn.execute(select(entry_ids.c.first_idx, entry_ids.c.first_id)).all()
    return EntryIds(((int(i), int(d)) for i, d in runs), 0 if end is None else int(end) + 1)


def record_ids(conn: Connection, first: int, ids: Sequence[int]) -> None:
    """Give the entries placed from index ``first`` (the log's end) the ids ``ids`` instead of
    the ones that follow: an earlier version's queue keeps its ids. Ids must be increasing and
    above every id given so far (an id is never given twice)."""
    have = entry_id_map(conn)
    top = have.max_id()
    if any(b <= a for a, b in pairwise(ids)) or (ids and ids[0] <= top):
        raise ValueError(
            f"entry ids {ids[0]}..{ids[-1]} are not increasing from above the log's last id {top}"
        )
    runs = [
        (first + k, e)
        for k, e in enumerate(ids)
        if (ids[k - 1] + 1 != e if k else have.id_of(first) != e)
    ]
    if runs:
        # a run stored at the log's end holds no entry yet: it is replaced
        conn.execute(delete(entry_ids).where(entry_ids.c.first_idx == first))
        conn.execute(entry_ids.insert(), [{"first_idx": i, "first_id": e} for i, e in runs])


def _old_layout(conn: Connection) -> bool:
    return len(inspect(conn).get_columns(entries.name)) > len(entries.columns)


def _check_leaves(conn: Connection, leaf_hash: Callable[[bytes], bytes]) -> None:
    """Compare each stored leaf hash of an old-layout log with its entry's bytes, in chunks of
    :data:`UPGRADE_CHUNK` indices (a large log is read once, never held whole)."""
    start = 0
    while True:
        rows = conn.execute(
            text(
                "SELECT idx, leaf, data FROM ledger_entries WHERE idx >= :s ORDER BY idx LIMIT :n"
            ),
            {"s": start, "n": UPGRADE_CHUNK},
        ).all()
        for idx, leaf, data in rows:
            if leaf_hash(bytes(data)) != bytes(leaf):
                raise ValueError(
                    f"entry {idx} of the log does not match its stored leaf hash: the log was "
                    "altered; it was not upgraded (restore it from a backup)"
                )
        if len(rows) < UPGRADE_CHUNK:
            return
        start = int(rows[-1][0]) + 1


UPGRADE_CHUNK = 50_000


def upgrade_entries(conn: Connection, leaf_hash: Callable[[bytes], bytes]) -> bool:
    """Move a log written with ``entry_id`` and ``leaf`` columns on each entry to the id runs,
    in place and in the caller's transaction (ids, indices and data unchanged; leaf hashes are
    hashed from the data, as they were stored); True if it did. Every stored leaf hash is
    checked against ``leaf_hash`` of its entry first: an entry whose bytes no longer match its
    leaf raises ValueError naming its index, and nothing changes (dropping the column would
    drop the evidence)."""
    if not _old_layout(conn):
        return False
    # take the write lock before looking again: one process upgrades, the others see it done
    conn.execute(meta.update().where(meta.c.key == "hash").values(value=meta.c.value))
    if not _old_layout(conn):
        return False
    columns = {c["name"] for c in inspect(conn).get_columns(entries.name)}
    if "leaf" in columns:
        _check_leaves(conn, leaf_hash)
    runs: list[Any] = []
    top = None
    if "entry_id" in columns:
        # where the step from index to id changes, a run starts
        runs = conn.execute(
            text(
                "SELECT idx, entry_id FROM (SELECT idx, entry_id, entry_id - idx AS step, "
                "LAG(entry_id - idx) OVER (ORDER BY idx) AS before FROM ledger_entries) AS s "
                "WHERE before IS NULL OR before <> step"
            )
        ).all()
        top = conn.execute(text("SELECT MAX(entry_id) FROM ledger_entries")).scalar()
    new = entries.to_metadata(MetaData(), name="ledger_entries_upgrade")
    new.create(conn)
    conn.execute(text(f"INSERT INTO {new.name} (idx, data) SELECT idx, data FROM ledger_entries"))
    conn.execute(text("DROP TABLE ledger_entries"))
    conn.execute(text(f"ALTER TABLE {new.name} RENAME TO ledger_entries"))
    if runs and top is not None:
        conn.execute(entry_ids.insert(), [{"first_idx": i, "first_id": e} for i, e in runs])
        have = entry_id_map(conn)
        if have.id_of(have.end) <= int(top):  # the next id must be above every id given
            conn.execute(entry_ids.insert().values(first_idx=have.end, first_id=int(top) + 1))
    return True


def entries_by_id(conn: Connection, entry_ids: Sequence[int]) -> list[tuple[int, int, bytes]]:
    """(entry id, leaf index, data) of the stored entries among ``entry_ids``."""
    ph = _placeholder(conn)
    ids = entry_id_map(conn)
    by_idx: dict[int, int] = {}
    for e in entry_ids:
        idx = ids.index_of(int(e))
        if idx is not None:
            by_idx[idx] = int(e)
    wanted = sorted(by_idx)
    out: list[tuple[int, int, bytes]] = []
    cur = raw_cursor(conn)
    try:
        for lo in range(0, len(wanted), IN_CHUNK):
            part = wanted[lo : lo + IN_CHUNK]
            marks = ",".join([ph] * len(part))
            cur.execute(f"SELECT idx, data FROM ledger_entries WHERE idx IN ({marks})", part)
            out.extend((by_idx[int(i)], int(i), bytes(d)) for i, d in cur.fetchall())
    finally:
        cur.close()
    return out


def bulk_insert(
    conn: Connection, table: Table, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> None:
    """Insert rows (tuples in ``columns`` order) through the DB-API cursor, in the transaction
    of ``conn``, ``MAX_PARAMS`` values per statement (the rows may be an iterator).

    One row per statement (``executemany`` of a one-row INSERT) paid the driver's per-statement
    step and reset for every entry: the multi-row statements insert the same rows in about 2/3
    of the time (300k log entries on SQLite, same pragmas).
    """
    width = len(columns)
    per = max(1, MAX_PARAMS // width)
    rows = list(rows)
    flat = list(chain.from_iterable(rows))
    if len(flat) != len(rows) * width:
        raise ValueError(f"rows of {table.name} must have {width} values each")
    ph = _placeholder(conn)
    one = f"({', '.join([ph] * width)})"
    head = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES "
    step = per * width
    whole = len(flat) // step * step
    sql = head
    cur = raw_cursor(conn)
    try:
        if whole:
            sql = head + ", ".join([one] * per)
            cur.executemany(sql, [flat[lo : lo + step] for lo in range(0, whole, step)])
        if whole < len(flat):
            sql = head + ", ".join([one] * ((len(flat) - whole) // width))
            cur.execute(sql, flat[whole:])
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

    Taken after ``lock_head`` in a writing transaction (the end of the index, and the runs).
    """
    ids = entry_id_map(conn)
    return ids.end, ids.id_of(ids.end)


def lock_head(conn: Connection) -> None:
    """Serialise writers of the log on PostgreSQL (a row lock on the log's meta row until the
    transaction ends); SQLite serialises writers itself (it would render no FOR UPDATE)."""
    if conn.dialect.name != "sqlite":
        conn.execute(select(meta.c.key).where(meta.c.key == "hash").with_for_update()).first()


def entry_data(conn: Connection, begin: int, end: int) -> list[bytes]:
    """The data of the entries ``begin <= idx < end``, in order (one index range read)."""
    ph = _placeholder(conn)
    cur = raw_cursor(conn)
    try:
        cur.execute(
            f"SELECT data FROM ledger_entries WHERE idx >= {ph} AND idx < {ph} ORDER BY idx",
            (begin, end),
        )
        return list(map(bytes, map(itemgetter(0), cur.fetchall())))
    finally:
        cur.close()
