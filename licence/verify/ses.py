"""Verifying a GB/T 38540 SES_Signature over a document, with the same explained report.

The checks, each PASSED / FAILED / INDETERMINATE with a reason and a plain explanation:

- ``format``: the bytes are a DER SES_Signature (strict reading, ``licence.gbt38540``);
- ``integrity``: the document's hash is the signed ``dataHash`` (INDETERMINATE when only the
  signature is given: it is detached, the document must come with it);
- ``ses_signature``: the signer's signature verifies under the signer's certificate, which is
  one the seal lists;
- ``seal_document``: the seal maker's signature over the seal verifies, and the maker is the
  platform's seal CA (one of the context's trust roots) or, under the national profile, the
  SM2 seal maker the seal CA certified for making seals only;
- ``seal_validity``: the signing time lies within the seal's validity and, when the platform
  knows the seal, the seal was active then and lists this certificate;
- ``seal_certificate``: the signer's certificate chains to the platform CA and was valid at the
  signing time;
- ``signing_time``: the time the signer declared is not in the future (it is the signer's own
  claim: the signature carries no time-stamp token).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes

from licence import gbt38540
from licence.verify.checks_seal import chain_result
from licence.verify.context import VerifyContext, report_time
from licence.verify.results import (
    FAILED,
    INDETERMINATE,
    PASSED,
    CheckResult,
    Report,
    result,
    verdict_of,
)

KIND = "ses"
CLOCK_SKEW = dt.timedelta(minutes=5)


def _integrity(sig: gbt38540.Signature, document: bytes | None) -> CheckResult:
    name = "integrity"
    if document is None:
        return result(
            name,
            INDETERMINATE,
            "DOCUMENT_MISSING",
            "the signature is detached: give the signed document with it to check the content",
            "未提供签章所对应的原文，无法校验内容完整性",
        )
    try:
        gbt38540.verify_data(sig, document)
    except gbt38540.SesError as exc:
        return result(name, FAILED, "DOCUMENT_ALTERED", str(exc), "原文与签章不符（内容被改动）")
    return result(name, PASSED, "OK", "the document is the one signed", "原文完整")


def _signer(sig: gbt38540.Signature) -> CheckResult:
    name = "ses_signature"
    try:
        gbt38540.verify_signer(sig)
    except gbt38540.SesError as exc:
        return result(name, FAILED, "SIGNATURE_INVALID", str(exc), "电子签章签名无效")
    return result(
        name,
        PASSED,
        "OK",
        f"the signer's {sig.algorithm} signature verifies with a certificate of the seal",
        "电子签章签名有效",
    )


def _maker(seal: gbt38540.Seal, ctx: VerifyContext) -> CheckResult:
    name = "seal_document"
    try:
        gbt38540.verify_maker(seal)
    except gbt38540.SesError as exc:
        return result(name, FAILED, "SEAL_DATA_ALTERED", str(exc), "印章数据被篡改")
    if not ctx.trust_roots:
        return result(
            name,
            INDETERMINATE,
            "NO_TRUST_ANCHOR",
            "no platform CA certificate to tell whether the seal maker is trusted",
            "缺少平台根证书，无法确认制章者",
        )
    maker = hashlib.sha256(seal.maker_cert).digest()
    if maker in {c.fingerprint(hashes.SHA256()) for c in ctx.trust_roots}:
        return result(name, PASSED, "OK", "seal maker signature verifies", "印章数据完整")
    if _certified_maker(seal.maker_cert, ctx.trust_roots, seal.create_date):
        return result(
            name,
            PASSED,
            "OK",
            "seal maker signature verifies (the platform's SM2 seal maker, certified by the "
            "seal CA)",
            "印章数据完整（制章者证书由本平台印章签发机构签发）",
        )
    return result(
        name,
        FAILED,
        "MAKER_UNTRUSTED",
        "the seal was made by a certificate that is neither the platform's seal CA nor the "
        "seal maker it certified",
        "制章者不是本平台的印章签发机构（不可信）",
    )


def _certified_maker(
    maker_der: bytes, roots: Sequence[x509.Certificate], made: dt.datetime
) -> bool:
    """The national profile's seal maker: a certificate a trust root (the seal CA) issued for
    making seals and nothing else (critical extended key usage ``ca.SEAL_MAKING_OID``), valid
    when the seal was made. A seal's own certificate (no such usage) never qualifies."""
    from licence.ca import SEAL_MAKING_OID

    try:
        cert = x509.load_der_x509_certificate(maker_der)
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except (ValueError, x509.ExtensionNotFound):
        return False
    if not eku.critical or list(eku.value) != [SEAL_MAKING_OID]:
        return False
    if not cert.not_valid_before_utc <= made <= cert.not_valid_after_utc:
        return False
    for issuer in roots:
        if issuer.subject != cert.issuer:
            continue
        try:
            cert.verify_directly_issued_by(issuer)
        except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
            continue
        return True
    return False


def _validity(sig: gbt38540.Signature, ctx: VerifyContext) -> CheckResult:
    name = "seal_validity"
    seal, when = sig.seal, sig.time
    if not seal.valid_start <= when <= seal.valid_end:
        return result(
            name,
            FAILED,
            "SEAL_NOT_VALID_AT_SIGNING",
            f"signed at {when.isoformat()}, outside the seal's validity "
            f"{seal.valid_start.date()} – {seal.valid_end.date()}",
            "签章时印章不在有效期内",
        )
    if ctx.seal_of is not None:
        state = ctx.seal_of(seal.seal_id)
        if state is None:
            return result(
                name,
                FAILED,
                "SEAL_UNKNOWN",
                f"seal {seal.seal_id} is not registered on the platform",
                "印章未在平台登记",
            )
        status, _since = state.status_at(when)
        if status != "active":
            return result(
                name,
                FAILED,
                "SEAL_NOT_ACTIVE",
                f"the seal was {status} when the document was signed",
                "签章时印章非启用状态",
            )
        cert_hash = hashlib.sha256(sig.cert).hexdigest()
        if state.cert_sha256 and cert_hash not in state.cert_sha256:
            return result(
                name,
                FAILED,
                "CERT_NOT_OF_SEAL",
                "the signer's certificate is not one registered for this seal",
                "签章证书不是该印章登记的证书",
            )
    return result(
        name,
        PASSED,
        "OK",
        f"the seal was valid when signed (until {seal.valid_end.date()})",
        f"签章时印章有效（有效期至{seal.valid_end.date()}）",
    )


def _certificate(sig: gbt38540.Signature, ctx: VerifyContext) -> CheckResult:
    name = "seal_certificate"
    if not ctx.trust_roots:
        return result(
            name,
            INDETERMINATE,
            "NO_TRUST_ANCHOR",
            "no platform CA certificate to check the signer's certificate against",
            "缺少平台根证书，无法校验签章证书",
        )
    try:
        cert = x509.load_der_x509_certificate(sig.cert)
    except (ValueError, UnsupportedAlgorithm) as exc:
        return result(
            name, FAILED, "CERT_MALFORMED", f"certificate unreadable: {exc}", "证书格式错误"
        )
    return chain_result(cert, sig.time, ctx.trust_roots)


def _time(sig: gbt38540.Signature, ctx: VerifyContext) -> CheckResult:
    name = "signing_time"
    if sig.time > ctx.current_time() + CLOCK_SKEW:
        return result(
            name,
            FAILED,
            "SIGNED_IN_FUTURE",
            f"the declared signing time {sig.time.isoformat()} is in the future",
            "签章时间晚于当前时间",
        )
    return result(
        name,
        PASSED,
        "OK",
        f"signed at {sig.time.isoformat()} (the time the signer declared)",
        f"签章时间 {sig.time.isoformat()}（签章方声明）",
    )


def ses_checks(
    signature: bytes, document: bytes | None, ctx: VerifyContext
) -> tuple[list[CheckResult], gbt38540.Signature | None]:
    """Every check of a SES_Signature over ``document`` (None: detached, not given), and the
    signature read (None when it cannot be read: then the one check is ``format``)."""
    try:
        sig = gbt38540.read_signature(signature)
    except gbt38540.SesError as exc:
        line = result(
            "format",
            FAILED,
            "MALFORMED_INPUT",
            f"not a verifiable GB/T 38540 signature: {exc}",
            "电子签章数据格式错误，无法核验",
        )
        return [line], None
    checks = [
        _integrity(sig, document),
        _signer(sig),
        _maker(sig.seal, ctx),
        _validity(sig, ctx),
        _certificate(sig, ctx),
        _time(sig, ctx),
    ]
    return checks, sig


def verify_ses(signature: bytes, document: bytes | None, ctx: VerifyContext) -> Report:
    """The explained report on a DER SES_Signature over ``document`` (never an exception)."""
    checks, sig = ses_checks(signature, document, ctx)
    summary = {} if sig is None else {"seal": sig.seal.seal_id, "signed_at": sig.time.isoformat()}
    return Report(verdict_of(checks), checks, KIND, None, summary, **report_time(ctx))
