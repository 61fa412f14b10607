"""GB/T 38540 seals of the platform's registered seals, and documents signed with them.

``ses_seal`` gives a registered seal as the standard's DER SESeal (made once by the platform
seal CA, the seal maker, then kept with the seal's other objects, so the bytes never change);
``sign_with_seal`` makes a SES_Signature over a document with the seal's own key.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from licence import ca, gbt38540, seals
from licence.signers import EcdsaP256Signer

if TYPE_CHECKING:
    from licence.service import LicenceService

SEAL_DER = "seals/{seal_id}/seal.der"


def _aware(t: dt.datetime) -> dt.datetime:
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


def ses_seal(service: LicenceService, seal_id: str) -> bytes:
    """The registered seal ``seal_id`` as a DER SESeal signed by the platform seal CA."""
    row = service.store.seal(seal_id)
    if row is None:
        raise seals.SealError(f"no seal {seal_id}")
    path = SEAL_DER.format(seal_id=seal_id)
    if service.objects.exists(path):
        return bytes(service.objects.get(path))
    pca = service.platform_ca()
    maker_key = service.keys.load(ca.SEAL_CA_KEY)
    if not isinstance(maker_key, ec.EllipticCurvePrivateKey):
        raise seals.SealError("the platform seal CA key is not an EC key")
    cert = x509.load_pem_x509_certificate(str(row["cert_pem"]).encode())
    der = gbt38540.build_seal(
        seal_id=seal_id,
        name=str(row["name"]),
        certs=[cert.public_bytes(serialization.Encoding.DER)],
        create_date=_aware(row["created_at"]),
        valid_start=_aware(row["valid_from"]),
        valid_end=_aware(row["valid_to"]),
        picture=service.objects.get(f"seals/{seal_id}/picture.png"),
        picture_type="PNG",
        width_mm=seals.PICTURE_MM,
        height_mm=seals.PICTURE_MM,
        maker_cert=pca.seal_ca.public_bytes(serialization.Encoding.DER),
        maker=EcdsaP256Signer(maker_key),
    )
    service.objects.put(path, der)
    return der


def sign_with_seal(
    service: LicenceService,
    seal_id: str,
    data: bytes,
    property_info: str,
    when: dt.datetime,
) -> bytes:
    """A DER SES_Signature over ``data`` with the seal's key (the seal must be active)."""
    row = service.store.seal(seal_id)
    if row is None:
        raise seals.SealError(f"no seal {seal_id}")
    if row["status"] != "active":
        raise seals.SealError(f"seal {seal_id} is {row['status']}: it cannot sign")
    if not _aware(row["valid_from"]) <= when <= _aware(row["valid_to"]):
        raise seals.SealError(f"seal {seal_id} is not valid at {when.isoformat()}")
    cert = x509.load_pem_x509_certificate(str(row["cert_pem"]).encode())
    signer = seals.load_signer(service.keys, str(row["key_name"]), str(row["algorithm"]))
    return gbt38540.sign_document(
        seal_der=ses_seal(service, seal_id),
        data=data,
        when=when,
        property_info=property_info,
        cert=cert.public_bytes(serialization.Encoding.DER),
        signer=signer,
    )
