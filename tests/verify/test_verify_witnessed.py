"""Verification with witnesses: the report names who cosigned a receipt's checkpoint, a
policy can require k of the log's known witnesses (online, and offline from the signed trust
bundle), and an altered cosignature fails."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from verify_fixtures import BUSINESS_FIELDS, ENTITY_NAME, ENTITY_USCC, PROVINCE_MR, anchors, result

from ledger.cosignature import Cosigner
from ledger.witness import Witness
from ledger.witness_client import WitnessPool
from licence.issuance import Holder
from licence.receipts import ledger_receipts
from licence.trust import export_bundle, licence_with_receipt, offline_context, online_context
from licence.verify import INDETERMINATE, TOTAL_PASSED, verify_input
from storage.engine import make_engine


def _witnessed(world, tmp_path: Path, name: str = "hub-a.test/witness") -> Witness:
    """A peer hub's witness (its own store) watching the world's log, and the log asking it."""
    ledger = world.svc.ledger
    witness = Witness(
        make_engine(f"sqlite:///{tmp_path / (name.replace('/', '_') + '.db')}"),
        Cosigner(name, Ed25519PrivateKey.generate()),
    )
    witness.watch(ledger.origin, ledger.verifier_key())
    peers = world.__dict__.setdefault("peers", {})
    peers[f"http://{name}/add-checkpoint"] = witness

    def post(url: str, body: bytes) -> tuple[int, str, str]:  # each URL to its witness
        answer = peers[url].add_checkpoint(body)
        return answer.status, answer.body, answer.content_type

    ledger.witnesses = WitnessPool(ledger.engine, post=post)  # its peers are in the store
    ledger.witnesses.add(f"http://{name}", witness.cosigner.verifier().vkey())
    return witness


def _issue(world) -> str:
    svc = world.svc
    doc = svc.issue(
        "business_licence", PROVINCE_MR, Holder(ENTITY_USCC, ENTITY_NAME), dict(BUSINESS_FIELDS)
    )
    svc.ledger.sequence()
    svc.attach_receipts(ledger_receipts(svc.ledger))
    return str(doc["header"]["licence_id"])


def _bytes(obj) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode()


def test_the_report_names_the_witness_and_a_quorum_holds(world, tmp_path: Path) -> None:
    _witnessed(world, tmp_path)
    lid = _issue(world)
    data = _bytes(licence_with_receipt(world.svc, lid))
    online = verify_input(data, online_context(world.svc, witness_quorum=1))
    assert online.verdict == TOTAL_PASSED, online.to_text()
    assert "cosigned by hub-a.test/witness" in result(online, "checkpoint").en
    bundle = export_bundle(world.svc)
    assert len(bundle["witnesses"]) == 1  # signed with the rest of the bundle
    offline = verify_input(data, offline_context(bundle, anchors(world.svc), witness_quorum=1))
    assert offline.verdict == TOTAL_PASSED, offline.to_text()


def test_a_checkpoint_cosigned_by_too_few_known_witnesses_is_indeterminate(
    world, tmp_path: Path
) -> None:
    old = _bytes(world.bundle())  # sequenced before the log had witnesses
    _witnessed(world, tmp_path)
    _witnessed(world, tmp_path, "hub-c.test/witness")
    lid = _issue(world)
    ctx = online_context(world.svc, witness_quorum=2)
    assert verify_input(_bytes(licence_with_receipt(world.svc, lid)), ctx).verdict == TOTAL_PASSED
    for data, cosigners in ((old, 0),):
        report = verify_input(data, online_context(world.svc, witness_quorum=1))
        check = result(report, "checkpoint")
        assert (check.status, check.reason) == (INDETERMINATE, "NOT_WITNESSED")
        assert f"cosigned by {cosigners} of 2 known witnesses" in check.en
        assert report.verdict != TOTAL_PASSED


def test_an_altered_cosignature_fails_the_checkpoint(world, tmp_path: Path) -> None:
    _witnessed(world, tmp_path)
    lid = _issue(world)
    doc = licence_with_receipt(world.svc, lid)
    note = doc["receipt"]["checkpoint"]
    line = next(ln for ln in note.split("\n") if ln.startswith("\u2014 hub-a.test/witness "))
    raw = bytearray(base64.b64decode(line.split(" ")[2]))
    raw[20] ^= 1
    forged = line.split(" ")[0] + " " + line.split(" ")[1] + " " + base64.b64encode(raw).decode()
    doc["receipt"]["checkpoint"] = note.replace(line, forged)
    report = verify_input(_bytes(doc), online_context(world.svc))
    check = result(report, "checkpoint")
    assert (check.status, check.reason) == ("FAILED", "COSIGNATURE_INVALID")
