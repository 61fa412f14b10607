"""The anchoring round: sequence the log, anchor the checkpoint, attach the licences' receipts.

Receipts are attached here, by the pipeline that makes them (``dags/anchor.py`` every interval,
and ``hub ledger checkpoint`` by hand), never by a reader: showing or verifying a licence only
reads what this round stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from licence.service import LicenceService, ledger_receipts

if TYPE_CHECKING:
    from ledger.service import SignedCheckpoint


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
