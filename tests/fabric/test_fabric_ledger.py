"""The ledger anchored on Fabric (HUB_LEDGER_ANCHOR=fabric): receipts name the anchoring
transaction, and while an organisation's peer is away checkpoints queue and are anchored, in
order, once it is back (issue 11's Fabric fault, on the consortium of issue 33)."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from fabrickit import fabric_settings

import hub.settings
from hub.cli import main
from hub.settings import Settings
from ledger.fabric_anchor import FabricAnchor
from ledger.service import LedgerService
from storage import ledger_store

pytestmark = pytest.mark.services


@pytest.fixture
def open_ledger(
    fabric_network: dict[str, str], tmp_path: Path
) -> Iterator[Callable[[float], tuple[LedgerService, Settings]]]:
    """A ledger (a new log on the chain) anchored on the network, and its settings; the argument
    is how long a Fabric call retries an unreachable peer before the checkpoint stays queued."""
    opened: list[LedgerService] = []

    def open_(retry_seconds: float) -> tuple[LedgerService, Settings]:
        settings = Settings(
            home=tmp_path / "hub",
            key_passphrase="test-passphrase",
            ledger_origin=f"test.hub.local/ledger-{uuid.uuid4().hex[:12]}",
            **fabric_settings(fabric_network, fabric_retry_seconds=retry_seconds),
        )
        opened.append(LedgerService.open(settings))
        return opened[-1], settings

    yield open_
    for svc in opened:
        assert isinstance(svc.anchor, FabricAnchor)
        svc.anchor.close()


def drain(ledger: LedgerService, seconds: float = 180) -> None:
    """Sequence until nothing waits for the anchor, as the background sequencer does every
    interval (a restarted peer rejoins the channel, the client reconnects with gRPC's backoff)."""
    deadline = time.monotonic() + seconds
    while ledger.queued_anchors() and time.monotonic() < deadline:
        assert ledger.sequence() is not None
        time.sleep(0.5)
    assert ledger.queued_anchors() == []


def test_checkpoints_anchor_on_fabric_and_receipts_name_the_transaction(
    open_ledger: Callable[[float], tuple[LedgerService, Settings]],
) -> None:
    ledger, _ = open_ledger(60.0)  # a network just started may still be electing its Raft leader
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

    # a sequencer that stopped after Fabric committed but before it recorded the transaction:
    # the next drain finds the checkpoint on the chain (same note) and records that transaction
    # rather than anchoring it twice (which the chaincode would refuse)
    queue = ledger_store.anchor_queue
    with ledger.engine.begin() as conn:
        conn.execute(queue.update().where(queue.c.size == 12).values(reference=None, block=None))
    assert ledger.queued_anchors() == [12]
    again = ledger.anchor_queued()
    assert again[12].reference == second.anchor.reference and ledger.queued_anchors() == []


@pytest.mark.parametrize("org", ["city", "bureau"])
def test_peer_away_checkpoints_queue_then_anchor_in_order(
    org: str,
    open_ledger: Callable[[float], tuple[LedgerService, Settings]],
    fabric_script: Callable[..., subprocess.CompletedProcess[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Either organisation's peer away (the city's, or the bureau's that the hub speaks to):
    no checkpoint can have both endorsements, so they queue, and are anchored in order once it
    is back. Reads go on meanwhile at the other organisation's peer."""
    ledger, settings = open_ledger(
        3.0
    )  # give up on an unreachable peer after 3 s: the checkpoint queues
    anchor = ledger.anchor
    assert isinstance(anchor, FabricAnchor)
    ledger.append_many([b"before"])
    ledger.sequence()
    drain(ledger)  # anchored (at once, or once a just-started network has its Raft leader)

    fabric_script("stop-peer", org, timeout=120)
    try:
        assert anchor.latest() == (ledger.checkpoint_note(1), 1)  # read at the other peer
        sizes = []
        for batch in range(3):  # the log goes on: signed, committed, waiting for the anchor
            ledger.append_many([f"while away {batch}.{i}".encode() for i in range(batch + 2)])
            signed = ledger.sequence()
            assert signed is not None and signed.anchor is None
            sizes.append(signed.checkpoint.size)
        assert ledger.queued_anchors() == sizes == [3, 6, 10]
        receipt = ledger.receipt(7)
        assert receipt is not None and receipt.anchor is None  # not anchored yet, and says so
        # the operator's command says the same
        monkeypatch.setattr(hub.settings, "_settings", settings)
        ledger.append_many([b"one more"])
        out = CliRunner().invoke(main, ["ledger", "checkpoint"])
        assert out.exit_code == 0 and out.stdout.split("\n")[1] == "11"
        assert out.stderr.startswith(
            "not anchored yet: 4 checkpoint(s) queued for the fabric anchor"
        )
        sizes.append(11)
    finally:
        fabric_script("start-peer", org, timeout=300)

    drain(ledger)  # nothing new to sign: each sequencing anchors what queued, oldest first
    found = [anchor.at_size(size) for size in sizes]
    assert all(f is not None for f in found)  # each queued checkpoint is on the chain,
    for size, f in zip(sizes, found, strict=True):
        assert f is not None and f[1] == ledger.checkpoint_note(size)
    receipt = ledger.receipt(7)
    assert receipt is not None and receipt.anchor is not None and receipt.anchor.size == 11
    anchor.verify(receipt.anchor, receipt.checkpoint)
    # in order: each was anchored on top of the one before (the chaincode checked the
    # consistency proofs), so the chain's blocks rise with the sizes
    blocks = []
    for size in sizes:
        ref = ledger.receipt(0, size)
        assert ref is not None and ref.anchor is not None
        blocks.append(ref.anchor.block)
    assert all(b is not None for b in blocks) and blocks == sorted(blocks)
    assert len(set(blocks)) == 4
    assert anchor.latest() == (ledger.checkpoint_note(11), 11)
