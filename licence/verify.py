"""Verifying a sealed licence: independent checks composed by a policy, one explained report.

Each check returns PASSED / FAILED / INDETERMINATE with a reason code and a plain explanation in
Chinese and English (ETSI / EU DSS vocabulary). A policy names the checks that must pass; an empty
policy is refused, so nothing passes by default. This module holds the checks the demo needs
(identifier, integrity, seal signature, ledger inclusion, status, validity period); the verifier
issue extends it (certificate chain, seal status, anchors, PDF, offline trust bundles).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ledger.receipt import Receipt, ReceiptError, verify_receipt
from licence import document
from licence.signers import SignatureError
from schemas import licence_id

PASSED, FAILED, INDETERMINATE = "PASSED", "FAILED", "INDETERMINATE"
STATUS_ZH = {
    "revoked": "已吊销",
    "suspended": "已暂扣",
    "expired": "已失效",
    "superseded": "已变更",
}


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check, explained."""

    check: str
    status: str
    reason: str
    en: str
    zh: str


@dataclass(frozen=True)
class VerifyContext:
    """What the checks may consult: trusted log keys and an online status lookup."""

    log_keys: Sequence[str]
    status_of: Callable[[str], Mapping[str, Any] | None] | None = None
    today: dt.date = field(default_factory=dt.date.today)


Check = Callable[[dict[str, Any], Receipt | None, VerifyContext], CheckResult]


def check_identifier(doc: dict[str, Any], _r: Receipt | None, _c: VerifyContext) -> CheckResult:
    result = licence_id.validate(doc["header"]["licence_id"])
    if result.valid:
        return CheckResult(
            "identifier", PASSED, "OK", "identifier is well formed", "证照标识校验通过"
        )
    return CheckResult(
        "identifier", FAILED, f"ID_{result.reason}", result.explanation, "证照标识校验失败"
    )


def check_integrity(doc: dict[str, Any], _r: Receipt | None, _c: VerifyContext) -> CheckResult:
    header = doc["header"]
    try:
        document.check_integrity(doc["fields"], header["document_digest"], header["digest_alg"])
    except document.IntegrityError as exc:
        return CheckResult("integrity", FAILED, "DIGEST_MISMATCH", str(exc), "证照内容被篡改")
    return CheckResult("integrity", PASSED, "OK", "field digests match", "证照内容完整")


def check_seal_signature(doc: dict[str, Any], _r: Receipt | None, _c: VerifyContext) -> CheckResult:
    from licence.service import check_sealed

    try:
        check_sealed(doc)
    except document.IntegrityError as exc:
        return CheckResult(
            "seal_signature", FAILED, "SIGNED_DATA_MISMATCH", str(exc), "签章数据不符"
        )
    except (SignatureError, ValueError) as exc:
        return CheckResult(
            "seal_signature", FAILED, "SIG_CRYPTO_FAILURE", str(exc), "电子印章签名无效"
        )
    return CheckResult(
        "seal_signature", PASSED, "OK", "seal signature verifies", "电子印章签名有效"
    )


def check_ledger(doc: dict[str, Any], receipt: Receipt | None, ctx: VerifyContext) -> CheckResult:
    if receipt is None:
        return CheckResult(
            "ledger_inclusion", INDETERMINATE, "NO_RECEIPT", "not yet sequenced", "尚未上链存证"
        )
    try:
        verify_receipt(receipt, ctx.log_keys)
        entry = json.loads(receipt.data or b"{}")
    except (ReceiptError, ValueError) as exc:
        return CheckResult("ledger_inclusion", FAILED, "PROOF_INVALID", str(exc), "存证证明无效")
    header = doc["header"]
    if (entry.get("licence_id"), entry.get("document_digest")) != (
        header["licence_id"],
        header["document_digest"],
    ):
        return CheckResult(
            "ledger_inclusion",
            FAILED,
            "ENTRY_MISMATCH",
            "ledger entry is for another document",
            "存证记录与证照不符",
        )
    return CheckResult(
        "ledger_inclusion", PASSED, "OK", f"included at index {receipt.index}", "已上链存证"
    )


def check_status(doc: dict[str, Any], _r: Receipt | None, ctx: VerifyContext) -> CheckResult:
    row = ctx.status_of(doc["header"]["licence_id"]) if ctx.status_of else None
    if row is None:
        return CheckResult(
            "status", INDETERMINATE, "STATUS_UNKNOWN", "status not available", "无法获取状态"
        )
    status = row["status"]
    if status == "valid":
        return CheckResult("status", PASSED, "OK", "licence is valid", "证照有效")
    when = row.get("updated_at")
    day = when.date().isoformat() if hasattr(when, "date") else str(when or "")
    text = row.get("reason_text") or ""
    return CheckResult(
        "status",
        FAILED,
        status.upper(),
        f"{status} on {day}: {text}",
        f"{STATUS_ZH.get(status, status)}（{day}，{text}）",
    )


def check_validity(doc: dict[str, Any], _r: Receipt | None, ctx: VerifyContext) -> CheckResult:
    end = doc["fields"].get("证照有效期截止日期", {}).get("value")
    if not end or end == "长期":
        return CheckResult("validity_period", PASSED, "OK", "long-term validity", "长期有效")
    end_date = dt.date(int(end[:4]), int(end[4:6]), int(end[6:8]))
    if end_date < ctx.today:
        return CheckResult(
            "validity_period", FAILED, "EXPIRED", f"expired {end_date}", "已过有效期"
        )
    return CheckResult("validity_period", PASSED, "OK", f"valid until {end_date}", "在有效期内")


DEFAULT_POLICY: dict[str, Check] = {
    "identifier": check_identifier,
    "integrity": check_integrity,
    "seal_signature": check_seal_signature,
    "ledger_inclusion": check_ledger,
    "status": check_status,
    "validity_period": check_validity,
}


@dataclass(frozen=True)
class Report:
    """The overall verdict and every check's result."""

    verdict: str
    checks: list[CheckResult]

    def failed(self) -> list[CheckResult]:
        return [c for c in self.checks if c.status == FAILED]

    def to_text(self) -> str:
        lines = [f"verdict: {self.verdict}"]
        for c in self.checks:
            lines.append(f"  {c.status:<13} {c.check:<17} {c.reason:<20} {c.zh} / {c.en}")
        return "\n".join(lines)


def verify(
    doc: dict[str, Any],
    receipt: Receipt | None,
    ctx: VerifyContext,
    policy: Mapping[str, Check] | None = None,
) -> Report:
    """Run every check of ``policy``; TOTAL_PASSED only when all of them passed."""
    checks = DEFAULT_POLICY if policy is None else policy
    if not checks:
        raise ValueError("an empty verification policy would pass anything: name the checks")
    results = [check(doc, receipt, ctx) for check in checks.values()]
    if any(r.status == FAILED for r in results):
        verdict = "TOTAL_FAILED"
    elif all(r.status == PASSED for r in results):
        verdict = "TOTAL_PASSED"
    else:
        verdict = "INDETERMINATE"
    return Report(verdict, results)
