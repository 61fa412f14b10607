"""End-to-end anchoring on a real local Fabric network (orderer, peer, loganchor chaincode)."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.settings import Settings
from ledger.anchor import AnchorError
from ledger.fabric_anchor import FabricAnchor
from ledger.merkle import MemoryTree
from ledger.note import Checkpoint, Signer, sign_checkpoint

pytestmark = pytest.mark.services


class Log:
    """A small transparency log whose checkpoints we anchor."""

    def __init__(self) -> None:
        self.origin = f"test.hub.local/fabric-{uuid.uuid4().hex[:12]}"
        self.signer = Signer(self.origin, Ed25519PrivateKey.generate())
        self.tree = MemoryTree()

    def grow(self, n: int) -> None:
        for _ in range(n):
            self.tree.append(f"entry {self.tree.size}".encode())

    def note(self, size: int, root: bytes | None = None) -> tuple[bytes, bytes]:
        root = root if root is not None else self.tree.root(size)
        return sign_checkpoint(Checkpoint(self.origin, size, root), self.signer), root


@pytest.fixture
def anchor(fabric_network: dict[str, str], tmp_path: Path) -> Iterator[tuple[FabricAnchor, Log]]:
    settings = Settings(
        home=tmp_path / "hub",
        ledger_anchor="fabric",
        fabric_peer=fabric_network["fabric_peer"],
        fabric_channel=fabric_network["fabric_channel"],
        fabric_chaincode=fabric_network["fabric_chaincode"],
        fabric_msp_id=fabric_network["fabric_msp_id"],
        fabric_tls_ca=Path(fabric_network["fabric_tls_ca"]),
        fabric_cert=Path(fabric_network["fabric_cert"]),
        fabric_key=Path(fabric_network["fabric_key"]),
    )
    log = Log()
    backend = FabricAnchor.from_settings(settings, log.origin, log.signer.vkey())
    yield backend, log
    backend.close()


def anchor_next(backend: FabricAnchor, log: Log, grow: int, last: int | None) -> int:
    log.grow(grow)
    size = log.tree.size
    note, root = log.note(size)
    proof = log.tree.consistency_proof(last, size) if last else []
    ref = backend.anchor(note, size, root, proof)
    assert ref.backend == "fabric" and ref.size == size and ref.block is not None
    backend.verify(ref, note)
    return size


def test_three_checkpoints_then_fork_and_rollback_refused(
    anchor: tuple[FabricAnchor, Log],
) -> None:
    backend, log = anchor
    assert backend.latest() is None
    refs = []
    last: int | None = None
    for grow in (3, 5, 9):
        log.grow(grow)
        size = log.tree.size
        note, root = log.note(size)
        proof = log.tree.consistency_proof(last, size) if last else []
        refs.append((backend.anchor(note, size, root, proof), note))
        last = size
    for ref, note in refs:  # every anchored checkpoint is on the chain as anchored
        backend.verify(ref, note)
    latest = backend.latest()
    assert latest is not None and latest[1] == 17 and latest[0] == refs[-1][1]
    with pytest.raises(AnchorError, match="differs"):
        backend.verify(refs[0][0], refs[1][1])

    forked = MemoryTree()
    for i in range(17):
        forked.append(f"forged {i}".encode())
    note, root = log.note(17, forked.root())
    with pytest.raises(AnchorError, match="fork detected"):
        backend.anchor(note, 17, root, [])
    note, root = log.note(8)
    with pytest.raises(AnchorError, match="not larger than the anchored size 17"):
        backend.anchor(note, 8, root, [])
    assert backend.latest() == (refs[-1][1], 17)


def test_anchoring_survives_orderer_and_peer_restart(
    anchor: tuple[FabricAnchor, Log],
    fabric_script: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    backend, log = anchor
    size = anchor_next(backend, log, 4, None)
    fabric_script("restart", timeout=300)
    # The client retries UNAVAILABLE while the peer reconnects and Raft re-elects its leader.
    size = anchor_next(backend, log, 6, size)
    size = anchor_next(backend, log, 1, size)
    assert backend.latest() is not None and backend.latest()[1] == size  # type: ignore[index]
