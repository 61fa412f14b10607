"""The platform's TSA (RFC 3161), OCSP responder (RFC 6960) and CRLs over HTTP, checked by
OpenSSL: tokens verify to the platform root, a revoked seal is revoked in both OCSP and CRL."""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtensionOID

from hub.settings import Settings
from licence import ca, ltv
from storage.keys import EncryptedFileKeyStore

EXPIRES_IN = dt.timedelta(minutes=10)


@dataclass
class Services:
    url: str
    authority: ltv.Authority
    seal: x509.Certificate
    seal_key: ec.EllipticCurvePrivateKey
    registry: ltv.Registry
    folder: Path
    now: dt.datetime


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    folder = tmp_path_factory.mktemp("ltv")
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    keys = EncryptedFileKeyStore(folder / "keys", "pass phrase")
    platform = ca.create_platform_ca(keys, now - dt.timedelta(days=1))
    root_key, seal_ca_key = keys.load(ca.ROOT_KEY), keys.load(ca.SEAL_CA_KEY)
    assert isinstance(root_key, ec.EllipticCurvePrivateKey)
    assert isinstance(seal_ca_key, ec.EllipticCurvePrivateKey)
    tsa_key = ec.generate_private_key(ec.SECP256R1())
    registry: ltv.Registry = {}
    authority = ltv.Authority(
        platform.root,
        root_key,
        platform.seal_ca,
        seal_ca_key,
        ltv.tsa_certificate(platform.root, root_key, tsa_key.public_key(), now),
        tsa_key,
        lambda: registry,
    )
    srv, url = ltv.serve_in_thread(authority)
    authority.tsa = ltv.tsa_certificate(
        platform.root, root_key, tsa_key.public_key(), now, crl_url=f"{url}/crl/root.crl"
    )
    seal_key = ec.generate_private_key(ec.SECP256R1())
    # the seal certificate expires in ten minutes: validation twenty minutes on is past it
    # (and the OCSP answers and CRLs, good for a day, are still current then)
    seal = ca.issue_seal_certificate(
        keys, platform.seal_ca, seal_key.public_key(), "11430000006122244L", "湖南省市场监督管理局",
        "电子证照专用章", b"\x00" * 32, now - dt.timedelta(hours=1), now + EXPIRES_IN,
        revocation=(f"{url}/ocsp", f"{url}/crl/seal-ca.crl"),
    )  # fmt: skip
    registry[seal.serial_number] = ltv.Issued(seal)
    for name, cert in (
        ("root", platform.root),
        ("seal-ca", platform.seal_ca),
        ("tsa", authority.tsa),
        ("seal", seal),
    ):
        (folder / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "chain.pem").write_bytes(
        (folder / "root.pem").read_bytes() + (folder / "seal-ca.pem").read_bytes()
    )
    yield Services(url, authority, seal, seal_key, registry, folder, now)
    srv.shutdown()


def _openssl(*args: str) -> subprocess.CompletedProcess[str]:
    path = shutil.which("openssl")
    assert path, "openssl (scripts/apt-packages.txt) is needed for the independent checks"
    return subprocess.run([path, *args], capture_output=True, text=True)


def _post(url: str, body: bytes, kind: str) -> bytes:
    req = urllib.request.Request(url, body, {"Content-Type": kind})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return bytes(resp.read())


def test_seal_certificates_say_where_their_status_is(services: Services) -> None:
    aia = services.seal.extensions.get_extension_for_oid(ExtensionOID.AUTHORITY_INFORMATION_ACCESS)
    ocsp_urls = [
        d.access_location.value
        for d in aia.value
        if d.access_method == AuthorityInformationAccessOID.OCSP
    ]
    assert ocsp_urls == [f"{services.url}/ocsp"]
    cdp = services.seal.extensions.get_extension_for_class(x509.CRLDistributionPoints)
    assert cdp.value[0].full_name[0].value == f"{services.url}/crl/seal-ca.crl"


def test_timestamp_tokens_verify_with_openssl(services: Services) -> None:
    data = "电子证照 signed bytes".encode()
    (services.folder / "data.bin").write_bytes(data)
    query = services.folder / "q.tsq"
    made = _openssl(
        "ts", "-query", "-data", str(services.folder / "data.bin"), "-sha256", "-cert",
        "-out", str(query),
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    reply = _post(f"{services.url}/tsa", query.read_bytes(), "application/timestamp-query")
    (services.folder / "r.tsr").write_bytes(reply)
    text = _openssl("ts", "-reply", "-in", str(services.folder / "r.tsr"), "-text")
    assert "Status: Granted." in text.stdout and ltv.TSA_POLICY_OID in text.stdout, text.stdout
    checked = _openssl(
        "ts", "-verify", "-queryfile", str(query), "-in", str(services.folder / "r.tsr"),
        "-CAfile", str(services.folder / "root.pem"),
        "-untrusted", str(services.folder / "tsa.pem"),
    )  # fmt: skip
    assert checked.returncode == 0 and "Verification: OK" in checked.stdout, checked.stderr
    # another document's query does not match this token
    (services.folder / "other.bin").write_bytes(b"other")
    other = services.folder / "o.tsq"
    _openssl("ts", "-query", "-data", str(services.folder / "other.bin"), "-sha256",
             "-out", str(other))  # fmt: skip
    mismatch = _openssl(
        "ts", "-verify", "-queryfile", str(other), "-in", str(services.folder / "r.tsr"),
        "-CAfile", str(services.folder / "root.pem"),
        "-untrusted", str(services.folder / "tsa.pem"),
    )  # fmt: skip
    assert mismatch.returncode != 0


def test_the_tsa_certificate_is_for_time_stamping_only(services: Services) -> None:
    eku = services.authority.tsa.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert eku.critical and list(eku.value) == [x509.oid.ExtendedKeyUsageOID.TIME_STAMPING]
    services.authority.tsa.verify_directly_issued_by(services.authority.root)


def _ask_ocsp(services: Services) -> str:
    """The seal's status as ``openssl ocsp`` reads it from the responder (signature checked)."""
    folder = services.folder
    out = _openssl(
        "ocsp", "-issuer", str(folder / "seal-ca.pem"), "-cert", str(folder / "seal.pem"),
        "-url", f"{services.url}/ocsp", "-CAfile", str(folder / "chain.pem"),
    )  # fmt: skip
    assert "Response verify OK" in out.stderr + out.stdout, out.stderr
    return out.stdout


def test_ocsp_good_then_revoked_as_openssl_reads_it(services: Services) -> None:
    folder = services.folder

    assert f"{folder / 'seal.pem'}: good" in _ask_ocsp(services)
    revoked_at = services.now + dt.timedelta(minutes=1)
    services.registry[services.seal.serial_number] = ltv.Issued(services.seal, revoked_at)
    try:
        answer = _ask_ocsp(services)
        assert f"{folder / 'seal.pem'}: revoked" in answer, answer
        crl_der = urllib.request.urlopen(f"{services.url}/crl/seal-ca.crl", timeout=10).read()
        crl = x509.load_der_x509_crl(crl_der)
        assert crl.is_signature_valid(services.authority.seal_ca.public_key())  # type: ignore[arg-type]
        entry = crl.get_revoked_certificate_by_serial_number(services.seal.serial_number)
        assert entry is not None and entry.revocation_date_utc == revoked_at
        (folder / "seal-ca.crl").write_bytes(crl_der)
        read = _openssl(
            "crl", "-inform", "DER", "-in", str(folder / "seal-ca.crl"),
            "-CAfile", str(folder / "chain.pem"), "-noout", "-text",
        )  # fmt: skip
        assert "verify OK" in read.stderr + read.stdout, read.stderr
        assert format(services.seal.serial_number, "X")[-8:] in read.stdout.replace(":", "")
    finally:
        services.registry[services.seal.serial_number] = ltv.Issued(services.seal)


def test_a_suspended_seal_is_on_hold_in_ocsp_and_crl_until_reinstated(services: Services) -> None:
    """A suspended seal (暂停) answers "revoked, certificateHold" in OCSP and is listed with
    that reason in the CRL, as OpenSSL reads them; reinstated, it is good and off the CRL."""
    folder = services.folder

    def crl() -> x509.CertificateRevocationList:
        der = urllib.request.urlopen(f"{services.url}/crl/seal-ca.crl", timeout=10).read()
        return x509.load_der_x509_crl(der)

    held = ltv.seal_standing(
        services.seal,
        "suspended",
        [("active", services.now), ("suspended", services.now + dt.timedelta(minutes=2))],
    )
    assert held.reason == x509.ReasonFlags.certificate_hold
    services.registry[services.seal.serial_number] = held
    try:
        answer = _ask_ocsp(services)
        assert f"{folder / 'seal.pem'}: revoked" in answer, answer
        assert "Reason: certificateHold" in answer, answer
        entry = crl().get_revoked_certificate_by_serial_number(services.seal.serial_number)
        assert entry is not None
        assert entry.revocation_date_utc == services.now + dt.timedelta(minutes=2)
        reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
        assert reason == x509.ReasonFlags.certificate_hold
    finally:
        services.registry[services.seal.serial_number] = ltv.seal_standing(
            services.seal, "active", []
        )
    assert f"{folder / 'seal.pem'}: good" in _ask_ocsp(services)
    assert crl().get_revoked_certificate_by_serial_number(services.seal.serial_number) is None


def test_a_seal_standing_follows_its_latest_status() -> None:
    now = dt.datetime(2026, 12, 7, tzinfo=dt.UTC)
    cert = object()
    history = [
        ("active", now),
        ("suspended", now + dt.timedelta(days=1)),
        ("active", now + dt.timedelta(days=2)),
        ("suspended", now + dt.timedelta(days=3)),
        ("revoked", now + dt.timedelta(days=4)),
    ]
    assert ltv.seal_standing(cert, "active", history[:3]).revoked_at is None  # type: ignore[arg-type]
    again = ltv.seal_standing(cert, "suspended", history[:4])  # type: ignore[arg-type]
    assert again.revoked_at == now + dt.timedelta(days=3)  # the suspension it is under now
    gone = ltv.seal_standing(cert, "revoked", history)  # type: ignore[arg-type]
    assert gone.revoked_at == now + dt.timedelta(days=4)
    assert gone.reason == x509.ReasonFlags.unspecified


def test_root_crl_lists_nothing_and_is_signed_by_the_root(services: Services) -> None:
    crl = x509.load_der_x509_crl(
        urllib.request.urlopen(f"{services.url}/crl/root.crl", timeout=10).read()
    )
    assert crl.is_signature_valid(services.authority.root.public_key())  # type: ignore[arg-type]
    assert len(crl) == 0 and crl.issuer == services.authority.root.subject


def test_bad_requests_get_protocol_errors_not_tracebacks(services: Services) -> None:
    # a TimeStampResp carrying only its status, as OpenSSL reads it
    (services.folder / "bad.tsr").write_bytes(_post(f"{services.url}/tsa", b"\x30\x03junk", "x"))
    text = _openssl("ts", "-reply", "-in", str(services.folder / "bad.tsr"), "-text").stdout
    # RFC 3161 badRequest (2): "transaction not permitted or supported"
    assert "Status: Rejected." in text and "transaction not permitted" in text, text
    answer = ocsp.load_der_ocsp_response(_post(f"{services.url}/ocsp", b"junk", "x"))
    assert answer.response_status == ocsp.OCSPResponseStatus.MALFORMED_REQUEST
    # a certificate the seal CA never issued: the responder does not vouch for it
    stranger = ocsp.OCSPRequestBuilder().add_certificate_by_hash(
        hashlib.sha256(b"x").digest(), hashlib.sha256(b"y").digest(), 12345, hashes.SHA256()
    )
    der = stranger.build().public_bytes(serialization.Encoding.DER)
    answer = ocsp.load_der_ocsp_response(_post(f"{services.url}/ocsp", der, "x"))
    assert answer.response_status == ocsp.OCSPResponseStatus.UNAUTHORIZED
    with pytest.raises(urllib.error.HTTPError) as too_big:
        _post(f"{services.url}/tsa", b"\x00" * (ltv.MAX_REQUEST + 1), "x")
    assert too_big.value.code == 413


def blank_pdf() -> bytes:
    import io

    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.writer import PageObject, PdfFileWriter

    writer = PdfFileWriter()
    writer.insert_page(
        PageObject(
            contents=writer.add_object(generic.StreamObject(stream_data=b"")),
            media_box=generic.ArrayObject([generic.NumberObject(n) for n in (0, 0, 595, 842)]),
        )
    )
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _validate_after_expiry(pdf: bytes, services: Services) -> str:
    """The AdES indication twenty minutes on: past the seal's expiry."""
    later = services.now + 2 * EXPIRES_IN
    assert later > services.seal.not_valid_after_utc
    return ades_indication(pdf, services.authority.root, later)


def ades_indication(
    pdf: bytes, root_cert: x509.Certificate, at: dt.datetime, retroactive: bool = False
) -> str:
    """The AdES indication pyHanko's validator gives for the first signature of ``pdf`` at
    ``at``, trusting ``root_cert``, revocation required for every certificate that names where
    its status is, from the validation data in the PDF alone (nothing is fetched: the
    services may be long gone); ``retroactive`` lets revocation data vouch for times before
    it was issued (pyHanko's ``retroactive_revinfo``)."""
    import asyncio
    import io

    from asn1crypto import x509 as ax509
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation.ades import ades_lta_validation
    from pyhanko.sign.validation.policy_decl import (
        PdfSignatureValidationSpec,
        RevinfoOnlineFetchingRule,
        RevocationInfoGatheringSpec,
        SignatureValidationSpec,
    )
    from pyhanko_certvalidator.authority import CertTrustAnchor
    from pyhanko_certvalidator.context import CertValidationPolicySpec
    from pyhanko_certvalidator.ltv.types import ValidationTimingInfo
    from pyhanko_certvalidator.policy_decl import (
        CertRevTrustPolicy,
        RevocationCheckingPolicy,
        RevocationCheckingRule,
    )
    from pyhanko_certvalidator.registry import SimpleTrustManager

    root = ax509.Certificate.load(root_cert.public_bytes(serialization.Encoding.DER))
    policy = CertValidationPolicySpec(
        trust_manager=SimpleTrustManager.build(trust_roots=[CertTrustAnchor(root)]),
        revinfo_policy=CertRevTrustPolicy(
            RevocationCheckingPolicy(
                ee_certificate_rule=RevocationCheckingRule.CHECK_IF_DECLARED,
                intermediate_ca_cert_rule=RevocationCheckingRule.CHECK_IF_DECLARED,
            ),
            retroactive_revinfo=retroactive,
        ),
    )
    local_only = RevocationInfoGatheringSpec(RevinfoOnlineFetchingRule.LOCAL_ONLY)
    spec = PdfSignatureValidationSpec(
        SignatureValidationSpec(cert_validation_policy=policy, revinfo_gathering_policy=local_only)
    )
    timing = ValidationTimingInfo(at, at, point_in_time_validation=True)
    sig = PdfFileReader(io.BytesIO(pdf)).embedded_signatures[0]
    result = asyncio.run(ades_lta_validation(sig, spec, timing_info=timing))
    return str(result.ades_subindic)


def test_b_lta_outlives_the_seal_certificate_and_b_b_does_not(services: Services) -> None:
    """pyHanko's AdES validator (ETSI EN 319 102-1), revocation required wherever a certificate
    names its status service, run twenty minutes on, past the seal certificate's expiry."""
    from licence import pdf as licence_pdf

    material = licence_pdf.SealMaterial(
        services.seal_key,
        services.seal,
        [services.authority.seal_ca, services.authority.root],
        b"",
    )
    signer = licence_pdf.pdf_signer(material)
    roots = [services.authority.root]
    tsa = f"{services.url}/tsa"
    blank = blank_pdf()
    b_b = licence_pdf.sign(blank, material, "seal", signer)
    b_lt = ltv.sign_pdf_ltv(blank, signer, roots, tsa, "seal")
    b_lta = ltv.sign_pdf_ltv(blank, signer, roots, tsa, "seal", archive=True)
    upgraded = ltv.add_archive_timestamp(b_lt, roots, tsa)
    again = ltv.add_archive_timestamp(b_lta, roots, tsa)  # the re-timestamping of an archive
    results = {
        name: _validate_after_expiry(pdf, services)
        for name, pdf in (
            ("B-B", b_b), ("B-LT", b_lt), ("B-LTA", b_lta), ("upgraded", upgraded),
            ("again", again),
        )
    }  # fmt: skip
    assert results["B-B"] == "AdESIndeterminate.SIG_CONSTRAINTS_FAILURE", results
    # the signature time stamp alone proves when the signature existed, not when the OCSP
    # answers and CRLs in the DSS did: until a document time stamp covers them, no proof of
    # existence (the reason `--ltv` writes B-LTA straight away)
    assert results["B-LT"] == "AdESIndeterminate.NO_POE", results
    # nor does letting revocation data vouch for earlier times (pyHanko's retroactive_revinfo):
    # what is missing is proof that the data existed before the certificate expired
    later = services.now + 2 * EXPIRES_IN
    retroactive = ades_indication(b_lt, services.authority.root, later, retroactive=True)
    assert retroactive == "AdESIndeterminate.NO_POE", retroactive
    for name in ("B-LTA", "upgraded", "again"):
        assert results[name] == "AdESPassed.OK", results


def test_a_revoked_seal_gets_no_long_term_signature(services: Services) -> None:
    """Revocation is really checked: the OCSP answer "revoked" stops the signing."""
    from pyhanko.sign.general import SigningError

    from licence import pdf as licence_pdf

    material = licence_pdf.SealMaterial(
        services.seal_key,
        services.seal,
        [services.authority.seal_ca, services.authority.root],
        b"",
    )
    services.registry[services.seal.serial_number] = ltv.Issued(services.seal, services.now)
    try:
        with pytest.raises((SigningError, ValueError)) as refused:
            ltv.sign_pdf_ltv(
                blank_pdf(),
                licence_pdf.pdf_signer(material),
                [services.authority.root],
                f"{services.url}/tsa",
                "seal",
                archive=True,
            )
        cause = refused.value.__cause__
        assert "revoked" in f"{type(cause).__name__} {cause}".lower(), repr(cause)
    finally:
        services.registry[services.seal.serial_number] = ltv.Issued(services.seal)


def test_cli_writes_b_lta_and_renews_its_archive(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import io
    import json

    from click.testing import CliRunner
    from licence_fixtures import issue_by_cli
    from pyhanko.pdf_utils.reader import PdfFileReader

    import hub.settings
    from hub.cli import main
    from hub.commands.licence import open_service

    monkeypatch.setattr(hub.settings, "_settings", settings)
    run = CliRunner()
    assert run.invoke(main, ["init"]).exit_code == 0
    lid = issue_by_cli(settings.db_url, run)
    srv, url = ltv.serve_in_thread(ltv.authority_of(open_service(settings)))
    try:
        refused = run.invoke(main, ["licence", "pdf", lid, "-o", str(tmp_path / "x.pdf"), "--ltv"])
        assert refused.exit_code != 0 and "--tsa" in refused.output
        out = run.invoke(
            main, ["licence", "pdf", lid, "-o", str(tmp_path / "lta.pdf"), "--ltv",
                   "--tsa", f"{url}/tsa"],
        )  # fmt: skip
        assert out.exit_code == 0, out.output
        reader = PdfFileReader(io.BytesIO((tmp_path / "lta.pdf").read_bytes()))
        assert "/DSS" in reader.root
        kinds = [s.sig_object.get("/Type") for s in reader.embedded_signatures]
        assert kinds == ["/Sig", "/DocTimeStamp"]
        renewed = run.invoke(
            main, ["licence", "timestamp", str(tmp_path / "lta.pdf"), "-o",
                   str(tmp_path / "renewed.pdf"), "--tsa", f"{url}/tsa"],
        )  # fmt: skip
        assert renewed.exit_code == 0, renewed.output
        again = PdfFileReader(io.BytesIO((tmp_path / "renewed.pdf").read_bytes()))
        assert len(again.embedded_signatures) == 3
        # the licence verifier still reads the sealed PDF after the archive updates
        report = run.invoke(main, ["verify", str(tmp_path / "renewed.pdf"), "--json"])
        checks = {c["check"]: c["status"] for c in json.loads(report.stdout)["checks"]}
        assert checks["pdf_signature"] == "PASSED", report.output
    finally:
        srv.shutdown()


def _locations(cert: x509.Certificate) -> tuple[list[str], list[str]]:
    """(OCSP URLs, CRL URLs) a certificate names; empty when it names none."""
    try:
        aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
        ocsp_urls = [
            str(d.access_location.value)
            for d in aia
            if d.access_method == AuthorityInformationAccessOID.OCSP
        ]
    except x509.ExtensionNotFound:
        ocsp_urls = []
    try:
        cdp = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
        crl_urls = [str(n.value) for point in cdp for n in point.full_name or []]
    except x509.ExtensionNotFound:
        crl_urls = []
    return ocsp_urls, crl_urls


def test_the_configured_service_is_named_in_the_certificates_the_hub_makes(
    settings: Settings,
) -> None:
    """HUB_LTV_URL: the seal CA's certificate names the root's CRL, every new seal's (P-256 and
    SM2) the seal CA's OCSP responder and CRL; with none configured, nothing is named."""
    from hub.wiring import licence_service
    from licence.signers import ECDSA_P256, SM2_SM3
    from sharing.receipts import ensure_verification_seal

    base = "http://ltv.example.gov.cn:59457"
    svc = licence_service(settings.model_copy(update={"ltv_url": base + "/"}))
    pca = svc.ensure_ca()
    assert _locations(pca.seal_ca) == ([], [f"{base}/crl/root.crl"])
    assert _locations(pca.root) == ([], [])
    for algorithm in (ECDSA_P256, SM2_SM3):
        row = svc.create_seal("11430000006122244L", algorithm=algorithm)
        cert = x509.load_pem_x509_certificate(str(row["cert_pem"]).encode())
        assert _locations(cert) == ([f"{base}/ocsp"], [f"{base}/crl/seal-ca.crl"]), algorithm
    # the platform's own verification seal (claim receipts) too
    verification = ensure_verification_seal(svc)
    assert _locations(x509.load_pem_x509_certificate(verification.certificate_pem.encode())) == (
        [f"{base}/ocsp"],
        [f"{base}/crl/seal-ca.crl"],
    )

    plain = licence_service(
        settings.model_copy(update={"ltv_url": "", "home": settings.home.parent / "plain"})
    )
    plain.ensure_ca()
    assert _locations(plain.platform_ca().seal_ca) == ([], [])
    row = plain.create_seal("11430000006122244L")
    assert _locations(x509.load_pem_x509_certificate(str(row["cert_pem"]).encode())) == ([], [])


def _ocsp_status(url: str, cert: x509.Certificate, issuer: x509.Certificate) -> str:
    der = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(cert, issuer, hashes.SHA256())
        .build()
        .public_bytes(serialization.Encoding.DER)
    )
    answer = ocsp.load_der_ocsp_response(_post(url, der, "application/ocsp-request"))
    assert answer.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    public = issuer.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(answer.signature, answer.tbs_response_bytes, ec.ECDSA(hashes.SHA256()))
    return answer.certificate_status.name


def test_a_cloud_signed_pdf_at_b_lta_outlives_the_signer_certificate(settings: Settings) -> None:
    """The citizen's cloud signature (signHash over the CSC API, through pyHanko) at B-LTA: the
    person's certificate names the service's OCSP responder and the signing CA's CRL; the
    holder authorises one hash; validated from the PDF alone, revocation checking on, twenty
    minutes after the certificate expired: valid, its B-B twin not. A revoked credential's
    certificate is revoked at the responder and in the CRL."""
    import base64
    import io
    import time
    from urllib.parse import parse_qs, urlparse

    from licence_fixtures import PERSON_ID
    from pyhanko.pdf_utils.reader import PdfFileReader

    from ledger.service import LedgerService
    from licence.cloudsign import totp
    from licence.cloudsign.remote import CscSigner, LocalCsc, sign_pdf, verify_pdf
    from licence.cloudsign.service import CloudSignService
    from storage.library import LibraryStore, engine_for
    from storage.objects import LocalObjectStore

    library = LibraryStore(engine_for(settings.db_url))
    library.merge("population", "run-p", "police.residents", dt.datetime.now(dt.UTC),
                  [PERSON_ID], {"name": ["张三"]})  # fmt: skip
    keys = EncryptedFileKeyStore(settings.keys_path, settings.key_passphrase)
    objects = LocalObjectStore(settings.objects_path)
    clock = [time.time()]
    cloud = CloudSignService(
        library.engine, keys, objects, LedgerService.open(settings), library,
        clock=lambda: clock[0],
    )  # fmt: skip
    pca = ca.ensure_platform_ca(keys, objects)
    root_key, seal_ca_key = keys.load(ca.ROOT_KEY), keys.load(ca.SEAL_CA_KEY)
    assert isinstance(root_key, ec.EllipticCurvePrivateKey)
    assert isinstance(seal_ca_key, ec.EllipticCurvePrivateKey)
    tsa_key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    authority = ltv.Authority(
        pca.root, root_key, pca.seal_ca, seal_ca_key,
        ltv.tsa_certificate(pca.root, root_key, tsa_key.public_key(), now), tsa_key, dict,
    )  # fmt: skip
    srv, url = ltv.serve_in_thread(authority)
    try:
        cloud.ltv_url = url  # HUB_LTV_URL
        authority.tsa = ltv.tsa_certificate(
            pca.root, root_key, tsa_key.public_key(), now, crl_url=ltv.root_crl_url(url)
        )
        authority.sign_ca = cloud.signing_ca()
        authority.sign_ca_key = keys.load(ca.SIGN_CA_KEY)  # type: ignore[assignment]
        authority.person_certificates = lambda: ltv.person_registry(cloud.engine)
        assert _locations(authority.sign_ca) == ([], [f"{url}/crl/root.crl"])
        # enrolled three years (the certificate's life) less ten minutes ago
        real = clock[0]
        clock[0] = real - 3 * 365 * 86400 + EXPIRES_IN.total_seconds()
        enrolment = cloud.enrol(PERSON_ID, "246810")
        clock[0] = real
        cert = enrolment.certificate
        assert _locations(cert) == ([f"{url}/ocsp"], [f"{url}/crl/sign-ca.crl"])
        secret = parse_qs(urlparse(enrolment.otp_uri).query)["secret"][0]
        otp_key = base64.b32decode(secret + "=" * (-len(secret) % 8))
        authorised: list[bytes] = []

        def activate(digest: bytes) -> tuple[str, str]:
            authorised.append(digest)
            code = totp.totp(otp_key, clock[0])
            clock[0] += 30  # the next code is a fresh one
            return "246810", code

        def signer() -> CscSigner:
            return CscSigner(LocalCsc(cloud), enrolment.credential_id, activate)

        b_lta = sign_pdf(blank_pdf(), signer(), tsa_url=f"{url}/tsa", trust_roots=[pca.root])
        assert len(authorised) == 1  # the time stamps need no second authorisation
        b_b = sign_pdf(blank_pdf(), signer())
        reader = PdfFileReader(io.BytesIO(b_lta))
        kinds = [s.sig_object.get("/Type") for s in reader.embedded_signatures]
        assert kinds == ["/Sig", "/DocTimeStamp"] and "/DSS" in reader.root
        later = now + 2 * EXPIRES_IN
        assert later > cert.not_valid_after_utc
        assert ades_indication(b_lta, pca.root, later) == "AdESPassed.OK"
        assert ades_indication(b_b, pca.root, later) != "AdESPassed.OK"
        # `hub cloudsign verify` reports the person's signature (the time stamps are not one)
        (report,) = verify_pdf(b_lta, pca.root, cloud)
        assert report.ok and report.cloud_signature and report.changes_allowed, report

        assert _ocsp_status(f"{url}/ocsp", cert, authority.sign_ca) == "GOOD"
        cloud.revoke(enrolment.credential_id, officer="desk-07", reason="phone lost")
        assert _ocsp_status(f"{url}/ocsp", cert, authority.sign_ca) == "REVOKED"
        crl = x509.load_der_x509_crl(
            urllib.request.urlopen(f"{url}/crl/sign-ca.crl", timeout=10).read()
        )
        assert crl.is_signature_valid(authority.sign_ca.public_key())  # type: ignore[arg-type]
        assert crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None
    finally:
        srv.shutdown()
        cloud.flush_audit()
