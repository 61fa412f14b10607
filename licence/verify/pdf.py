"""Verifying a sealed licence PDF: its PAdES signature (pyHanko) and its tie to the licence.

The PDF's signature must be intact, made with a certificate chaining to the platform CA, and
cover the whole file (or be followed only by harmless updates); a PDF edited after signing
fails. The PDF is then tied to its licence: the identifier is read from the signed page text
(each text run carries ``/ActualText``), the licence is looked up, the signer certificate must
be the licence's seal certificate, and the QR code on the page must be exactly the one encoding
that licence's identifier and document digest (re-drawn and compared pixel for pixel), so a
genuine PDF of another licence, or a page with another licence's QR code, does not pass.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import hashlib
import io
import logging
import re
import zlib
from typing import Any

from cryptography.hazmat.primitives import serialization

from licence.verify.checks_seal import load_certificate
from licence.verify.context import VerifyContext
from licence.verify.results import FAILED, INDETERMINATE, PASSED, CheckResult

_ACTUAL_TEXT = re.compile(rb"/ActualText\s*\(((?:\\.|[^\\)])*)\)", re.S)
_LID = re.compile(r"证照标识\s*(1\.2\.156\.3005\.2\.[0-9A-Z.]+)")
_ESCAPES = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}


def _literal(raw: bytes) -> bytes:
    """Decode a PDF literal string body (backslash escapes, octal codes)."""
    out = bytearray()
    i = 0
    while i < len(raw):
        c = raw[i : i + 1]
        if c != b"\\":
            out += c
            i += 1
            continue
        nxt = raw[i + 1 : i + 2]
        if nxt.isdigit():
            j = i + 1
            while j < len(raw) and j < i + 4 and raw[j : j + 1] in b"01234567":
                j += 1
            out.append(int(raw[i + 1 : j], 8) & 0xFF)
            i = j
        else:
            out += _ESCAPES.get(nxt, nxt)
            i += 2
    return bytes(out)


def page_text(root: Any) -> str:
    """The text of every page's runs (from ``/ActualText``), joined by newlines."""
    texts: list[str] = []
    for page_ref in root["/Pages"]["/Kids"]:
        page = page_ref.get_object()
        contents = page["/Contents"]
        streams = contents if isinstance(contents, list) else [contents]
        for s in streams:
            data = s.get_object().data
            for m in _ACTUAL_TEXT.finditer(data):
                raw = _literal(m.group(1))
                try:
                    texts.append(
                        raw[2:].decode("utf-16-be") if raw[:2] == b"\xfe\xff" else raw.decode()
                    )
                except UnicodeDecodeError:
                    continue
    return "\n".join(texts)


def _images(root: Any) -> list[tuple[int, int, bytes]]:
    """(width, height, raw RGB bytes) of each image XObject on the first page."""
    page = root["/Pages"]["/Kids"][0].get_object()
    out = []
    xobjects = page["/Resources"].get("/XObject", {})
    for ref in xobjects.values():
        obj = ref.get_object()
        if obj.get("/Subtype") != "/Image":
            continue
        try:
            data = obj.data
        except (ValueError, NotImplementedError, zlib.error):
            continue
        out.append((int(obj["/Width"]), int(obj["/Height"]), bytes(data)))
    return out


def _qr_matches(root: Any, doc: dict[str, Any], url: str) -> bool:
    from licence.pdf import qr_code_image, qr_payload

    img = qr_code_image(qr_payload(doc, url))
    want = (img.width, img.height, img.tobytes())
    return want in _images(root)


def _cert_der(doc: dict[str, Any]) -> bytes:
    cert = load_certificate(str(doc["signature"]["certificate"]))
    return cert.public_bytes(serialization.Encoding.DER)


def _signature_check(
    reader: Any, ctx: VerifyContext
) -> tuple[CheckResult, bytes | None, dt.datetime | None]:
    from asn1crypto import x509 as asn1_x509
    from pyhanko.pdf_utils.misc import PdfError
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    name = "pdf_signature"
    sigs = reader.embedded_signatures
    if not sigs:
        return (
            CheckResult(
                name, FAILED, "PDF_NOT_SIGNED", "the PDF carries no signature", "PDF未签章"
            ),
            None,
            None,
        )
    sig = sigs[0]
    roots = [
        asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER))
        for c in ctx.trust_roots
    ]
    vc = ValidationContext(trust_roots=roots or None, allow_fetching=False)
    try:
        status = validate_pdf_signature(sig, signer_validation_context=vc)
    except (PdfError, ValueError, KeyError, TypeError) as exc:
        return (
            CheckResult(
                name,
                FAILED,
                "PDF_SIGNATURE_INVALID",
                f"the PDF signature cannot be validated: {exc}",
                "PDF签章无法校验",
            ),
            None,
            None,
        )
    signer = status.signing_cert.dump() if status.signing_cert is not None else None
    when = status.signer_reported_dt
    if not status.intact or not status.valid:
        return (
            CheckResult(
                name,
                FAILED,
                "PDF_SIGNATURE_INVALID",
                "the PDF's signed bytes were changed (signature does not verify)",
                "PDF签章无效（签章后内容被修改）",
            ),
            signer,
            when,
        )
    level = status.modification_level
    whole = status.coverage is not None and status.coverage.name == "ENTIRE_FILE"
    if not whole and (level is None or level.name not in ("NONE", "LTA_UPDATES")):
        what = "unknown" if level is None else level.name
        return (
            CheckResult(
                name,
                FAILED,
                "PDF_MODIFIED",
                f"the PDF was edited after signing ({what} changes)",
                "PDF在签章后被编辑",
            ),
            signer,
            when,
        )
    if not roots:
        return (
            CheckResult(
                name,
                INDETERMINATE,
                "NO_TRUST_ANCHOR",
                "PDF signature intact; no platform CA to check its certificate against",
                "PDF签章完整，但缺少平台根证书",
            ),
            signer,
            when,
        )
    if not status.trusted:
        return (
            CheckResult(
                name,
                FAILED,
                "PDF_UNTRUSTED",
                "the PDF was signed with a certificate not issued by the platform CA",
                "PDF签章证书不可信",
            ),
            signer,
            when,
        )
    return (
        CheckResult(
            name, PASSED, "OK", "PAdES signature intact, by a platform seal", "PDF签章有效"
        ),
        signer,
        when,
    )


def _seal_check(signer: bytes, signed_at: dt.datetime | None, ctx: VerifyContext) -> CheckResult:
    """The seal that signed the PDF is registered and was active when it signed."""
    name = "pdf_seal"
    if ctx.seal_for_cert is None:
        return CheckResult(
            name,
            INDETERMINATE,
            "SEAL_STATUS_UNAVAILABLE",
            "the signing seal's status cannot be checked now",
            "暂无法查询签章印章状态",
        )
    seal = ctx.seal_for_cert(hashlib.sha256(signer).hexdigest())
    if seal is None:
        return CheckResult(
            name,
            FAILED,
            "SEAL_UNKNOWN",
            "the PDF was signed with a certificate of no registered seal",
            "签章证书不属于平台登记的印章",
        )
    when = signed_at or ctx.current_time()
    status, since = seal.status_at(when if when.tzinfo else when.replace(tzinfo=dt.UTC))
    if status != "active":
        day = since.date().isoformat() if since else "unknown date"
        return CheckResult(
            name,
            FAILED,
            "SEAL_REVOKED" if status == "revoked" else "SEAL_SUSPENDED",
            f"seal {seal.seal_id} was {status} ({day}) when the PDF was signed",
            "签章时印章已吊销" if status == "revoked" else "签章时印章已暂停使用",
        )
    return CheckResult(
        name,
        PASSED,
        "OK",
        f"signed with seal {seal.seal_id} of {seal.authority}, active at signing time",
        "签章印章已登记，签章时有效",
    )


_VERIFYING = contextvars.ContextVar("pdf_verify_quiet", default=False)


class _QuietWhileVerifying(logging.Filter):
    """Drops pyHanko's log records (tracebacks of a PDF modified after signing, a broken
    xref) while this module verifies a PDF: the report explains what they would have said.
    Outside verification (signing, rendering) they pass as before."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not _VERIFYING.get()


_QUIET = _QuietWhileVerifying()


def _quiet_pyhanko() -> None:
    # their loggers exist once the modules are imported
    import importlib

    for module in ("pyhanko.sign.diff_analysis", "pyhanko.sign.validation"):
        importlib.import_module(module)

    for name, lg in list(logging.Logger.manager.loggerDict.items()):
        if (
            name.startswith("pyhanko")
            and isinstance(lg, logging.Logger)
            and _QUIET not in lg.filters
        ):
            lg.addFilter(_QUIET)


def verify_pdf_bytes(
    data: bytes, ctx: VerifyContext
) -> tuple[list[CheckResult], dict[str, Any] | None]:
    """The PDF's own checks and, when it is tied to a known licence, that licence."""
    _quiet_pyhanko()
    token = _VERIFYING.set(True)
    try:
        return _verify_pdf_bytes(data, ctx)
    finally:
        _VERIFYING.reset(token)


def _verify_pdf_bytes(
    data: bytes, ctx: VerifyContext
) -> tuple[list[CheckResult], dict[str, Any] | None]:
    from pyhanko.pdf_utils.misc import PdfError
    from pyhanko.pdf_utils.reader import PdfFileReader

    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        sigs = reader.embedded_signatures
        # what was signed is what counts: read the page as of the signed revision
        root = reader.get_historical_root(sigs[0].signed_revision) if sigs else reader.root
        text = page_text(root)
    except (PdfError, ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
        return [
            CheckResult(
                "format",
                FAILED,
                "MALFORMED_INPUT",
                f"the PDF cannot be read (truncated?): {exc}",
                "PDF文件损坏或不完整",
            )
        ], None
    signature, signer, signed_at = _signature_check(reader, ctx)
    results = [signature]
    if signer is not None:
        results.append(_seal_check(signer, signed_at, ctx))
    tie = "pdf_licence"
    found = _LID.search(text)
    if found is None:
        results.append(
            CheckResult(
                tie,
                FAILED,
                "PDF_NO_LICENCE_ID",
                "the PDF shows no licence identifier",
                "PDF中没有证照标识",
            )
        )
        return results, None
    lid = found.group(1)
    if ctx.document_of is None:
        results.append(
            CheckResult(
                tie,
                INDETERMINATE,
                "PDF_LICENCE_UNAVAILABLE",
                f"licence {lid} cannot be looked up here (offline: give the licence JSON too)",
                "无法查询该证照（离线时请同时提供证照JSON）",
            )
        )
        return results, None
    doc = ctx.document_of(lid)
    if doc is None:
        results.append(
            CheckResult(
                tie,
                FAILED,
                "PDF_LICENCE_UNKNOWN",
                f"the platform has no licence {lid}",
                "平台无此证照",
            )
        )
        return results, None
    if signer is not None and signer != _cert_der(doc):
        results.append(
            CheckResult(
                tie,
                FAILED,
                "PDF_SEAL_MISMATCH",
                "the PDF was not signed with the licence's seal",
                "PDF签章与证照印章不符",
            )
        )
        return results, doc
    if not _qr_matches(root, doc, ctx.verification_url):
        results.append(
            CheckResult(
                tie,
                FAILED,
                "PDF_QR_MISMATCH",
                "the QR code on the PDF does not encode this licence's digest",
                "PDF上的二维码与证照摘要不符",
            )
        )
        return results, doc
    results.append(
        CheckResult(
            tie,
            PASSED,
            "OK",
            f"the PDF is licence {lid}: same seal, QR code encodes its digest",
            "PDF与证照一致（同一印章，二维码含证照摘要）",
        )
    )
    return results, doc
