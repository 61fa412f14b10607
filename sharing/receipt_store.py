"""Where claim receipts are kept, and how they reach the Merkle log.

Each sealed receipt is stored (``claim_receipts``: id, client, time, its ledger entry id and
its bytes) and its ``claim.receipt`` entry queued in the log in the same transaction, so a
receipt the API handed out is always both stored and logged. The API writes them in the
transaction of the question's audit rows (:meth:`ReceiptStore.write_in`, attached to them:
``api.audit``), so concurrent questions' receipts and audit rows share one group commit: a
request waits for that commit, never for the checkpoint; :meth:`ReceiptStore.with_proof` adds
the inclusion proof once the sequencer has covered the entry.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
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
    select,
)
from sqlalchemy.exc import DBAPIError

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


class ReceiptLog(Protocol):
    """What the store needs of the Merkle log (``ledger.service.LedgerService``)."""

    def append_many(self, items: Sequence[bytes]) -> list[int]: ...

    def shares_database(self, engine: Engine) -> bool: ...

    def append_many_in(self, conn: Connection, items: Sequence[bytes]) -> list[int]: ...

    def receipts_for_entries(self, entry_ids: Sequence[int]) -> Mapping[int, Receipt]: ...


Item = tuple[str, SealedReceipt, dt.datetime]  # client id, sealed receipt, time
_COLUMNS = ("receipt_id", "client_id", "created_at", "entry_id", "document")
_INSERT = (
    f"INSERT INTO {claim_receipts.name} ({', '.join(_COLUMNS)}) "
    f"VALUES ({', '.join('{mark}' for _ in _COLUMNS)})"
)


def _stored_time(at: dt.datetime, sqlite: bool) -> Any:
    """``at`` as the ``created_at`` column stores it: naive UTC; on SQLite the text
    SQLAlchemy's DateTime writes (and reads back)."""
    naive = at.astimezone(dt.UTC).replace(tzinfo=None)
    return naive.isoformat(" ", "microseconds") if sqlite else naive


class ReceiptStore:
    """Claim receipts in the hub database, logged as they are stored."""

    def __init__(self, engine: Engine, ledger: ReceiptLog) -> None:
        self.engine = engine
        self.ledger = ledger
        metadata.create_all(engine)

    # ---- writing ------------------------------------------------------------------------
    def write(self, items: Sequence[Item]) -> None:
        """Store and log receipts (client id, receipt, time) in one transaction of their own."""
        if items:
            with self.engine.begin() as conn:
                self._write(conn, items)

    def write_in(self, conn: Connection, batches: Iterable[Sequence[Item]]) -> None:
        """Store and log the receipts of ``batches`` inside the caller's transaction on the
        hub database (the audit's: ``api.audit.AuditLog.submit`` attaches them), uncommitted;
        on another database they are committed first in a transaction of their own."""
        items = [item for batch in batches for item in batch]
        if not items:
            return
        if conn.engine is self.engine or conn.engine.url == self.engine.url:
            self._write(conn, items)
        else:
            self.write(items)

    def _write(self, conn: Connection, items: Sequence[Item]) -> None:
        entries = [r.entry for _, r, _ in items]
        if self.ledger.shares_database(conn.engine):
            ids = self.ledger.append_many_in(conn, entries)
        else:  # the log elsewhere: logged first, so a stored receipt is always logged
            ids = self.ledger.append_many(entries)
        sqlite = conn.dialect.name == "sqlite"
        rows = [
            (
                r.receipt_id,
                client,
                _stored_time(at, sqlite),
                entry_id,
                r.data.decode(),
            )
            for (client, r, at), entry_id in zip(items, ids, strict=True)
        ]
        # the DB-API cursor, in the caller's transaction: SQLAlchemy's per-row parameter
        # processing of an executemany cost a millisecond a receipt
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cur.executemany(_INSERT.format(mark=mark), rows)
        except conn.dialect.loaded_dbapi.Error as exc:  # as SQLAlchemy's own paths raise it
            raise DBAPIError.instance(_INSERT, None, exc, conn.dialect.loaded_dbapi.Error) from exc
        finally:
            cur.close()

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
