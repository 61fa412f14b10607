"""GB/T 38540-2020 electronic seals (SESeal) and signed documents (SES_Signature) in DER.

The structures of the standard's ASN.1 module (version 4), declared with asn1crypto (pyHanko's
ASN.1 library, already a dependency):

- ``SESeal``: ``SES_SealInfo`` (header ``ES``/version/vendor, esID, property: type, name,
  certificate list, dates; picture: type, data, size), the maker's certificate, the maker's
  signature algorithm and signature over ``SEQUENCE {eSealInfo, cert, signAlgID}``;
- ``SES_Signature``: ``TBS_Sign`` (version, the seal, timeInfo, dataHash, propertyInfo), the
  signer's certificate, the signature algorithm and the signature over
  ``SEQUENCE {toSign, cert, signatureAlgID}``.

Under the national profile both signatures are SM2 with SM3 (GB/T 32918, OID
``1.2.156.10197.1.501``, the data hash SM3 ``1.2.156.10197.1.401``), the signature value the DER
``SEQUENCE {r, s}`` as the standard has it. The platform's seal maker key is ECDSA P-256, so a
maker signature may also be ``ecdsa-with-SHA256`` (``1.2.840.10045.4.3.2``), as may the signature
of a seal under the standard profile; any other algorithm is refused.

Reading is strict: the bytes must be the DER encoding of the structure and nothing more (a
re-encoding that differs, trailing bytes, a wrong header, an unknown algorithm are refused with
a :class:`SesError` naming what is wrong), so a tampered field cannot hide behind a lenient
parser. Pure: no I/O, no clock (times come in).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from asn1crypto import core
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from licence import signers, sm2_openssl

SES_VERSION = 4
SES_HEADER_ID = "ES"
SM2_SM3_OID = "1.2.156.10197.1.501"  # GB/T 33560: SM2 signature with SM3
SM3_OID = "1.2.156.10197.1.401"
ECDSA_SHA256_OID = "1.2.840.10045.4.3.2"
ALGORITHM_OIDS = {signers.SM2_SM3: SM2_SM3_OID, signers.ECDSA_P256: ECDSA_SHA256_OID}
OID_ALGORITHMS = {oid: name for name, oid in ALGORITHM_OIDS.items()}
SEAL_TYPE_ORGANISATION = 1  # 单位印章
SEAL_TYPE_PERSONAL = 2  # 个人印章
CERT_LIST_CERTS = 1  # certList holds the certificates themselves (2 would be digests)
PICTURE_TYPES = ("GIF", "JPG", "PNG", "SVG", "OFD")


class SesError(ValueError):
    """A GB/T 38540 structure is malformed, tampered with, or does not verify."""


# ---- the standard's ASN.1 module -------------------------------------------------------------


class SESHeader(core.Sequence):  # type: ignore[misc]  # asn1crypto has no type hints
    _fields: ClassVar[list[tuple[Any, ...]]] = [
        ("id", core.IA5String),
        ("version", core.Integer),
        ("vid", core.IA5String),
    ]


class CertInfoList(core.SequenceOf):  # type: ignore[misc]  # asn1crypto has no type hints
    _child_spec = core.OctetString


class SESESPropertyInfo(core.Sequence):  # type: ignore[misc]  # asn1crypto has no type hints
    _fields: ClassVar[list[tuple[Any, ...]]] = [
        ("type", core.Integer),
        ("name", core.UTF8String),
        ("certListType", core.Integer),
        ("certList", CertInfoList),
        ("createDate", core.GeneralizedTime),
        ("validStart", core.GeneralizedTime),
        ("validEnd", core.GeneralizedTime),
    ]


class SESESPictureInfo(core.Sequence):  # type: ignore[misc]  # asn1crypto has no type hints
    _fields: ClassVar[list[tuple[Any, ...]]] = [
        ("type", core.IA5String),
        ("data", core.OctetString),
        ("width", core.Integer),
        ("height", core.Integer),
    ]


class ExtData(core.Sequence):  # type: ignore[misc]  # asn1crypto has no type hints
    _fields: ClassVar[list[tuple[Any, ...]]] = [
        ("extnID", core.ObjectIdentifier),
        ("critical", core.Boolean, {"default": False}),
        ("extnValue", core.OctetString),
    ]


class ExtensionDatas(core.SequenceOf):  # type: ignore[misc]  # asn1crypto has no type hints
    _child_spec = ExtData


class SESSealInfo(core.Sequence):  # type: ignore[misc]  # asn1crypto has no type hints
    _fields: ClassVar[list[tuple[Any, ...]]] = [
        ("header", SESHeader),
        ("esID", core.IA5String),
        ("property", SESESPropertyInfo),
        ("picture", SESESPictureInfo),
        ("extDatas", ExtensionDatas, {"optional": True}),
    ]


class SESeal(core.Sequence):  # type: ignore[misc]  # asn1crypto has no type hints
    _fields: ClassVar[list[tuple[Any, ...]]] = [
        ("eSealInfo", SESSealInfo),
        ("cert", core.OctetString),
        ("signAlgID", core.ObjectIdentifier),
        ("signedValue", core.OctetBitString),
    ]


class TBSSign(core.Sequence):  # type: ignore[misc]  # asn1crypto has no type hints
    _fields: ClassVar[list[tuple[Any, ...]]] = [
        ("version", core.Integer),
        ("eseal", SESeal),
        ("timeInfo", core.GeneralizedTime),
        ("dataHash", core.OctetBitString),
        ("propertyInfo", core.IA5String),
        ("extDatas", ExtensionDatas, {"optional": True}),
    ]


class SESSignature(core.Sequence):  # type: ignore[misc]  # asn1crypto has no type hints
    _fields: ClassVar[list[tuple[Any, ...]]] = [
        ("toSign", TBSSign),
        ("cert", core.OctetString),
        ("signatureAlgID", core.ObjectIdentifier),
        ("signature", core.OctetBitString),
        ("timeStamp", core.OctetBitString, {"implicit": 0, "optional": True}),
    ]


# ---- plain views ---------------------------------------------------------------------------


class Signer(Protocol):
    """Signs bytes with one private key (``licence.signers``): P-256 (DER) or SM2 (r‖s)."""

    algorithm: str

    def sign(self, data: bytes) -> bytes: ...


@dataclass(frozen=True)
class Seal:
    """A read (structurally checked, not yet verified) SESeal."""

    der: bytes
    seal_id: str
    vendor: str
    seal_type: int
    name: str
    certs: tuple[bytes, ...]  # DER of each certificate allowed to sign with the seal
    create_date: dt.datetime
    valid_start: dt.datetime
    valid_end: dt.datetime
    picture_type: str
    picture: bytes
    width_mm: int
    height_mm: int
    maker_cert: bytes
    maker_algorithm: str
    maker_signature: bytes
    signed_data: bytes  # DER SEQUENCE {eSealInfo, cert, signAlgID}: what the maker signed


@dataclass(frozen=True)
class Signature:
    """A read (structurally checked, not yet verified) SES_Signature."""

    der: bytes
    seal: Seal
    time: dt.datetime
    data_hash: bytes
    property_info: str
    cert: bytes
    algorithm: str
    signature: bytes
    signed_data: bytes  # DER SEQUENCE {toSign, cert, signatureAlgID}
    timestamp: bytes | None


def digest(algorithm: str, data: bytes) -> bytes:
    """The document hash an algorithm signs with: SM3 for SM2, SHA-256 for ECDSA P-256."""
    if algorithm == signers.SM2_SM3:
        h = hashes.Hash(hashes.SM3())
        h.update(data)
        return h.finalize()
    if algorithm == signers.ECDSA_P256:
        return hashlib.sha256(data).digest()
    raise SesError(f"unknown signature algorithm {algorithm!r}")


def _oid(algorithm: str) -> str:
    try:
        return ALGORITHM_OIDS[algorithm]
    except KeyError:
        raise SesError(f"unknown signature algorithm {algorithm!r}") from None


def _to_der_signature(algorithm: str, value: bytes) -> bytes:
    """The standard's signature value: DER ``SEQUENCE {r, s}`` (SM2 signers give r‖s)."""
    if algorithm == signers.SM2_SM3 and len(value) == 64:
        return sm2_openssl.der_signature(
            int.from_bytes(value[:32], "big"), int.from_bytes(value[32:], "big")
        )
    return value


def _raw_sm2(value: bytes) -> bytes:
    try:
        seq = core.Sequence.load(value, strict=True)
        r, s = (int(seq[i].native) for i in (0, 1))
        if len(seq) != 2 or seq.dump(force=True) != value:
            raise ValueError("not DER")
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")
    except (ValueError, TypeError, KeyError, OverflowError, AttributeError):
        raise SesError("the SM2 signature value is not a DER SEQUENCE {r, s}") from None


def _time(t: dt.datetime) -> core.GeneralizedTime:
    if t.tzinfo is None:
        raise SesError("times in a seal carry a time zone")
    return core.GeneralizedTime(t.astimezone(dt.UTC).replace(microsecond=0))


def _sequence(*parts: core.Asn1Value) -> bytes:
    """DER ``SEQUENCE`` of the already encoded parts (what both signatures cover)."""
    body = b"".join(p.dump() for p in parts)
    return bytes(core.Sequence(contents=body).dump())


def build_seal(
    *,
    seal_id: str,
    name: str,
    certs: list[bytes],
    create_date: dt.datetime,
    valid_start: dt.datetime,
    valid_end: dt.datetime,
    picture: bytes,
    picture_type: str,
    width_mm: int,
    height_mm: int,
    maker_cert: bytes,
    maker: Signer,
    vendor: str = "egov-hub",
    seal_type: int = SEAL_TYPE_ORGANISATION,
) -> bytes:
    """The DER SESeal, signed by the seal maker (``maker`` with ``maker_cert``, DER)."""
    if picture_type not in PICTURE_TYPES:
        raise SesError(f"unknown picture type {picture_type!r}; use one of {PICTURE_TYPES}")
    if not certs:
        raise SesError("a seal names at least one signer certificate")
    if valid_end <= valid_start:
        raise SesError("seal validity must end after it starts")
    info = SESSealInfo(
        {
            "header": {"id": SES_HEADER_ID, "version": SES_VERSION, "vid": vendor},
            "esID": seal_id,
            "property": {
                "type": seal_type,
                "name": name,
                "certListType": CERT_LIST_CERTS,
                "certList": certs,
                "createDate": _time(create_date),
                "validStart": _time(valid_start),
                "validEnd": _time(valid_end),
            },
            "picture": {
                "type": picture_type,
                "data": picture,
                "width": width_mm,
                "height": height_mm,
            },
        }
    )
    cert = core.OctetString(maker_cert)
    alg = core.ObjectIdentifier(_oid(maker.algorithm))
    value = _to_der_signature(maker.algorithm, maker.sign(_sequence(info, cert, alg)))
    seal = SESeal({"eSealInfo": info, "cert": cert, "signAlgID": alg, "signedValue": value})
    return bytes(seal.dump())


def sign_document(
    *,
    seal_der: bytes,
    data: bytes,
    when: dt.datetime,
    property_info: str,
    cert: bytes,
    signer: Signer,
) -> bytes:
    """The DER SES_Signature over ``data`` (its hash is signed) with ``signer``, whose
    certificate (DER) ``cert`` must be one the seal lists."""
    seal = read_seal(seal_der)
    if cert not in seal.certs:
        raise SesError("the signer's certificate is not one of the seal's certificates")
    tbs = TBSSign(
        {
            "version": SES_VERSION,
            "eseal": SESeal.load(seal_der),
            "timeInfo": _time(when),
            "dataHash": digest(signer.algorithm, data),
            "propertyInfo": property_info,
        }
    )
    cert_value = core.OctetString(cert)
    alg = core.ObjectIdentifier(_oid(signer.algorithm))
    value = _to_der_signature(signer.algorithm, signer.sign(_sequence(tbs, cert_value, alg)))
    ses = SESSignature(
        {"toSign": tbs, "cert": cert_value, "signatureAlgID": alg, "signature": value}
    )
    return bytes(ses.dump())


# ---- reading -------------------------------------------------------------------------------


def _load(spec: type[core.Sequence], der: bytes, what: str) -> Any:
    try:
        value = spec.load(der, strict=True)
        value.native  # noqa: B018 - parse every field now, so a malformed one fails here
        again = value.dump(force=True)
    except (ValueError, TypeError, KeyError, OverflowError, AttributeError) as exc:
        raise SesError(f"not a DER {what}: {exc}") from None
    if again != der:
        raise SesError(f"not a DER {what}: the encoding is not canonical DER")
    return value


def _algorithm(oid: str, what: str) -> str:
    try:
        return OID_ALGORITHMS[oid]
    except KeyError:
        raise SesError(f"{what} uses unknown algorithm {oid}") from None


def _seal_view(der: bytes, seal: Any) -> Seal:
    info = seal["eSealInfo"]
    header = info["header"].native
    if header["id"] != SES_HEADER_ID or header["version"] != SES_VERSION:
        raise SesError(
            f"seal header is {header['id']!r} version {header['version']}, "
            f"not {SES_HEADER_ID!r} version {SES_VERSION}"
        )
    prop = info["property"].native
    if prop["certListType"] != CERT_LIST_CERTS:
        raise SesError(f"seal certificate list type {prop['certListType']} is not supported")
    pic = info["picture"].native
    maker_alg = _algorithm(seal["signAlgID"].dotted, "the seal maker's signature")
    return Seal(
        der=der,
        seal_id=info["esID"].native,
        vendor=header["vid"],
        seal_type=prop["type"],
        name=prop["name"],
        certs=tuple(prop["certList"]),
        create_date=prop["createDate"],
        valid_start=prop["validStart"],
        valid_end=prop["validEnd"],
        picture_type=pic["type"],
        picture=pic["data"],
        width_mm=pic["width"],
        height_mm=pic["height"],
        maker_cert=seal["cert"].native,
        maker_algorithm=maker_alg,
        maker_signature=seal["signedValue"].native,
        signed_data=_sequence(info, seal["cert"], seal["signAlgID"]),
    )


def read_seal(der: bytes) -> Seal:
    """The SESeal in ``der`` (strict DER); SesError names what is wrong."""
    return _seal_view(der, _load(SESeal, der, "SESeal"))


def read_signature(der: bytes) -> Signature:
    """The SES_Signature in ``der`` (strict DER); SesError names what is wrong."""
    ses = _load(SESSignature, der, "SES_Signature")
    tbs = ses["toSign"]
    if tbs["version"].native != SES_VERSION:
        raise SesError(f"signature version {tbs['version'].native} is not {SES_VERSION}")
    seal = _seal_view(tbs["eseal"].dump(), tbs["eseal"])
    stamp = ses["timeStamp"]
    return Signature(
        der=der,
        seal=seal,
        time=tbs["timeInfo"].native,
        data_hash=tbs["dataHash"].native,
        property_info=tbs["propertyInfo"].native,
        cert=ses["cert"].native,
        algorithm=_algorithm(ses["signatureAlgID"].dotted, "the signature"),
        signature=ses["signature"].native,
        signed_data=_sequence(tbs, ses["cert"], ses["signatureAlgID"]),
        timestamp=None if isinstance(stamp, core.Void) else stamp.native,
    )


def looks_like_signature(data: bytes) -> bool:
    """True when ``data`` starts like a DER SEQUENCE that reads as an SES_Signature."""
    if not data.startswith(b"\x30"):
        return False
    try:
        read_signature(data)
    except SesError:
        return False
    return True


# ---- verifying -----------------------------------------------------------------------------


def _certificate_key(cert_der: bytes, what: str) -> tuple[str, bytes]:
    try:
        cert = x509.load_der_x509_certificate(cert_der)
        return signers.certificate_key(cert)
    except (ValueError, signers.SignatureError) as exc:
        raise SesError(f"{what} certificate unreadable: {exc}") from None


def _check(algorithm: str, cert_der: bytes, value: bytes, data: bytes, what: str) -> None:
    key_alg, point = _certificate_key(cert_der, what)
    if key_alg != algorithm:
        raise SesError(f"{what} signature algorithm {algorithm} does not match its key")
    raw = _raw_sm2(value) if algorithm == signers.SM2_SM3 else value
    try:
        signers.verify(algorithm, point, raw, data)
    except (signers.SignatureError, ValueError):
        raise SesError(f"{what} signature does not verify") from None


def verify_maker(seal: Seal) -> None:
    """Raise SesError unless the seal maker's signature over the seal verifies under the
    certificate the seal carries (whether that maker is trusted is the caller's question)."""
    _check(seal.maker_algorithm, seal.maker_cert, seal.maker_signature, seal.signed_data, "maker")


def verify_signer(sig: Signature) -> None:
    """Raise SesError unless the signer's signature verifies and its certificate is one of the
    seal's certificates."""
    if sig.cert not in sig.seal.certs:
        raise SesError("the signer's certificate is not one of the seal's certificates")
    _check(sig.algorithm, sig.cert, sig.signature, sig.signed_data, "the signer's")


def verify_data(sig: Signature, data: bytes) -> None:
    """Raise SesError unless ``data`` is what was signed (its hash is the signed dataHash)."""
    if digest(sig.algorithm, data) != sig.data_hash:
        raise SesError("the document's hash is not the signed one: the document was changed")
