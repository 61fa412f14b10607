"""Checks of a licence's seal: the signature, the certificate chain, the seal's registration
and status at signing time, and the issuing authority the seal must belong to.

Each is one small check like every other (``seal_signature``, ``seal_certificate``,
``seal_status``, ``authority``); the certificate is read once per PEM and its chain result
memoised per (PEM, signing time) in the context, so a changed certificate or time never hits
another's entry.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.x509.oid import NameOID

from ledger.receipt import Receipt
from licence import authorities, document
from licence.signers import ECDSA_P256, SM2_SM3, SignatureError, certificate_key
from licence.signers import verify as verify_signature
from licence.verify.context import VerifyContext, field_value, parse_time
from licence.verify.results import (
    FAILED,
    INDETERMINATE,
    PASSED,
    STATUS_ZH,
    CheckResult,
    MalformedLicenceError,
    as_utc,
    result,
)
from schemas import licence_types

# the same ECDSA-with-SHA-256 check over a digest hashlib computed (a little less per call)


_ECDSA_PREHASHED_SHA256 = ec.ECDSA(Prehashed(hashes.SHA256()))
TOTAL_PASSED, TOTAL_FAILED = "TOTAL_PASSED", "TOTAL_FAILED"


_SEAL_SIGNATURE_OK = CheckResult(
    "seal_signature", PASSED, "OK", "seal signature verifies", "电子印章签名有效"
)


def _certificate(doc: Mapping[str, Any], ctx: VerifyContext) -> tuple[x509.Certificate, bytes]:
    """The seal certificate of a licence and its raw public key (memoised per PEM)."""
    pem = str(doc["signature"]["certificate"])
    hit = ctx.caches.certs.get(pem)
    if hit is None:
        cert = load_certificate(pem)
        try:
            public = cert.public_key()
        except UnsupportedAlgorithm:
            # an SM2 seal (national profile): cryptography cannot load the curve, asn1crypto
            # reads the point; a key that is not SM2 raises SignatureError (a ValueError)
            hit = ctx.caches.certs[pem] = (cert, certificate_key(cert)[1])
            return hit
        if not isinstance(public, ec.EllipticCurvePublicKey):
            raise ValueError("seal certificate does not hold an EC public key")
        raw = public.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        hit = ctx.caches.certs[pem] = (cert, raw)
        ctx.caches.keys[pem] = public
    return hit


def load_certificate(pem: str) -> x509.Certificate:
    """A PEM certificate; ValueError (never another exception) for anything unreadable:
    cryptography raises InvalidVersion, which is no ValueError, for a bad version field."""
    try:
        return x509.load_pem_x509_certificate(pem.encode("utf-8"))
    except (ValueError, x509.InvalidVersion, UnicodeEncodeError) as exc:
        raise ValueError(f"the certificate cannot be read: {exc}") from None


def check_seal_signature(
    doc: dict[str, Any], _r_: Receipt | None, ctx: VerifyContext
) -> CheckResult:
    """The seal signature over the signed header verifies with the certificate's key."""
    sig = doc["signature"]
    algorithm = str(sig["algorithm"])
    if algorithm not in (ECDSA_P256, SM2_SM3):
        return result(
            "seal_signature",
            FAILED,
            "UNKNOWN_ALGORITHM",
            f"unknown signature algorithm {algorithm!r}",
            "未知的签名算法",
        )
    try:
        _cert, raw = _certificate(doc, ctx)
        value = base64.b64decode(str(sig["value"]), validate=True)
    except (ValueError, binascii.Error, UnsupportedAlgorithm) as exc:
        return result(
            "seal_signature",
            FAILED,
            "SIG_MALFORMED",
            f"seal signature or certificate cannot be read: {exc}",
            "签章或证书格式错误",
        )
    try:
        signed = document.canonical(doc["header"])
        key = ctx.caches.keys.get(str(sig["certificate"]))
        if algorithm == ECDSA_P256 and key is not None:
            try:
                key.verify(value, hashlib.sha256(signed).digest(), _ECDSA_PREHASHED_SHA256)
            except InvalidSignature:
                raise SignatureError("ECDSA P-256 seal signature does not verify") from None
        else:
            verify_signature(algorithm, raw, value, signed)
    except (SignatureError, ValueError):
        return result(
            "seal_signature",
            FAILED,
            "SIG_CRYPTO_FAILURE",
            "the seal signature does not verify: the signed header or signature was changed, "
            "or another key signed it",
            "电子印章签名无效（签章数据被改或非该印章签署）",
        )
    return _SEAL_SIGNATURE_OK


# (certificate, issuer) DER digests whose signature was checked: a certificate's bytes fix its
# signature, so the answer never changes (every verdict checks the same few seal chains)
_ISSUED: dict[tuple[bytes, bytes], bool] = {}


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    key = (cert.fingerprint(hashes.SHA256()), issuer.fingerprint(hashes.SHA256()))
    known = _ISSUED.get(key)
    if known is not None:
        return known
    try:
        cert.verify_directly_issued_by(issuer)
        found = True
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        found = False
    if len(_ISSUED) >= 4096:
        _ISSUED.clear()
    _ISSUED[key] = found
    return found


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def check_seal_certificate(
    doc: dict[str, Any], _r_: Receipt | None, ctx: VerifyContext
) -> CheckResult:
    """The seal certificate chains to the platform CA and was valid at the signing time."""
    name = "seal_certificate"
    if not ctx.trust_roots:
        return result(
            name,
            INDETERMINATE,
            "NO_TRUST_ANCHOR",
            "no platform CA certificate to check the seal certificate against",
            "缺少平台根证书，无法校验印章证书",
        )
    signed_at = str(doc["header"]["signed_at"])
    key = (str(doc["signature"]["certificate"]), signed_at)
    hit = ctx.caches.chains.get(key)
    if hit is not None:
        return hit
    try:
        cert, _raw = _certificate(doc, ctx)
        when = parse_time(signed_at)
    except (ValueError, UnsupportedAlgorithm) as exc:
        return result(
            name, FAILED, "CERT_MALFORMED", f"certificate unreadable: {exc}", "证书格式错误"
        )
    outcome = chain_result(cert, when, ctx.trust_roots)
    ctx.caches.chains[key] = outcome
    return outcome


def chain_result(
    cert: x509.Certificate,
    when: dt.datetime,
    roots: Sequence[x509.Certificate],
    moment: tuple[str, str] = ("signing time", "签章时"),
) -> CheckResult:
    name = "seal_certificate"
    if _is_ca(cert):
        return result(
            name,
            FAILED,
            "NOT_A_SEAL_CERTIFICATE",
            "the signing certificate is a CA certificate, not a seal certificate",
            "签章证书不是印章证书",
        )
    path = [cert]
    current = cert
    fingerprints = {c.fingerprint(hashes.SHA256()) for c in roots}
    for _depth in range(4):
        if current.fingerprint(hashes.SHA256()) in fingerprints and current is not cert:
            break
        issuer = next(
            (c for c in roots if c.subject == current.issuer and _issued_by(current, c)), None
        )
        if issuer is None:
            return result(
                name,
                FAILED,
                "CHAIN_UNTRUSTED",
                "the seal certificate was not issued by the platform CA",
                "印章证书非平台CA签发（不可信）",
            )
        if not _is_ca(issuer):
            return result(
                name, FAILED, "CHAIN_UNTRUSTED", "issuer is not a CA", "印章证书签发者不是CA"
            )
        path.append(issuer)
        current = issuer
        if issuer.subject == issuer.issuer:
            break
    for c in path:
        if when < c.not_valid_before_utc:
            return result(
                name,
                FAILED,
                "CERT_NOT_YET_VALID",
                f"certificate {c.subject.rfc4514_string()} was not yet valid at {moment[0]} "
                f"{when.isoformat()}",
                f"{moment[1]}证书尚未生效",
            )
        if when > c.not_valid_after_utc:
            return result(
                name,
                FAILED,
                "CERT_EXPIRED",
                f"certificate {c.subject.rfc4514_string()} had expired at {moment[0]} "
                f"{when.isoformat()} (valid to {c.not_valid_after_utc.date()})",
                f"{moment[1]}印章证书已过期",
            )
    return result(
        name,
        PASSED,
        "OK",
        f"chains to the platform CA, valid at {moment[0]} (until "
        f"{cert.not_valid_after_utc.date()})",
        f"印章证书由平台CA签发，{moment[1]}有效",
    )


def _cert_uscc(cert: x509.Certificate) -> str | None:
    attrs = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_IDENTIFIER)
    if not attrs:
        return None
    value = str(attrs[0].value)
    return value[5:] if value.startswith("USCC-") else value


def check_seal_status(doc: dict[str, Any], _r_: Receipt | None, ctx: VerifyContext) -> CheckResult:
    """The seal was registered, this certificate belongs to it, and it was active at signing."""
    name = "seal_status"
    seal_id = str(doc["header"]["seal_id"])
    if ctx.seal_of is None:
        return result(
            name,
            INDETERMINATE,
            "SEAL_STATUS_UNAVAILABLE",
            "seal status cannot be checked now",
            "暂无法查询印章状态",
        )
    seal = ctx.seal_of(seal_id)
    if seal is None:
        return result(
            name,
            FAILED,
            "SEAL_UNKNOWN",
            f"seal {seal_id} is not registered on the platform",
            "印章未在平台登记",
        )
    pem = str(doc["signature"]["certificate"])
    der_hash = ctx.caches.der_sha256.get(pem)
    if der_hash is None:
        cert, _raw = _certificate(doc, ctx)
        der = cert.public_bytes(serialization.Encoding.DER)
        der_hash = ctx.caches.der_sha256[pem] = hashlib.sha256(der).hexdigest()
    if seal.cert_sha256 and der_hash not in seal.cert_sha256:
        return result(
            name,
            FAILED,
            "SEAL_CERT_MISMATCH",
            f"the signing certificate is not a certificate of seal {seal_id} (swapped seal)",
            "签章证书不属于所声明的印章（印章被替换）",
        )
    when = parse_time(str(doc["header"]["signed_at"]))
    if not (as_utc(seal.valid_from) <= when < as_utc(seal.valid_to)):
        return result(
            name,
            FAILED,
            "SEAL_OUTSIDE_VALIDITY",
            f"seal {seal_id} was not within its validity at signing time {when.isoformat()}",
            "签章时印章不在有效期内",
        )
    status, since = seal.status_at(when)
    if status == "active":
        later = "" if seal.status == "active" else f" (now {seal.status}, after signing)"
        later_zh = "" if seal.status == "active" else f"（签章后{STATUS_ZH.get(seal.status, '')}）"
        return result(
            name,
            PASSED,
            "OK",
            f"seal {seal_id} was active at signing time{later}",
            f"签章时印章有效{later_zh}",
        )
    day = since.date().isoformat() if since else "unknown date"
    reason = "SEAL_REVOKED" if status == "revoked" else "SEAL_SUSPENDED"
    zh = "签章时印章已吊销" if status == "revoked" else "签章时印章已暂停使用"
    return result(name, FAILED, reason, f"seal {seal_id} was {status} ({day}) at signing time", zh)


def check_authority(doc: dict[str, Any], _r_: Receipt | None, ctx: VerifyContext) -> CheckResult:
    """The issuer is a registered authority allowed to issue this type, and its seal signed."""
    name = "authority"
    parts = str(doc["header"]["licence_id"]).split(".")
    if len(parts) != 10:
        raise MalformedLicenceError("licence identifier does not have its ten parts")
    type_code, issuer_code = parts[5], parts[6]
    try:
        auth = authorities.get(issuer_code)
    except authorities.AuthorityError:
        return result(
            name,
            FAILED,
            "AUTHORITY_UNREGISTERED",
            f"issuer {issuer_code} is not a registered issuing authority",
            "颁发机构未登记为发证机关",
        )
    try:
        lt = licence_types.get(type_code)
    except licence_types.LicenceTypeError:
        return result(
            name,
            FAILED,
            "UNKNOWN_TYPE",
            f"licence type {type_code} is not in the catalogue",
            "证照类型不在目录中",
        )
    if not auth.allowed(lt):
        return result(
            name,
            FAILED,
            "TYPE_NOT_ALLOWED",
            f"{auth.uscc} may not issue {lt.name_en}",
            f"{auth.name}无权颁发{lt.name}",
        )
    shown = field_value(doc, "证照颁发机构代码")
    if shown is not None and shown != auth.uscc:
        return result(
            name,
            FAILED,
            "ISSUER_MISMATCH",
            "the issuer field differs from the issuer in the identifier",
            "颁发机构代码与证照标识不一致",
        )
    pem = str(doc["signature"]["certificate"])
    owners = ctx.caches.cert_uscc
    if pem not in owners:  # read once per exact PEM: a certificate's subject never changes
        owners[pem] = _cert_uscc(_certificate(doc, ctx)[0])
    if owners[pem] != auth.uscc:
        return result(
            name,
            FAILED,
            "SEAL_AUTHORITY_MISMATCH",
            "the seal belongs to another organisation than the issuing authority",
            "印章不属于颁发机构（他人印章）",
        )
    if not str(doc["header"]["seal_id"]).startswith(auth.uscc):
        return result(
            name,
            FAILED,
            "SEAL_AUTHORITY_MISMATCH",
            "the seal identifier is not one of the issuing authority's seals",
            "印章编号不属于颁发机构",
        )
    return result(
        name,
        PASSED,
        "OK",
        f"{auth.uscc} may issue {lt.name_en}; sealed with its own seal",
        f"{auth.name}有权颁发{lt.name}",
    )
