"""A licence service's status lists and receipts: the authority's bitstring, committing the
lists with a checkpoint, a licence's status proven under a checkpoint, and attaching the
receipts of sequenced issue entries. :class:`licence.service.LicenceService` is built on it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from licence import authorities, status_list
from licence.errors import LicenceError
from licence.store import LicenceStore

if TYPE_CHECKING:
    from licence.service import EventLog

RECEIPT_CHUNK = 5000  # entries per bulk receipt read when attaching receipts


class ReceiptSource(Protocol):
    """Receipts of log entries by entry id, JSON bytes; pending entries are absent."""

    def many(self, entry_ids: list[int]) -> Mapping[int, bytes]: ...


class StatusReadings(ABC):
    """Status lists and receipts over the store and the log (a base of the licence service)."""

    store: LicenceStore
    ledger: EventLog

    @abstractmethod
    def row(self, lid: str) -> dict[str, Any]:
        """The licence's index row (raises when unknown)."""

    def status_list(self, authority_uscc: str, purpose: str) -> bytes:
        """The authority's current bitstring (bit i = licence with status index i is
        revoked/suspended), as ``licence.status_list`` builds it for the log.

        Bits are MSB-first in each byte (as in the W3C Bitstring Status List); expired and
        superseded licences count as revoked, since they must no longer be relied on.
        """
        rows = self.store.statuses(authority_uscc)
        size = max((i for i, _ in rows), default=-1) + 1
        return status_list.bitstring(size, rows, purpose)

    def commit_status_lists(self) -> list[int]:
        """Produce a checkpoint now; returns the log indices of the status lists committed
        with it (every checkpoint commits them: ``licence.status_snapshot``)."""
        signed = self.ledger.sequence()
        if signed is None:
            return []
        size = signed.checkpoint.size
        found = [
            self.store.status_list_at(auth.uscc, size) for auth in authorities.registry().values()
        ]
        return sorted(f[1] for f in found if f is not None)

    def status_proof(self, lid: str, checkpoint_size: int | None = None) -> dict[str, Any]:
        """The licence's status as of a checkpoint (default: the latest with a status list
        of its authority), with the two receipts proving it under that checkpoint: its issue
        entry's and its authority's status list's. ``licence.status_list.prove_status`` checks
        them with the log key alone."""
        from ledger.receipt import Receipt

        row = self.row(lid)
        found = self.store.status_list_at(row["authority"], checkpoint_size)
        if found is None:
            at = "yet" if checkpoint_size is None else f"with checkpoint {checkpoint_size}"
            raise LicenceError(
                f"no status list of {row['authority']} committed {at}: "
                "run `hub ledger checkpoint` (each checkpoint commits them)"
            )
        size, list_index = found
        ledger: Any = self.ledger
        issue_index = (
            None if row["ledger_entry_id"] is None else ledger.entry_index(row["ledger_entry_id"])
        )
        if issue_index is None or issue_index >= size:
            raise LicenceError(
                f"licence {lid} was not yet logged at checkpoint {size}: its status there is "
                "not in the log"
            )
        issue: Receipt | None = ledger.receipt(issue_index, size)
        listed: Receipt | None = ledger.receipt(list_index, size)
        if issue is None or listed is None:
            raise LicenceError(f"checkpoint {size} is not in this log")
        try:
            proven = status_list.prove_status(
                lid,
                row["document_digest"],
                issue,
                listed,
                [ledger.verifier_key()],
                int(row["status_index"]),
            )
        except status_list.StatusListError as exc:
            raise LicenceError(f"the log does not prove {lid}'s status at {size}: {exc}") from exc
        return {
            "licence_id": lid,
            "status": proven.status,
            "as_of_checkpoint": proven.checkpoint_size,
            "status_index": proven.status_index,
            "issue_receipt": issue.to_dict(),
            "status_list_receipt": listed.to_dict(),
            "log_key": ledger.verifier_key(),
        }

    def attach_receipts(self, receipts: ReceiptSource) -> int:
        """Attach receipts of sequenced issue entries (``licence.receipts.ledger_receipts``);
        entries still pending get theirs in a later round. Returns the count.

        One transaction per chunk of entries: a receipt is a proof that can be attached again
        at any time, so a stop half-way loses nothing, and memory stays bounded by a chunk
        instead of growing with the backlog.
        """
        attached = 0
        pending = self.store.unreceipted()
        for lo in range(0, len(pending), RECEIPT_CHUNK):
            part = pending[lo : lo + RECEIPT_CHUNK]
            found = receipts.many([e for _, e in part])  # a whole chunk in one read
            batch = []
            for lid, entry in part:
                data = found.get(entry)
                if data is not None:
                    batch.append((lid, data.decode()))
            if batch:
                self.store.attach_receipts(batch)
                attached += len(batch)
        return attached
