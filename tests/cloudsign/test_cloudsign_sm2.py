"""SM2 signing credentials (national profile): enrol, info, authorise + signHash over SM3 hashes.

The client sends e = SM3(Z_A ‖ M) (GB/T 32918.2, default signer ID); the signature comes back
as DER SEQUENCE{r, s} and must verify over M with the public key from the certificate.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from asn1crypto import algos as asn1_algos
from click.testing import CliRunner
from cloudsign_fixtures import PERSON_ID, PIN, Authenticator, Clock, blank_pdf, csc_client
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient
from sqlalchemy import select

import hub.settings
from hub.cli import main
from hub.settings import Settings
from hub.wiring import api_app
from licence import signers
from licence.cloudsign import envelope, store
from licence.cloudsign.errors import (
    HashAlgorithmMismatchError,
    HashNotAuthorisedError,
    KeyAlgorithmNotSupportedError,
    WrongPINError,
)
from licence.cloudsign.keys import Pkcs11Keys
from licence.cloudsign.oids import (
    ECDSA_SHA256_OID,
    SHA256_OID,
    SM2_KEY_OID,
    SM2_SM3_OID,
    SM3_OID,
)
from licence.cloudsign.remote import CscSigner, LocalCsc
from licence.cloudsign.service import CloudSignService
from storage.keys import sm2_scalar_from_pkcs8
from storage.library import LibraryStore, engine_for

MESSAGE = b"\xe5\x91\x8a\xe7\x9f\xa5\xe6\x89\xbf\xe8\xaf\xba\xe4\xb9\xa6 commitment letter"


def _point(cloudsign: CloudSignService, cid: str) -> bytes:
    algorithm, point = signers.certificate_key(cloudsign.certificate(cid))
    assert algorithm == signers.SM2_SM3
    return point


def _raw(der: bytes) -> bytes:
    """DER SEQUENCE{r, s} → r‖s (32 bytes each), refusing anything else."""
    seq = asn1_algos.DSASignature.load(der)
    assert seq.dump() == der  # strict DER, nothing trailing
    r, s = int(seq["r"].native), int(seq["s"].native)
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def _sign(
    cloudsign: CloudSignService, cid: str, app: Authenticator, digests: list[bytes]
) -> list[bytes]:
    sad = cloudsign.authorize(cid, PIN, app.code(), digests, SM3_OID).sad
    return cloudsign.sign_hash(cid, sad, digests, SM3_OID, SM2_SM3_OID)


def test_enrol_sm2_certificate_from_the_signing_ca(cloudsign: CloudSignService) -> None:
    enrolment = cloudsign.enrol(PERSON_ID, PIN, profile="national")
    cert = enrolment.certificate
    point = _point(cloudsign, enrolment.credential_id)
    assert signers.sm2_point_on_curve(point)
    # same subject as a P-256 credential: the name and the masked ID number only
    p256 = cloudsign.enrol(PERSON_ID, PIN).certificate
    assert cert.subject == p256.subject and cert.issuer == p256.issuer
    assert "110105********002X" in cert.subject.rfc4514_string()
    assert PERSON_ID not in cert.subject.rfc4514_string()
    ca_key = cloudsign.signing_ca().public_key()
    assert isinstance(ca_key, ec.EllipticCurvePublicKey)
    ca_key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(hashes.SHA256()))
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.content_commitment and not usage.key_cert_sign
    ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert ski.digest == hashlib.sha1(point).digest()


def test_profile_setting_selects_sm2(cloudsign: CloudSignService) -> None:
    cloudsign.crypto_profile = "national"
    cid = cloudsign.enrol(PERSON_ID, PIN).credential_id
    assert cloudsign.key_algorithm(cid) == signers.SM2_SM3
    cid = cloudsign.enrol(PERSON_ID, PIN, profile="standard").credential_id
    assert cloudsign.key_algorithm(cid) == signers.ECDSA_P256


def test_info_reports_sm2(cloudsign: CloudSignService) -> None:
    cid = cloudsign.enrol(PERSON_ID, PIN, profile="national").credential_id
    key = cloudsign.info(cid)["key"]
    assert key["algo"] == [SM2_SM3_OID, SM2_KEY_OID]
    assert key["curve"] == SM2_KEY_OID and key["len"] == 256


def test_authorize_and_sign_sm3_hashes(cloudsign: CloudSignService, clock: Clock) -> None:
    enrolment = cloudsign.enrol(PERSON_ID, PIN, profile="national")
    cid = enrolment.credential_id
    app = Authenticator(enrolment.otp_uri, clock)
    point = _point(cloudsign, cid)
    messages = [MESSAGE, b"second document"]
    # e = SM3(Z_A ‖ M), Z_A over ENTL ‖ "1234567812345678" ‖ a ‖ b ‖ G ‖ the holder's key
    digests = [signers.sm2_digest(point, m) for m in messages]
    signatures = _sign(cloudsign, cid, app, digests)
    assert len(signatures) == 2
    for message, signature in zip(messages, signatures, strict=True):
        raw = _raw(signature)
        signers.verify(signers.SM2_SM3, point, raw, message)  # OpenSSL 3 when present
        r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
        assert signers.sm2_verify(point, r, s, raw, message, use_openssl=False)  # gmssl
        with pytest.raises(signers.SignatureError):
            signers.verify(signers.SM2_SM3, point, raw, message + b"!")
    trail = [(r["event"], r["outcome"]) for r in cloudsign.audit_trail(cid)]
    assert trail == [("enrol", "ok"), ("authorise", "ok"), ("sign", "ok")]


def test_pin_change_keeps_the_sm2_key(cloudsign: CloudSignService, clock: Clock) -> None:
    enrolment = cloudsign.enrol(PERSON_ID, PIN, profile="national")
    cid = enrolment.credential_id
    app = Authenticator(enrolment.otp_uri, clock)
    cloudsign.change_pin(cid, PIN, app.code(), "13579135")
    e = signers.sm2_digest(_point(cloudsign, cid), MESSAGE)
    sad = cloudsign.authorize(cid, "13579135", app.code(), [e], SM3_OID).sad
    (signature,) = cloudsign.sign_hash(cid, sad, [e], SM3_OID, SM2_SM3_OID)
    signers.verify(signers.SM2_SM3, _point(cloudsign, cid), _raw(signature), MESSAGE)


def test_hash_algorithm_must_fit_the_key(cloudsign: CloudSignService, clock: Clock) -> None:
    sm2 = cloudsign.enrol(PERSON_ID, PIN, profile="national")
    p256 = cloudsign.enrol(PERSON_ID, PIN)
    sm2_app = Authenticator(sm2.otp_uri, clock)
    p256_app = Authenticator(p256.otp_uri, clock)
    sha = hashlib.sha256(MESSAGE).digest()
    with pytest.raises(HashAlgorithmMismatchError, match=r"SM2 key.*SM3"):
        cloudsign.authorize(sm2.credential_id, PIN, sm2_app.code(), [sha], SHA256_OID)
    e = signers.sm2_digest(_point(cloudsign, sm2.credential_id), MESSAGE)
    with pytest.raises(HashAlgorithmMismatchError, match=r"P-256 key.*SHA-256"):
        cloudsign.authorize(p256.credential_id, PIN, p256_app.code(), [e], SM3_OID)
    # an SM2 SAD, then signHash asking for ECDSA or SHA-256: refused, nothing signed
    sad = cloudsign.authorize(sm2.credential_id, PIN, sm2_app.code(), [e], SM3_OID).sad
    with pytest.raises(HashAlgorithmMismatchError, match=SM2_SM3_OID):
        cloudsign.sign_hash(sm2.credential_id, sad, [e], SM3_OID, ECDSA_SHA256_OID)
    with pytest.raises(HashAlgorithmMismatchError):
        cloudsign.sign_hash(sm2.credential_id, sad, [e], SHA256_OID, SM2_SM3_OID)
    # the SAD was not consumed by the refused requests: the right one still signs
    (signature,) = cloudsign.sign_hash(sm2.credential_id, sad, [e], SM3_OID, SM2_SM3_OID)
    signers.verify(signers.SM2_SM3, _point(cloudsign, sm2.credential_id), _raw(signature), MESSAGE)
    # the P-256 path is unchanged: SHA-256 + ECDSA
    sad = cloudsign.authorize(p256.credential_id, PIN, p256_app.code(), [sha]).sad
    with pytest.raises(HashAlgorithmMismatchError, match=ECDSA_SHA256_OID):
        cloudsign.sign_hash(p256.credential_id, sad, [sha], SHA256_OID, SM2_SM3_OID)
    (signature,) = cloudsign.sign_hash(p256.credential_id, sad, [sha])
    p256_key = p256.certificate.public_key()
    assert isinstance(p256_key, ec.EllipticCurvePublicKey)
    p256_key.verify(signature, MESSAGE, ec.ECDSA(hashes.SHA256()))


def test_sole_control_holds_for_sm2(cloudsign: CloudSignService, clock: Clock) -> None:
    enrolment = cloudsign.enrol(PERSON_ID, PIN, profile="national")
    cid = enrolment.credential_id
    app = Authenticator(enrolment.otp_uri, clock)
    point = _point(cloudsign, cid)
    a, b = signers.sm2_digest(point, b"document A"), signers.sm2_digest(point, b"document B")
    with pytest.raises(WrongPINError):
        cloudsign.authorize(cid, "999999", app.code(), [a], SM3_OID)
    sad = cloudsign.authorize(cid, PIN, app.code(), [a], SM3_OID).sad
    with pytest.raises(HashNotAuthorisedError):
        cloudsign.sign_hash(cid, sad, [b], SM3_OID, SM2_SM3_OID)
    outcomes = [r["outcome"] for r in cloudsign.audit_trail(cid) if r["event"] == "sign"]
    assert outcomes == ["refused:invalid_hash"]  # nothing was signed


def test_no_plaintext_sm2_scalar_at_rest(
    cloudsign: CloudSignService, settings: Settings, clock: Clock
) -> None:
    enrolment = cloudsign.enrol(PERSON_ID, PIN, profile="national")
    cid = enrolment.credential_id
    with cloudsign.engine.connect() as conn:
        row = conn.execute(
            select(store.credentials).where(store.credentials.c.credential_id == cid)
        ).one()
    # the holder's PIN opens the envelope: the scalar exists, and nowhere in clear
    pin_key = envelope.derive_pin(
        cloudsign._master, cid, PIN, row.pin_salt, envelope.PinParams.decode(row.pin_params)
    ).pin_key
    der = envelope.open_key_der(row.key_material, cloudsign._master, pin_key, cid)
    scalar = sm2_scalar_from_pkcs8(der)
    assert signers.Sm2Signer(scalar.hex()).public_key_bytes() == _point(cloudsign, cid)
    assert scalar not in row.key_material and der not in row.key_material
    database = Path(settings.db_url.removeprefix("sqlite:///")).read_bytes()
    assert scalar not in database and scalar.hex().encode() not in database
    for path in settings.keys_path.rglob("*"):
        if path.is_file():
            assert scalar not in path.read_bytes()
    # without the PIN key (an operator with database and master key) the envelope stays shut
    with pytest.raises(envelope.EnvelopeError):
        envelope.open_key_der(row.key_material, cloudsign._master, bytes(32), cid)


def test_pkcs11_back_end_refuses_sm2(cloudsign: CloudSignService) -> None:
    # refused before the token is touched: SoftHSM2 has no SM2 mechanism
    cloudsign.backend = Pkcs11Keys(token=None, master_key=cloudsign._master)
    with pytest.raises(KeyAlgorithmNotSupportedError, match="SM2"):
        cloudsign.enrol(PERSON_ID, PIN, profile="national")
    assert cloudsign.list_credentials(PERSON_ID) == []


def test_pdf_signing_refuses_sm2(cloudsign: CloudSignService) -> None:
    cid = cloudsign.enrol(PERSON_ID, PIN, profile="national").credential_id
    asked: list[bytes] = []

    def activation(digest: bytes) -> tuple[str, str]:
        asked.append(digest)
        return PIN, "000000"

    with pytest.raises(KeyAlgorithmNotSupportedError, match="SM2"):
        CscSigner(LocalCsc(cloudsign), cid, activation)
    assert asked == []
    assert [r["event"] for r in cloudsign.audit_trail(cid)] == ["enrol"]


@pytest.fixture
def http(settings: Settings, cloudsign: CloudSignService) -> Iterator[TestClient]:
    api = api_app(settings, background=False)
    api.state.cloudsign = cloudsign
    with TestClient(api, headers=csc_client(api)) as client:
        yield client


def test_csc_api_with_an_sm2_credential(
    http: TestClient, cloudsign: CloudSignService, clock: Clock
) -> None:
    enrolment = cloudsign.enrol(PERSON_ID, PIN, profile="national")
    cid = enrolment.credential_id
    cloudsign.bind(cid, "gov-portal", by="desk-07")
    app = Authenticator(enrolment.otp_uri, clock)
    assert SM2_SM3_OID in http.post("/csc/v2/info", json={}).json()["signAlgorithms"]["algos"]
    info = http.post("/csc/v2/credentials/info", json={"credentialID": cid}).json()
    assert info["key"]["algo"] == [SM2_SM3_OID, SM2_KEY_OID]
    cert = x509.load_der_x509_certificate(base64.b64decode(info["cert"]["certificates"][0]))
    algorithm, point = signers.certificate_key(cert)
    assert algorithm == signers.SM2_SM3
    e = base64.b64encode(signers.sm2_digest(point, MESSAGE)).decode()
    auth = {"credentialID": cid, "numSignatures": 1, "hashes": [e], "PIN": PIN}
    wrong = http.post(
        "/csc/v2/credentials/authorize", json={**auth, "OTP": app.code()}
    )  # hashAlgorithmOID defaults to SHA-256: not for an SM2 key
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_request"
    assert SM3_OID in wrong.json()["error_description"]
    r = http.post(
        "/csc/v2/credentials/authorize",
        json={**auth, "OTP": app.code(), "hashAlgorithmOID": SM3_OID},
    )
    assert r.status_code == 200, r.text
    body = {"credentialID": cid, "SAD": r.json()["SAD"], "hashes": [e], "hashAlgorithmOID": SM3_OID}
    wrong = http.post("/csc/v2/signatures/signHash", json=body)  # signAlgo defaults to ECDSA
    assert wrong.status_code == 400 and SM2_SM3_OID in wrong.json()["error_description"]
    r = http.post("/csc/v2/signatures/signHash", json={**body, "signAlgo": SM2_SM3_OID})
    assert r.status_code == 200, r.text
    signature = base64.b64decode(r.json()["signatures"][0])
    signers.verify(signers.SM2_SM3, point, _raw(signature), MESSAGE)


def test_cli_enrol_national_and_pdf_refusal(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(hub.settings, "_settings", settings)
    LibraryStore(engine_for(settings.db_url)).merge(
        "population", "r1", "police.residents", datetime.now(UTC), [PERSON_ID], {"name": ["张三"]}
    )
    run = CliRunner()
    out = run.invoke(
        main, ["cloudsign", "enrol", PERSON_ID, "--profile", "national"], input=f"{PIN}\n{PIN}\n"
    )
    assert out.exit_code == 0, out.output
    assert f"key: {signers.SM2_SM3}" in out.output
    credential = out.output.split("credential: ")[1].split()[0]
    pdf = tmp_path / "letter.pdf"
    pdf.write_bytes(blank_pdf())
    signed = tmp_path / "letter.signed.pdf"
    out = run.invoke(
        main,
        ["cloudsign", "sign", str(pdf), "--credential", credential, "-o", str(signed)],
        input=f"{PIN}\n000000\n",
    )
    assert out.exit_code == 2 and "SM2" in out.output and not signed.exists()
    assert "PIN" not in out.output.split("error:")[0]  # refused before any prompt


@pytest.mark.parametrize("use_openssl", [True, False])
def test_sm2_digest_signing_both_backends(use_openssl: bool) -> None:
    """Signing e directly (OpenSSL 3 EVP_PKEY_sign, or gmssl) gives signatures over M that the
    other implementation verifies."""
    key = signers.Sm2Signer(signers.Sm2Signer.generate().private_hex, use_openssl=use_openssl)
    point = key.public_key_bytes()
    e = signers.sm2_digest(point, MESSAGE)
    for _ in range(5):
        raw = key.sign_digest(e)
        r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
        assert signers.sm2_verify(point, r, s, raw, MESSAGE, use_openssl=not use_openssl)
        signers.verify(signers.SM2_SM3, point, raw, MESSAGE)
    with pytest.raises(signers.SignatureError, match="32 bytes"):
        key.sign_digest(e[:20])


@pytest.mark.parametrize("use_openssl", [True, False])
def test_prehashed_key_from_pkcs8(use_openssl: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """What signHash uses: the key from its PKCS#8 DER, DER signatures; gmssl when libcrypto
    has no SM2 (simulated by hiding the OpenSSL backend)."""
    from licence import sm2_openssl
    from storage.keys import sm2_private_key_info

    gm = signers.Sm2Signer.generate()
    point = gm.public_key_bytes()
    der = sm2_private_key_info(gm.private_bytes(), point)
    if not use_openssl:
        monkeypatch.setattr(sm2_openssl, "backend", lambda: None)
    key = signers.Sm2PrehashedKey(der)
    assert (key._ossl is not None) == (use_openssl and signers.sm2_backend() == "openssl")
    e = signers.sm2_digest(point, MESSAGE)
    raw = _raw(key.sign_der(e))
    r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
    assert signers.sm2_verify(point, r, s, raw, MESSAGE, use_openssl=False)
