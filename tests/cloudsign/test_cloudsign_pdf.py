"""A PDF signed end to end through the CSC API (pyHanko remote signer) verifies with pyHanko."""

from __future__ import annotations

import pytest
from cloudsign_fixtures import (
    OTHER_ID,
    PERSON_ID,
    PIN,
    Authenticator,
    Clock,
    blank_pdf,
    csc_client,
)
from fastapi.testclient import TestClient

from hub.settings import Settings
from hub.wiring import api_app
from ledger.service import LedgerService
from licence.cloudsign import store
from licence.cloudsign.errors import WrongPINError
from licence.cloudsign.remote import (
    CscHttpError,
    CscSigner,
    HttpCsc,
    LocalCsc,
    sign_pdf,
    verify_pdf,
)
from licence.cloudsign.service import CloudSignService


def test_pdf_signed_in_process_verifies_and_is_on_the_ledger(
    cloudsign: CloudSignService, clock: Clock
) -> None:
    enrolment = cloudsign.enrol(PERSON_ID, PIN)
    app = Authenticator(enrolment.otp_uri, clock)
    shown: list[bytes] = []

    def activate(digest: bytes) -> tuple[str, str]:
        shown.append(digest)
        return PIN, app.code()

    signer = CscSigner(LocalCsc(cloudsign), enrolment.credential_id, activate)
    signed = sign_pdf(blank_pdf(), signer)
    _, root = cloudsign.chain()
    (report,) = verify_pdf(signed, root, cloudsign)
    assert report.intact and report.valid and report.trusted and report.covers_whole_document
    assert "张三" in report.signer and PERSON_ID not in report.signer
    assert report.signed_digest == shown[0].hex()
    assert len(report.audit_entries) == 2  # authorisation and signature
    assert report.ok and report.ledger == "unchecked"
    # one changed byte of the signed content breaks the signature
    tampered = signed.replace(b"Commitment letter", b"Commitment lettex")
    (bad,) = verify_pdf(tampered, root, cloudsign)
    assert not bad.intact and not bad.ok


def test_pdf_signed_over_the_csc_http_api(
    settings: Settings, cloudsign: CloudSignService, clock: Clock
) -> None:
    enrolment = cloudsign.enrol(PERSON_ID, PIN)
    app = Authenticator(enrolment.otp_uri, clock)
    api = api_app(settings, background=False)
    api.state.cloudsign = cloudsign  # same stores, controllable clock
    cloudsign.bind(enrolment.credential_id, "gov-portal", by="desk-07")
    with TestClient(api, headers=csc_client(api)) as http:
        info = http.post("/csc/v2/info", json={}).json()
        assert "signatures/signHash" in info["methods"]
        listed = http.post("/csc/v2/credentials/list", json={"userID": PERSON_ID}).json()
        assert listed["credentialIDs"] == [enrolment.credential_id]
        client = HttpCsc(http)
        signer = CscSigner(client, enrolment.credential_id, lambda _d: (PIN, app.code()))
        signed = sign_pdf(blank_pdf(), signer)
        # refusals come back as CSC errors with their specific codes
        with pytest.raises(CscHttpError, match="invalid_pin"):
            client.authorize(enrolment.credential_id, "999999", app.code(), [bytes(32)])
        no_sad = http.post(
            "/csc/v2/signatures/signHash",
            json={"credentialID": enrolment.credential_id, "hashes": ["A" * 43 + "="]},
        )
        assert no_sad.status_code == 400 and no_sad.json()["error"] == "invalid_request"
    _, root = cloudsign.chain()
    (report,) = verify_pdf(signed, root, cloudsign)
    assert report.ok
    relayed = [r for r in cloudsign.audit_trail(enrolment.credential_id) if r["outcome"] == "ok"]
    assert all(
        '"via":"gov-portal"' in r["record"] for r in relayed if r["event"] in ("authorise", "sign")
    )


def test_wrong_pin_leaves_the_pdf_unsigned(cloudsign: CloudSignService, clock: Clock) -> None:
    enrolment = cloudsign.enrol(PERSON_ID, PIN)
    app = Authenticator(enrolment.otp_uri, clock)
    signer = CscSigner(
        LocalCsc(cloudsign), enrolment.credential_id, lambda _d: ("000000", app.code())
    )
    with pytest.raises(WrongPINError):
        sign_pdf(blank_pdf(), signer)


def test_two_holders_sign_one_document_in_turn(cloudsign: CloudSignService, clock: Clock) -> None:
    first = cloudsign.enrol(PERSON_ID, PIN)
    second = cloudsign.enrol(OTHER_ID, "135791")
    app1, app2 = Authenticator(first.otp_uri, clock), Authenticator(second.otp_uri, clock)
    pdf = sign_pdf(
        blank_pdf(),
        CscSigner(LocalCsc(cloudsign), first.credential_id, lambda _d: (PIN, app1.code())),
    )
    pdf = sign_pdf(
        pdf,
        CscSigner(LocalCsc(cloudsign), second.credential_id, lambda _d: ("135791", app2.code())),
        field_name="Signature2",
    )
    _, root = cloudsign.chain()
    earlier, later = verify_pdf(pdf, root, cloudsign)
    assert earlier.ok and later.ok and earlier.cloud_signature and later.cloud_signature
    assert not earlier.covers_whole_document and later.covers_whole_document
    assert "张三" in earlier.signer and "李四" in later.signer


def test_a_cloud_signature_missing_from_the_audit_is_not_ok(
    cloudsign: CloudSignService, clock: Clock
) -> None:
    enrolment = cloudsign.enrol(PERSON_ID, PIN)
    app = Authenticator(enrolment.otp_uri, clock)
    signer = CscSigner(LocalCsc(cloudsign), enrolment.credential_id, lambda _d: (PIN, app.code()))
    signed = sign_pdf(blank_pdf(), signer)
    cloudsign.flush_audit()
    with cloudsign.engine.begin() as conn:
        conn.execute(store.audit.delete())  # an insider erases the trail
    _, root = cloudsign.chain()
    (report,) = verify_pdf(signed, root, cloudsign)
    assert report.intact and report.trusted and report.audit_entries == []
    assert not report.ok


def test_audit_records_are_proven_in_the_signed_log(
    cloudsign: CloudSignService, cs_ledger: LedgerService, clock: Clock
) -> None:
    enrolment = cloudsign.enrol(PERSON_ID, PIN)
    app = Authenticator(enrolment.otp_uri, clock)
    signer = CscSigner(LocalCsc(cloudsign), enrolment.credential_id, lambda _d: (PIN, app.code()))
    signed = sign_pdf(blank_pdf(), signer)
    _, root = cloudsign.chain()
    (report,) = verify_pdf(signed, root, cloudsign, cs_ledger)
    assert report.ledger == "pending" and report.ok  # not yet under a checkpoint
    cs_ledger.sequence()
    (report,) = verify_pdf(signed, root, cloudsign, cs_ledger)
    assert report.ledger == "proven" and report.ok
    # an insider rewrites the audit record of the signature: the log contradicts it
    with cloudsign.engine.begin() as conn:
        conn.execute(
            store.audit.update()
            .where(store.audit.c.event == "sign")
            .values(record=store.audit.c.record + " ")
        )
    (report,) = verify_pdf(signed, root, cloudsign, cs_ledger)
    assert report.ledger == "failed" and not report.ok
