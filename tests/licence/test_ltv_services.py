"""The platform's TSA, OCSP responder and CRLs as the services tier runs them (`scripts/services.sh
up ltv`, reached through ``servicekit.ltv_service``): seals made in the hub the service speaks for
name it, sealed PDFs gather their validation data from it through those names, and a seal
revoked in the hub is revoked at the running service at once."""

from __future__ import annotations

import datetime as dt
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import servicekit
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from test_ltv import ades_indication, blank_pdf

from licence import ca, ltv
from licence import pdf as licence_pdf

pytestmark = pytest.mark.services

AUTHORITY = "11430000006122244L"  # 湖南省市场监督管理局, in licence/authorities.yaml
EXPIRES_IN = dt.timedelta(minutes=10)


@dataclass
class Hub:
    url: str
    service: Any  # licence.service.LicenceService over the service's own stores
    pca: ca.PlatformCA


@pytest.fixture(scope="module")
def hub() -> Iterator[Hub]:
    from hub.wiring import licence_service

    url, settings = servicekit.ltv_service()
    svc = licence_service(settings)
    yield Hub(url, svc, svc.platform_ca())
    svc.ledger.stop()


def _seal(hub: Hub, now: dt.datetime | None = None) -> tuple[dict[str, Any], x509.Certificate]:
    row = hub.service.create_seal(AUTHORITY, now=now, years=1)
    return row, x509.load_pem_x509_certificate(str(row["cert_pem"]).encode())


def _named(cert: x509.Certificate) -> tuple[str, str]:
    """The OCSP and CRL locations the certificate itself names (nothing handed in)."""
    aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    cdp = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    full_name = cdp[0].full_name
    assert full_name is not None
    return str(aia[0].access_location.value), str(full_name[0].value)


def _ocsp_status(
    hub: Hub, cert: x509.Certificate, issuer: x509.Certificate | None = None
) -> ocsp.OCSPCertStatus:
    """The status the responder the certificate names gives, checked to be signed by the
    certificate's issuer (default: the seal CA)."""
    issuer = issuer or hub.pca.seal_ca
    ocsp_url, _ = _named(cert)
    der = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(cert, issuer, hashes.SHA256())
        .build()
        .public_bytes(serialization.Encoding.DER)
    )
    req = urllib.request.Request(ocsp_url, der, {"Content-Type": "application/ocsp-request"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        answer = ocsp.load_der_ocsp_response(resp.read())
    assert answer.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    issuer_key = issuer.public_key()
    assert isinstance(issuer_key, ec.EllipticCurvePublicKey)
    issuer_key.verify(answer.signature, answer.tbs_response_bytes, ec.ECDSA(hashes.SHA256()))
    return answer.certificate_status


def _signer(hub: Hub, row: dict[str, Any], cert: x509.Certificate) -> Any:
    key = hub.service.keys.load(row["key_name"])
    material = licence_pdf.SealMaterial(key, cert, [hub.pca.seal_ca, hub.pca.root], b"")
    return material, licence_pdf.pdf_signer(material)


def test_a_hub_seal_names_the_service_and_its_b_lta_pdf_outlives_it(hub: Hub) -> None:
    """A seal of the hub, its certificate expiring in ten minutes: sealed at B-LTA through the
    running service (pyHanko fetching from the locations the certificates name), validated
    from the PDF alone twenty minutes on with revocation checking: valid; B-B is not."""
    import io

    from pyhanko.pdf_utils.reader import PdfFileReader

    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    row, cert = _seal(hub, now - dt.timedelta(days=365) + EXPIRES_IN)
    assert cert.not_valid_after_utc == now + EXPIRES_IN
    assert _named(cert) == (f"{hub.url}/ocsp", f"{hub.url}/crl/seal-ca.crl")
    material, signer = _signer(hub, row, cert)
    blank = blank_pdf()
    b_b = licence_pdf.sign(blank, material, row["name"], signer)
    b_lta = ltv.sign_pdf_ltv(
        blank, signer, [hub.pca.root], f"{hub.url}/tsa", row["name"], archive=True
    )
    dss = PdfFileReader(io.BytesIO(b_lta)).root["/DSS"]
    # the service's answers are in the document: the seal's OCSP answer, the root's CRL for
    # the seal CA and the TSA
    assert len(dss["/OCSPs"]) >= 1 and len(dss["/CRLs"]) >= 1, dss
    later = now + 2 * EXPIRES_IN
    assert ades_indication(b_lta, hub.pca.root, later) == "AdESPassed.OK"
    assert ades_indication(b_b, hub.pca.root, later) != "AdESPassed.OK"


def test_revoking_a_seal_in_the_hub_revokes_it_at_the_running_service(hub: Hub) -> None:
    from pyhanko.sign.general import SigningError

    row, cert = _seal(hub)
    assert _ocsp_status(hub, cert) == ocsp.OCSPCertStatus.GOOD
    hub.service.set_seal_status(row["seal_id"], "revoked", "key compromise (test)")
    assert _ocsp_status(hub, cert) == ocsp.OCSPCertStatus.REVOKED
    _, crl_url = _named(cert)
    with urllib.request.urlopen(crl_url, timeout=10) as resp:
        crl = x509.load_der_x509_crl(resp.read())
    assert crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None
    _, signer = _signer(hub, row, cert)
    with pytest.raises((SigningError, ValueError)) as refused:
        ltv.sign_pdf_ltv(
            blank_pdf(), signer, [hub.pca.root], f"{hub.url}/tsa", row["name"], archive=True
        )
    cause = refused.value.__cause__
    assert "revoked" in f"{type(cause).__name__} {cause}".lower(), repr(cause)


def test_a_suspended_seal_is_on_hold_at_the_running_service_until_reinstated(hub: Hub) -> None:
    """暂停 then 恢复: while suspended the seal's certificate is on hold (OCSP revoked with
    certificateHold, listed in the CRL with that reason) and gets no long-term signature;
    reinstated, it is good again and off the CRL."""
    from pyhanko.sign.general import SigningError

    row, cert = _seal(hub)
    _, crl_url = _named(cert)

    def listed() -> x509.RevokedCertificate | None:
        with urllib.request.urlopen(crl_url, timeout=10) as resp:
            crl = x509.load_der_x509_crl(resp.read())
        return crl.get_revoked_certificate_by_serial_number(cert.serial_number)

    hub.service.set_seal_status(row["seal_id"], "suspended", "key ceremony (test)")
    assert _ocsp_status(hub, cert) == ocsp.OCSPCertStatus.REVOKED
    entry = listed()
    assert entry is not None
    reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
    assert reason == x509.ReasonFlags.certificate_hold
    _, signer = _signer(hub, row, cert)
    with pytest.raises((SigningError, ValueError)):
        ltv.sign_pdf_ltv(
            blank_pdf(), signer, [hub.pca.root], f"{hub.url}/tsa", row["name"], archive=True
        )
    hub.service.set_seal_status(row["seal_id"], "active", "ceremony done (test)")
    assert _ocsp_status(hub, cert) == ocsp.OCSPCertStatus.GOOD
    assert listed() is None


def test_a_cloud_signature_of_the_hub_gets_its_status_from_the_running_service(
    hub: Hub,
) -> None:
    """A credential enrolled in the service's hub names the running responder; its B-LTA PDF
    carries the responder's answer about the person and validates; once the credential is
    revoked the responder and the signing CA's CRL say so."""
    import base64
    import time
    from urllib.parse import parse_qs, urlparse

    from licence_fixtures import PERSON_ID

    from hub.wiring import cloudsign_service
    from licence.cloudsign import totp
    from licence.cloudsign.remote import CscSigner, LocalCsc, sign_pdf
    from storage.library import LibraryStore, engine_for

    _, settings = servicekit.ltv_service()
    LibraryStore(engine_for(settings.db_url)).merge(
        "population", "ltv-test", "police.residents", dt.datetime.now(dt.UTC), [PERSON_ID],
        {"name": ["张三"]},
    )  # fmt: skip
    cloud = cloudsign_service(settings, ledger=hub.service.ledger)
    try:
        enrolment = cloud.enrol(PERSON_ID, "246810")
        cert = enrolment.certificate
        assert _named(cert) == (f"{hub.url}/ocsp", f"{hub.url}/crl/sign-ca.crl")
        sign_ca = cloud.signing_ca()
        assert _ocsp_status(hub, cert, sign_ca) == ocsp.OCSPCertStatus.GOOD
        secret = parse_qs(urlparse(enrolment.otp_uri).query)["secret"][0]
        otp_key = base64.b32decode(secret + "=" * (-len(secret) % 8))
        signer = CscSigner(
            LocalCsc(cloud),
            enrolment.credential_id,
            lambda _digest: ("246810", totp.totp(otp_key, time.time())),
        )
        b_lta = sign_pdf(blank_pdf(), signer, tsa_url=f"{hub.url}/tsa", trust_roots=[hub.pca.root])
        now = dt.datetime.now(dt.UTC)
        assert ades_indication(b_lta, hub.pca.root, now) == "AdESPassed.OK"
        cloud.revoke(enrolment.credential_id, officer="desk-07", reason="phone lost (test)")
        assert _ocsp_status(hub, cert, sign_ca) == ocsp.OCSPCertStatus.REVOKED
        _, crl_url = _named(cert)
        with urllib.request.urlopen(crl_url, timeout=10) as resp:
            crl = x509.load_der_x509_crl(resp.read())
        assert crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None
    finally:
        cloud.flush_audit()
