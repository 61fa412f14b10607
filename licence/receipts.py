"""The anchoring round: sequence the log, anchor the checkpoint, attach the licences' receipts.

Receipts are attached here, by the pipeline that makes them (``dags/anchor.py`` every interval,
and ``hub ledger checkpoint`` by hand), never by a reader: showing or verifying a licence only
reads what this round stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from licence.service import LicenceService

if TYPE_CHECKING:
    from ledger.service import SignedCheckpoint


class _LedgerReceipts:
    """Entry id -> receipt JSON bytes (None while pending) over a LedgerService; ``many`` reads a
    whole list of entries in one connection when the ledger offers bulk receipts."""

    def __init__(self, ledger: Any) -> None:
        self.ledger = ledger
        if not hasattr(ledger, "receipts_for_entries"):
            self.many = None  # type: ignore[assignment]

    def __call__(self, entry_id: int) -> bytes | None:
        index = self.ledger.entry_index(entry_id)
        receipt = None if index is None else self.ledger.receipt(index)
        return None if receipt is None else str(receipt.to_json()).encode()

    def many(self, entry_ids: list[int]) -> dict[int, bytes]:
        found = self.ledger.receipts_for_entries(entry_ids)
        return {e: str(r.to_json()).encode() for e, r in found.items()}


def ledger_receipts(ledger: Any) -> Any:
    """``receipt_for`` over a LedgerService: entry id -> receipt JSON bytes, or None if pending."""
    return _LedgerReceipts(ledger)


@dataclass(frozen=True)
class AnchorRound:
    """What one round did: the latest signed checkpoint (None for an empty log) and how many
    licences got their receipt."""

    checkpoint: SignedCheckpoint | None
    attached: int


def anchor_and_attach(service: LicenceService) -> AnchorRound:
    """Sequence everything pending into a signed checkpoint (anchored by the ledger's anchor
    backend; an unreachable remote anchor keeps it queued for the next round), then attach a
    receipt to every licence whose issue entry the log now covers."""
    signed = service.ledger.sequence()
    attached = service.attach_receipts(ledger_receipts(service.ledger))
    return AnchorRound(signed, attached)
