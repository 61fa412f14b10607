"""The consortium of scripts/fabric.sh: the provincial data bureau and a city, each with its own
peer, three Raft orderers. Each anchoring needs both organisations' endorsements; one orderer
(the leader or a follower) may stop while anchoring goes on."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fabric_protos.common import common_pb2
from fabric_protos.msp import identities_pb2
from fabric_protos.peer import transaction_pb2
from fabrickit import fabric, fabric_settings, raft_leader, wait_for

from hub.settings import Settings
from ledger.anchor import AnchorReference
from ledger.fabric_anchor import FabricAnchor
from ledger.fabric_gateway import Gateway
from ledger.merkle import MemoryTree
from ledger.note import Checkpoint, Signer, sign_checkpoint

pytestmark = pytest.mark.services


class Anchoring:
    """One log anchored on the network, checkpoint after checkpoint, as a sequencer does."""

    def __init__(self, settings: Settings) -> None:
        self.origin = f"test.hub.local/consortium-{uuid.uuid4().hex[:12]}"
        self.signer = Signer(self.origin, Ed25519PrivateKey.generate())
        self.tree = MemoryTree()
        self.anchor = FabricAnchor.from_settings(settings, self.origin, self.signer.vkey())
        self.refs: list[AnchorReference] = []
        self.notes: list[bytes] = []

    def next(self, grow: int = 2) -> AnchorReference:
        last = self.tree.size or None
        for _ in range(grow):
            self.tree.append(f"entry {self.tree.size}".encode())
        size = self.tree.size
        note = sign_checkpoint(Checkpoint(self.origin, size, self.tree.root(size)), self.signer)
        proof = self.tree.consistency_proof(last, size) if last else []
        ref = self.anchor.anchor(note, size, self.tree.root(size), proof)
        self.refs.append(ref)
        self.notes.append(note)
        return ref


@pytest.fixture
def anchoring(fabric_network: dict[str, str], tmp_path: Path) -> Iterator[Anchoring]:
    # a minute's retrying covers a Raft election and broadcasting a lost transaction again
    settings = Settings(
        home=tmp_path / "hub", **fabric_settings(fabric_network, fabric_retry_seconds=60.0)
    )
    log = Anchoring(settings)
    yield log
    log.anchor.close()


def endorsers(gateway: Gateway, tx_id: str) -> list[str]:
    """The MSP ids that endorsed a committed transaction, from the peer's qscc."""
    qscc = Gateway(gateway.peers, gateway.tls_ca, gateway.identity, gateway.channel_id, "qscc")
    try:
        raw = qscc.evaluate("GetTransactionByID", gateway.channel_id.encode(), tx_id.encode())
    finally:
        qscc.close()
    processed = transaction_pb2.ProcessedTransaction.FromString(raw)
    assert processed.validationCode == transaction_pb2.TxValidationCode.Value("VALID")
    payload = common_pb2.Payload.FromString(processed.transactionEnvelope.payload)
    tx = transaction_pb2.Transaction.FromString(payload.data)
    action = transaction_pb2.ChaincodeActionPayload.FromString(tx.actions[0].payload).action
    return sorted(
        identities_pb2.SerializedIdentity.FromString(e.endorser).mspid for e in action.endorsements
    )


def test_each_anchoring_is_endorsed_by_the_bureau_and_the_city(
    fabric_network: dict[str, str], anchoring: Anchoring
) -> None:
    assert fabric_network["fabric_msp_id"] == "BureauMSP"
    assert len(fabric_network["fabric_peer"].split(",")) == 2  # the Bureau's and the City's
    ref = anchoring.next()
    assert endorsers(anchoring.anchor.gateway, ref.reference) == ["BureauMSP", "CityMSP"]
    status = fabric("status").stdout
    for process in ("orderer1", "orderer2", "orderer3", "peer-bureau", "peer-city", "chaincode"):
        assert f"{process}: running" in status


def test_anchoring_goes_on_while_the_raft_leader_then_a_follower_stops(
    anchoring: Anchoring,
) -> None:
    anchoring.next()
    errors: list[BaseException] = []
    stop = threading.Event()

    def keep_anchoring() -> None:
        try:
            while not stop.is_set():
                anchoring.next()
        except BaseException as err:  # reported by the test below
            errors.append(err)

    def anchors_more(than: int) -> Callable[[], bool]:
        return lambda: bool(errors) or len(anchoring.refs) >= than + 3

    worker = threading.Thread(target=keep_anchoring, daemon=True)
    worker.start()
    stopped: list[int] = []
    try:
        leader = raft_leader()
        for role in ("leader", "follower"):
            victim = leader if role == "leader" else next(n for n in (1, 2, 3) if n != leader)
            done = len(anchoring.refs)
            fabric("stop-orderer", str(victim), timeout=120)
            stopped.append(victim)
            wait_for(f"anchoring with the {role} orderer{victim} stopped", anchors_more(done))
            assert not errors, errors
            leader = raft_leader()
            assert leader != victim  # the two others elected one of them
            fabric("start-orderer", str(victim), timeout=300)
            stopped.remove(victim)
    finally:
        stop.set()
        worker.join(timeout=180)
        for victim in stopped:
            fabric("start-orderer", str(victim), timeout=300)
    assert not errors, errors
    # every checkpoint on the chain, in order: the blocks rise with the sizes
    blocks = [ref.block for ref in anchoring.refs]
    assert all(b is not None for b in blocks) and blocks == sorted(blocks)
    assert len(set(blocks)) == len(blocks)
    for ref, note in zip(anchoring.refs, anchoring.notes, strict=True):
        anchoring.anchor.verify(ref, note)
    assert anchoring.anchor.latest() == (anchoring.notes[-1], anchoring.tree.size)
