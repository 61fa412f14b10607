"""Electronic seals modelled on GB/T 38540 SESeal: id, type, name, picture, validity, certificates.

A seal is created for a registered authority: a fresh key pair (kept encrypted in the key store),
a seal certificate from the platform seal CA binding USCC, seal name and picture hash, the red
round picture (SVG + PNG), and the seal info signed by the seal maker (the platform seal CA key,
ECDSA P-256 with SHA-256 here; SM2-with-SM3 once the national-profile key custody exists). The
JSON form keeps the SESeal field names so the ASN.1 encoding can be added later.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from licence import ca, picture
from licence.document import canonical
from licence.signers import ECDSA_P256

SEAL_TYPES = {"official": "法定名称章", "licence": "电子证照专用章"}
PICTURE_MM = 42


class SealError(ValueError):
    """A seal cannot be created, used or changed (unknown, not active, wrong state)."""


@dataclass(frozen=True)
class SealInfo:
    """SESeal's SES_SealInfo: header, id, property and picture (the maker signs its JCS form)."""

    seal_id: str
    seal_type: str
    name: str
    authority: str
    authority_name: str
    cert_list: tuple[str, ...]  # SHA-256 of each signer certificate (DER) allowed to use the seal
    create_date: str
    valid_start: str
    valid_end: str
    picture_type: str
    picture_sha256: str
    picture_mm: int

    def to_json(self) -> dict[str, Any]:
        return {
            "header": {"id": "ES", "version": 4, "vid": "egov-hub"},
            "esID": self.seal_id,
            "property": {
                "type": self.seal_type,
                "name": self.name,
                "certList": list(self.cert_list),
                "createDate": self.create_date,
                "validStart": self.valid_start,
                "validEnd": self.valid_end,
            },
            "holder": {"uscc": self.authority, "name": self.authority_name},
            "picture": {
                "type": self.picture_type,
                "sha256": self.picture_sha256,
                "width_mm": self.picture_mm,
                "height_mm": self.picture_mm,
            },
        }


@dataclass(frozen=True)
class CreatedSeal:
    info: SealInfo
    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    png: bytes
    svg: str
    document: dict[str, Any]  # SESeal JSON: seal info + maker signature


def build_seal(
    seal_id: str,
    authority: str,
    authority_name: str,
    seal_name: str,
    seal_type: str,
    seal_ca: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    keys: Any,
    valid_from: dt.datetime,
    valid_to: dt.datetime,
) -> CreatedSeal:
    """Key pair, picture, certificate and maker-signed seal info for one seal."""
    if seal_type not in SEAL_TYPES:
        raise SealError(f"unknown seal type {seal_type!r}; use one of {', '.join(SEAL_TYPES)}")
    if valid_to <= valid_from:
        raise SealError("seal validity must end after it starts")
    key = ec.generate_private_key(ec.SECP256R1())
    png = picture.seal_png(authority_name, SEAL_TYPES[seal_type])
    svg = picture.seal_svg(authority_name, SEAL_TYPES[seal_type], PICTURE_MM)
    pic_hash = hashlib.sha256(png).digest()
    cert = ca.issue_seal_certificate(
        keys,
        seal_ca,
        key.public_key(),
        authority,
        authority_name,
        seal_name,
        pic_hash,
        valid_from,
        valid_to,
    )
    cert_hash = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()
    info = SealInfo(
        seal_id=seal_id,
        seal_type=seal_type,
        name=seal_name,
        authority=authority,
        authority_name=authority_name,
        cert_list=(cert_hash,),
        create_date=valid_from.date().isoformat(),
        valid_start=valid_from.isoformat(),
        valid_end=valid_to.isoformat(),
        picture_type="PNG",
        picture_sha256=pic_hash.hex(),
        picture_mm=PICTURE_MM,
    )
    body = info.to_json()
    maker_sig = ca_key.sign(canonical(body), ec.ECDSA(hashes.SHA256()))
    document = {
        "sealInfo": body,
        "makerCert": ca.pem(seal_ca),
        "signAlgID": ECDSA_P256,
        "signedValue": base64.b64encode(maker_sig).decode(),
    }
    return CreatedSeal(info, cert, key, png, svg, document)


def verify_seal_document(document: dict[str, Any], seal_ca: x509.Certificate) -> None:
    """Raise SealError unless the seal info carries the seal maker's valid signature."""
    public = seal_ca.public_key()
    if not isinstance(public, ec.EllipticCurvePublicKey):
        raise SealError("seal maker certificate has no EC key")
    try:
        public.verify(
            base64.b64decode(document["signedValue"]),
            canonical(document["sealInfo"]),
            ec.ECDSA(hashes.SHA256()),
        )
    except Exception as exc:  # cryptography raises InvalidSignature; bad base64 raises ValueError
        raise SealError("seal maker signature does not verify") from exc
