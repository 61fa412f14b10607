"""The cloud-signature audit: a row with each operation, appended to the ledger in batches.

The base of :class:`licence.cloudsign.service.CloudSignService`, whose ``__init__`` sets the
attributes declared here and which implements ``erase_expired_sads`` (each flush runs it).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, bindparam, select, update
from sqlalchemy.exc import SQLAlchemyError

from ledger.log_reader import LedgerError
from licence.cloudsign import store
from licence.cloudsign.errors import (
    CloudSignError,
)
from licence.cloudsign.store import driver_sql, now_utc
from licence.document import canonical

log = logging.getLogger(__name__)


class EventLog(Protocol):
    def append_many(self, items: Sequence[bytes]) -> list[int]: ...


def hashes_root(digests: Sequence[bytes]) -> str:
    """SHA-256 over the sorted digests: one value naming the set an event concerns."""
    return hashlib.sha256(b"".join(sorted(digests))).hexdigest()


class CloudSignAudit(ABC):
    """The audit half of the cloud-signature service (rows, flushes to the ledger, trails)."""

    engine: Engine
    ledger: EventLog
    clock: Callable[[], float]
    audit_batch: int  # rows per ledger append
    audit_interval: float  # seconds between flushes
    _unflushed: int
    _last_flush: float
    _flush_lock: threading.RLock
    _timer: threading.Timer | None

    @abstractmethod
    def erase_expired_sads(self) -> int:
        """Erase the sealed PIN key of every expired SAD; the number erased."""

    def _audit_in(
        self,
        conn: Connection,
        event: str,
        credential_id: str,
        outcome: str,
        digests: Sequence[bytes] = (),
        **extra: Any,
    ) -> None:
        """Write one audit row in the caller's transaction (atomic with what it records).

        The row is an outbox entry: :meth:`flush_audit` appends its canonical JSON to the ledger
        in batches and stores the entry id, so the audit never disagrees with the state change
        and the ledger pays one transaction per batch, not per event.
        """
        record: dict[str, Any] = {
            "type": f"cloudsign.{event}",
            "credential": credential_id,
            "outcome": outcome,
            "at": now_utc(self.clock).isoformat(timespec="milliseconds"),
            **extra,
        }
        root = hashes_root(digests) if digests else None
        if digests:
            record["hashes_root"] = root
            record["count"] = len(digests)
        data = canonical(record)
        driver_sql(
            conn,
            "INSERT INTO cloudsign_audit "
            "(credential_id, event, outcome, hashes_root, record, sha256) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            credential_id,
            event,
            outcome,
            root,
            data.decode(),
            hashlib.sha256(data).hexdigest(),
        )
        self._unflushed += 1

    def _audit(
        self,
        event: str,
        credential_id: str,
        outcome: str,
        digests: Sequence[bytes] = (),
        **extra: Any,
    ) -> None:
        with self.engine.begin() as conn:
            self._audit_in(conn, event, credential_id, outcome, digests, **extra)
        self._maybe_flush()

    def _maybe_flush(self) -> None:
        """Flush when a batch is full or the interval passed; else make sure a timer will."""
        due = time.monotonic() - self._last_flush >= self.audit_interval
        if due or self._unflushed >= self.audit_batch:
            self._flush_quietly()
            return
        with self._flush_lock:
            if self._timer is None or not self._timer.is_alive():
                self._timer = threading.Timer(self.audit_interval, self._flush_quietly)
                self._timer.daemon = True
                self._timer.start()

    def _flush_quietly(self) -> None:
        # the operation that triggered this is committed (its audit row included): a busy or
        # full ledger must not turn it into an error; the rows wait for the next flush
        try:
            self.flush_audit()
        except (LedgerError, SQLAlchemyError) as exc:
            log.warning("cloudsign audit rows not yet on the ledger, will retry: %s", exc)

    def flush_audit(self) -> int:
        """Append every audit row not yet on the ledger, oldest first, ``audit_batch`` rows per
        ledger transaction; returns how many were appended.

        Rows are durable before this runs: a crash between the two steps, or a full ledger
        queue, only delays their entries to the next flush (of any process); batches already
        appended keep their entry ids. Two processes flushing the very same rows at once may
        append a record twice; the row keeps the first entry id.
        """
        done = 0
        with self._flush_lock:
            with self.engine.connect() as conn:
                rows = conn.execute(
                    select(store.audit.c.id, store.audit.c.record)
                    .where(store.audit.c.entry_id.is_(None))
                    .order_by(store.audit.c.id)
                    .limit(10_000)
                ).all()
            for start in range(0, len(rows), self.audit_batch):
                batch = rows[start : start + self.audit_batch]
                entry_ids = self.ledger.append_many([r.record.encode() for r in batch])
                with self.engine.begin() as conn:
                    conn.execute(
                        update(store.audit)
                        .where(store.audit.c.id == bindparam("audit_id"))
                        .where(store.audit.c.entry_id.is_(None))
                        .values(entry_id=bindparam("entry")),
                        [
                            {"audit_id": r.id, "entry": e}
                            for r, e in zip(batch, entry_ids, strict=True)
                        ],
                    )
                done += len(batch)
            self._unflushed = 0
            self._last_flush = time.monotonic()
        self.erase_expired_sads()
        return done

    def _refuse(
        self,
        exc: CloudSignError,
        event: str,
        credential_id: str,
        digests: Sequence[bytes] = (),
        via: str = "local",
    ) -> CloudSignError:
        self._audit(
            event,
            credential_id,
            f"refused:{exc.code}",
            digests,
            reason=type(exc).__name__,
            via=via,
        )
        return exc

    def audit_trail(self, credential_id: str) -> list[dict[str, Any]]:
        """The audit rows of a credential, oldest first (records carry no personal data)."""
        self.flush_audit()
        stmt = (select(store.audit).where(store.audit.c.credential_id == credential_id)).order_by(
            store.audit.c.id
        )
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(stmt)]

    def audit_for_hash(self, digest: bytes) -> list[dict[str, Any]]:
        """Audit rows about exactly this one hash (a single-document authorisation/signature)."""
        self.flush_audit()
        stmt = select(store.audit).where(store.audit.c.hashes_root == hashes_root([digest]))
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(stmt.order_by(store.audit.c.id))]
