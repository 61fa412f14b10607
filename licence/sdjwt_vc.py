"""Licences in formats other verifiers read: a W3C Verifiable Credential 2.0 secured as an
SD-JWT (W3C VC-JOSE-COSE, ``typ: vc+sd-jwt``), and each authority's status lists as W3C
Bitstring Status List credentials (``vc+jwt``).

The credential is signed (ES256) by the issuing authority's seal key, its certificate chain in
``x5c``. Every licence field is selectively disclosable: a disclosure is
``[salt, name, value]`` with the field's own salt from the sealed licence, so a verifier that
knows this project can rebuild the sealed licence from the disclosed fields and the digests the
credential carries (``sealedLicence``), and run the full verification policy on it; one that
does not reads an ordinary SD-JWT VC. ``credentialStatus`` points at the authority's status
list credentials (revocation and suspension), and ``evidence`` carries the ledger receipt.

Pure: the caller hands the signer, the certificates and the URLs.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from ledger import strict_json

VC_CONTEXT = "https://www.w3.org/ns/credentials/v2"
TYP = "vc+sd-jwt"
STATUS_TYP = "vc+jwt"
SD_ALG = "sha-256"
MIN_BITS = 131_072  # W3C Bitstring Status List: at least 16 KiB, so an index says little


class SdJwtError(ValueError):
    """An SD-JWT VC cannot be read or does not hold; the message says which part."""


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64u_decode(text: str, what: str) -> bytes:
    if not text or any(c not in _B64U for c in text):
        raise SdJwtError(f"{what} is not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except ValueError as exc:
        raise SdJwtError(f"{what} is not base64url") from exc


_B64U = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def _json_b64u(obj: Any) -> str:
    return b64u(json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode())


def _es256(key: ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
    r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def _jws(header: Mapping[str, Any], payload: Mapping[str, Any], key: Any) -> str:
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise SdJwtError("an SD-JWT VC is signed with ES256: this seal's key is not P-256")
    signing_input = f"{_json_b64u(header)}.{_json_b64u(payload)}"
    return f"{signing_input}.{b64u(_es256(key, signing_input.encode('ascii')))}"


def x5c(chain: Sequence[x509.Certificate]) -> list[str]:
    """The ``x5c`` header: standard base64 DER, leaf first (RFC 7515 §4.1.6)."""
    return [base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode() for c in chain]


def disclosure(salt: str, name: str, value: Any) -> str:
    return _json_b64u([salt, name, value])


def disclosure_digest(encoded: str) -> str:
    return b64u(hashlib.sha256(encoded.encode("ascii")).digest())


@dataclass(frozen=True)
class StatusRef:
    """Where a licence's bit is: its authority's list credential URL and its index."""

    purpose: str  # revocation | suspension
    url: str
    index: int


def export_credential(
    doc: Mapping[str, Any],
    *,
    key: Any,
    chain: Sequence[x509.Certificate],
    issuer: Mapping[str, str],
    licence_type: Mapping[str, str],
    issued_at: int,
    status: Sequence[StatusRef] = (),
    receipt: Mapping[str, Any] | None = None,
    disclose: Sequence[str] | None = None,
) -> str:
    """The sealed licence ``doc`` as an SD-JWT VC: ``<jws>~<disclosure>~…~``. ``disclose``
    names the fields whose disclosures are included (default all the licence shows); the
    others stay digests. ``issuer`` has ``id`` and ``name``; ``licence_type`` ``code`` and
    ``title``."""
    fields = doc["fields"]
    wanted = [n for n in fields if "value" in fields[n]] if disclose is None else list(disclose)
    unknown = sorted(set(wanted) - {n for n in fields if "value" in fields[n]})
    if unknown:
        raise SdJwtError(f"cannot disclose fields the licence does not show: {', '.join(unknown)}")
    disclosures: list[str] = []
    digests: list[str] = []
    for name, entry in fields.items():
        if "value" not in entry:
            continue
        encoded = disclosure(str(entry["salt"]), name, entry["value"])
        digests.append(disclosure_digest(encoded))
        if name in wanted:
            disclosures.append(encoded)
    header = doc["header"]
    lid = str(header["licence_id"])
    payload: dict[str, Any] = {
        "@context": [VC_CONTEXT],
        "type": ["VerifiableCredential", "ElectronicLicenceCredential"],
        "id": f"urn:egov-hub:licence:{lid}",
        "name": licence_type["title"],
        "issuer": {"id": issuer["id"], "name": issuer["name"]},
        "validFrom": str(header["signed_at"]),
        "credentialSubject": {"licenceType": licence_type["code"], "_sd": sorted(digests)},
        "sealedLicence": {
            "header": dict(header),
            "signature": dict(doc["signature"]),
            "digests": {n: str(e["digest"]) for n, e in fields.items()},
        },
        "iss": issuer["id"],
        "iat": issued_at,
        "_sd_alg": SD_ALG,
    }
    if status:
        payload["credentialStatus"] = [
            {
                "id": f"{s.url}#{s.index}",
                "type": "BitstringStatusListEntry",
                "statusPurpose": s.purpose,
                "statusListIndex": str(s.index),
                "statusListCredential": s.url,
            }
            for s in status
        ]
    if receipt is not None:
        payload["evidence"] = [{"type": "LedgerReceipt", "receipt": dict(receipt)}]
    jws = _jws({"alg": "ES256", "typ": TYP, "x5c": x5c(chain)}, payload, key)
    return "~".join([jws, *disclosures]) + "~"


def status_list_credential(
    bits: bytes,
    size: int,
    *,
    purpose: str,
    url: str,
    issuer: Mapping[str, str],
    valid_from: str,
    key: Any,
    chain: Sequence[x509.Certificate],
    issued_at: int,
) -> str:
    """A W3C BitstringStatusListCredential (``vc+jwt``) for one authority's list: bit i is the
    licence with status index i (most significant bit first), padded to 16 KiB."""
    padded = bits + bytes(max(0, MIN_BITS // 8 - len(bits)))
    encoded = "u" + b64u(gzip.compress(padded, mtime=0))
    payload = {
        "@context": [VC_CONTEXT],
        "id": url,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": {"id": issuer["id"], "name": issuer["name"]},
        "validFrom": valid_from,
        "credentialSubject": {
            "id": f"{url}#list",
            "type": "BitstringStatusList",
            "statusPurpose": purpose,
            "encodedList": encoded,
        },
        "iss": issuer["id"],
        "iat": issued_at,
        "size": size,
    }
    return _jws({"alg": "ES256", "typ": STATUS_TYP, "x5c": x5c(chain)}, payload, key)


# ---- reading one back ---------------------------------------------------------------------
@dataclass(frozen=True)
class ReadCredential:
    """An SD-JWT VC whose signature and disclosures held: the sealed licence rebuilt from it
    (disclosed fields with value and salt, the others as digests), its receipt, and who
    signed it."""

    licence: dict[str, Any]
    receipt: Any
    certificate: x509.Certificate
    disclosed: tuple[str, ...]


def looks_like(text: str) -> bool:
    """True for text shaped like an SD-JWT (``eyJ…~…``), before any checking."""
    head = text.split("~", 1)[0]
    return text.startswith("eyJ") and "~" in text and head.count(".") == 2


def read_credential(text: str) -> ReadCredential:
    """Check an SD-JWT VC's signature (ES256 by its ``x5c`` leaf) and every disclosure against
    the signed digests, and rebuild the sealed licence it carries; SdJwtError otherwise. Whether
    the leaf certificate is trustworthy is for the licence's checks to say (it must be the
    sealed licence's own seal certificate)."""
    parts = text.strip().split("~")
    if len(parts) < 2:
        raise SdJwtError("an SD-JWT ends with '~' after its disclosures")
    jws, encoded, binding = parts[0], parts[1:-1], parts[-1]
    if binding:
        raise SdJwtError("key binding JWTs are not used for licences")
    try:
        h64, p64, s64 = jws.split(".")
    except ValueError:
        raise SdJwtError("the signed part is not a compact JWS") from None
    try:
        header = strict_json.loads(b64u_decode(h64, "JWS header"))
        payload = strict_json.loads(b64u_decode(p64, "JWS payload"))
    except strict_json.StrictJSONError as exc:
        raise SdJwtError(f"the JWS is not I-JSON: {exc}") from exc
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise SdJwtError("the JWS header and payload are JSON objects")
    if header.get("alg") != "ES256" or header.get("typ") != TYP:
        raise SdJwtError(f"expected alg ES256 and typ {TYP}")
    chain = header.get("x5c")
    if not isinstance(chain, list) or not chain or not isinstance(chain[0], str):
        raise SdJwtError("the JWS header carries no x5c certificate")
    try:
        cert = x509.load_der_x509_certificate(base64.b64decode(chain[0], validate=True))
    except ValueError as exc:
        raise SdJwtError(f"the x5c certificate cannot be read: {exc}") from exc
    key = cert.public_key()
    signature = b64u_decode(s64, "JWS signature")
    if not isinstance(key, ec.EllipticCurvePublicKey) or len(signature) != 64:
        raise SdJwtError("the signature is not ES256 by a P-256 certificate")
    der = encode_dss_signature(
        int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    )
    from cryptography.exceptions import InvalidSignature

    try:
        key.verify(der, f"{h64}.{p64}".encode("ascii"), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise SdJwtError("the credential's signature does not verify (altered?)") from None
    if payload.get("_sd_alg") != SD_ALG:
        raise SdJwtError(f"_sd_alg must be {SD_ALG}")
    subject = payload.get("credentialSubject")
    sealed = payload.get("sealedLicence")
    if not isinstance(subject, dict) or not isinstance(sealed, dict):
        raise SdJwtError("the credential carries no credentialSubject or sealedLicence")
    signed_digests = subject.get("_sd")
    digests = sealed.get("digests")
    if not isinstance(signed_digests, list) or not isinstance(digests, dict):
        raise SdJwtError("the credential's digests are missing")
    allowed = set(map(str, signed_digests))
    fields: dict[str, dict[str, Any]] = {str(n): {"digest": str(d)} for n, d in digests.items()}
    seen: set[str] = set()
    for i, item in enumerate(encoded):
        digest = disclosure_digest(item)
        if digest not in allowed:
            raise SdJwtError(f"disclosure {i + 1} is not one the issuer signed (altered?)")
        if digest in seen:
            raise SdJwtError(f"disclosure {i + 1} is given twice")
        seen.add(digest)
        try:
            triple = strict_json.loads(b64u_decode(item, f"disclosure {i + 1}"))
        except strict_json.StrictJSONError as exc:
            raise SdJwtError(f"disclosure {i + 1} is not I-JSON: {exc}") from exc
        if not (isinstance(triple, list) and len(triple) == 3 and isinstance(triple[1], str)):
            raise SdJwtError(f"disclosure {i + 1} is not [salt, name, value]")
        salt, name, value = triple
        if name not in fields:
            raise SdJwtError(f"disclosure {i + 1} names a field the licence does not have")
        fields[name] = {"value": value, "salt": salt, "digest": fields[name]["digest"]}
    licence = {
        "header": sealed.get("header"),
        "signature": sealed.get("signature"),
        "fields": fields,
    }
    evidence = payload.get("evidence")
    receipt = None
    if isinstance(evidence, list):
        for e in evidence:
            if isinstance(e, dict) and e.get("type") == "LedgerReceipt":
                receipt = e.get("receipt")
    disclosed = tuple(sorted(n for n, e in fields.items() if "value" in e))
    return ReadCredential(licence, receipt, cert, disclosed)
