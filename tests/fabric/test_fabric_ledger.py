"""The ledger anchored on Fabric (HUB_LEDGER_ANCHOR=fabric): receipts name the anchoring
transaction, and while the peer is away checkpoints queue and are anchored, in order, once it
is back (issue 11's Fabric fault)."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fabrickit import fabric_settings

from hub.settings import Settings
from ledger.fabric_anchor import FabricAnchor
from ledger.service import LedgerService

pytestmark = pytest.mark.services


@pytest.fixture
def ledger(fabric_network: dict[str, str], tmp_path: Path) -> Iterator[LedgerService]:
    settings = Settings(
        home=tmp_path / "hub",
        key_passphrase="test-passphrase",
        ledger_origin=f"test.hub.local/ledger-{uuid.uuid4().hex[:12]}",  # a new log on the chain
        **fabric_settings(fabric_network, fabric_retry_seconds=3.0),
    )
    svc = LedgerService.open(settings)
    yield svc
    assert isinstance(svc.anchor, FabricAnchor)
    svc.anchor.close()


def test_checkpoints_anchor_on_fabric_and_receipts_name_the_transaction(
    ledger: LedgerService,
) -> None:
    anchor = ledger.anchor
    assert isinstance(anchor, FabricAnchor)
    ledger.append_many([f"licence {i}".encode() for i in range(5)])
    first = ledger.sequence()
    assert first is not None and first.anchor is not None
    assert first.anchor.backend == "fabric" and first.anchor.block is not None
    ledger.append_many([f"licence {i}".encode() for i in range(5, 12)])
    second = ledger.sequence()
    assert second is not None and second.anchor is not None and second.checkpoint.size == 12
    assert second.anchor.block is not None and second.anchor.block > first.anchor.block

    receipt = ledger.receipt(3)
    assert receipt is not None and receipt.anchor == second.anchor  # the latest checkpoint's
    anchor.verify(receipt.anchor, receipt.checkpoint)  # read back from the chain
    assert anchor.latest() == (second.note, 12)
    assert ledger.queued_anchors() == []


def test_peer_away_checkpoints_queue_then_anchor_in_order(
    ledger: LedgerService,
    fabric_script: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    anchor = ledger.anchor
    assert isinstance(anchor, FabricAnchor)
    ledger.append_many([b"before"])
    assert ledger.sequence().anchor is not None  # type: ignore[union-attr]

    fabric_script("stop-peer", timeout=120)
    try:
        sizes = []
        for batch in range(3):  # the log goes on: signed, committed, waiting for the anchor
            ledger.append_many([f"while away {batch}.{i}".encode() for i in range(batch + 2)])
            signed = ledger.sequence()
            assert signed is not None and signed.anchor is None
            sizes.append(signed.checkpoint.size)
        assert ledger.queued_anchors() == sizes == [3, 6, 10]
        receipt = ledger.receipt(7)
        assert receipt is not None and receipt.anchor is None  # not anchored yet, and says so
    finally:
        fabric_script("start-peer", timeout=300)

    assert ledger.sequence() is not None  # nothing new to sign: it anchors the queue
    assert ledger.queued_anchors() == []
    found = [anchor.at_size(size) for size in sizes]
    assert all(f is not None for f in found)  # each queued checkpoint is on the chain,
    for size, f in zip(sizes, found, strict=True):
        assert f is not None and f[1] == ledger.checkpoint_note(size)
    receipt = ledger.receipt(7)
    assert receipt is not None and receipt.anchor is not None and receipt.anchor.size == 10
    anchor.verify(receipt.anchor, receipt.checkpoint)
    # in order: each was anchored on top of the one before (the chaincode checked the
    # consistency proofs), so the chain's blocks rise with the sizes
    blocks = []
    for size in sizes:
        ref = ledger.receipt(0, size)
        assert ref is not None and ref.anchor is not None
        blocks.append(ref.anchor.block)
    assert all(b is not None for b in blocks) and blocks == sorted(blocks)
    assert len(set(blocks)) == 3
    assert anchor.latest() == (ledger.checkpoint_note(10), 10)
