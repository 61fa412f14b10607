"""Services tier: cloud-signature keys in SoftHSM2 (PKCS#11), stores on PostgreSQL and MinIO."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cloudsign_fixtures import PERSON_ID, PIN, Authenticator, Clock, blank_pdf
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from servicekit import service_env, services_settings

from hub.wiring import cloudsign_service
from licence.cloudsign import envelope
from licence.cloudsign.errors import KeyUnavailableError, SADReusedError
from licence.cloudsign.keys import Pkcs11Keys
from licence.cloudsign.remote import CscSigner, LocalCsc, sign_pdf, verify_pdf
from licence.cloudsign.service import CloudSignService
from schemas import resident_id
from storage.library import LibraryStore
from storage.objects import MinioObjectStore
from storage.pkcs11 import Pkcs11Error, Pkcs11KeyStore, Pkcs11Token

pytestmark = pytest.mark.services


@pytest.fixture
def token(monkeypatch: pytest.MonkeyPatch) -> Iterator[Pkcs11Token]:
    env = service_env()
    # SoftHSM2 reads its configuration when the module initialises
    monkeypatch.setenv("SOFTHSM2_CONF", env["SOFTHSM2_CONF"])
    t = Pkcs11Token(env["HUB_PKCS11_MODULE"], env["HUB_PKCS11_TOKEN"], env["HUB_PKCS11_PIN"])
    yield t
    t.close()  # logs the process out of the token (PKCS#11 login state is per application)


def test_wrong_token_pin_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    env = service_env()
    monkeypatch.setenv("SOFTHSM2_CONF", env["SOFTHSM2_CONF"])
    with pytest.raises(Pkcs11Error, match="C_Login"):
        Pkcs11Token(env["HUB_PKCS11_MODULE"], env["HUB_PKCS11_TOKEN"], "not-the-pin")


def test_token_keys_sign_and_never_leave(token: Pkcs11Token) -> None:
    label = f"test-{secrets.token_hex(6)}"
    store = Pkcs11KeyStore(token)
    key = ec.generate_private_key(ec.SECP256R1())
    store.save(label, key)
    try:
        assert store.exists(label)
        handle = store.load(label)
        sig = handle.sign(b"data", ec.ECDSA(hashes.SHA256()))
        key.public_key().verify(sig, b"data", ec.ECDSA(hashes.SHA256()))
        assert not token.extractable(label)
        with pytest.raises(Pkcs11Error, match="non-extractable"):
            handle.private_numbers()
        with pytest.raises(Pkcs11Error, match="exists already"):
            store.save(label, key)
    finally:
        token.destroy(label)
    assert not store.exists(label)


def test_pdf_signed_with_a_token_key_on_postgresql_and_minio(
    token: Pkcs11Token, tmp_path: Path
) -> None:
    settings = services_settings(tmp_path).model_copy(update={"cloudsign_keys": "pkcs11"})
    body = f"34010419{secrets.randbelow(30) + 60}0101{secrets.randbelow(900) + 100}"
    person = body + resident_id.check_character(body)
    svc: CloudSignService = cloudsign_service(settings)
    assert isinstance(svc.backend, Pkcs11Keys)
    # a bucket of this test's own: the platform CA must match this test's key folder
    bucket = f"test-cs-{secrets.token_hex(6)}"
    objects = MinioObjectStore(
        settings.minio_endpoint,
        settings.minio_access_key,
        settings.minio_secret_key,
        bucket=bucket,
        secure=False,
    )
    svc.objects = objects
    LibraryStore(svc.engine).merge(
        "population",
        f"run-{secrets.token_hex(4)}",
        "police.residents",
        datetime.now(UTC),
        [person],
        {"name": ["王五"]},
    )
    clock = Clock()
    svc.clock = clock
    enrolment = svc.enrol(person, PIN)
    credential = enrolment.credential_id
    try:
        assert token.exists(credential) and not token.extractable(credential)
        app = Authenticator(enrolment.otp_uri, clock)
        signer = CscSigner(LocalCsc(svc), credential, lambda _d: (PIN, app.code()))
        signed = sign_pdf(blank_pdf(), signer)
        _, root = svc.chain()
        (report,) = verify_pdf(signed, root, svc)
        assert report.ok, report

        digest = hashlib.sha256(b"second").digest()
        auth = svc.authorize(credential, PIN, app.code(), [digest])
        svc.sign_hash(credential, auth.sad, [digest])
        with pytest.raises(SADReusedError):
            svc.sign_hash(credential, auth.sad, [digest])
        # a SAD forged in the database does not activate the token key
        forged = "forged-by-operator"
        with svc.engine.begin() as conn:
            from licence.cloudsign import store

            conn.execute(
                store.sads.insert().values(
                    sad_hash=envelope.sad_hash(forged),
                    credential_id=credential,
                    hashes=digest.hex(),
                    expires_at=clock() + 300,
                    used=False,
                    # sealed to (SAD, client) as the service seals it, for the local client
                    sealed_pin_key=envelope.seal(
                        envelope.sad_key(forged),
                        bytes(32),
                        f"{envelope.sad_hash(forged)}\x00local".encode(),
                    ),
                )
            )
        with pytest.raises(KeyUnavailableError):
            svc.sign_hash(credential, forged, [digest])
        events = [(r["event"], r["outcome"]) for r in svc.audit_trail(credential)]
        assert events.count(("sign", "ok")) == 2
        assert all(r["entry_id"] for r in svc.audit_trail(credential))
        # a PIN change rebinds the token key; revocation destroys it
        svc.change_pin(credential, PIN, app.code(), "97531975")
        auth = svc.authorize(credential, "97531975", app.code(), [digest])
        assert svc.sign_hash(credential, auth.sad, [digest])
        svc.revoke(credential, officer="desk", reason="test")
        assert not token.exists(credential)
    finally:
        token.destroy(credential)
        for key in objects.list():
            objects.client.remove_object(bucket, key)
        objects.client.remove_bucket(bucket)


def test_failed_enrolment_leaves_no_key_in_the_token(
    token: Pkcs11Token,
    cloudsign: CloudSignService,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cloudsign.backend = Pkcs11Keys(token, bytes(32))
    made: list[str] = []
    generate = token.generate_ec

    def spy(label: str) -> ec.EllipticCurvePublicKey:
        made.append(label)
        return generate(label)

    def no_certificate(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("CA unavailable")

    monkeypatch.setattr(token, "generate_ec", spy)
    monkeypatch.setattr("licence.ca.issue_person_certificate", no_certificate)
    with pytest.raises(RuntimeError, match="CA unavailable"):
        cloudsign.enrol(PERSON_ID, PIN)
    assert len(made) == 1 and not token.exists(made[0])
    assert cloudsign.list_credentials(PERSON_ID) == []
