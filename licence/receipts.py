"""The anchoring round: sequence the log, anchor the checkpoint, attach the licences' receipts.

Receipts are attached here, by the pipeline that makes them (``dags/anchor.py`` every interval,
and ``hub ledger checkpoint`` by hand), never by a reader: showing or verifying a licence only
reads what this round stored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from ledger.receipt import Receipt
from licence.service import LicenceService
from licence.status_service import ReceiptSource

if TYPE_CHECKING:
    from ledger.service import SignedCheckpoint


class BulkReceipts(Protocol):
    """The ledger's bulk receipt read (``LedgerService.receipts_for_entries``)."""

    def receipts_for_entries(self, entry_ids: Sequence[int]) -> Mapping[int, Receipt]: ...


class _LedgerReceipts:
    """Entry id -> receipt JSON bytes over the ledger, a whole list of entries in one read;
    entries still pending are absent."""

    def __init__(self, ledger: BulkReceipts) -> None:
        self.ledger = ledger

    def many(self, entry_ids: list[int]) -> dict[int, bytes]:
        found = self.ledger.receipts_for_entries(entry_ids)
        return {e: str(r.to_json()).encode() for e, r in found.items()}


def ledger_receipts(ledger: BulkReceipts) -> ReceiptSource:
    """The receipts ``LicenceService.attach_receipts`` attaches, read from the ledger."""
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
