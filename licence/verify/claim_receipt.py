"""Verifying a claim receipt (核验凭证): the same explained report as a licence's.

A claim receipt (made by ``sharing.receipts``) has a sealed licence's shape: salted field
digests, their Merkle root in a signed header (format :data:`RECEIPT_FORMAT`), the platform's
verification seal, and a ``claim.receipt`` entry in the Merkle log. Its policy reuses the
licence checks that apply unchanged (integrity, seal signature, certificate chain, seal status,
checkpoint, anchor, freshness) and adds two of its own: ``identifier`` (the receipt id's form)
and ``ledger_inclusion`` (the receipt's entry is this receipt's, proven in the checkpoint).
Licence-only checks (issuing authority, licence status, validity period) do not apply.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ledger import strict_json
from ledger.merkle import ProofError
from ledger.note import NoteError
from ledger.receipt import Receipt, ReceiptError
from licence.verify.checks_content import check_integrity
from licence.verify.checks_ledger import check_anchor, check_checkpoint, proven_checkpoint
from licence.verify.checks_seal import (
    check_seal_certificate,
    check_seal_signature,
    check_seal_status,
)
from licence.verify.checks_status import check_freshness
from licence.verify.context import Check, VerifyContext, report_time
from licence.verify.policy import Policy, malformed
from licence.verify.results import (
    FAILED,
    INDETERMINATE,
    PASSED,
    CheckResult,
    Report,
    result,
    verdict_of,
)

RECEIPT_FORMAT = "egov-hub/claim-receipt/v1"
RECEIPT_EVENT = "claim.receipt"
RECEIPT_ID = re.compile(r"^CR\d{8}[0-9A-F]{20}$")


def is_claim_receipt(doc: Any) -> bool:
    """Does ``doc`` declare itself a claim receipt (its signed header's format)?"""
    header = doc.get("header") if isinstance(doc, dict) else None
    return isinstance(header, dict) and header.get("format") == RECEIPT_FORMAT


def check_receipt_id(doc: dict[str, Any], _r: Receipt | None, _c: VerifyContext) -> CheckResult:
    """The receipt id is of the platform's form (``CR`` + day + 20 hex digits)."""
    rid = str(doc["header"]["receipt_id"])
    if RECEIPT_ID.match(rid):
        return result("identifier", PASSED, "OK", "receipt id is well formed", "凭证编号格式正确")
    return result(
        "identifier",
        FAILED,
        "RECEIPT_ID_MALFORMED",
        "the receipt id is not of the platform's form",
        "核验凭证编号格式错误",
    )


def check_receipt_ledger(
    doc: dict[str, Any], receipt: Receipt | None, ctx: VerifyContext
) -> CheckResult:
    """The ledger entry is this receipt's ``claim.receipt`` event, proven in its checkpoint."""
    name = "ledger_inclusion"
    if receipt is None:
        return result(
            name,
            INDETERMINATE,
            "NO_RECEIPT",
            "no ledger receipt yet (not yet sequenced, or not supplied): fetch the receipt "
            "again after the next checkpoint",
            "尚无上链存证回执（尚未记账，稍后重新获取凭证）",
        )
    try:
        cp = proven_checkpoint(receipt, ctx)
    except (ReceiptError, ProofError, NoteError, ValueError, KeyError) as exc:
        return result(
            name,
            FAILED,
            "PROOF_INVALID",
            f"the inclusion proof does not hold: {exc}",
            "存证证明无效（路径被伪造）",
        )
    assert receipt.data is not None  # proven_checkpoint checked it
    try:
        entry = strict_json.loads(receipt.data)
    except ValueError:
        entry = {}
    header = doc["header"]
    if (
        not isinstance(entry, dict)
        or entry.get("event") != RECEIPT_EVENT
        or (entry.get("receipt_id"), entry.get("document_digest"))
        != (header["receipt_id"], header["document_digest"])
    ):
        return result(
            name,
            FAILED,
            "ENTRY_MISMATCH",
            "the ledger entry is for another document",
            "存证记录与核验凭证不符",
        )
    return result(
        name,
        PASSED,
        "OK",
        f"receipt recorded at log index {receipt.index} (tree size {cp.size})",
        f"核验凭证已上链存证（第{receipt.index}条）",
    )


RECEIPT_POLICY: dict[str, Check] = {
    "identifier": check_receipt_id,
    "integrity": check_integrity,
    "seal_signature": check_seal_signature,
    "seal_certificate": check_seal_certificate,
    "seal_status": check_seal_status,
    "ledger_inclusion": check_receipt_ledger,
    "checkpoint": check_checkpoint,
    "anchor": check_anchor,
}
OFFLINE_RECEIPT_POLICY: dict[str, Check] = {**RECEIPT_POLICY, "freshness": check_freshness}


def receipt_policy(
    policy: Mapping[str, Check] | None, ctx: VerifyContext
) -> Mapping[str, Check] | None:
    """The receipt checks of the names a (licence) policy lists, e.g. ``--policy
    integrity,seal_signature``; None (the receipt's default policy) when it names none."""
    if policy is None:
        return None
    known = {**OFFLINE_RECEIPT_POLICY}
    chosen = {n: known[n] for n in policy if n in known}
    return chosen or None


def _shape(doc: Any) -> str | None:
    """What a claim receipt lacks, or None."""
    header, sig, fields = doc.get("header"), doc.get("signature"), doc.get("fields")
    if not isinstance(header, dict) or not isinstance(sig, dict) or not isinstance(fields, dict):
        return "a claim receipt has header, signature and fields objects"
    missing = [
        k
        for k in ("receipt_id", "document_digest", "digest_alg", "seal_id", "signed_at")
        if not isinstance(header.get(k), str)
    ]
    missing += [f"signature.{k}" for k in ("algorithm", "value", "certificate") if k not in sig]
    for fname, entry in fields.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("digest"), str):
            missing.append(f"digest of {fname}")
    return f"claim receipt lacks {', '.join(missing)}" if missing else None


def _summary(doc: Mapping[str, Any]) -> dict[str, Any]:
    """What staff read next to the verdict: who asked, why, which claims, the answers."""
    out: dict[str, Any] = {}
    for name in ("client", "purpose", "as_of", "answered_at", "claims"):
        entry = doc["fields"].get(name)
        if isinstance(entry, dict) and "value" in entry:
            out[name] = entry["value"]
    out["seal_id"] = doc["header"].get("seal_id")
    out["signed_at"] = doc["header"].get("signed_at")
    return out


def verify_claim_receipt(
    doc: dict[str, Any],
    receipt: Receipt | None,
    ctx: VerifyContext,
    policy: Mapping[str, Check] | None = None,
) -> Report:
    """Run the receipt policy (offline: with freshness); TOTAL_PASSED only when all passed."""
    problem = _shape(doc)
    if problem is not None:
        return malformed(problem, kind="claim-receipt", zh="核验凭证格式错误（缺少内容）")
    chosen = policy or (OFFLINE_RECEIPT_POLICY if ctx.offline else RECEIPT_POLICY)
    results: list[CheckResult] = Policy(chosen).run(doc, receipt, ctx)
    rid = str(doc["header"]["receipt_id"])
    return Report(
        verdict_of(results), results, "claim-receipt", rid, _summary(doc), **report_time(ctx)
    )
