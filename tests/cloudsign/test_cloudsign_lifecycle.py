"""What a holder and the service desk do over a credential's life: change the PIN, revoke."""

from __future__ import annotations

import hashlib

import pytest
from cloudsign_fixtures import PERSON_ID, PIN, Authenticator, Clock

from licence.cloudsign.errors import (
    CredentialLockedError,
    InvalidRequestError,
    SADReusedError,
    WrongPINError,
)
from licence.cloudsign.service import CloudSignService

DIGEST = hashlib.sha256(b"tax declaration").digest()


def test_pin_change_rebinds_the_key_and_voids_open_sads(
    cloudsign: CloudSignService, clock: Clock
) -> None:
    enrolment = cloudsign.enrol(PERSON_ID, PIN)
    cid = enrolment.credential_id
    app = Authenticator(enrolment.otp_uri, clock)
    pending = cloudsign.authorize(cid, PIN, app.code(), [DIGEST])
    with pytest.raises(InvalidRequestError, match="6 to 12 digits"):
        cloudsign.change_pin(cid, PIN, app.code(), "12ab")
    with pytest.raises(WrongPINError):
        cloudsign.change_pin(cid, "000000", app.code(), "13579135")
    cloudsign.change_pin(cid, PIN, app.code(), "13579135")
    with pytest.raises(SADReusedError):  # authorised under the old PIN: void now
        cloudsign.sign_hash(cid, pending.sad, [DIGEST])
    with pytest.raises(WrongPINError):
        cloudsign.authorize(cid, PIN, app.code(), [DIGEST])
    fresh = cloudsign.authorize(cid, "13579135", app.code(), [DIGEST])
    assert cloudsign.sign_hash(cid, fresh.sad, [DIGEST])
    assert "pin-change" in [r["event"] for r in cloudsign.audit_trail(cid)]


def test_revoked_credential_never_signs_again(cloudsign: CloudSignService, clock: Clock) -> None:
    enrolment = cloudsign.enrol(PERSON_ID, PIN)
    cid = enrolment.credential_id
    app = Authenticator(enrolment.otp_uri, clock)
    pending = cloudsign.authorize(cid, PIN, app.code(), [DIGEST])
    cloudsign.revoke(cid, officer="desk-2", reason="phone lost")
    with pytest.raises(CredentialLockedError, match="revoked"):
        cloudsign.sign_hash(cid, pending.sad, [DIGEST])
    with pytest.raises(CredentialLockedError, match="enrol again"):
        cloudsign.authorize(cid, PIN, app.code(), [DIGEST])
    with pytest.raises(CredentialLockedError, match="revoked for good"):
        cloudsign.unlock(cid, officer="desk-2")
    assert cloudsign.info(cid)["status"] == "revoked"
    events = [r["event"] for r in cloudsign.audit_trail(cid)]
    assert "revoke" in events
