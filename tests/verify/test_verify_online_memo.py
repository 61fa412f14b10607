"""Online verdicts share a memo of pure results, and it never answers for other bytes.

Every online context of one ledger that trusts the same log keys, witnesses and CA
certificates shares one memo (a checkpoint's signatures, a certificate chain at a signing
time, a proven receipt), so a service answering many verdicts checks each checkpoint once. A
checkpoint or receipt that differs in any byte is checked afresh and fails, before and after
the genuine one was remembered; what can change (a seal's status) is read for every verdict.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from verify_fixtures import BUSINESS_FIELDS, ENTITY_NAME, ENTITY_USCC, PROVINCE_MR, flip_path

from ledger.cosignature import Cosigner
from ledger.witness import Witness
from ledger.witness_client import WitnessPool
from licence.issuance import Holder
from licence.receipts import ledger_receipts
from licence.seal_history import cert_hash
from licence.trust import licence_with_receipt, online_context, verify_online
from licence.verify import FAILED, TOTAL_PASSED, verify_input
from storage.engine import make_engine


def _file(bundle: dict[str, Any]) -> bytes:
    return json.dumps(bundle, ensure_ascii=False).encode()


def _outcome(report: Any, name: str) -> tuple[str, str]:
    return next((c.status, c.reason) for c in report.checks if c.check == name)


def _forged_signature(bundle: dict[str, Any]) -> dict[str, Any]:
    """The bundle with one bit of its checkpoint's log signature flipped."""
    forged = json.loads(json.dumps(bundle))
    note = forged["receipt"]["checkpoint"]
    line = next(ln for ln in note.split("\n") if ln.startswith("\u2014 "))
    dash, name, sig = line.split(" ")
    raw = bytearray(base64.b64decode(sig))
    raw[-1] ^= 0x01
    forged["receipt"]["checkpoint"] = note.replace(
        line, f"{dash} {name} {base64.b64encode(raw).decode()}"
    )
    return forged


def test_online_contexts_of_one_ledger_share_one_memo(world) -> None:
    assert online_context(world.svc).caches is online_context(world.svc).caches


def test_a_forged_checkpoint_signature_fails_after_the_genuine_one_was_remembered(world) -> None:
    genuine = world.bundle()
    forged = _forged_signature(genuine)
    assert verify_online(world.svc, _file(forged)).verdict != TOTAL_PASSED
    assert verify_online(world.svc, _file(genuine)).verdict == TOTAL_PASSED
    again = verify_online(world.svc, _file(forged))
    assert again.verdict != TOTAL_PASSED
    assert _outcome(again, "checkpoint")[0] == FAILED
    assert verify_online(world.svc, _file(genuine)).verdict == TOTAL_PASSED


def test_an_altered_receipt_fails_online_after_the_genuine_one_was_proven(world) -> None:
    genuine = world.bundle()
    assert verify_online(world.svc, _file(genuine)).verdict == TOTAL_PASSED
    again = verify_online(world.svc, _file(flip_path(genuine)))
    assert _outcome(again, "ledger_inclusion") == (FAILED, "PROOF_INVALID")


def test_a_seal_revoked_after_a_verdict_is_seen_by_the_next_one(world) -> None:
    genuine = _file(world.bundle())
    before = verify_online(world.svc, genuine)
    assert "revoked" not in next(c.en for c in before.checks if c.check == "seal_status")
    world.svc.set_seal_status(world.mr_seal["seal_id"], "revoked", "key compromised")
    after = next(c for c in verify_online(world.svc, genuine).checks if c.check == "seal_status")
    # "now revoked, after signing", or revoked at signing when both fell in the same second
    assert "revoked" in after.en, after.en


def test_a_context_trusting_other_witnesses_does_not_use_their_memo(world, tmp_path: Path) -> None:
    """A note's cosignatures remembered while the log had no witnesses (none count) must not
    answer once the witness that cosigned it is known."""
    ledger = world.svc.ledger
    witness = Witness(
        make_engine(f"sqlite:///{tmp_path / 'witness.db'}"),
        Cosigner("hub-w.test/witness", Ed25519PrivateKey.generate()),
    )
    witness.watch(ledger.origin, ledger.verifier_key())

    def post(_url: str, body: bytes) -> tuple[int, str, str]:
        answer = witness.add_checkpoint(body)
        return answer.status, answer.body, answer.content_type

    pool = WitnessPool(ledger.engine, post=post)
    pool.add("http://hub-w.test/witness", witness.cosigner.verifier().vkey())
    ledger.witnesses = pool
    svc = world.svc
    doc = svc.issue(
        "business_licence", PROVINCE_MR, Holder(ENTITY_USCC, ENTITY_NAME), dict(BUSINESS_FIELDS)
    )
    svc.ledger.sequence()
    svc.attach_receipts(ledger_receipts(svc.ledger))
    data = _file(licence_with_receipt(svc, str(doc["header"]["licence_id"])))
    assert "hub-w.test/witness" in json.loads(data)["receipt"]["checkpoint"]
    ledger.witnesses = None  # a context that knows no witness: the cosignature counts for none
    unwitnessed = online_context(svc)
    assert verify_input(data, unwitnessed).verdict == TOTAL_PASSED
    ledger.witnesses = pool
    witnessed = online_context(svc, witness_quorum=1)
    assert witnessed.caches is not unwitnessed.caches
    report = verify_input(data, witnessed)
    assert report.verdict == TOTAL_PASSED, report.to_text()
    assert "cosigned by hub-w.test/witness" in next(
        c.en for c in report.checks if c.check == "checkpoint"
    )


def test_a_certificate_hash_is_remembered_by_the_certificate_itself(world) -> None:
    pems = [
        str(world.svc.store.seal(s["seal_id"])["cert_pem"]) for s in (world.mr_seal, world.hr_seal)
    ]
    for pem in pems * 2:
        der = x509.load_pem_x509_certificate(pem.encode()).public_bytes(serialization.Encoding.DER)
        assert cert_hash(pem) == hashlib.sha256(der).hexdigest()
    assert cert_hash(pems[0]) != cert_hash(pems[1])
