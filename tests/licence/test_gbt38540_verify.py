"""The verifier on GB/T 38540 SES_Signatures: its own input kind, the same explained report."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from licence_fixtures import PROVINCE_MR

from licence import ca, gbt38540, ofd, seals
from licence.service import LicenceService
from licence.signers import SM2_SM3, EcdsaP256Signer
from licence.trust import online_context
from licence.verify import VerifyContext, verify_input
from licence.verify.ses import verify_ses
from storage.keys import EncryptedFileKeyStore

DOCUMENT = "<ofd:Signature>签章原文</ofd:Signature>".encode()
PROPERTY = "/Doc_0/Signs/Sign_0/Signature.xml"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _statuses(report: Any) -> dict[str, tuple[str, str]]:
    return {c.check: (str(c.status), c.reason) for c in report.checks}


@pytest.fixture
def sm2_seal(service: LicenceService) -> str:
    made = service.create_seal(PROVINCE_MR, algorithm=SM2_SM3, now=_now() - dt.timedelta(minutes=1))
    return str(made["seal_id"])


def test_a_signature_over_a_document_passes_every_check(
    service: LicenceService, sm2_seal: str
) -> None:
    der = ofd.sign_with_seal(service, sm2_seal, DOCUMENT, PROPERTY, _now())
    report = verify_ses(der, DOCUMENT, online_context(service))
    assert _statuses(report) == {
        "integrity": ("PASSED", "OK"),
        "ses_signature": ("PASSED", "OK"),
        "seal_document": ("PASSED", "OK"),
        "seal_validity": ("PASSED", "OK"),
        "seal_certificate": ("PASSED", "OK"),
        "signing_time": ("PASSED", "OK"),
    }
    assert str(report.verdict) == "TOTAL_PASSED" and report.kind == "ses"
    assert report.summary["seal"] == sm2_seal
    assert "签章" in report.to_text()
    # the seal's DER is made once and kept: every signature carries the same seal
    assert ofd.ses_seal(service, sm2_seal) == gbt38540.read_signature(der).seal.der


def test_a_changed_document_fails_integrity(service: LicenceService, sm2_seal: str) -> None:
    der = ofd.sign_with_seal(service, sm2_seal, DOCUMENT, PROPERTY, _now())
    report = verify_ses(
        der, DOCUMENT.replace("原文".encode(), "伪造".encode()), online_context(service)
    )
    assert _statuses(report)["integrity"] == ("FAILED", "DOCUMENT_ALTERED")
    assert str(report.verdict) == "TOTAL_FAILED"


def test_verify_input_recognises_a_detached_signature(
    service: LicenceService, sm2_seal: str
) -> None:
    """Given as raw bytes (`hub verify`, the /verify page), the DER is its own input kind; the
    document is not with it, so the content cannot be checked: INDETERMINATE, never PASSED."""
    der = ofd.sign_with_seal(service, sm2_seal, DOCUMENT, PROPERTY, _now())
    report = verify_input(der, online_context(service))
    assert report.kind == "ses"
    statuses = _statuses(report)
    assert statuses.pop("integrity") == ("INDETERMINATE", "DOCUMENT_MISSING")
    assert {s for s, _ in statuses.values()} == {"PASSED"}
    assert str(report.verdict) == "INDETERMINATE"
    # a byte changed anywhere in the DER: a FAILED report, never an exception
    for pos in (10, len(der) // 2, len(der) - 1):
        broken = bytearray(der)
        broken[pos] ^= 0x01
        assert str(verify_input(bytes(broken), online_context(service)).verdict) == "TOTAL_FAILED"


def test_a_seal_made_elsewhere_is_not_trusted(
    service: LicenceService, sm2_seal: str, tmp_path: Any
) -> None:
    """A look-alike seal (same name, own CA) made by someone else: maker and chain fail."""
    keys = EncryptedFileKeyStore(tmp_path / "keys", "other")
    now = _now()
    other = ca.create_platform_ca(keys, now - dt.timedelta(days=1))
    maker = keys.load(ca.SEAL_CA_KEY)
    assert isinstance(maker, ec.EllipticCurvePrivateKey)
    made = seals.build_seal(
        sm2_seal, PROVINCE_MR, "湖南省市场监督管理局", "电子证照专用章", "licence",
        other.seal_ca, maker, keys, now - dt.timedelta(hours=1), now + dt.timedelta(days=9),
        SM2_SM3,
    )  # fmt: skip
    cert = made.certificate.public_bytes(serialization.Encoding.DER)
    seal = gbt38540.build_seal(
        seal_id=sm2_seal,
        name="电子证照专用章",
        certs=[cert],
        create_date=now,
        valid_start=now - dt.timedelta(hours=1),
        valid_end=now + dt.timedelta(days=9),
        picture=made.png,
        picture_type="PNG",
        width_mm=42,
        height_mm=42,
        maker_cert=other.seal_ca.public_bytes(serialization.Encoding.DER),
        maker=EcdsaP256Signer(maker),
    )
    assert isinstance(made.key, seals.Sm2Signer)
    der = gbt38540.sign_document(
        seal_der=seal, data=DOCUMENT, when=now, property_info=PROPERTY, cert=cert, signer=made.key
    )
    statuses = _statuses(verify_ses(der, DOCUMENT, online_context(service)))
    assert statuses["seal_document"] == ("FAILED", "MAKER_UNTRUSTED")
    assert statuses["seal_certificate"] == ("FAILED", "CHAIN_UNTRUSTED")
    assert statuses["seal_validity"] == ("FAILED", "CERT_NOT_OF_SEAL")
    # with no trust roots at all nothing is claimed either way about maker and chain
    bare = verify_ses(der, DOCUMENT, VerifyContext(log_keys=()))
    assert _statuses(bare)["seal_document"] == ("INDETERMINATE", "NO_TRUST_ANCHOR")
    assert str(bare.verdict) == "INDETERMINATE"


def test_a_signature_made_after_revocation_fails(service: LicenceService, sm2_seal: str) -> None:
    # times are kept to the second: sign a little before the revocation is logged
    der = ofd.sign_with_seal(
        service, sm2_seal, DOCUMENT, PROPERTY, _now() - dt.timedelta(seconds=2)
    )
    service.set_seal_status(sm2_seal, "revoked", "key compromise")
    with pytest.raises(seals.SealError, match="revoked"):
        ofd.sign_with_seal(service, sm2_seal, DOCUMENT, PROPERTY, _now())
    # signed before the revocation: still good (the seal was active then)
    assert _statuses(verify_ses(der, DOCUMENT, online_context(service)))["seal_validity"] == (
        "PASSED",
        "OK",
    )
    # a signature claiming a time after the revocation, made with the (stolen) key
    row = service.store.seal(sm2_seal)
    assert row is not None
    signer = seals.load_signer(service.keys, row["key_name"], row["algorithm"])
    cert = gbt38540.read_signature(der).cert
    late = gbt38540.sign_document(
        seal_der=ofd.ses_seal(service, sm2_seal),
        data=DOCUMENT,
        when=_now() + dt.timedelta(seconds=2),
        property_info=PROPERTY,
        cert=cert,
        signer=signer,
    )
    ctx = dataclasses.replace(online_context(service), now=_now() + dt.timedelta(seconds=3))
    assert _statuses(verify_ses(late, DOCUMENT, ctx))["seal_validity"] == (
        "FAILED",
        "SEAL_NOT_ACTIVE",
    )


def test_times_outside_the_seal_and_in_the_future_fail(
    service: LicenceService, sm2_seal: str
) -> None:
    row = service.store.seal(sm2_seal)
    assert row is not None
    signer = seals.load_signer(service.keys, row["key_name"], row["algorithm"])
    seal_der = ofd.ses_seal(service, sm2_seal)
    cert = gbt38540.read_seal(seal_der).certs[0]

    def signed_at(when: dt.datetime) -> dict[str, tuple[str, str]]:
        der = gbt38540.sign_document(
            seal_der=seal_der, data=DOCUMENT, when=when, property_info=PROPERTY,
            cert=cert, signer=signer,
        )  # fmt: skip
        return _statuses(verify_ses(der, DOCUMENT, online_context(service)))

    before = signed_at(row["valid_from"].replace(tzinfo=dt.UTC) - dt.timedelta(days=1))
    assert before["seal_validity"] == ("FAILED", "SEAL_NOT_VALID_AT_SIGNING")
    assert before["seal_certificate"] == ("FAILED", "CERT_NOT_YET_VALID")
    future = signed_at(_now() + dt.timedelta(days=1))
    assert future["signing_time"] == ("FAILED", "SIGNED_IN_FUTURE")
