"""A verifier's memo of proven receipts never answers for other bytes.

One offline context verifies many licences and remembers which receipts' inclusion proofs held;
a receipt that differs in any byte (path, entry data, note) is proven afresh and fails, before
and after the genuine one was remembered, and the status list receipt it shares with every
licence of the authority is no exception.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from verify_fixtures import anchors, flip_path, resign

from ledger.receipt import Receipt
from licence.status_list import StatusListError, issue_binding
from licence.trust import export_bundle, offline_context
from licence.verify import FAILED, PASSED, TOTAL_PASSED, verify_input
from licence.verify.context import Included


def _file(bundle: dict[str, Any]) -> bytes:
    return json.dumps(bundle, ensure_ascii=False).encode()


def _outcome(report: Any, name: str) -> tuple[str, str]:
    return next((c.status, c.reason) for c in report.checks if c.check == name)


def test_an_altered_receipt_is_proven_afresh_before_and_after_the_genuine_one(world) -> None:
    ctx = offline_context(export_bundle(world.svc), anchors(world.svc))
    genuine = world.bundle()
    forged = flip_path(genuine)
    assert verify_input(_file(forged), ctx).verdict != TOTAL_PASSED
    assert verify_input(_file(genuine), ctx).verdict == TOTAL_PASSED
    again = verify_input(_file(forged), ctx)
    assert again.verdict != TOTAL_PASSED
    assert _outcome(again, "ledger_inclusion") == (FAILED, "PROOF_INVALID")
    assert _outcome(again, "status") == (FAILED, "STATUS_LIST_INVALID")
    assert verify_input(_file(genuine), ctx).verdict == TOTAL_PASSED


def test_a_forged_status_list_receipt_fails_after_the_genuine_one_was_proven(world) -> None:
    ctx = offline_context(export_bundle(world.svc), anchors(world.svc))
    genuine = world.bundle()
    assert verify_input(_file(genuine), ctx).verdict == TOTAL_PASSED
    listed = ctx.status_list_of
    assert listed is not None

    def forged_list(authority: str) -> Receipt | None:
        real = listed(authority)
        assert real is not None and real.path
        bad = bytes([real.path[0][0] ^ 0x01]) + real.path[0][1:]
        return dataclasses.replace(real, path=(bad, *real.path[1:]))

    # the same memo (the same caches), another status list receipt
    forged_ctx = dataclasses.replace(ctx, status_list_of=forged_list)
    assert forged_ctx.caches is ctx.caches
    report = verify_input(_file(genuine), forged_ctx)
    assert _outcome(report, "status") == (FAILED, "STATUS_LIST_INVALID")
    assert report.verdict != TOTAL_PASSED


def test_the_memo_is_bounded() -> None:
    memo = Included(limit=3)
    receipts = [Receipt(i, bytes(32), (), b"note") for i in range(10)]
    for r in receipts:
        memo.add(r)
        assert r in memo
        assert len(memo) <= 3
    assert receipts[0] not in memo


def _issue_entry(**fields: Any) -> bytes:
    entry = {
        "event": "licence.issue",
        "licence_id": "L1",
        "document_digest": "aa" * 32,
        "authority": "A",
        "status_index": 3,
    }
    return json.dumps({**entry, **fields}).encode()


def test_the_issue_entry_memo_answers_each_bytes_for_themselves() -> None:
    # the entry is read once per verification and remembered by its exact bytes: a remembered
    # entry never answers for one that differs in its digest, id or authority
    genuine = issue_binding(_issue_entry())
    assert (genuine.licence_id, genuine.authority, genuine.status_index) == ("L1", "A", 3)
    assert issue_binding(_issue_entry(document_digest="ab" * 32)).document_digest == "ab" * 32
    assert issue_binding(_issue_entry(licence_id="L2")).licence_id == "L2"
    assert issue_binding(_issue_entry(authority="B")).authority == "B"
    assert issue_binding(_issue_entry()) == genuine


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (_issue_entry(event="licence.revoke"), "not for an issue entry"),
        (_issue_entry(licence_id=7), "lacks its licence id"),
        (_issue_entry()[:-1] + b', "authority": "B"}', "duplicate key"),
        (b"not json", "not JSON"),
    ],
)
def test_an_entry_that_is_not_an_issue_binding_is_refused(data: bytes, why: str) -> None:
    issue_binding(_issue_entry())  # a genuine one remembered first
    with pytest.raises(StatusListError, match=why):
        issue_binding(data)


def test_the_certificate_owner_memo_answers_each_certificate_for_itself(world) -> None:
    # the owner (USCC) of a seal certificate is read once per exact PEM: a licence re-sealed
    # with another authority's valid seal is refused after the genuine one was remembered,
    # and the genuine one still passes after it
    ctx = offline_context(export_bundle(world.svc), anchors(world.svc))
    genuine = world.bundle()
    forged = json.loads(json.dumps(genuine))
    # signed with another authority's seal, the header still naming the genuine seal
    forged["licence"] = resign(world.svc, forged["licence"], world.hr_seal)
    assert verify_input(_file(genuine), ctx).verdict == TOTAL_PASSED
    again = verify_input(_file(forged), ctx)
    assert _outcome(again, "seal_signature") == (PASSED, "OK")
    assert _outcome(again, "authority") == (FAILED, "SEAL_AUTHORITY_MISMATCH")
    assert verify_input(_file(genuine), ctx).verdict == TOTAL_PASSED
