"""The CSC v2 endpoints: shapes, client authentication and specific error codes."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator

import pytest
from cloudsign_fixtures import PERSON_ID, PIN, Authenticator, Clock, csc_client
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from fastapi.testclient import TestClient

from hub.settings import Settings
from hub.wiring import api_app
from licence.cloudsign.service import CloudSignService

DIGEST = hashlib.sha256(b"form").digest()
B64 = base64.b64encode(DIGEST).decode()


@pytest.fixture
def http(settings: Settings, cloudsign: CloudSignService) -> Iterator[TestClient]:
    api = api_app(settings, background=False)
    api.state.cloudsign = cloudsign
    with TestClient(api, headers=csc_client(api)) as client:
        yield client


def test_anonymous_callers_are_refused(http: TestClient) -> None:
    bodies = {
        "credentials/list": {"userID": PERSON_ID},
        "credentials/info": {"credentialID": "cs-x"},
        "credentials/authorize": {"credentialID": "cs-x", "numSignatures": 1, "hashes": [B64]},
        "signatures/signHash": {"credentialID": "cs-x", "SAD": "s", "hashes": [B64]},
    }
    for path, body in bodies.items():
        r = http.post(f"/csc/v2/{path}", json=body, headers={"Authorization": ""})
        assert r.status_code == 401 and r.json()["error"] == "invalid_token", path
    r = http.post(
        "/csc/v2/credentials/list",
        json={"userID": PERSON_ID},
        headers={"Authorization": "Bearer wrong"},
    )
    assert r.status_code == 401


def test_list_info_authorize_sign(
    http: TestClient, cloudsign: CloudSignService, clock: Clock
) -> None:
    enrolment = cloudsign.enrol(PERSON_ID, PIN)
    cid = enrolment.credential_id
    cloudsign.bind(cid, "gov-portal", by="desk-07")
    app = Authenticator(enrolment.otp_uri, clock)
    listed = http.post(
        "/csc/v2/credentials/list",
        json={"userID": PERSON_ID, "credentialInfo": True, "certificates": "chain"},
    ).json()
    assert listed["credentialIDs"] == [cid]
    assert len(listed["credentialInfos"][0]["cert"]["certificates"]) == 3  # signer, CA, root
    info = http.post(
        "/csc/v2/credentials/info", json={"credentialID": cid, "certInfo": True, "authInfo": True}
    ).json()
    assert info["key"]["status"] == "enabled" and info["SCAL"] == "SCAL2"
    assert info["authMode"] == "explicit"
    assert {o["id"] for o in info["auth"]["objects"]} == {"PIN", "OTP"}
    assert "110105********002X" in info["cert"]["subjectDN"]
    cert = x509.load_der_x509_certificate(base64.b64decode(info["cert"]["certificates"][0]))

    bad = http.post(
        "/csc/v2/credentials/authorize",
        json={"credentialID": cid, "numSignatures": 2, "hashes": [B64]},
    )
    assert bad.status_code == 400 and "numSignatures" in bad.json()["error_description"]
    bad = http.post(
        "/csc/v2/credentials/authorize",
        json={"credentialID": cid, "numSignatures": 1, "hashes": ["not base64!"]},
    )
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_request"
    wrong_otp = http.post(
        "/csc/v2/credentials/authorize",
        json={
            "credentialID": cid,
            "numSignatures": 1,
            "hashes": [B64],
            "authData": [{"id": "PIN", "value": PIN}, {"id": "OTP", "value": "000000"}],
        },
    )
    assert wrong_otp.status_code == 400 and wrong_otp.json()["error"] == "invalid_otp"

    sad = http.post(
        "/csc/v2/credentials/authorize",
        json={
            "credentialID": cid,
            "numSignatures": 1,
            "hashes": [B64],
            "authData": [{"id": "PIN", "value": PIN}, {"id": "OTP", "value": app.code()}],
        },
    ).json()
    assert sad["expiresIn"] == 300
    other = base64.b64encode(hashlib.sha256(b"other").digest()).decode()
    mismatch = http.post(
        "/csc/v2/signatures/signHash",
        json={"credentialID": cid, "SAD": sad["SAD"], "hashes": [other]},
    )
    assert mismatch.status_code == 400 and mismatch.json()["error"] == "invalid_request"
    assert "not the ones the SAD authorised" in mismatch.json()["error_description"]
    reused = http.post(
        "/csc/v2/signatures/signHash",
        json={"credentialID": cid, "SAD": sad["SAD"], "hashes": [B64]},
    )
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_request"
    assert "already used" in reused.json()["error_description"]

    sad = http.post(
        "/csc/v2/credentials/authorize",
        json={
            "credentialID": cid,
            "numSignatures": 1,
            "hashes": [B64],
            "PIN": PIN,
            "OTP": app.code(),
        },
    ).json()["SAD"]
    signed = http.post(
        "/csc/v2/signatures/signHash",
        json={"credentialID": cid, "SAD": sad, "hashes": [B64], "signAlgo": "1.2.840.10045.4.3.2"},
    )
    assert signed.status_code == 200
    (sig,) = signed.json()["signatures"]
    public = cert.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(base64.b64decode(sig), DIGEST, ec.ECDSA(Prehashed(hashes.SHA256())))

    unknown = http.post("/csc/v2/credentials/info", json={"credentialID": "cs-nope"})
    assert unknown.status_code == 400
    assert unknown.json() == {
        "error": "invalid_request",
        "error_description": "Invalid parameter credentialID",
    }
