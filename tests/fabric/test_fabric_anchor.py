"""Anchoring on a real local Fabric network (orderer, peer, loganchor chaincode), and the same
assertions on the embedded anchor: both back ends refuse forks and rolled-back logs alike."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fabrickit import fabric_settings

from hub.settings import Settings
from ledger.anchor import Anchor, AnchorError
from ledger.embedded_anchor import EmbeddedAnchor
from ledger.fabric_anchor import FabricAnchor
from ledger.merkle import MemoryTree
from ledger.note import Checkpoint, Signer, sign_checkpoint
from storage import ledger_store

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
    settings = Settings(home=tmp_path / "hub", **fabric_settings(fabric_network))
    log = Log()
    backend = FabricAnchor.from_settings(settings, log.origin, log.signer.vkey())
    yield backend, log
    backend.close()


@pytest.fixture(params=["embedded", "fabric"])
def any_anchor(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Anchor, Log]]:
    """Each anchor back end, for the same assertions: the embedded table (the default, on
    SQLite) and the chaincode on the local Fabric network."""
    if request.param == "fabric":
        yield request.getfixturevalue("anchor")
        return
    engine = ledger_store.make_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    ledger_store.create_tables(engine)
    yield EmbeddedAnchor(engine), Log()
    engine.dispose()


def anchor_next(backend: Anchor, log: Log, grow: int, last: int | None) -> int:
    log.grow(grow)
    size = log.tree.size
    note, root = log.note(size)
    proof = log.tree.consistency_proof(last, size) if last else []
    ref = backend.anchor(note, size, root, proof)
    assert ref.backend == backend.name and ref.size == size
    backend.verify(ref, note)
    return size


def test_three_checkpoints_then_fork_and_rollback_refused(any_anchor: tuple[Anchor, Log]) -> None:
    backend, log = any_anchor
    assert backend.latest() is None and backend.at_size(3) is None
    refs = []
    last: int | None = None
    for grow in (3, 5, 9):
        log.grow(grow)
        size = log.tree.size
        note, root = log.note(size)
        proof = log.tree.consistency_proof(last, size) if last else []
        refs.append((backend.anchor(note, size, root, proof), note))
        last = size
    for ref, note in refs:  # every anchored checkpoint is on record as anchored
        backend.verify(ref, note)
        found = backend.at_size(ref.size)
        assert found is not None and found[0].reference == ref.reference and found[1] == note
    if backend.name == "fabric":
        blocks = [ref.block for ref, _ in refs]
        assert all(b is not None for b in blocks) and blocks == sorted(blocks)
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
    for i in range(3):
        forked.append(f"forged more {i}".encode())
    note, root = log.note(20, forked.root())  # a larger log that does not extend the anchored
    with pytest.raises(AnchorError, match="consistency proof from size 17 to 20 rejected"):
        backend.anchor(note, 20, root, forked.consistency_proof(17, 20))
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
