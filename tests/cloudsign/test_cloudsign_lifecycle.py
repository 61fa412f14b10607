"""What a holder and the service desk do over a credential's life: change the PIN, revoke."""

from __future__ import annotations

import contextlib
import hashlib

import pytest
from cloudsign_fixtures import PERSON_ID, PIN, Authenticator, Clock
from sqlalchemy import select

from hub.settings import Settings
from ledger.service import LedgerService, QueueFullError
from licence.cloudsign import store
from licence.cloudsign.errors import (
    CredentialLockedError,
    InvalidRequestError,
    SADReusedError,
    WrongPINError,
)
from licence.cloudsign.service import CloudSignService
from storage.keys import EncryptedFileKeyStore
from storage.library import LibraryStore
from storage.objects import LocalObjectStore

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
    trail = [(r["event"], r["outcome"]) for r in cloudsign.audit_trail(cid)]
    assert ("pin-change", "refused:invalid_pin") in trail and ("pin-change", "ok") in trail


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


def test_a_full_ledger_queue_delays_audit_entries_but_not_signatures(
    settings: Settings, population: LibraryStore, clock: Clock
) -> None:
    small = settings.model_copy(update={"ledger_queue_limit": 2})
    ledger = LedgerService.open(small)
    svc = CloudSignService(
        population.engine,
        EncryptedFileKeyStore(small.keys_path, small.key_passphrase),
        LocalObjectStore(small.objects_path),
        ledger,
        population,
        clock=clock,
        audit_interval=0.0,  # flush after every operation
        audit_batch=2,  # what the small queue can take at once
    )
    enrolment = svc.enrol(PERSON_ID, PIN)
    app = Authenticator(enrolment.otp_uri, clock)
    for i in range(3):
        digest = hashlib.sha256(f"form {i}".encode()).digest()
        auth = svc.authorize(enrolment.credential_id, PIN, app.code(), [digest])
        assert svc.sign_hash(enrolment.credential_id, auth.sad, [digest])
    with svc.engine.connect() as conn:
        waiting = conn.execute(
            select(store.audit.c.id).where(store.audit.c.entry_id.is_(None))
        ).all()
    assert waiting  # the queue refused them for now
    while True:  # the sequencer catches up; each flush moves what the queue can take
        ledger.sequence()
        with contextlib.suppress(QueueFullError):  # moved what fitted; the rest next round
            svc.flush_audit()
        with svc.engine.connect() as conn:
            left = conn.execute(
                select(store.audit.c.id).where(store.audit.c.entry_id.is_(None))
            ).all()
        if not left:
            break
    trail = svc.audit_trail(enrolment.credential_id)
    assert len(trail) == 7 and all(r["entry_id"] for r in trail)
