"""Envelope encryption and SAD single use under pressure: tampering and races sign nothing."""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor

import pytest
from cloudsign_fixtures import PERSON_ID, PIN, Authenticator, Clock
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given
from hypothesis import strategies as st

from licence.cloudsign import envelope
from licence.cloudsign.errors import SADReusedError
from licence.cloudsign.service import CloudSignService

MASTER = bytes(range(32))
PIN_KEY = hashlib.sha256(b"pin key").digest()
KEY = ec.generate_private_key(ec.SECP256R1())
SEALED = envelope.seal_private_key(KEY, MASTER, PIN_KEY, "cs-1")


def test_envelope_opens_only_with_master_pin_key_and_credential() -> None:
    opened = envelope.open_private_key(SEALED, MASTER, PIN_KEY, "cs-1")
    assert opened.private_numbers() == KEY.private_numbers()
    for master, pin_key, cid in (
        (bytes(32), PIN_KEY, "cs-1"),  # operator without the master key
        (MASTER, bytes(32), "cs-1"),  # operator with the master key, without the PIN
        (MASTER, PIN_KEY, "cs-2"),  # envelope moved to another credential
    ):
        with pytest.raises(envelope.EnvelopeError):
            envelope.open_private_key(SEALED, master, pin_key, cid)


@given(st.integers(min_value=0, max_value=len(SEALED) * 8 - 1))
def test_any_flipped_bit_is_detected(bit: int) -> None:
    damaged = bytearray(SEALED)
    damaged[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(envelope.EnvelopeError):
        envelope.open_private_key(bytes(damaged), MASTER, PIN_KEY, "cs-1")


@given(st.text(alphabet="0123456789", min_size=6, max_size=8))
def test_only_the_enrolled_pin_matches(pin: str) -> None:
    params = envelope.PinParams(1, 64, 1)  # tiny cost: this property is about logic, not cost
    enrolled = envelope.derive_pin(MASTER, "cs-1", "246810", b"s" * 16, params)
    candidate = envelope.derive_pin(MASTER, "cs-1", pin, b"s" * 16, params)
    assert envelope.pin_matches(enrolled.verifier, candidate) == (pin == "246810")
    assert params == envelope.PinParams.decode(params.encode())


def test_a_sad_presented_concurrently_signs_once(cloudsign: CloudSignService, clock: Clock) -> None:
    enrolment = cloudsign.enrol(PERSON_ID, PIN)
    app = Authenticator(enrolment.otp_uri, clock)
    digest = hashlib.sha256(b"race").digest()
    sad = cloudsign.authorize(enrolment.credential_id, PIN, app.code(), [digest]).sad

    def attempt(_: int) -> str:
        try:
            cloudsign.sign_hash(enrolment.credential_id, sad, [digest])
        except SADReusedError:
            return "refused"
        return "signed"

    with ThreadPoolExecutor(6) as pool:
        outcomes = list(pool.map(attempt, range(6)))
    assert outcomes.count("signed") == 1 and outcomes.count("refused") == 5
    trail = cloudsign.audit_trail(enrolment.credential_id)
    assert [r["outcome"] for r in trail].count("ok") == 3  # enrol, authorise, one signature
