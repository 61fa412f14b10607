"""Policies: which checks must hold, and the runner that applies one to a licence.

A policy is a :class:`Policy`, an ordered mapping of check names to checks; an empty one is
refused (it would pass anything). ``verify`` checks the licence's shape, runs every check of the
policy and folds the results into one :class:`Report`: a check that cannot read what it needs
fails on its own (``MALFORMED``), never the whole verification.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from ledger.receipt import Receipt
from licence.verify.checks_content import check_identifier, check_integrity
from licence.verify.checks_ledger import check_anchor, check_checkpoint, check_ledger
from licence.verify.checks_seal import (
    check_authority,
    check_seal_certificate,
    check_seal_signature,
    check_seal_status,
)
from licence.verify.checks_status import (
    check_freshness,
    check_status,
    check_status_list,
    check_validity,
)
from licence.verify.context import VALIDITY_END, Check, VerifyContext, field_value, report_time
from licence.verify.results import (
    FAILED,
    TOTAL_FAILED,
    CheckResult,
    MalformedLicenceError,
    Report,
    result,
    verdict_of,
)
from schemas import licence_id


class Policy(Mapping[str, Check]):
    """Checks that must all hold, by name, in the order they are reported.

    An empty policy is refused: it would pass anything. A policy is a read-only mapping, so
    ``{**DEFAULT_POLICY, **policy_of(["status_list"])}`` composes two.
    """

    __slots__ = ("_checks",)

    def __init__(self, checks: Mapping[str, Check]) -> None:
        if not checks:
            raise ValueError("an empty verification policy would pass anything: name the checks")
        self._checks = dict(checks)

    def __getitem__(self, name: str) -> Check:
        return self._checks[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._checks)

    def __len__(self) -> int:
        return len(self._checks)

    def __repr__(self) -> str:
        return f"Policy({', '.join(self._checks)})"

    def run(
        self, doc: dict[str, Any], receipt: Receipt | None, ctx: VerifyContext
    ) -> list[CheckResult]:
        """Every check's result, in order; a check that cannot read what it needs (a missing
        key, a wrong type) fails on its own with ``MALFORMED``."""
        results = []
        for check_name, check in self._checks.items():
            try:
                results.append(check(doc, receipt, ctx))
            except (
                KeyError,
                TypeError,
                ValueError,
                AttributeError,
                ArithmeticError,
                licence_id.LicenceIdError,
            ):
                results.append(
                    result(
                        check_name,
                        FAILED,
                        "MALFORMED",
                        "cannot read what this check needs: a part of the licence is missing or "
                        "has the wrong form",
                        "证照数据格式错误（缺少内容或格式不对）",
                    )
                )
        return results


# the seal alone: what the content says and who sealed it
SEAL_POLICY = Policy({"integrity": check_integrity, "seal_signature": check_seal_signature})
# every check a clerk sees online
DEFAULT_POLICY = Policy(
    {
        "identifier": check_identifier,
        "integrity": check_integrity,
        "seal_signature": check_seal_signature,
        "seal_certificate": check_seal_certificate,
        "seal_status": check_seal_status,
        "authority": check_authority,
        "ledger_inclusion": check_ledger,
        "checkpoint": check_checkpoint,
        "anchor": check_anchor,
        "status": check_status,
        "validity_period": check_validity,
    }
)
# offline, also how old the trust bundle is
OFFLINE_POLICY = Policy({**DEFAULT_POLICY, "freshness": check_freshness})
# the cryptographic core (integrity, seal, receipt, checkpoint): a detail of the benchmark
CORE_POLICY = Policy(
    {
        "integrity": check_integrity,
        "seal_signature": check_seal_signature,
        "ledger_inclusion": check_ledger,
        "checkpoint": check_checkpoint,
    }
)
# status_list on its own (``--policy ...,status_list``): only what the log proves, "as of
# checkpoint N"; the default policies use it inside ``status``
CHECKS = Policy({**OFFLINE_POLICY, "status_list": check_status_list})


def policy_of(names: Sequence[str]) -> Policy:
    """A policy from check names; unknown names and an empty list are refused."""
    if not names:
        raise ValueError("an empty verification policy would pass anything: name the checks")
    unknown = [n for n in names if n not in CHECKS]
    if unknown:
        raise ValueError(f"unknown checks {', '.join(unknown)}; known: {', '.join(CHECKS)}")
    return Policy({n: CHECKS[n] for n in names})


def _summary(doc: Mapping[str, Any]) -> dict[str, Any]:
    """Non-personal facts a staff member needs next to the verdict."""
    keys = ("证照名称", "证照颁发机构", "证照颁发日期", VALIDITY_END, "证照编号")
    out: dict[str, Any] = {}
    for k in keys:
        v = field_value(doc, k)
        if v is not None:
            out[k] = v
    out["seal_id"] = doc["header"].get("seal_id")
    out["signed_at"] = doc["header"].get("signed_at")
    return out


def verify(
    doc: dict[str, Any],
    receipt: Receipt | None,
    ctx: VerifyContext,
    policy: Mapping[str, Check] | None = None,
    kind: str = "sealed",
) -> Report:
    """Run every check of ``policy``; TOTAL_PASSED only when all of them passed."""
    if policy is None:
        policy = OFFLINE_POLICY if ctx.offline else DEFAULT_POLICY
    checks = policy if isinstance(policy, Policy) else Policy(policy)  # refuses an empty one
    try:
        _require_shape(doc)
    except MalformedLicenceError as exc:
        return malformed(str(exc))
    if receipt is None and ctx.receipt_of is not None and "ledger_inclusion" in checks:
        receipt = ctx.receipt_of(str(doc["header"]["licence_id"]))
    results = checks.run(doc, receipt, ctx)
    lid = str(doc["header"].get("licence_id"))
    return Report(verdict_of(results), results, kind, lid, _summary(doc), **report_time(ctx))


def _shape_holds(doc: Any) -> bool:
    """What ``_require_shape`` asks, as one quick test of the usual (plain JSON) case."""
    if type(doc) is not dict:
        return False
    header, sig, fields = doc.get("header"), doc.get("signature"), doc.get("fields")
    if type(header) is not dict or type(sig) is not dict or type(fields) is not dict:
        return False
    get = header.get
    if not (
        type(get("licence_id")) is str
        and type(get("document_digest")) is str
        and type(get("digest_alg")) is str
        and type(get("seal_id")) is str
        and type(get("signed_at")) is str
        and "algorithm" in sig
        and "value" in sig
        and "certificate" in sig
    ):
        return False
    for entry in fields.values():
        if type(entry) is not dict or type(entry.get("digest")) is not str:
            return False
    return True


def _require_shape(doc: Any) -> None:
    if _shape_holds(doc):
        return
    if not isinstance(doc, dict):
        raise MalformedLicenceError("a licence is a JSON object")
    header, sig, fields = doc.get("header"), doc.get("signature"), doc.get("fields")
    if not isinstance(header, dict) or not isinstance(sig, dict) or not isinstance(fields, dict):
        raise MalformedLicenceError("a sealed licence has header, signature and fields objects")
    missing = [
        k
        for k in ("licence_id", "document_digest", "digest_alg", "seal_id", "signed_at")
        if not isinstance(header.get(k), str)
    ]
    missing += [f"signature.{k}" for k in ("algorithm", "value", "certificate") if k not in sig]
    if missing:
        raise MalformedLicenceError(f"sealed licence lacks {', '.join(missing)}")
    for name, entry in fields.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("digest"), str):
            raise MalformedLicenceError(f"field {name!r} has no digest")


_MALFORMED_ZH = {
    "MALFORMED_INPUT": "无法识别的证照文件（格式错误或文件不完整）",
    "DUPLICATE_KEY": "证照文件中同一字段名出现两次（可能夹带另一份内容），拒绝核验",
    "AMBIGUOUS_INPUT": "文件同时包含两份证照内容，无法确定核验哪一份，拒绝核验",
}


def malformed(
    message: str, reason: str = "MALFORMED_INPUT", kind: str = "unknown", zh: str | None = None
) -> Report:
    line = result(
        "format",
        FAILED,
        reason,
        f"not a verifiable licence: {message}",
        zh or _MALFORMED_ZH.get(reason, _MALFORMED_ZH["MALFORMED_INPUT"]),
    )
    return Report(TOTAL_FAILED, [line], kind)
