"""Verifying a seal itself (``hub seal verify``, the seal page), as of now.

A seal is verified like a licence: by a policy of small checks over one subject. The subject
(:class:`SealSubject`) is the registered seal, its certificate, and optionally the seal maker's
document and the seal picture; each check says one thing (registered, certificate chains to the
platform CA now, certificate listed for the seal, active, within validity, maker signature and
picture intact), and a check that does not apply to what was given (no picture to compare)
gives no line.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from licence.verify.checks_seal import chain_result
from licence.verify.context import SealState, VerifyContext
from licence.verify.results import (
    FAILED,
    INDETERMINATE,
    PASSED,
    STATUS_ZH,
    TOTAL_FAILED,
    CheckResult,
    Report,
    as_utc,
    result,
    verdict_of,
)


@dataclass(frozen=True)
class SealSubject:
    """What a seal verification looks at (the seal is registered: an unknown one stops first)."""

    seal_id: str
    seal: SealState
    certificate: x509.Certificate | None
    now: dt.datetime
    seal_document: Mapping[str, Any] | None = None
    picture_png: bytes | None = None


SealCheck = Callable[[SealSubject, VerifyContext], CheckResult | None]


def check_registered(s: SealSubject, _ctx: VerifyContext) -> CheckResult:
    return result(
        "seal_registered", PASSED, "OK", f"seal of {s.seal.authority}", "印章已在平台登记"
    )


def check_certificate_now(s: SealSubject, ctx: VerifyContext) -> CheckResult:
    """The certificate chains to the platform CA and is valid at the present time."""
    if s.certificate is None:
        return result(
            "seal_certificate",
            INDETERMINATE,
            "CERT_UNAVAILABLE",
            "no certificate for this seal here",
            "无印章证书",
        )
    if not ctx.trust_roots:
        return result(
            "seal_certificate",
            INDETERMINATE,
            "NO_TRUST_ANCHOR",
            "no platform CA certificate to check against",
            "缺少平台根证书",
        )
    return chain_result(s.certificate, s.now, ctx.trust_roots, ("the present time", "当前"))


def check_certificate_listed(s: SealSubject, _ctx: VerifyContext) -> CheckResult | None:
    """A line only when the certificate is not one the seal lists (a swapped certificate)."""
    if s.certificate is None or not s.seal.cert_sha256:
        return None
    der_hash = hashlib.sha256(s.certificate.public_bytes(serialization.Encoding.DER)).hexdigest()
    if der_hash in s.seal.cert_sha256:
        return None
    return result(
        "seal_cert_listed",
        FAILED,
        "SEAL_CERT_MISMATCH",
        "the certificate is not listed for this seal",
        "证书不属于该印章",
    )


def check_active(s: SealSubject, _ctx: VerifyContext) -> CheckResult:
    seal = s.seal
    if seal.status == "active":
        return result("seal_status", PASSED, "OK", "seal is active", "印章状态正常")
    _s, since = seal.status_at(s.now)
    day = since.date().isoformat() if since else "unknown date"
    return result(
        "seal_status",
        FAILED,
        "SEAL_REVOKED" if seal.status == "revoked" else "SEAL_SUSPENDED",
        f"seal is {seal.status} since {day}",
        f"印章{STATUS_ZH.get(seal.status, seal.status)}（{day}）",
    )


def check_validity_now(s: SealSubject, _ctx: VerifyContext) -> CheckResult:
    seal = s.seal
    if not (as_utc(seal.valid_from) <= s.now < as_utc(seal.valid_to)):
        return result(
            "seal_validity",
            FAILED,
            "SEAL_OUTSIDE_VALIDITY",
            f"seal valid {seal.valid_from.date()} to {seal.valid_to.date()}, not now",
            "印章不在有效期内",
        )
    return result(
        "seal_validity",
        PASSED,
        "OK",
        f"valid until {seal.valid_to.date()}",
        f"印章有效期至{seal.valid_to.date()}",
    )


def check_maker_signature(s: SealSubject, ctx: VerifyContext) -> CheckResult | None:
    """The seal maker's signature over the seal document (when one is given)."""
    from licence import seals

    cert = s.certificate
    if s.seal_document is None or cert is None:
        return None
    maker = next((c for c in ctx.trust_roots if c.subject == cert.issuer), None)
    try:
        if maker is None:
            raise seals.SealError("the seal maker's certificate is not trusted here")
        seals.verify_seal_document(dict(s.seal_document), maker)
    except seals.SealError as exc:
        return result("seal_document", FAILED, "SEAL_DATA_ALTERED", str(exc), "印章数据被篡改")
    return result("seal_document", PASSED, "OK", "seal maker signature verifies", "印章数据完整")


def check_picture(s: SealSubject, _ctx: VerifyContext) -> CheckResult | None:
    """The seal picture is the one the certificate certifies (when one is given)."""
    from licence import ca

    if s.picture_png is None or s.certificate is None:
        return None
    try:
        certified = ca.seal_picture_hash(s.certificate)
    except x509.ExtensionNotFound:
        certified = b""
    if hashlib.sha256(s.picture_png).digest() == certified:
        return result("seal_picture", PASSED, "OK", "picture is the certified one", "印章图片一致")
    return result(
        "seal_picture",
        FAILED,
        "PICTURE_MISMATCH",
        "the seal picture is not the one its certificate certifies",
        "印章图片与证书不符",
    )


SEAL_CHECKS: tuple[SealCheck, ...] = (
    check_registered,
    check_certificate_now,
    check_certificate_listed,
    check_active,
    check_validity_now,
    check_maker_signature,
    check_picture,
)


def verify_seal(
    seal_id: str,
    seal: SealState | None,
    certificate_pem: str | None,
    ctx: VerifyContext,
    seal_document: Mapping[str, Any] | None = None,
    picture_png: bytes | None = None,
) -> Report:
    """Verify a seal as of now with every check of :data:`SEAL_CHECKS`."""
    if seal is None:
        unknown = result(
            "seal_registered",
            FAILED,
            "SEAL_UNKNOWN",
            f"seal {seal_id} is not registered on the platform",
            "印章未在平台登记",
        )
        return Report(TOTAL_FAILED, [unknown], "seal", seal_id)
    cert = (
        None
        if certificate_pem is None
        else x509.load_pem_x509_certificate(certificate_pem.encode())
    )
    subject = SealSubject(seal_id, seal, cert, ctx.current_time(), seal_document, picture_png)
    results = [line for check in SEAL_CHECKS if (line := check(subject, ctx)) is not None]
    return Report(
        verdict_of(results),
        results,
        "seal",
        seal_id,
        {"authority": seal.authority, "status": seal.status},
    )
