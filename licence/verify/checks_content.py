"""Checks of what a licence says: its identifier and the integrity of its fields.

``integrity`` recomputes every disclosed field's salted digest (``licence.document``, the one
encoder of a field's bytes) and the RFC 9162 root over all of them (``ledger.merkle``, the one
Merkle root); it names the altered field, in Chinese and English, when one does not match.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ledger.receipt import Receipt
from licence import document
from licence.verify.context import VerifyContext, field_value
from licence.verify.results import FAILED, PASSED, CheckResult, result
from schemas import licence_id, licence_types


def field_title(doc: Mapping[str, Any], name: str) -> str:
    """A field's Chinese title from the licence type's catalogue (``法定代表人`` for
    ``legal_representative``); the GB/T 36903 metadata names are already Chinese."""
    try:
        parts = str(doc["header"]["licence_id"]).split(".")
        return licence_types.get(parts[5]).field(name).name if len(parts) == 10 else name
    except (KeyError, TypeError, licence_types.LicenceTypeError):
        return name


def _recorded_value(doc: Mapping[str, Any], name: str, ctx: VerifyContext) -> str | None:
    """The value the platform registered for an altered field, for a caller entitled to see
    it (``ctx.show_recorded``: staff on the command line, never the public page or API), and
    only when the stored licence is the one presented (same identifier and digest)."""
    if not ctx.show_recorded or ctx.document_of is None:
        return None
    header = doc["header"]
    if not isinstance(header.get("licence_id"), str):  # a claim receipt: nothing registered
        return None
    stored = ctx.document_of(str(header["licence_id"]))
    if (
        not isinstance(stored, dict)
        or stored.get("header", {}).get("document_digest") != (header["document_digest"])
    ):
        return None
    entry = stored.get("fields", {}).get(name)
    if not isinstance(entry, dict) or "value" not in entry:
        return None
    return _shown(entry["value"])


def _shown(value: Any, limit: int = 60) -> str:
    """A presented value, quoted and cut short for a report line."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[:limit] + "…"


def check_identifier(doc: dict[str, Any], _r_: Receipt | None, _c: VerifyContext) -> CheckResult:
    """The licence identifier is well formed and its check character is right (GB/T 36904)."""
    lid = str(doc["header"]["licence_id"])
    try:
        licence_id.parse(lid)  # what ``validate`` asks, without building its details
        return _IDENTIFIER_OK
    except licence_id.LicenceIdError:
        pass
    checked = licence_id.validate(lid)  # the reason and its message
    message = str((checked.details or {}).get("message", checked.explanation))
    return result(
        "identifier",
        FAILED,
        f"ID_{checked.reason}",
        f"licence identifier is wrong ({checked.reason}): {message}",
        "证照标识校验失败（校验位或格式错误）",
    )


def check_integrity(doc: dict[str, Any], _r_: Receipt | None, ctx: VerifyContext) -> CheckResult:
    """Every disclosed field matches its salted digest and the digests add up to the root."""
    header = doc["header"]
    alg = str(header["digest_alg"])
    if alg not in document.HASHES:
        return result(
            "integrity",
            FAILED,
            "UNKNOWN_DIGEST_ALG",
            f"unknown digest algorithm {alg!r}",
            "未知的摘要算法",
        )
    fields = doc["fields"]
    # each field's digest is computed once, compared, and becomes its leaf of the tree
    hashes, hidden, altered = document.recompute_fields(fields, alg)
    if altered is not None:
        name, entry = altered, fields[altered]
        title = field_title(doc, name)
        label = name if title == name else f"{title} ({name})"
        shown = _shown(entry["value"])
        en = (
            f"field {label} was altered: the value presented, “{shown}”, is not "
            "the one that was sealed"
        )
        zh = f"证照字段“{title}”被篡改（所示内容“{shown}”与签章时不符"
        recorded = _recorded_value(doc, name, ctx)
        if recorded is not None:
            en += f"; the registered value is “{recorded}”"
            zh += f"，登记内容为“{recorded}”"
        return result("integrity", FAILED, "FIELD_ALTERED", en, zh + "）")
    root = document.merkle_root([hashes[n] for n in sorted(hashes)], alg)
    if root.hex() != header["document_digest"]:
        return result(
            "integrity",
            FAILED,
            "DIGEST_MISMATCH",
            "field digests do not add up to the signed document digest "
            "(a field, hidden or shown, was changed, added or removed)",
            "字段摘要与签章的文档摘要不符（字段被增删或隐藏字段摘要被改）",
        )
    shown = field_value(doc, "证照标识")
    if shown is not None and shown != header["licence_id"]:
        return result(
            "integrity",
            FAILED,
            "ID_MISMATCH",
            "the identifier in the fields differs from the signed header",
            "字段中的证照标识与签章头不一致",
        )
    if not hidden:
        return _INTEGRITY_OK
    return result(
        "integrity",
        PASSED,
        "OK",
        f"field digests match the signed document digest ({hidden} field(s) hidden by the holder)",
        f"证照内容完整（持证人隐藏了{hidden}个字段）",
    )


# a result that never varies is built once (CheckResult is frozen, so sharing it is safe)
_INTEGRITY_OK = CheckResult(
    "integrity", PASSED, "OK", "field digests match the signed document digest", "证照内容完整"
)
_IDENTIFIER_OK = CheckResult(
    "identifier", PASSED, "OK", "identifier is well formed", "证照标识校验通过"
)
