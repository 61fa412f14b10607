"""The hub's C2SP tlog-witness: every answer the specification defines, atomic
check-and-persist, and the evidence kept when a log shows two histories."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.cosignature import Cosigner, add_cosignatures, cosignatures
from ledger.merkle import MemoryTree
from ledger.note import Checkpoint, Signer, sign_checkpoint
from ledger.witness import SIZE_TYPE, Witness, format_request
from storage.engine import make_engine

ORIGIN = "hub-b.example.gov.cn/log"


class Log:
    """A log that grows and signs checkpoints (and can be made to fork)."""

    def __init__(self, signer: Signer | None = None, origin: str = ORIGIN) -> None:
        self.origin = origin
        self.signer = signer or Signer(origin, Ed25519PrivateKey.generate())
        self.tree = MemoryTree()

    def grow(self, n: int, tag: bytes = b"e") -> None:
        for i in range(n):
            self.tree.append(tag + str(self.tree.size + i).encode())

    def note(self, size: int | None = None) -> bytes:
        size = self.tree.size if size is None else size
        return sign_checkpoint(Checkpoint(self.origin, size, self.tree.root(size)), self.signer)

    def request(self, old: int, size: int | None = None) -> bytes:
        size = self.tree.size if size is None else size
        proof = self.tree.consistency_proof(old, size) if 0 < old < size else []
        return format_request(old, proof, self.note(size))


@pytest.fixture
def witness(tmp_path: Path) -> Witness:
    engine = make_engine(f"sqlite:///{tmp_path / 'witness.db'}")
    return Witness(engine, Cosigner("hub-a.example.gov.cn/witness", Ed25519PrivateKey.generate()))


@pytest.fixture
def log(witness: Witness) -> Log:
    log = Log()
    witness.watch(ORIGIN, log.signer.vkey())
    log.grow(5)
    return log


def test_first_checkpoint_then_a_consistent_one_are_cosigned(witness: Witness, log: Log) -> None:
    first = witness.add_checkpoint(log.request(0))
    assert first.status == 200 and first.body.startswith("\u2014 hub-a.example.gov.cn/witness ")
    cosigned = add_cosignatures(log.note(), first.body)
    assert [c.name for c in cosignatures(cosigned, [witness.cosigner.verifier()])] == [
        "hub-a.example.gov.cn/witness"
    ]
    log.grow(7)
    second = witness.add_checkpoint(log.request(5))
    assert second.status == 200
    assert [(w.origin, w.size) for w in witness.logs()] == [(ORIGIN, 12)]
    # the same checkpoint again (old = size, same root) is cosigned again
    assert witness.add_checkpoint(log.request(12)).status == 200


def test_unknown_origin_is_404(witness: Witness) -> None:
    stranger = Log(Signer(ORIGIN, Ed25519PrivateKey.generate()))
    stranger.grow(3)
    other = Witness(witness.engine, witness.cosigner)
    answer = other.add_checkpoint(stranger.request(0))
    assert answer.status == 404


def test_a_checkpoint_not_signed_by_the_logs_key_is_403(witness: Witness, log: Log) -> None:
    impostor = Log(Signer(ORIGIN, Ed25519PrivateKey.generate()))  # same name, other key
    impostor.tree = log.tree
    assert witness.add_checkpoint(impostor.request(0)).status == 403
    assert witness.logs()[0].size is None  # nothing cosigned, nothing stored


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"old 1\n",  # no blank line, no checkpoint
        b"new 0\n\n",
        b"old 01\n\nx",
        b"old -1\n\nx",
        b"old 0\nnot base64!\n\nx",
        b"old 0\n" + b"AAAA\n" * 64 + b"\nx",  # more than 63 proof lines
        b"old 0\n\nnot a note",
    ],
)
def test_a_malformed_request_is_400(witness: Witness, log: Log, body: bytes) -> None:
    answer = witness.add_checkpoint(body)
    assert answer.status == 400 and answer.body.startswith("malformed request")


def test_an_old_size_beyond_the_checkpoint_is_400(witness: Witness, log: Log) -> None:
    assert witness.add_checkpoint(format_request(6, [], log.note())).status == 400


def test_a_wrong_old_size_is_409_with_the_size_cosigned(witness: Witness, log: Log) -> None:
    assert witness.add_checkpoint(log.request(0)).status == 200
    log.grow(3)
    answer = witness.add_checkpoint(log.request(0))  # the log forgot what the witness saw
    assert (answer.status, answer.body, answer.content_type) == (409, "5\n", SIZE_TYPE)
    assert witness.add_checkpoint(log.request(5)).status == 200


def test_a_proof_that_does_not_hold_is_422_and_nothing_moves(witness: Witness, log: Log) -> None:
    assert witness.add_checkpoint(log.request(0)).status == 200
    log.grow(3)
    proof = log.tree.consistency_proof(5, 8)
    proof[0] = bytes([proof[0][0] ^ 1]) + proof[0][1:]
    answer = witness.add_checkpoint(format_request(5, proof, log.note()))
    assert answer.status == 422
    assert witness.logs()[0].size == 5
    # the proof from size 0 must be empty
    fresh = Log(origin="hub-c.example.gov.cn/log")
    fresh.grow(2)
    witness.watch(fresh.origin, fresh.signer.vkey())
    assert witness.add_checkpoint(format_request(0, [b"\0" * 32], fresh.note())).status == 422
    assert witness.add_checkpoint(fresh.request(0)).status == 200


def test_a_fork_is_refused_and_its_evidence_kept_once(witness: Witness, log: Log) -> None:
    assert witness.add_checkpoint(log.request(0)).status == 200
    fork = Log(log.signer)  # the same log key signs another history of the same size
    fork.grow(5, tag=b"forged")
    answer = witness.add_checkpoint(fork.request(5))
    assert answer.status == 409 and "different root" in answer.body
    assert witness.add_checkpoint(fork.request(5)).status == 409  # replayed
    (kept,) = witness.evidence(ORIGIN)
    assert kept["kind"] == "fork" and kept["size"] == 5
    assert kept["note"] == fork.note() and kept["cosigned_note"].startswith(log.note())
    assert witness.logs()[0].size == 5


def test_a_smaller_tree_than_cosigned_is_refused_and_kept(witness: Witness, log: Log) -> None:
    assert witness.add_checkpoint(log.request(0)).status == 200
    answer = witness.add_checkpoint(log.request(0, size=3))
    assert (answer.status, answer.body) == (409, "5\n")
    assert [e["kind"] for e in witness.evidence()] == ["rollback"]


def test_check_and_persist_are_atomic(witness: Witness, log: Log) -> None:
    # the specification's race: request A (size 8) is checked, request B (size 12) is
    # checked, stored and answered, then A would store 8 over 12. A must get 409.
    assert witness.add_checkpoint(log.request(0)).status == 200
    log.grow(3)
    request_a = log.request(5)
    log.grow(4)
    request_b = log.request(5)
    answers = []
    raced = []

    class Racing(Cosigner):
        def cosign(self, body: bytes, timestamp: int) -> str:
            if not raced:  # between A's check and A's write, B runs to completion
                raced.append(True)
                answers.append(witness.add_checkpoint(request_b))
            return super().cosign(body, timestamp)

    witness.cosigner = Racing(witness.cosigner.name, Ed25519PrivateKey.generate())
    answer_a = witness.add_checkpoint(request_a)
    assert answers[0].status == 200
    assert (answer_a.status, answer_a.body) == (409, "12\n")
    assert witness.logs()[0].size == 12
