"""Online verdicts share a memo of pure results, and it never answers for other bytes.

Every online context of one ledger that trusts the same log keys, witnesses and CA
certificates shares one memo (a checkpoint's signatures, a certificate chain at a signing
time, a proven receipt), so a service answering many verdicts checks each checkpoint once. A
checkpoint or receipt that differs in any byte is checked afresh and fails, before and after
the genuine one was remembered; what can change (a seal's status) is read for every verdict.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from licence.trust import online_context, verify_online
from licence.verify import FAILED, TOTAL_PASSED


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


def _flip_path(bundle: dict[str, Any]) -> dict[str, Any]:
    forged = json.loads(json.dumps(bundle))
    first = bytearray.fromhex(forged["receipt"]["path"][0])
    first[0] ^= 0x01
    forged["receipt"]["path"][0] = first.hex()
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
    again = verify_online(world.svc, _file(_flip_path(genuine)))
    assert _outcome(again, "ledger_inclusion") == (FAILED, "PROOF_INVALID")


def test_a_seal_revoked_after_a_verdict_is_seen_by_the_next_one(world) -> None:
    genuine = _file(world.bundle())
    before = verify_online(world.svc, genuine)
    assert "revoked" not in next(c.en for c in before.checks if c.check == "seal_status")
    world.svc.set_seal_status(world.mr_seal["seal_id"], "revoked", "key compromised")
    after = next(c for c in verify_online(world.svc, genuine).checks if c.check == "seal_status")
    # "now revoked, after signing", or revoked at signing when both fell in the same second
    assert "revoked" in after.en, after.en
