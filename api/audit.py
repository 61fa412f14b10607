"""The access audit: one row per API request, digests of row ranges appended to the ledger.

A row says who (client), why (declared purpose), what (route template, keyed hash of the
subject, fields returned), how it ended (outcome, status) and when. The subject is never stored
in clear: it is HMAC-SHA256 under a key derived from a key-store key, so ``hub audit query
--subject ID`` can find a person's rows while the table alone reveals no ID numbers.

Rows are buffered in memory and written in batches (one transaction per ~0.2 s) so auditing does
not cost a database commit per request; a crash can lose at most the last unflushed batch.
Every ``interval`` seconds (and on demand) the rows not yet covered are digested (SHA-256 over
their canonical encoding) and the digest is appended to the Merkle log as an ``audit.digest``
entry. :func:`verify` recomputes each digest from the table and compares it with the ledger's
copy, so an edited, inserted or removed row is detected.
"""

from __future__ import annotations

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

COLUMNS = (
    "id",
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


class AuditError(Exception):
    """The audit log could not be written, digested or verified."""


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


@dataclass
class AuditLog:
    """Buffered writer, digester and verifier of the audit table."""

    engine: Engine
    key: bytes
    append_to_ledger: Callable[[bytes], int] | None = None
    _buffer: list[dict[str, Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _flush_lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def __post_init__(self) -> None:
        metadata.create_all(self.engine)

    def subject_hash(self, subject: str) -> str:
        return hmac.new(self.key, subject.strip().upper().encode(), hashlib.sha256).hexdigest()

    # ---- writing ------------------------------------------------------------------------
    def record(
        self,
        *,
        client_id: str,
        purpose: str,
        method: str,
        route: str,
        subject: str | None,
        fields: Iterable[str],
        outcome: str,
        status: int,
    ) -> None:
        """Queue one row (written by the next flush)."""
        row = {
            "at": datetime.now(UTC).replace(tzinfo=None),
            "client_id": client_id[:64],
            "purpose": purpose[:64],
            "method": method,
            "route": route[:128],
            "subject_hash": self.subject_hash(subject) if subject else None,
            "fields": ",".join(sorted(fields)),
            "outcome": outcome,
            "status": status,
        }
        with self._lock:
            self._buffer.append(row)

    def flush(self) -> int:
        """Write the buffered rows in one transaction; returns how many."""
        with self._flush_lock:
            with self._lock:
                rows, self._buffer = self._buffer, []
            if rows:
                with self.engine.begin() as conn:
                    conn.execute(insert(audit_log), rows)
            return len(rows)

    # ---- digests ------------------------------------------------------------------------
    def digest(self) -> dict[str, Any] | None:
        """Flush, then digest the rows not yet covered into one ledger entry (None if none)."""
        if self.append_to_ledger is None:
            raise AuditError("no ledger configured: audit digests cannot be anchored")
        self.flush()
        with self._flush_lock, self.engine.connect() as conn:
            last = conn.execute(select(func.max(audit_digests.c.last_id))).scalar() or 0
            rows = conn.execute(
                select(*[audit_log.c[c] for c in COLUMNS])
                .where(audit_log.c.id > last)
                .order_by(audit_log.c.id)
            ).all()
        if not rows:
            return None
        h = hashlib.sha256()
        for r in rows:
            h.update(row_line(r))
        entry = {
            "event": "audit.digest",
            "first": int(rows[0].id),
            "last": int(rows[-1].id),
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
    def start(self, interval: float, flush_every: float = 0.2) -> None:
        """Flush every ``flush_every`` s and digest every ``interval`` s until :meth:`stop`."""

        def loop(period: float, work: Callable[[], Any]) -> None:
            while not self._stop.wait(period):
                try:
                    work()
                except Exception as exc:  # keep auditing; log the type only (messages quote data)
                    log.error("audit %s failed: %s", work.__name__, type(exc).__name__)

        self._stop.clear()
        for period, work in ((flush_every, self.flush), (interval, self.digest)):
            if work is self.digest and (self.append_to_ledger is None or interval <= 0):
                continue
            t = threading.Thread(target=loop, args=(period, work), daemon=True, name="audit")
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=5)
        self._threads.clear()
        self.flush()

    # ---- reading ------------------------------------------------------------------------
    def query(self, subject: str, limit: int = 1000) -> list[dict[str, Any]]:
        """Who looked at this subject: the rows with its keyed hash, newest first."""
        self.flush()
        stmt = (
            select(audit_log)
            .where(audit_log.c.subject_hash == self.subject_hash(subject))
            .order_by(audit_log.c.id.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(stmt)]


@dataclass
class VerifyReport:
    """What :func:`verify` found: digests checked, problems (empty = intact), rows pending."""

    digests: int = 0
    rows_covered: int = 0
    rows_pending: int = 0
    sequenced: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(engine: Engine, ledger: Any) -> VerifyReport:
    """Recompute every digest from the table and compare it with the ledger's own copy.

    The digest index table only says where to look: ranges, counts and hashes are taken from the
    ledger entry, whose inclusion in a signed checkpoint is checked when it has been sequenced.
    """
    from ledger.receipt import ReceiptError, verify_receipt
    from storage import ledger_store as db

    report = VerifyReport()
    with engine.connect() as conn:
        index = conn.execute(select(audit_digests).order_by(audit_digests.c.first_id)).all()
    expected_first = 1
    for d in index:
        with ledger.engine.connect() as lconn:
            row = lconn.execute(
                select(db.entries.c.idx, db.entries.c.data).where(
                    db.entries.c.entry_id == d.ledger_entry
                )
            ).first()
            data = bytes(row.data) if row else None
            idx = int(row.idx) if row else None
            if data is None:
                pend = lconn.execute(
                    select(db.pending.c.data).where(db.pending.c.id == d.ledger_entry)
                ).first()
                data = bytes(pend.data) if pend else None
        if data is None:
            report.problems.append(f"digest of rows from {d.first_id}: ledger entry missing")
            continue
        entry = json.loads(data)
        first, last = int(entry["first"]), int(entry["last"])
        if (first, last) != (d.first_id, d.last_id):
            report.problems.append(
                f"digest index says rows {d.first_id}-{d.last_id}, ledger says {first}-{last}"
            )
        if first != expected_first:
            report.problems.append(f"rows {expected_first}-{first - 1} are covered by no digest")
        expected_first = last + 1
        if idx is not None:
            receipt = ledger.receipt(idx)
            if receipt is not None:
                try:
                    verify_receipt(receipt, [ledger.verifier_key()])
                    report.sequenced += 1
                except ReceiptError as exc:
                    report.problems.append(f"digest {first}-{last}: {exc}")
        with engine.connect() as conn:
            rows = conn.execute(
                select(*[audit_log.c[c] for c in COLUMNS])
                .where(audit_log.c.id.between(first, last))
                .order_by(audit_log.c.id)
            ).all()
        h = hashlib.sha256()
        for r in rows:
            h.update(row_line(r))
        report.digests += 1
        report.rows_covered += len(rows)
        if len(rows) != int(entry["count"]):
            report.problems.append(
                f"rows {first}-{last}: {len(rows)} rows present, the ledger digest covers "
                f"{entry['count']} (rows removed or inserted)"
            )
        elif h.hexdigest() != entry["sha256"]:
            report.problems.append(f"rows {first}-{last}: content differs from the ledger digest")
    with engine.connect() as conn:
        report.rows_pending = int(
            conn.execute(
                select(func.count()).select_from(audit_log).where(audit_log.c.id >= expected_first)
            ).scalar_one()
        )
    return report
