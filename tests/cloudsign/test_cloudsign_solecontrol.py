"""Sole control (EN 419 241): only the holder, with PIN + OTP, for the exact hashes, once, soon.

Each refusal is a specific error, leaves an audit entry on the ledger, and signs nothing.
"""

from __future__ import annotations

import hashlib

import pytest
from cloudsign_fixtures import OTHER_ID, PERSON_ID, PIN, Authenticator, Clock
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from sqlalchemy import insert, select

from hub.settings import Settings
from ledger.service import LedgerService
from licence.cloudsign import envelope, store
from licence.cloudsign.errors import (
    CredentialLockedError,
    HashNotAuthorisedError,
    InvalidSADError,
    KeyUnavailableError,
    MissingSADError,
    NotInLibraryError,
    SADExpiredError,
    SADReusedError,
    WrongOTPError,
    WrongPINError,
)
from licence.cloudsign.keys import EnvelopeKeys
from licence.cloudsign.service import CloudSignService
from storage.keys import EncryptedFileKeyStore

HASH_A = hashlib.sha256(b"application A").digest()
HASH_B = hashlib.sha256(b"commitment letter B").digest()


@pytest.fixture
def holder(cloudsign: CloudSignService, clock: Clock) -> tuple[str, Authenticator]:
    enrolment = cloudsign.enrol(PERSON_ID, PIN)
    return enrolment.credential_id, Authenticator(enrolment.otp_uri, clock)


def signed_events(svc: CloudSignService, credential: str) -> list[dict[str, object]]:
    return [r for r in svc.audit_trail(credential) if r["event"] == "sign" and r["outcome"] == "ok"]


def test_holder_signs_exactly_what_was_authorised(
    cloudsign: CloudSignService, holder: tuple[str, Authenticator]
) -> None:
    credential, app = holder
    auth = cloudsign.authorize(credential, PIN, app.code(), [HASH_A, HASH_B])
    assert auth.expires_in == 300
    sigs = cloudsign.sign_hash(credential, auth.sad, [HASH_B, HASH_A])
    public = cloudsign.certificate(credential).public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    for sig, digest in zip(sigs, [HASH_B, HASH_A], strict=True):
        public.verify(sig, digest, ec.ECDSA(Prehashed(hashes.SHA256())))
    assert len(signed_events(cloudsign, credential)) == 1


def test_every_event_is_a_ledger_entry(
    cloudsign: CloudSignService, cs_ledger: LedgerService, holder: tuple[str, Authenticator]
) -> None:
    credential, app = holder
    auth = cloudsign.authorize(credential, PIN, app.code(), [HASH_A])
    cloudsign.sign_hash(credential, auth.sad, [HASH_A])
    cloudsign.flush_audit()
    cs_ledger.sequence()
    trail = cloudsign.audit_trail(credential)
    assert [r["event"] for r in trail] == ["enrol", "authorise", "sign"]
    for row in trail:
        index = cs_ledger.entry_index(row["entry_id"])
        assert index is not None
        receipt = cs_ledger.receipt(index)
        assert receipt.leaf_hash == cs_ledger_leaf(cs_ledger, row["record"].encode())
        assert PERSON_ID not in row["record"]  # personal data never enters the ledger


def cs_ledger_leaf(ledger: LedgerService, data: bytes) -> bytes:
    from ledger.merkle import leaf_hash

    return leaf_hash(data, ledger.hash_name)


def test_no_sad_signs_nothing(
    cloudsign: CloudSignService, holder: tuple[str, Authenticator]
) -> None:
    credential, _ = holder
    with pytest.raises(MissingSADError, match="authorise the hashes first"):
        cloudsign.sign_hash(credential, None, [HASH_A])
    with pytest.raises(InvalidSADError, match="unknown SAD"):
        cloudsign.sign_hash(credential, "made-up-token", [HASH_A])
    assert signed_events(cloudsign, credential) == []
    assert cloudsign.audit_trail(credential)[-1]["outcome"] == "refused:invalid_sad"


def test_reused_sad_is_refused(
    cloudsign: CloudSignService, holder: tuple[str, Authenticator]
) -> None:
    credential, app = holder
    auth = cloudsign.authorize(credential, PIN, app.code(), [HASH_A])
    cloudsign.sign_hash(credential, auth.sad, [HASH_A])
    with pytest.raises(SADReusedError, match="already used"):
        cloudsign.sign_hash(credential, auth.sad, [HASH_A])
    assert len(signed_events(cloudsign, credential)) == 1
    with cloudsign.engine.connect() as conn:
        (sealed,) = conn.execute(select(store.sads.c.sealed_pin_key)).one()
    assert sealed == b""  # the PIN key sealed in the SAD is erased when it is used


def test_sad_for_hash_a_does_not_sign_hash_b(
    cloudsign: CloudSignService, holder: tuple[str, Authenticator]
) -> None:
    credential, app = holder
    auth = cloudsign.authorize(credential, PIN, app.code(), [HASH_A])
    with pytest.raises(HashNotAuthorisedError, match="not the ones the SAD authorised"):
        cloudsign.sign_hash(credential, auth.sad, [HASH_B])
    # the SAD is burnt: not even the authorised hash can be signed with it afterwards
    with pytest.raises(SADReusedError):
        cloudsign.sign_hash(credential, auth.sad, [HASH_A])
    # a subset or superset of the authorised hashes is refused too
    both = cloudsign.authorize(credential, PIN, app.code(), [HASH_A, HASH_B])
    with pytest.raises(HashNotAuthorisedError):
        cloudsign.sign_hash(credential, both.sad, [HASH_A])
    assert signed_events(cloudsign, credential) == []


def test_expired_sad_is_refused(
    cloudsign: CloudSignService, holder: tuple[str, Authenticator], clock: Clock
) -> None:
    credential, app = holder
    auth = cloudsign.authorize(credential, PIN, app.code(), [HASH_A])
    clock.advance(301)
    cloudsign.flush_audit()  # also erases the key material of expired SADs
    with cloudsign.engine.connect() as conn:
        (sealed,) = conn.execute(select(store.sads.c.sealed_pin_key)).one()
    assert sealed == b""
    with pytest.raises(SADExpiredError, match="expired"):
        cloudsign.sign_hash(credential, auth.sad, [HASH_A])
    assert signed_events(cloudsign, credential) == []


def test_sad_of_another_credential_is_refused(
    cloudsign: CloudSignService, holder: tuple[str, Authenticator], clock: Clock
) -> None:
    credential, app = holder
    other = cloudsign.enrol(OTHER_ID, "135791")
    auth = cloudsign.authorize(credential, PIN, app.code(), [HASH_A])
    with pytest.raises(InvalidSADError):
        cloudsign.sign_hash(other.credential_id, auth.sad, [HASH_A])
    assert signed_events(cloudsign, other.credential_id) == []


def test_five_wrong_pins_lock_until_reset(
    cloudsign: CloudSignService, holder: tuple[str, Authenticator]
) -> None:
    credential, app = holder
    for left in (4, 3, 2, 1):
        with pytest.raises(WrongPINError, match=f"{left} attempt"):
            cloudsign.authorize(credential, "000000", app.code(), [HASH_A])
    with pytest.raises(WrongPINError, match="now locked"):
        cloudsign.authorize(credential, "000000", app.code(), [HASH_A])
    # locked: even the right PIN and a fresh OTP are refused
    with pytest.raises(CredentialLockedError, match="service desk"):
        cloudsign.authorize(credential, PIN, app.code(), [HASH_A])
    assert cloudsign.info(credential)["key"]["status"] == "disabled"
    cloudsign.unlock(credential, officer="desk-07")
    auth = cloudsign.authorize(credential, PIN, app.code(), [HASH_A])
    assert cloudsign.sign_hash(credential, auth.sad, [HASH_A])
    events = [r["event"] for r in cloudsign.audit_trail(credential)]
    assert "lock" in events and "unlock" in events


def test_a_success_resets_the_failure_count(
    cloudsign: CloudSignService, holder: tuple[str, Authenticator]
) -> None:
    credential, app = holder
    for _ in range(4):
        with pytest.raises(WrongPINError):
            cloudsign.authorize(credential, "111111", app.code(), [HASH_A])
    cloudsign.authorize(credential, PIN, app.code(), [HASH_A])
    with pytest.raises(WrongPINError, match="4 attempt"):
        cloudsign.authorize(credential, "111111", app.code(), [HASH_A])


def test_wrong_or_replayed_otp_is_refused(
    cloudsign: CloudSignService, holder: tuple[str, Authenticator], clock: Clock
) -> None:
    credential, app = holder
    with pytest.raises(WrongOTPError, match="wrong one-time password"):
        cloudsign.authorize(credential, PIN, "000000", [HASH_A])
    code = app.code()
    clock.advance(-30)  # same time step again
    cloudsign.authorize(credential, PIN, code, [HASH_A])
    with pytest.raises(WrongOTPError, match="already used"):
        cloudsign.authorize(credential, PIN, code, [HASH_A])


def test_operator_with_database_and_key_files_but_no_pin_cannot_sign(
    cloudsign: CloudSignService, holder: tuple[str, Authenticator], settings: Settings
) -> None:
    """The operator has the database, the key folder and the key passphrase (so the master
    key too) but not the PIN: the stored key material stays ciphertext, and a SAD row they
    write into the database themselves activates nothing."""
    credential, _ = holder
    with cloudsign.engine.connect() as conn:
        row = conn.execute(
            select(store.credentials).where(store.credentials.c.credential_id == credential)
        ).one()
    master = EncryptedFileKeyStore(settings.keys_path, settings.key_passphrase).secret(
        "cloudsign-master"
    )
    assert b"PRIVATE KEY" not in row.key_material
    # the master key alone (PIN key guessed as zeros, or as the stored verifier) opens nothing
    for guess in (bytes(32), row.pin_verifier):
        with pytest.raises(envelope.EnvelopeError, match="data key does not open"):
            envelope.open_private_key(row.key_material, master, guess, credential)
    with pytest.raises(KeyUnavailableError):
        EnvelopeKeys(master).signer(credential, row.key_material, bytes(32))
    # forge a SAD: the operator can write rows, but cannot seal the holder's PIN key in it
    forged = "operator-made-sad"
    with cloudsign.engine.begin() as conn:
        conn.execute(
            insert(store.sads).values(
                sad_hash=envelope.sad_hash(forged),
                credential_id=credential,
                hashes=HASH_A.hex(),
                expires_at=cloudsign.clock() + 300,
                used=False,
                # sealed to (SAD, client) as the service seals it, for the local client
                sealed_pin_key=envelope.seal(
                    envelope.sad_key(forged),
                    bytes(32),
                    f"{envelope.sad_hash(forged)}\x00local".encode(),
                ),
            )
        )
    with pytest.raises(KeyUnavailableError, match="cannot be activated"):
        cloudsign.sign_hash(credential, forged, [HASH_A])
    assert signed_events(cloudsign, credential) == []


def test_only_persons_of_the_library_can_enrol(cloudsign: CloudSignService) -> None:
    with pytest.raises(NotInLibraryError, match="population library"):
        cloudsign.enrol("110105194912310021", PIN)


def test_certificate_names_the_person_without_the_full_id_number(
    cloudsign: CloudSignService, holder: tuple[str, Authenticator]
) -> None:
    credential, _ = holder
    cert = cloudsign.certificate(credential)
    subject = cert.subject.rfc4514_string()
    assert "张三" in subject and "110105********002X" in subject
    assert PERSON_ID not in subject
    sign_ca, root = cloudsign.chain()
    assert cert.issuer == sign_ca.subject and sign_ca.issuer == root.subject
    cert.verify_directly_issued_by(sign_ca)
    sign_ca.verify_directly_issued_by(root)
