"""Under the national profile the GB/T 38540 seal's maker signs with SM2 and SM3: the platform's
SM2 seal maker, certified by the (P-256) seal CA for making seals only; the verifier trusts it
and nothing else the seal CA issued."""

from __future__ import annotations

import datetime as dt
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from licence_fixtures import PROVINCE_MR

from licence import ca, gbt38540, ofd, seals
from licence.service import LicenceService
from licence.signers import ECDSA_P256, SM2_SM3
from licence.trust import online_context
from licence.verify.ses import verify_ses

DOCUMENT = "<ofd:Signature>签章原文</ofd:Signature>".encode()
PROPERTY = "/Doc_0/Signs/Sign_0/Signature.xml"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _seal_document(report: Any) -> tuple[str, str]:
    (check,) = [c for c in report.checks if c.check == "seal_document"]
    return str(check.status), check.reason


def test_an_sm2_seal_is_made_by_the_sm2_seal_maker(service: LicenceService) -> None:
    row = service.create_seal(PROVINCE_MR, algorithm=SM2_SM3, now=_now() - dt.timedelta(minutes=1))
    seal = gbt38540.read_seal(ofd.ses_seal(service, str(row["seal_id"])))
    assert seal.maker_algorithm == SM2_SM3
    maker = x509.load_der_x509_certificate(seal.maker_cert)
    pca = service.platform_ca()
    assert maker.issuer == pca.seal_ca.subject and maker != pca.seal_ca
    maker.verify_directly_issued_by(pca.seal_ca)
    eku = maker.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert eku.critical and list(eku.value) == [ca.SEAL_MAKING_OID]
    gbt38540.verify_maker(seal)  # the SM2 signature over the seal verifies
    der = ofd.sign_with_seal(service, str(row["seal_id"]), DOCUMENT, PROPERTY, _now())
    report = verify_ses(der, DOCUMENT, online_context(service))
    assert _seal_document(report) == ("PASSED", "OK")
    assert str(report.verdict) == "TOTAL_PASSED"
    # one maker for every SM2 seal: the next seal has the same maker certificate
    other = service.create_seal(PROVINCE_MR, algorithm=SM2_SM3)
    assert gbt38540.read_seal(ofd.ses_seal(service, str(other["seal_id"]))).maker_cert == (
        seal.maker_cert
    )


def test_a_p256_seal_is_still_made_by_the_seal_ca(service: LicenceService) -> None:
    row = service.create_seal(PROVINCE_MR, algorithm=ECDSA_P256)
    seal = gbt38540.read_seal(ofd.ses_seal(service, str(row["seal_id"])))
    assert seal.maker_algorithm == ECDSA_P256
    assert seal.maker_cert == service.platform_ca().seal_ca.public_bytes(serialization.Encoding.DER)


def test_a_seal_certificate_cannot_make_seals(service: LicenceService) -> None:
    """A seal's holder signs a seal of their own with the seal's SM2 key and certificate (issued
    by the same seal CA, but not for making seals): the maker is not trusted."""
    row = service.create_seal(PROVINCE_MR, algorithm=SM2_SM3, now=_now() - dt.timedelta(minutes=1))
    signer = seals.load_signer(service.keys, str(row["key_name"]), SM2_SM3)
    cert = x509.load_pem_x509_certificate(str(row["cert_pem"]).encode())
    cert_der = cert.public_bytes(serialization.Encoding.DER)
    now = _now()
    forged = gbt38540.build_seal(
        seal_id=str(row["seal_id"]),
        name=str(row["name"]),
        certs=[cert_der],
        create_date=now,
        valid_start=now - dt.timedelta(minutes=1),
        valid_end=now + dt.timedelta(days=9),
        picture=service.objects.get(f"seals/{row['seal_id']}/picture.png"),
        picture_type="PNG",
        width_mm=42,
        height_mm=42,
        maker_cert=cert_der,
        maker=signer,
    )
    der = gbt38540.sign_document(
        seal_der=forged, data=DOCUMENT, when=now, property_info=PROPERTY, cert=cert_der,
        signer=signer,
    )  # fmt: skip
    report = verify_ses(der, DOCUMENT, online_context(service))
    assert _seal_document(report) == ("FAILED", "MAKER_UNTRUSTED")
    assert str(report.verdict) == "TOTAL_FAILED"
