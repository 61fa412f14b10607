"""What a verifier is given, recognised and read: a JSON licence (bare, wrapped with its
receipt, or disclosed), a signed PDF, a QR payload, a sealed OFD, a GB/T 38540 SES_Signature (DER).

``verify_input`` is the entry point for raw bytes; every input, however malformed, ends in a
:class:`Report` (``format`` FAILED with a readable reason), never an exception. JSON goes through
the one strict I-JSON reader (``ledger.strict_json``), for every caller alike.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Mapping
from typing import Any

from ledger import strict_json
from ledger.receipt import Receipt, ReceiptError
from licence.gbt38540 import looks_like_signature
from licence.sdjwt_vc import SdJwtError, looks_like, read_credential
from licence.verify.checks_seal import load_certificate
from licence.verify.claim_receipt import is_claim_receipt, receipt_policy, verify_claim_receipt
from licence.verify.context import Check, VerifyContext, report_time
from licence.verify.ofd import looks_like_ofd, verify_ofd_bytes
from licence.verify.pdf import verify_pdf_bytes
from licence.verify.policy import malformed, verify
from licence.verify.results import (
    FAILED,
    INDETERMINATE,
    PASSED,
    TOTAL_FAILED,
    CheckResult,
    MalformedLicenceError,
    Report,
    Verdict,
    result,
    verdict_of,
)
from licence.verify.ses import verify_ses


def parse_qr(text: str) -> tuple[str, str, str]:
    """(licence id, digest algorithm, document digest) from a QR payload URL."""
    try:
        query = urllib.parse.urlsplit(text.strip()).query
    except ValueError as exc:
        raise MalformedLicenceError("the QR payload is not a link") from exc
    params = urllib.parse.parse_qs(query)
    lid = params.get("id", [""])[0]
    alg, _, digest = params.get("d", [""])[0].partition(":")
    if not lid or not digest:
        raise MalformedLicenceError("QR payload lacks id= and d=alg:digest")
    return lid, alg, digest


def qr_host(text: str) -> str | None:
    """The host a QR payload's link names (lower case), None for a bare ``id=…&d=…``."""
    try:
        host = urllib.parse.urlsplit(text.strip()).hostname
    except ValueError:
        return None
    return host.lower() if host else None


def _host_check(text: str, ctx: VerifyContext) -> CheckResult | None:
    """FAILED when the payload names a host that is neither this platform's verification
    address nor a trusted peer's (a look-alike site); None when it names none or a trusted one."""
    host = qr_host(text)
    if host is None:
        return None
    own = qr_host(ctx.verification_url)
    if host == own or host in {h.lower() for h in ctx.trusted_hosts}:
        return None
    return result(
        "qr_host",
        FAILED,
        "QR_FOREIGN_HOST",
        f"the QR code points at {host}, which is not this platform ({own}) nor a trusted peer: "
        "do not trust the page it opens",
        f"二维码指向的网站“{host}”不是本平台（{own}）或可信的对等平台，请勿信任",
    )


def verify_qr(text: str, ctx: VerifyContext, policy: Mapping[str, Check] | None = None) -> Report:
    """Look the QR payload's licence up (online) and verify the stored licence.

    A payload whose digest does not match a registered licence says only that: nothing about
    the licence with that identifier (holder, issuer, number) is revealed to whoever typed it.
    """
    try:
        lid, alg, digest = parse_qr(text)
    except MalformedLicenceError as exc:
        return malformed(str(exc), kind="qr")
    foreign = _host_check(text, ctx)
    if foreign is not None:
        return Report(TOTAL_FAILED, [foreign], "qr", lid, **report_time(ctx))
    if ctx.document_of is None:
        return Report(
            Verdict.INDETERMINATE,
            [
                result(
                    "qr_lookup",
                    INDETERMINATE,
                    "QR_LOOKUP_UNAVAILABLE",
                    "a QR payload is checked online; the licence service is not reachable",
                    "扫码核验需联网查询，当前无法查询",
                )
            ],
            "qr",
            lid,
        )
    doc = ctx.document_of(lid)
    header = doc.get("header") if isinstance(doc, dict) else None
    if (
        doc is None
        or not isinstance(header, dict)
        or (
            header.get("digest_alg"),
            header.get("document_digest"),
        )
        != (alg, digest)
    ):
        # one answer for "no such licence" and "another digest": the id alone reveals nothing
        if ctx.offline:
            en = "the licence file given with it (--licence) is not the licence this QR code names"
            zh = "随附的证照文件与二维码所指证照不符"
        else:
            en = "no licence registered on this platform matches this QR code (wrong or forged)"
            zh = "二维码与平台登记的证照不符（二维码无效或伪造）"
        return Report(TOTAL_FAILED, [result("qr_lookup", FAILED, "QR_NO_MATCH", en, zh)], "qr")
    lookup = result("qr_lookup", PASSED, "OK", "licence found by its QR code", "已查到该证照")
    report = verify(doc, None, ctx, policy, kind="qr")
    results = [lookup, *report.checks]
    return Report(verdict_of(results), results, "qr", lid, report.summary, report.as_of, report.age)


BOM = strict_json.BOM


WRAPPERS = ("licence", "document")  # {"licence": …, "receipt": …}; `hub licence show` prints
# {"document": …, "receipt": …}


LICENCE_PARTS = ("header", "signature", "fields")


class AmbiguousInputError(MalformedLicenceError):
    """The file could be read as two different licences (two wrappers, or wrapper and bare)."""


def read_licence_json(data: bytes) -> tuple[dict[str, Any], Any]:
    """(licence, raw receipt or None) from a JSON licence file, the one reader of every
    caller (``hub verify``, ``--licence``, the API, the page): strict I-JSON (duplicate keys,
    NaN, out-of-range numbers refused; a UTF-8 byte-order mark skipped), then exactly one of a
    bare licence, ``{"licence": …}`` or ``{"document": …}``; a file that is two things at once
    is refused (AmbiguousInputError). Raises StrictJSONError / MalformedLicenceError."""
    obj = strict_json.loads(data)
    if not isinstance(obj, dict):
        raise MalformedLicenceError("a licence is a JSON object")
    wrappers = [k for k in WRAPPERS if k in obj]
    bare = [k for k in LICENCE_PARTS if k in obj]
    if "qr" in obj and (wrappers or bare):
        wrappers.append("qr")
    if len(wrappers) > 1 or (wrappers and bare):
        both = " and ".join(f"“{k}”" for k in [*wrappers, *bare])
        raise AmbiguousInputError(
            f"the file carries both {both}: which one is the licence is ambiguous"
        )
    if wrappers:
        doc = obj[wrappers[0]]
        if not isinstance(doc, dict):
            raise MalformedLicenceError(f"“{wrappers[0]}” is not a licence object")
        return doc, obj.get("receipt")
    return obj, obj.get("receipt")


def verify_input(
    data: bytes,
    ctx: VerifyContext,
    policy: Mapping[str, Check] | None = None,
) -> Report:
    """Verify raw bytes: a sealed or disclosed JSON licence (optionally wrapped with its
    receipt as ``{"licence": ..., "receipt": ...}``, as ``hub licence show`` prints it
    (``{"document": ..., "receipt": ...}``) or carrying a top-level ``receipt``), a signed PDF,
    or a QR payload. Unreadable input gives TOTAL_FAILED with check ``format``: never an
    exception, whatever the bytes.

    Build ``ctx`` with ``licence.trust.online_context(service)`` (online: every check can
    pass) or ``licence.trust.offline_context(bundle, anchors)``; a bare
    ``VerifyContext(log_keys=...)`` leaves the certificate, seal and anchor checks
    INDETERMINATE.
    """
    if looks_like_ofd(data):
        ofd_results, doc = verify_ofd_bytes(data, ctx)
        if doc is None:
            return Report(verdict_of(ofd_results), ofd_results, "ofd", **report_time(ctx))
        report = verify(doc, None, ctx, policy, kind="ofd")
        results = [*ofd_results, *report.checks]
        return Report(
            verdict_of(results),
            results,
            "ofd",
            report.licence_id,
            report.summary,
            report.as_of,
            report.age,
        )
    if data.startswith(b"\x30") and looks_like_signature(data):
        # a GB/T 38540 SES_Signature (DER) on its own: detached, so integrity is INDETERMINATE
        return verify_ses(data, None, ctx)
    stripped = data.strip()
    if stripped.startswith(BOM):
        stripped = stripped[len(BOM) :].lstrip()
    if stripped.startswith(b"%PDF"):
        pdf_results, doc = verify_pdf_bytes(data, ctx)
        if doc is None:
            return Report(verdict_of(pdf_results), pdf_results, "pdf", **report_time(ctx))
        report = verify(doc, None, ctx, policy, kind="pdf")
        results = [*pdf_results, *report.checks]
        return Report(
            verdict_of(results),
            results,
            "pdf",
            report.licence_id,
            report.summary,
            report.as_of,
            report.age,
        )
    if stripped.startswith(b"{") or stripped.startswith(b"["):
        try:
            doc, raw_receipt = read_licence_json(stripped)
        except strict_json.StrictJSONError as exc:
            code = "DUPLICATE_KEY" if "duplicate key" in str(exc) else "MALFORMED_INPUT"
            return malformed(f"the JSON cannot be read: {exc}", code, kind="json")
        except AmbiguousInputError as exc:
            return malformed(str(exc), "AMBIGUOUS_INPUT", kind="json")
        except MalformedLicenceError as exc:
            return malformed(str(exc), kind="json")
        return _verify_pair(doc, raw_receipt, ctx, policy)
    try:
        text = stripped.decode("utf-8")
    except UnicodeDecodeError:
        return malformed("neither JSON, PDF nor a QR payload")
    if looks_like(text):
        return verify_sd_jwt_vc(text, ctx, policy)
    if "id=" in text and "\n" not in text:
        return verify_qr(text, ctx, policy)
    return malformed("neither JSON, PDF nor a QR payload")


def verify_sd_jwt_vc(
    text: str, ctx: VerifyContext, policy: Mapping[str, Check] | None = None
) -> Report:
    """Verify a licence exported as an SD-JWT VC (``hub licence export --format sd-jwt-vc``):
    the check ``sd_jwt`` (the JWS by its ``x5c`` certificate, which must be the licence's own
    seal certificate, and every disclosure against the signed digests), then every check of
    the licence the credential carries, rebuilt from its disclosed fields."""
    name = "sd_jwt"
    try:
        read = read_credential(text)
    except SdJwtError as exc:
        failed = result(
            name, FAILED, "SD_JWT_INVALID", f"the SD-JWT VC does not hold: {exc}", "SD-JWT凭证无效"
        )
        return Report(TOTAL_FAILED, [failed], "sd-jwt-vc", **report_time(ctx))
    sealed_cert = (read.licence.get("signature") or {}).get("certificate")
    try:
        same = isinstance(sealed_cert, str) and load_certificate(sealed_cert) == read.certificate
    except ValueError:
        same = False
    if not same:
        failed = result(
            name,
            FAILED,
            "SD_JWT_SIGNER_MISMATCH",
            "the credential is not signed with the seal certificate of the licence it carries",
            "凭证签名证书与证照印章证书不一致",
        )
        return Report(TOTAL_FAILED, [failed], "sd-jwt-vc", **report_time(ctx))
    held = result(
        name,
        PASSED,
        "OK",
        f"signed by the licence's seal; {len(read.disclosed)} disclosed field(s) match the "
        "signed digests",
        f"SD-JWT凭证签名有效，披露字段{len(read.disclosed)}项与签名摘要一致",
    )
    report = _verify_pair(read.licence, read.receipt, ctx, policy)
    checks = [held, *report.checks]
    return Report(
        verdict_of(checks),
        checks,
        "sd-jwt-vc",
        report.licence_id,
        report.summary,
        report.as_of,
        report.age,
    )


def verify_json(obj: Any, ctx: VerifyContext, policy: Mapping[str, Check] | None = None) -> Report:
    """Verify a parsed JSON licence (sealed, disclosed, or wrapped with its receipt); the same
    wrapper rules as :func:`read_licence_json` (serialised again, so one reader decides)."""
    try:
        data = json.dumps(obj, ensure_ascii=False, allow_nan=False).encode()
    except (TypeError, ValueError) as exc:
        return malformed(f"not JSON data: {exc}", kind="json")
    return verify_input(data, ctx, policy)


def _verify_pair(
    doc: dict[str, Any], raw_receipt: Any, ctx: VerifyContext, policy: Mapping[str, Check] | None
) -> Report:
    receipt = None
    if raw_receipt is not None:
        try:
            receipt = Receipt.from_dict(raw_receipt)
        except ReceiptError as exc:
            why = str(exc).removeprefix("malformed receipt: ")
            return malformed(
                f"the ledger receipt cannot be read: {why}",
                kind="json",
                zh="存证回执格式错误（数字须为整数，内容不完整或被改动），无法核验",
            )
    if is_claim_receipt(doc):
        return verify_claim_receipt(doc, receipt, ctx, receipt_policy(policy, ctx))
    kind = "sealed"
    fields = doc.get("fields")
    if isinstance(fields, dict):
        for e in fields.values():
            if isinstance(e, dict) and "value" not in e:
                kind = "disclosed"
                break
    return verify(doc, receipt, ctx, policy, kind=kind)
