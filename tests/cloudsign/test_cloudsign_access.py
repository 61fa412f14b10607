"""Who may use a credential over the CSC API: a ``cloudsign`` grant, a binding to the holder,
PIN attempts per (credential, client), every call audited with its client, CSC error bodies."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cloudsign_fixtures import OTHER_ID, PERSON_ID, PIN, Authenticator, Clock, csc_client
from fastapi.testclient import TestClient

import hub.settings
from hub.cli import main
from hub.settings import Settings
from hub.wiring import api_app
from licence.cloudsign.service import CloudSignService
from storage.library import LibraryStore, engine_for

B64 = base64.b64encode(hashlib.sha256(b"form").digest()).decode()


@dataclass
class Csc:
    http: TestClient
    api: Any
    portal: dict[str, str]  # the holder's own app: granted and bound
    stranger: dict[str, str]  # granted, registered, but not bound to the holder
    ungranted: dict[str, str]  # registered, no cloudsign grant

    def post(self, path: str, body: dict[str, Any], headers: dict[str, str]) -> Any:
        return self.http.post(f"/csc/v2/{path}", json=body, headers=headers)

    def audit(self, subject: str) -> list[dict[str, Any]]:
        return list(self.api.state.hub.audit.query(subject))

    def refusals(self, client_id: str) -> list[tuple[str, str, int]]:
        from sqlalchemy import select

        from api.audit import audit_log

        log = self.api.state.hub.audit
        log.flush()
        stmt = (
            select(audit_log.c.route, audit_log.c.outcome, audit_log.c.status)
            .where(audit_log.c.client_id == client_id)
            .order_by(audit_log.c.id)
        )
        with log.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(stmt)]


@pytest.fixture
def csc(settings: Settings, cloudsign: CloudSignService) -> Iterator[Csc]:
    api = api_app(settings, background=False)
    api.state.cloudsign = cloudsign
    portal = csc_client(api, "gov-portal")
    stranger = csc_client(api, "other-app")
    ungranted = csc_client(api, "no-grant", grant=False)
    with TestClient(api, raise_server_exceptions=False) as http:
        yield Csc(http, api, portal, stranger, ungranted)


@pytest.fixture
def credential(cloudsign: CloudSignService, clock: Clock) -> tuple[str, Authenticator]:
    enrolment = cloudsign.enrol(PERSON_ID, PIN)
    cloudsign.bind(enrolment.credential_id, "gov-portal", by="desk-07")
    return enrolment.credential_id, Authenticator(enrolment.otp_uri, clock)


def _authorize(cid: str, pin: str, otp: str) -> dict[str, Any]:
    return {
        "credentialID": cid,
        "numSignatures": 1,
        "hashes": [B64],
        "authData": [{"id": "PIN", "value": pin}, {"id": "OTP", "value": otp}],
    }


def test_a_client_without_a_cloudsign_grant_is_refused(
    csc: Csc, credential: tuple[str, Authenticator]
) -> None:
    cid, _app = credential
    for path, body in {
        "credentials/list": {"userID": PERSON_ID},
        "credentials/info": {"credentialID": cid},
        "credentials/authorize": _authorize(cid, PIN, "000000"),
        "signatures/signHash": {"credentialID": cid, "SAD": "s", "hashes": [B64]},
    }.items():
        r = csc.post(path, body, csc.ungranted)
        assert r.status_code == 403, path
        assert r.json()["error"] == "insufficient_scope", path
        assert "cloudsign" in r.json()["error_description"]
    # a granted client declaring another registered purpose than its grant's is refused the same way
    r = csc.post(
        "credentials/info",
        {"credentialID": cid},
        {**csc.portal, "X-Purpose": "social-assistance-review"},
    )
    assert r.status_code == 403
    # refused at the gate, before the body is read: audited under the client
    assert csc.refusals("no-grant") == [("/csc/v2/credentials/list", "denied", 403)] + [
        (f"/csc/v2/{p}", "denied", 403)
        for p in ("credentials/info", "credentials/authorize", "signatures/signHash")
    ]


def test_an_unbound_client_learns_nothing_about_holders_or_credentials(
    csc: Csc, credential: tuple[str, Authenticator], clock: Clock
) -> None:
    cid, app = credential
    # a holder with a credential and a person without one get the same answer
    listed = csc.post("credentials/list", {"userID": PERSON_ID}, csc.stranger)
    nobody = csc.post("credentials/list", {"userID": OTHER_ID}, csc.stranger)
    assert listed.status_code == nobody.status_code == 400
    assert (
        listed.json()
        == nobody.json()
        == {
            "error": "invalid_request",
            "error_description": "Invalid parameter userID",
        }
    )
    # an existing credential and a made-up one get the same answer, on every method
    bodies = {
        "credentials/info": lambda c: {"credentialID": c, "certInfo": True},
        "credentials/authorize": lambda c: _authorize(c, PIN, app.code()),
        "signatures/signHash": lambda c: {"credentialID": c, "SAD": "x", "hashes": [B64]},
    }
    for path, body in bodies.items():
        real = csc.post(path, body(cid), csc.stranger)
        made_up = csc.post(path, body("cs-00000000000000000000"), csc.stranger)
        assert real.status_code == made_up.status_code == 400, path
        assert real.json() == made_up.json(), path
        assert real.json()["error_description"] == "Invalid parameter credentialID"
        assert "张三" not in real.text and "SAD" not in real.json()
    # the bound client (the holder's app) sees and uses it
    mine = csc.post("credentials/list", {"userID": PERSON_ID}, csc.portal).json()
    assert mine["credentialIDs"] == [cid]
    clock.advance(30)
    assert csc.post("credentials/authorize", _authorize(cid, PIN, app.code()), csc.portal).json()[
        "SAD"
    ]


def test_every_call_is_audited_with_its_client_under_the_holder(
    csc: Csc, credential: tuple[str, Authenticator]
) -> None:
    cid, _app = credential
    csc.post("credentials/info", {"credentialID": cid}, csc.portal)
    csc.post("credentials/info", {"credentialID": cid}, csc.stranger)
    csc.post("credentials/list", {"userID": PERSON_ID.lower()}, csc.stranger)  # any spelling
    rows = csc.audit(PERSON_ID)
    seen = {(r["client_id"], r["route"], r["outcome"], r["status"]) for r in rows}
    assert ("gov-portal", "/csc/v2/credentials/info", "ok", 200) in seen
    assert ("other-app", "/csc/v2/credentials/info", "not-bound", 400) in seen
    assert ("other-app", "/csc/v2/credentials/list", "not-bound", 400) in seen
    assert all(r["purpose"] == "electronic-signature" for r in rows)


def test_an_unbound_client_cannot_spend_or_exhaust_the_pin_attempts(
    csc: Csc, cloudsign: CloudSignService, credential: tuple[str, Authenticator], clock: Clock
) -> None:
    cid, app = credential
    for _ in range(8):
        r = csc.post("credentials/authorize", _authorize(cid, "000000", app.code()), csc.stranger)
        assert r.status_code == 400 and r.json()["error"] == "invalid_request"
        clock.advance(30)
    info = csc.post("credentials/info", {"credentialID": cid}, csc.portal).json()
    assert info["remainingAttempts"] == 5 and info["key"]["status"] == "enabled"
    r = csc.post("credentials/authorize", _authorize(cid, PIN, app.code()), csc.portal)
    assert r.status_code == 200, r.text
    assert not any(e["event"] == "lock" for e in cloudsign.audit_trail(cid))


def test_wrong_pins_lock_the_credential_for_that_client_only_and_name_it(
    csc: Csc, cloudsign: CloudSignService, credential: tuple[str, Authenticator], clock: Clock
) -> None:
    cid, app = credential
    cloudsign.bind(cid, "other-app", by="desk-07")  # a signing service the holder chose
    for left in (4, 3, 2, 1, 0):
        r = csc.post("credentials/authorize", _authorize(cid, "000000", app.code()), csc.stranger)
        assert r.status_code == 400 and r.json()["error"] == "invalid_pin"
        assert (f"{left} attempt" if left else "now locked") in r.json()["error_description"]
        clock.advance(30)
    # locked for that service, even with the right PIN ...
    r = csc.post("credentials/authorize", _authorize(cid, PIN, app.code()), csc.stranger)
    assert r.status_code == 400 and "locked" in r.json()["error_description"]
    clock.advance(30)
    # ... while the holder's own app still signs
    r = csc.post("credentials/authorize", _authorize(cid, PIN, app.code()), csc.portal)
    assert r.status_code == 200, r.text
    trail = cloudsign.audit_trail(cid)
    (lock,) = [e for e in trail if e["event"] == "lock"]
    assert '"via":"other-app"' in lock["record"]
    refused = [e for e in trail if e["outcome"] == "refused:invalid_pin"]
    assert len(refused) == 5 and all('"via":"other-app"' in e["record"] for e in refused)
    # the desk's unlock gives the service its attempts back
    cloudsign.unlock(cid, officer="desk-07")
    clock.advance(30)
    r = csc.post("credentials/authorize", _authorize(cid, PIN, app.code()), csc.stranger)
    assert r.status_code == 200, r.text


def test_csc_paths_answer_csc_errors_and_the_rest_rfc9457(
    csc: Csc, credential: tuple[str, Authenticator]
) -> None:
    missing = csc.post("credentials/info", {}, csc.portal)
    assert missing.status_code == 400
    assert missing.json() == {
        "error": "invalid_request",
        "error_description": "Missing (or invalid type) parameter credentialID",
    }
    wrong_type = csc.post("credentials/authorize", {"credentialID": "x"}, csc.portal)
    assert wrong_type.status_code == 400 and wrong_type.json()["error"] == "invalid_request"
    broken = csc.http.post("/csc/v2/credentials/info", content=b"{not json", headers=csc.portal)
    assert broken.status_code == 400 and set(broken.json()) == {"error", "error_description"}
    no_key = csc.post(
        "credentials/info", {"credentialID": "x"}, {"X-Purpose": "electronic-signature"}
    )
    assert no_key.status_code == 401 and no_key.json()["error"] == "invalid_token"
    assert no_key.headers["www-authenticate"].startswith("Bearer")
    method = csc.http.get("/csc/v2/credentials/list", headers=csc.portal)
    assert method.status_code == 405 and method.json()["error"] == "invalid_request"
    assert method.headers["allow"] == "POST"
    unknown = csc.http.post("/csc/v2/credentials/extendTransaction", json={})
    assert unknown.status_code == 404 and set(unknown.json()) == {"error", "error_description"}
    # elsewhere: RFC 9457 problems as before
    other = csc.http.get("/v1/no-such-thing")
    assert other.status_code == 404
    assert other.headers["content-type"].startswith("application/problem+json")


def test_cli_binds_clients_at_enrolment_and_later(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(hub.settings, "_settings", settings)
    LibraryStore(engine_for(settings.db_url)).merge(
        "population", "r1", "police.residents", datetime.now(UTC), [PERSON_ID], {"name": ["张三"]}
    )
    run = CliRunner()
    out = run.invoke(
        main,
        ["cloudsign", "enrol", PERSON_ID, "--client", "gov-portal"],
        input=f"{PIN}\n{PIN}\n",
    )
    assert out.exit_code == 0, out.output
    assert "bound to client: gov-portal" in out.output
    credential = out.output.split("credential: ")[1].split()[0]
    out = run.invoke(
        main, ["cloudsign", "bind", credential, "--client", "sign-svc", "--officer", "desk-07"]
    )
    assert out.exit_code == 0, out.output
    listing = run.invoke(main, ["cloudsign", "list", PERSON_ID])
    assert "gov-portal,sign-svc" in listing.output
    out = run.invoke(
        main, ["cloudsign", "unbind", credential, "--client", "sign-svc", "--officer", "desk-07"]
    )
    assert out.exit_code == 0, out.output
    again = run.invoke(
        main, ["cloudsign", "unbind", credential, "--client", "sign-svc", "--officer", "desk-07"]
    )
    assert again.exit_code == 2 and "not bound" in again.output


def test_a_sad_is_spent_only_by_the_client_it_was_authorised_through(
    csc: Csc, cloudsign: CloudSignService, credential: tuple[str, Authenticator], clock: Clock
) -> None:
    """Two front ends bound to one holder: a SAD the holder's app obtained signs nothing when
    the other front end presents it (the SAD is then void), and signs through the app."""
    cid, app = credential
    cloudsign.bind(cid, "other-app", by="desk-07")

    def authorise() -> str:
        clock.advance(30)
        r = csc.post("credentials/authorize", _authorize(cid, PIN, app.code()), csc.portal)
        assert r.status_code == 200, r.text
        return str(r.json()["SAD"])

    sign = {"credentialID": cid, "hashes": [B64], "signAlgo": "1.2.840.10045.4.3.2"}
    r = csc.post("signatures/signHash", {**sign, "SAD": authorise()}, csc.stranger)
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"
    assert "signatures" not in r.json()
    r = csc.post("signatures/signHash", {**sign, "SAD": authorise()}, csc.portal)
    assert r.status_code == 200, r.text
    assert len(r.json()["signatures"]) == 1
