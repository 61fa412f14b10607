"""Where claim receipts are kept, and how they reach the Merkle log.

Each sealed receipt is stored (``claim_receipts``: id, client, time, its ledger entry id and
its bytes) and its ``claim.receipt`` entry queued in the log in the same transaction, so a
receipt the API handed out is always both stored and logged. Receipts of concurrent requests
are written together by one writer thread (group commit): a request waits for its commit,
never for the checkpoint; :meth:`ReceiptStore.with_proof` adds the inclusion proof once the
sequencer has covered the entry.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import queue
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from typing import Any, Protocol

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    Engine,
    MetaData,
    String,
    Table,
    Text,
    insert,
    select,
)

from ledger.receipt import Receipt
from sharing.receipts import SealedReceipt

metadata = MetaData()

claim_receipts = Table(
    "claim_receipts",
    metadata,
    Column("receipt_id", String(40), primary_key=True),
    Column("client_id", String(64), nullable=False, index=True),
    Column("created_at", DateTime, nullable=False),
    Column("entry_id", BigInteger, nullable=False),
    Column("document", Text, nullable=False),  # the sealed receipt's JCS text
)

MAX_BATCH = 2000  # receipts per commit


class ReceiptLog(Protocol):
    """What the store needs of the Merkle log (``ledger.service.LedgerService``)."""

    def append_many(self, items: Sequence[bytes]) -> list[int]: ...

    def shares_database(self, engine: Engine) -> bool: ...

    def append_many_in(self, conn: Connection, items: Sequence[bytes]) -> list[int]: ...

    def receipts_for_entries(self, entry_ids: Sequence[int]) -> Mapping[int, Receipt]: ...


_Item = tuple[str, SealedReceipt, dt.datetime, "Future[None]"]


class ReceiptStore:
    """Claim receipts in the hub database, logged as they are stored."""

    def __init__(self, engine: Engine, ledger: ReceiptLog) -> None:
        self.engine = engine
        self.ledger = ledger
        metadata.create_all(engine)
        self._queue: queue.Queue[_Item | None] = queue.Queue()
        self._writer: threading.Thread | None = None
        self._lock = threading.Lock()

    # ---- writing ------------------------------------------------------------------------
    def write(self, items: Sequence[tuple[str, SealedReceipt, dt.datetime]]) -> None:
        """Store and log receipts (client id, receipt, time) in one transaction."""
        if not items:
            return
        entries = [r.entry for _, r, _ in items]
        with self.engine.begin() as conn:
            if self.ledger.shares_database(self.engine):
                ids = self.ledger.append_many_in(conn, entries)
            else:  # the log elsewhere: logged first, so a stored receipt is always logged
                ids = self.ledger.append_many(entries)
            conn.execute(
                insert(claim_receipts),
                [
                    {
                        "receipt_id": r.receipt_id,
                        "client_id": client,
                        "created_at": at.astimezone(dt.UTC).replace(tzinfo=None),
                        "entry_id": entry_id,
                        "document": r.data.decode(),
                    }
                    for (client, r, at), entry_id in zip(items, ids, strict=True)
                ],
            )

    async def stored(self, items: Sequence[tuple[str, SealedReceipt, dt.datetime]]) -> None:
        """Return once ``items`` (client id, receipt, time) are committed with their ledger
        entries; raises what kept them from being. The writer thread commits them, together
        with whatever other requests queued meanwhile: the event loop never waits for the
        database's write lock (the sequencer holds it while it signs a checkpoint)."""
        futures = [self.submit(c, r, t) for c, r, t in items]
        await asyncio.gather(*(asyncio.wrap_future(f) for f in futures))

    def submit(self, client: str, sealed: SealedReceipt, at: dt.datetime) -> Future[None]:
        """Queue one receipt for the writer thread; the future completes once it is committed
        (or carries the error that kept it from being)."""
        fut: Future[None] = Future()
        self._ensure_writer()
        self._queue.put((client, sealed, at, fut))
        return fut

    def _ensure_writer(self) -> None:
        if self._writer is not None and self._writer.is_alive():
            return
        with self._lock:
            if self._writer is None or not self._writer.is_alive():
                self._writer = threading.Thread(
                    target=self._write_loop, name="claim-receipts", daemon=True
                )
                self._writer.start()

    def _write_loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while len(batch) < MAX_BATCH:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                batch.append(more)
            try:
                self.write([(c, r, t) for c, r, t, _ in batch])
            except Exception as exc:  # every waiter gets it: the API answers 503
                for *_, fut in batch:
                    fut.set_exception(exc)
            else:
                for *_, fut in batch:
                    fut.set_result(None)
            if stop:
                return

    def close(self) -> None:
        """Let the writer finish what is queued and stop."""
        writer = self._writer
        if writer is not None and writer.is_alive():
            self._queue.put(None)
            writer.join(timeout=10)
        self._writer = None

    # ---- reading ------------------------------------------------------------------------
    def row(self, receipt_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            found = (
                conn.execute(
                    select(claim_receipts).where(claim_receipts.c.receipt_id == receipt_id)
                )
                .mappings()
                .first()
            )
        return dict(found) if found else None

    def with_proof(self, receipt_id: str, client: str | None = None) -> dict[str, Any] | None:
        """``{"document": the sealed receipt, "receipt": its ledger receipt or null}`` (the
        file ``hub verify`` reads); None if unknown, or asked for by another client than the
        one it was made for (``client``)."""
        row = self.row(receipt_id)
        if row is None or (client is not None and row["client_id"] != client):
            return None
        proof = self.ledger.receipts_for_entries([int(row["entry_id"])]).get(int(row["entry_id"]))
        return {
            "document": json.loads(row["document"]),
            "receipt": None if proof is None else proof.to_dict(),
        }
