"""The access audit: one row per API request, digests of row ranges appended to the ledger.

A row says who (client), why (declared purpose), what (route template, keyed hash of the
subject, fields returned), how it ended (outcome, status) and when. The subject is never stored
in clear: it is HMAC-SHA256 under a key derived from a key-store key, so ``hub audit query
--subject ID`` can find a person's rows while the table alone reveals no ID numbers.

Rows are written by group commit: each request's rows join the open batch, whatever is queued is
committed in one transaction as soon as the previous commit ends (by the event loop itself on
SQLite, by a writer thread otherwise: see :class:`AuditLog`), and the request awaits its batch's
commit before it answers (:meth:`AuditLog.committed`). No answer leaves before its audit row is
in the database, and under load one commit covers many requests. If the commit fails, every
request of that batch learns it (:class:`AuditWriteFailed`) and answers 503.
A request whose answer must leave a record behind (a claim's receipt and its ledger entry)
*attaches* its writer to its audit rows (:meth:`AuditLog.submit`): both are written in the same
transaction, so the answer waits for one commit, and neither exists without the other. If an
attached write fails, only the requests attached to it fail (:class:`RecordWriteFailed`, 503):
the batch's other rows are committed, and theirs as refusals (outcome ``unrecorded``, 503, no
fields), without what they would have written.
Every ``interval`` seconds (and on demand) the rows not yet covered are digested (SHA-256 over
their canonical encoding) and the digest is appended to the Merkle log as an ``audit.digest``
entry. :func:`api.audit_verify.verify` recomputes each digest from the table and compares it
with the ledger's copy, so an edited, inserted or removed row is detected.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

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
    func,
    insert,
    select,
)
from sqlalchemy.exc import IntegrityError

from api.audit_batch import UNRECORDED as UNRECORDED
from api.audit_batch import Attached as Attached
from api.audit_batch import AuditError as AuditError
from api.audit_batch import AuditWriteFailed as AuditWriteFailed
from api.audit_batch import Batch, unrecorded, wake
from api.audit_batch import RecordWriteFailed as RecordWriteFailed

log = logging.getLogger(__name__)
SUBJECT_KEY_NAME = "audit-subject"

metadata = MetaData()

audit_log = Table(
    "api_audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime, nullable=False),
    Column("client_id", String(64), nullable=False),
    Column("purpose", String(64), nullable=False),
    Column("method", String(8), nullable=False),
    Column("route", String(128), nullable=False),  # the template, never the raw path
    Column("subject_hash", String(64), index=True),
    Column("fields", Text, nullable=False),  # fields returned, comma-separated
    Column("outcome", String(32), nullable=False),
    Column("status", Integer, nullable=False),
    sqlite_autoincrement=True,  # ids are never reused, even after rows are deleted
)

audit_digests = Table(
    "api_audit_digests",
    metadata,
    Column("first_id", Integer, primary_key=True, autoincrement=False),
    Column("last_id", Integer, nullable=False, unique=True),
    Column("count", Integer, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("ledger_entry", BigInteger, nullable=False),
    Column("created_at", DateTime, nullable=False),
)

_INSERT = insert(audit_log)
# PostgreSQL advisory lock between the audit's writers (shared) and its digests (exclusive)
DIGEST_LOCK = 0x6875_6261_7564
INSERT_COLUMNS = (
    "at",
    "client_id",
    "purpose",
    "method",
    "route",
    "subject_hash",
    "fields",
    "outcome",
    "status",
)
# SQLite: one prepared statement for a whole batch of row tuples, bypassing SQLAlchemy's
# per-row parameter processing (the datetime is already the stored text, see AuditLog.row)
_SQLITE_INSERT = (
    f"INSERT INTO api_audit ({', '.join(INSERT_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in INSERT_COLUMNS)})"
)

COLUMNS = ("id", *INSERT_COLUMNS)


def subject_key(keys: Any) -> bytes:
    """The HMAC key for subject hashes, derived from a key-store key (encrypted at rest)."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    if not keys.exists(SUBJECT_KEY_NAME):
        keys.save(SUBJECT_KEY_NAME, Ed25519PrivateKey.generate())
    key = keys.load(SUBJECT_KEY_NAME)
    raw = key.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    return HKDF(hashes.SHA256(), 32, salt=None, info=b"hub audit subject hash v1").derive(raw)


def row_line(row: Iterable[Any]) -> bytes:
    """The canonical encoding of one audit row (what digests are computed over)."""
    values = [v.isoformat(timespec="microseconds") if isinstance(v, datetime) else v for v in row]
    return json.dumps(values, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


_SQLITE_SELECT = f"SELECT {', '.join(COLUMNS)} FROM api_audit WHERE id > ? ORDER BY id"


def _sqlite_at(value: str) -> str:
    """A stored SQLite time as :func:`row_line` writes the datetime SQLAlchemy reads from it."""
    if len(value) == 26 and value[10] == " ":  # SQLAlchemy's own text form, microseconds
        return f"{value[:10]}T{value[11:]}"
    return datetime.fromisoformat(value).isoformat(timespec="microseconds")


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


LOOP_BUSY_TIMEOUT_MS = 3  # longest the event loop waits for another SQLite writer's lock
CHECKPOINT_EVERY = 200  # loop commits (a few pages each) between WAL checkpoints by the writer


@dataclass
class AuditLog:
    """Group-committing writer, digester and verifier of the audit table.

    Who commits a batch: on SQLite (a local file: a commit takes tens of microseconds) the event
    loop of the waiting requests does, once per loop iteration, so no thread hand-off is paid per
    request; if another writer holds the database lock longer than ``LOOP_BUSY_TIMEOUT_MS`` the
    batch goes to a writer thread that waits patiently, and later batches follow it there until
    it is idle again, so the loop never stalls behind a long ingest merge. On a server database
    (network round trips) the writer thread commits every batch.
    """

    engine: Engine
    key: bytes
    append_to_ledger: Callable[[bytes], int] | None = None
    _pending: Batch = field(default_factory=Batch)
    _handed: list[Batch] = field(default_factory=list)  # batches left to the writer thread
    _cond: threading.Condition = field(default_factory=threading.Condition)
    _flush_lock: threading.Lock = field(default_factory=threading.Lock)  # one committer at once
    _writer: threading.Thread | None = None
    _conn: Connection | None = None  # the writer thread's (and flush's) connection
    _loop_conn: Connection | None = None  # the event loop's connection (SQLite only)
    _scheduled: set[asyncio.AbstractEventLoop] = field(default_factory=set)
    _on_loop: bool = False
    _keyed: hmac.HMAC | None = None  # HMAC state after the key, copied per subject hash
    _loop_commits: int = 0
    _loop_rows: int = 0
    _thread_commits: int = 0
    _thread_rows: int = 0
    _checkpoint_due: bool = False
    _stopping: bool = False
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def __post_init__(self) -> None:
        metadata.create_all(self.engine)
        self._on_loop = self.engine.dialect.name == "sqlite"

    def subject_hash(self, subject: str) -> str:
        # a copy of a keyed HMAC made once: OpenSSL 3 looks the algorithm up again (slowly) for
        # every new HMAC, even a one-shot hmac.digest
        keyed = self._keyed
        if keyed is None:
            keyed = self._keyed = hmac.new(self.key, digestmod=hashlib.sha256)
        h = keyed.copy()
        h.update(subject.strip().upper().encode())
        return h.hexdigest()

    # ---- writing ------------------------------------------------------------------------
    def row(
        self,
        client_id: str,
        purpose: str,
        method: str,
        route: str,
        subject: str | None,
        fields: Iterable[str],
        outcome: str,
        status: int,
    ) -> tuple[Any, ...]:
        """One audit row (the subject keyed-hashed), ready for :meth:`submit`: the values of
        :data:`INSERT_COLUMNS` in order."""
        at = datetime.now(UTC).replace(tzinfo=None)
        return (
            # SQLite: the text SQLAlchemy's DateTime stores, so the row goes in as it is
            at.isoformat(" ", "microseconds") if self._on_loop else at,
            client_id[:64],
            purpose[:64],
            method,
            route[:128],
            self.subject_hash(subject) if subject else None,
            ",".join(sorted(fields)),
            outcome,
            status,
        )

    def submit(self, rows: Iterable[tuple[Any, ...]], attach: Attached | None = None) -> Batch:
        """Queue rows (all in the same batch); returns that batch.

        ``attach`` (writer, item): ``writer(conn, items)`` is called in the same transaction,
        after the rows are inserted, with this item and those of the batch's other requests
        attached to the same writer; the rows are committed only with it (if it fails, this
        request fails alone). Await :meth:`committed` on the returned batch before answering
        the request.
        """
        with self._cond:
            batch = self._pending
            if attach is None:
                batch.rows.extend(rows)
            else:
                part = Batch(attach)
                part.rows.extend(rows)
                batch.companions.append(part)
                batch = part
            if not self._on_loop:
                self._ensure_writer()
                self._cond.notify()
        return batch

    async def committed(self, batch: Batch) -> None:
        """Return once ``batch`` is committed; :class:`AuditWriteFailed` if its commit failed.

        The event loop is never blocked for longer than one SQLite commit (and at most
        ``LOOP_BUSY_TIMEOUT_MS`` waiting for another writer's lock).
        """
        if not batch.done.is_set():
            loop = asyncio.get_running_loop()
            fut: asyncio.Future[None] = loop.create_future()
            with self._cond:
                waiting = not batch.done.is_set()
                if waiting:
                    batch.waiters.append((loop, fut))
            if waiting:
                if self._on_loop and loop not in self._scheduled:
                    # after the callbacks already ready, so their rows join this batch
                    self._scheduled.add(loop)
                    loop.call_soon(self._commit_on_loop, loop)
                await fut
        batch.outcome()

    def flush(self) -> int:
        """Commit the rows queued so far (after a commit under way); returns how many this call
        committed. Raises :class:`AuditWriteFailed` if one of those commits failed."""
        batches = self._drain()
        for batch in batches:
            batch.outcome()
        done = [p for b in batches for p in (b, *b.companions) if p.error is None]
        return sum(len(p.rows) for p in done)

    def stats(self) -> dict[str, int]:
        """Commits and rows so far, by who committed them (the event loop or a thread)."""
        return {
            "loop_commits": self._loop_commits,
            "loop_rows": self._loop_rows,
            "thread_commits": self._thread_commits,
            "thread_rows": self._thread_rows,
        }

    def _ensure_writer(self) -> None:
        # caller holds self._cond
        if self._writer is None:
            self._writer = threading.Thread(
                target=self._write_loop, daemon=True, name="audit-writer"
            )
            self._writer.start()

    def _commit_on_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """Commit the open batch on the event loop; hand it to the writer if that would wait."""
        self._scheduled.discard(loop)
        with self._cond:
            if self._handed or not self._flush_lock.acquire(blocking=False):
                # the writer thread is busy: the open batch follows it there, in order
                self._ensure_writer()
                self._cond.notify()
                return
            batch, self._pending = self._pending, Batch()
        try:
            committed = not (batch.rows or batch.companions) or self._insert_quickly(batch)
        finally:
            self._flush_lock.release()
        if committed:
            self._finish(batch, loop)
            return
        with self._cond:
            self._handed.append(batch)
            self._ensure_writer()
            self._cond.notify()

    def _insert_quickly(self, batch: Batch) -> bool:
        """Insert and commit on the loop's connection; False if that did not succeed at once
        (the database locked by another writer, or any failure: the writer retries it)."""
        try:
            if self._loop_conn is None:
                conn = self.engine.connect()
                conn.exec_driver_sql(f"PRAGMA busy_timeout = {LOOP_BUSY_TIMEOUT_MS}")
                # a WAL checkpoint copies pages and syncs: the writer thread runs it instead
                conn.exec_driver_sql("PRAGMA wal_autocheckpoint = 0")
                conn.commit()
                self._loop_conn = conn
            self._loop_rows += self._write(self._loop_conn, batch)
            self._loop_conn.commit()
            self._loop_commits += 1
            if self._loop_commits % CHECKPOINT_EVERY == 0:
                with self._cond:
                    self._checkpoint_due = True
                    self._ensure_writer()
                    self._cond.notify()
            return True
        except Exception:  # the writer thread retries and reports a real failure
            broken, self._loop_conn = self._loop_conn, None
            if broken is not None:
                with contextlib.suppress(Exception):  # never back to the pool: it has a pragma
                    broken.invalidate()
                    broken.close()
            return False

    def _drain(self) -> list[Batch]:
        """Commit every handed-over batch and the open one, patiently (writer thread, flush)."""
        with self._flush_lock:
            with self._cond:
                batches, self._handed = [*self._handed, self._pending], []
                self._pending = Batch()
            for batch in batches:
                if batch.rows or batch.companions:
                    self._commit_patiently(batch)
        for batch in batches:
            self._finish(batch, _running_loop())
        return [b for b in batches if b.rows or b.companions]

    def _commit_patiently(self, batch: Batch) -> None:
        """Commit ``batch`` on the writer's connection; if that fails and requests are attached
        to it, they fail and the other rows are committed without them."""
        try:
            if self._conn is None:
                self._conn = self.engine.connect()
            self._thread_rows += self._write(self._conn, batch)
            self._conn.commit()
            self._thread_commits += 1
            return
        except Exception as exc:  # every waiter gets it; the server answers 503
            self._close_connection()
            attached = [part for part in batch.companions if part.error is None]
            if not attached:
                batch.error = exc
                return
            for part in attached:  # they fail; their rows are kept as refusals
                part.error = exc
                batch.rows.extend(unrecorded(r) for r in part.rows)
        self._commit_patiently(batch)

    def _write(self, conn: Connection, batch: Batch) -> int:
        """Insert a batch's rows (its companions' too), then call the attached writers in the
        same transaction (uncommitted); returns the number of rows."""
        attached = [part for part in batch.companions if part.error is None]
        rows = batch.rows
        if attached:
            rows = [*rows, *(r for part in attached for r in part.rows)]
        if not rows:
            return 0
        # the rows first: on SQLite their insert takes the write lock, so what an attached
        # writer reads next cannot be overtaken by another writer before this commit
        self._insert(conn, rows)
        writers: dict[Callable[[Connection, list[Any]], None], list[Any]] = {}
        for part in attached:
            assert part.attach is not None
            writer, item = part.attach
            writers.setdefault(writer, []).append(item)
        for writer, items in writers.items():
            writer(conn, items)
        return len(rows)

    def _insert(self, conn: Connection, rows: list[tuple[Any, ...]]) -> None:
        if self._on_loop:
            conn.exec_driver_sql(_SQLITE_INSERT, rows)
        else:
            if conn.dialect.name == "postgresql":
                # shared: the writers of every API instance go on together; a digest waits
                # until the batches that hold ids it could see are committed (see digest)
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock_shared({DIGEST_LOCK})")
            conn.execute(_INSERT, [dict(zip(INSERT_COLUMNS, r, strict=True)) for r in rows])

    def _finish(self, batch: Batch, here: asyncio.AbstractEventLoop | None) -> None:
        """Mark ``batch`` done and wake its waiters, once per event loop."""
        with self._cond:
            batch.done.set()
            waiters, batch.waiters = batch.waiters, []
            for part in batch.companions:
                part.done.set()
                waiters.extend(part.waiters)
                part.waiters = []
        by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
        for loop, fut in waiters:
            by_loop.setdefault(loop, []).append(fut)
        for loop, futures in by_loop.items():
            if loop is here:
                wake(futures)
            else:
                with contextlib.suppress(RuntimeError):  # a closed loop has nobody waiting
                    loop.call_soon_threadsafe(wake, futures)

    def _checkpoint(self) -> None:
        """Fold the WAL into the database without waiting for readers or writers (PASSIVE)."""
        try:
            with self.engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
        except Exception as exc:  # the next one catches up; SQLite checkpoints on close too
            log.warning("audit WAL checkpoint failed: %s", type(exc).__name__)

    def _close_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):  # a broken connection cannot even roll back
                conn.close()

    def _write_loop(self) -> None:
        while True:
            with self._cond:
                while not (
                    self._pending.holds_rows() or self._handed or self._checkpoint_due
                ) and not (self._stopping):
                    self._cond.wait()
                if self._stopping and not (self._pending.holds_rows() or self._handed):
                    return
                checkpoint, self._checkpoint_due = self._checkpoint_due, False
            if checkpoint:
                self._checkpoint()
            for batch in self._drain():
                for failed in (batch, *batch.companions):
                    if failed.error is not None:  # the type only: messages may quote values
                        log.error("audit commit failed: %s", type(failed.error).__name__)

    # ---- digests ------------------------------------------------------------------------
    def digest(self) -> dict[str, Any] | None:
        """Flush, then digest the rows not yet covered into one ledger entry (None if none)."""
        if self.append_to_ledger is None:
            raise AuditError("no ledger configured: audit digests cannot be anchored")
        self.flush()
        # this process commits one batch at a time, but other API instances on the same
        # PostgreSQL commit theirs at the same moment: a batch may hold ids below one already
        # committed. The digest reads under the exclusive side of the writers' advisory lock,
        # so every batch that drew ids before it is committed and the rows it sees are a
        # gap-free run of ids (later batches draw higher ids)
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({DIGEST_LOCK})")
            last = conn.execute(select(func.max(audit_digests.c.last_id))).scalar() or 0
            if self._on_loop:
                # SQLite: the rows as stored, without SQLAlchemy's per-value processing; the
                # time text is put in canonical form by _sqlite_at (verify reads through
                # SQLAlchemy, so the two encodings are checked against each other)
                rows = [
                    (r[0], _sqlite_at(r[1]), *r[2:])
                    for r in conn.exec_driver_sql(_SQLITE_SELECT, (last,)).all()
                ]
            else:
                rows = [
                    tuple(r)
                    for r in conn.execute(
                        select(*[audit_log.c[c] for c in COLUMNS])
                        .where(audit_log.c.id > last)
                        .order_by(audit_log.c.id)
                    )
                ]
        if not rows:
            return None
        h = hashlib.sha256()
        for r in rows:
            h.update(row_line(r))
        entry = {
            "event": "audit.digest",
            "first": int(rows[0][0]),
            "last": int(rows[-1][0]),
            "count": len(rows),
            "sha256": h.hexdigest(),
            "time": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        data = json.dumps(entry, sort_keys=True, separators=(",", ":")).encode()
        entry_id = self.append_to_ledger(data)
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(audit_digests).values(
                        first_id=entry["first"],
                        last_id=entry["last"],
                        count=entry["count"],
                        sha256=entry["sha256"],
                        ledger_entry=entry_id,
                        created_at=datetime.now(UTC).replace(tzinfo=None),
                    )
                )
        except IntegrityError:
            # another process digested the same range first; its entry stands
            return None
        return {**entry, "ledger_entry": entry_id}

    # ---- background ---------------------------------------------------------------------
    def start(self, interval: float) -> None:
        """Digest every ``interval`` s until :meth:`stop` (rows are written as they come)."""

        def loop(period: float, work: Callable[[], Any]) -> None:
            while not self._stop.wait(period):
                try:
                    work()
                except Exception as exc:  # keep auditing; log the type only (messages quote data)
                    log.error("audit %s failed: %s", work.__name__, type(exc).__name__)

        self._stop.clear()
        if self.append_to_ledger is None or interval <= 0:
            return
        t = threading.Thread(target=loop, args=(interval, self.digest), daemon=True, name="audit")
        t.start()
        self._threads.append(t)

    def stop(self) -> None:
        """Stop digesting, let the writer commit what is queued, and end it."""
        self._stop.set()
        for t in self._threads:
            t.join(timeout=5)
        self._threads.clear()
        with self._cond:
            writer, self._stopping = self._writer, True
            self._cond.notify_all()
        if writer is not None:
            writer.join(timeout=30)
        with self._cond:
            self._writer, self._stopping = None, False
        try:
            self.flush()
        finally:
            with self._flush_lock:
                self._close_connection()
                conn, self._loop_conn = self._loop_conn, None
                if conn is not None:
                    with contextlib.suppress(Exception):
                        conn.invalidate()
                        conn.close()

    # ---- reading ------------------------------------------------------------------------
    def query(self, subject: str, limit: int = 1000) -> list[dict[str, Any]]:
        """Who looked at this subject: the rows with its keyed hash, newest first.

        The subject is normalised as the gate normalises what requests name (full-width forms
        folded, a 15-digit resident ID upgraded to 18), so any form of an ID finds its rows."""
        from schemas.library import subject_key

        forms = {subject_key(library, subject) for library in ("population", "legal-entity")}
        self.flush()
        stmt = (
            select(audit_log)
            .where(audit_log.c.subject_hash.in_(sorted(self.subject_hash(f) for f in forms)))
            .order_by(audit_log.c.id.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(stmt)]
