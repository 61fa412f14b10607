"""Electronic seals modelled on GB/T 38540 SESeal: id, type, name, picture, validity, certificates.

A seal is created for a registered authority: a fresh key pair (kept encrypted in the key store),
a seal certificate from the platform seal CA binding USCC, seal name and picture hash, the red
round picture (SVG + PNG), and the seal info signed by the seal maker (the platform seal CA key,
ECDSA P-256 with SHA-256). The seal's own key is ECDSA P-256 under the standard profile and SM2
(with SM3, GB/T 32918) under the national profile: its private scalar is kept as an encrypted
PKCS#8 file in the same key folder (``storage.keys.Sm2KeyFiles``) and its certificate is built
with asn1crypto (``ca.issue_sm2_seal_certificate``). The JSON form keeps the SESeal field names
so the ASN.1 encoding can be added later.
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
from licence.signers import ECDSA_P256, SM2_SM3, EcdsaP256Signer, Signer, Sm2Signer
from storage.keys import EncryptedFileKeyStore, KeyStore, Sm2KeyFiles

# "verification": the platform's own seal on claim receipts (sharing.receipts)
SEAL_TYPES = {
    "official": "法定名称章",
    "licence": "电子证照专用章",
    "verification": "数据核验专用章",
}
PICTURE_MM = 42
PROFILE_ALGORITHMS = {"standard": ECDSA_P256, "national": SM2_SM3}


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
    key: ec.EllipticCurvePrivateKey | Sm2Signer
    png: bytes
    svg: str
    document: dict[str, Any]  # SESeal JSON: seal info + maker signature
    algorithm: str = ECDSA_P256  # the seal key's signature algorithm


def algorithm_for(profile: str) -> str:
    """The seal key algorithm of a cryptography profile ("standard" or "national")."""
    try:
        return PROFILE_ALGORITHMS[profile]
    except KeyError:
        raise SealError(
            f"unknown crypto profile {profile!r}; use one of {', '.join(PROFILE_ALGORITHMS)}"
        ) from None


def _sm2_files(keys: KeyStore) -> Sm2KeyFiles:
    if not isinstance(keys, EncryptedFileKeyStore):
        # SoftHSM2 and the PKCS#11 store have no SM2 mechanism
        raise SealError(
            "SM2 seal keys need the encrypted file key store; this key store "
            f"({type(keys).__name__}) cannot hold SM2 keys"
        )
    return Sm2KeyFiles(keys)


def save_seal_key(keys: KeyStore, name: str, made: CreatedSeal) -> None:
    """Store a new seal's private key, encrypted, write-once (P-256 or SM2)."""
    if isinstance(made.key, Sm2Signer):
        _sm2_files(keys).save(name, made.key.private_bytes(), made.key.public_key_bytes())
    else:
        keys.save(name, made.key)


def load_signer(keys: KeyStore, key_name: str, algorithm: str) -> Signer:
    """The signer of a stored seal key, picked by the seal's algorithm."""
    if algorithm == SM2_SM3:
        return Sm2Signer(_sm2_files(keys).load(key_name).hex())
    if algorithm == ECDSA_P256:
        key = keys.load(key_name)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise SealError(f"seal key {key_name!r} is not an EC key")
        return EcdsaP256Signer(key)
    raise SealError(f"seal key {key_name!r} has unknown algorithm {algorithm!r}")


def ensure_sm2_maker(
    keys: KeyStore, objects: Any, seal_ca: x509.Certificate
) -> tuple[x509.Certificate, Sm2Signer]:
    """The platform's SM2 seal maker (national profile): its certificate from the seal CA
    (``ca.issue_sm2_seal_maker_certificate``, kept as ``ca/seal-maker-sm2.pem``, valid as long
    as the seal CA) and its signer (the key encrypted in the key folder), made on first use."""
    files = _sm2_files(keys)
    if objects.exists(ca.SEAL_MAKER_OBJECT):
        cert = x509.load_pem_x509_certificate(objects.get(ca.SEAL_MAKER_OBJECT))
        return cert, Sm2Signer(files.load(ca.SEAL_MAKER_KEY).hex())
    if keys.exists(ca.SEAL_MAKER_KEY):  # kept, but its certificate was never stored
        maker = Sm2Signer(files.load(ca.SEAL_MAKER_KEY).hex())
    else:
        maker = Sm2Signer.generate()
        files.save(ca.SEAL_MAKER_KEY, maker.private_bytes(), maker.public_key_bytes())
    cert = ca.issue_sm2_seal_maker_certificate(
        keys,
        seal_ca,
        maker.public_key_bytes(),
        dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5),
        seal_ca.not_valid_after_utc,
    )
    objects.put(ca.SEAL_MAKER_OBJECT, ca.pem(cert).encode())
    return cert, maker


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
    algorithm: str = ECDSA_P256,
    revocation: tuple[str, str] | None = None,
) -> CreatedSeal:
    """Key pair (P-256, or SM2 for ``SM2_SM3``), picture, certificate and maker-signed seal info
    for one seal; ``revocation`` = (OCSP URL, CRL URL) of the platform's status services
    (``licence.ltv``), named in the certificate."""
    if seal_type not in SEAL_TYPES:
        raise SealError(f"unknown seal type {seal_type!r}; use one of {', '.join(SEAL_TYPES)}")
    if valid_to <= valid_from:
        raise SealError("seal validity must end after it starts")
    if algorithm not in (ECDSA_P256, SM2_SM3):
        raise SealError(f"unknown seal algorithm {algorithm!r}; use {ECDSA_P256} or {SM2_SM3}")
    png = picture.seal_png(authority_name, SEAL_TYPES[seal_type])
    svg = picture.seal_svg(authority_name, SEAL_TYPES[seal_type], PICTURE_MM)
    pic_hash = hashlib.sha256(png).digest()
    subject = (authority, authority_name, seal_name, pic_hash, valid_from, valid_to)
    key: ec.EllipticCurvePrivateKey | Sm2Signer
    if algorithm == SM2_SM3:
        key = Sm2Signer.generate()
        cert = ca.issue_sm2_seal_certificate(
            keys, seal_ca, key.public_key_bytes(), *subject, revocation=revocation
        )
    else:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = ca.issue_seal_certificate(
            keys, seal_ca, key.public_key(), *subject, revocation=revocation
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
    return CreatedSeal(info, cert, key, png, svg, document, algorithm)


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
