"""Holder sign-in: ID + PIN + TOTP through the cloud-signature checks; holder-app assertions."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from holder_app import Hub, app_key, assertion, public_pem
from holder_world import PERSON_ID

import hub.settings as hub_settings
from holder.assertions import HolderApps
from hub.cli import main


def _outcomes(hub: Hub, route: str) -> list[str]:
    return [r["outcome"] for r in hub.audit() if r["route"] == route]


def test_right_pin_and_totp_sign_in_and_open_my_licences(hub: Hub) -> None:
    answer = hub.sign_in()
    assert answer.status_code == 303 and answer.headers["location"] == "/me"
    cookie = answer.headers["set-cookie"]
    assert "hub_holder=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert PERSON_ID not in cookie  # the cookie is an opaque token
    page = hub.http.get("/me")
    assert page.status_code == 200 and hub.world.qualification in page.text
    assert _outcomes(hub, "/me/login") == ["signed-in"]


def test_wrong_pin_wrong_totp_and_replayed_totp_are_refused_and_audited(hub: Hub) -> None:
    wrong_pin = hub.sign_in(pin="135790")
    assert wrong_pin.status_code == 401 and "hub_holder=" not in wrong_pin.headers.get(
        "set-cookie", ""
    )
    code = hub.phone.code()
    wrong_otp = hub.sign_in(otp=f"{(int(code) + 1) % 1_000_000:06d}")
    assert wrong_otp.status_code == 401
    # the same message for both: a stranger learns nothing about the credential
    assert "PIN 或动态口令有误" in wrong_pin.text and "PIN 或动态口令有误" in wrong_otp.text
    fresh = hub.phone.code()
    hub.clock.advance(-30)  # still within the code's step
    assert hub.sign_in(otp=fresh).status_code == 303
    hub.http.cookies.clear()
    replayed = hub.sign_in(otp=fresh)
    assert replayed.status_code == 401
    assert _outcomes(hub, "/me/login") == [
        "refused:invalid_otp",
        "signed-in",
        "refused:invalid_otp",
        "refused:invalid_pin",
    ]  # newest first
    # the credential's own audit trail (on the ledger) has them too
    cid = hub.cloudsign.list_credentials(PERSON_ID)[0]
    events = [(r["event"], r["outcome"]) for r in hub.cloudsign.audit_trail(cid)]
    assert ("sign-in", "refused:invalid_pin") in events and ("sign-in", "ok") in events


def test_a_locked_credential_cannot_sign_in_but_still_signs_through_its_app(hub: Hub) -> None:
    for _ in range(5):
        assert hub.sign_in(pin="000000").status_code in (401, 403, 429)
    hub.app.state.login_throttle_staff = None
    hub.app.state.login_throttle_holder = None  # the address pause is another defence
    locked = hub.sign_in()
    assert locked.status_code == 403 and "锁定" in locked.text
    assert _outcomes(hub, "/me/login")[0] == "refused:credential_locked"
    cid = hub.cloudsign.list_credentials(PERSON_ID)[0]
    # the lock is the web sign-in's: signing through the holder's bound app is untouched
    assert hub.cloudsign.remaining_attempts(cid, "gov-portal") == 5


def test_address_pause_after_repeated_failures_whatever_form_the_id_takes(hub: Hub) -> None:
    full_width = PERSON_ID.translate(str.maketrans("0123456789X", "０１２３４５６７８９Ｘ"))
    forms = [PERSON_ID, full_width, PERSON_ID.lower()]
    answers = [hub.sign_in(pin="000000", id_number=forms[i % 3]).status_code for i in range(6)]
    assert answers[-1] == 429


def test_invalid_id_number_is_refused_without_touching_any_credential(hub: Hub) -> None:
    answer = hub.sign_in(id_number="123")
    assert answer.status_code == 400 and "18 位身份证号" in answer.text


def test_sign_out_ends_the_session_on_the_server(hub: Hub) -> None:
    hub.sign_in()
    token = hub.http.cookies.get("hub_holder")
    csrf = hub.csrf("/me")
    assert (
        hub.http.post("/me/logout", data={"csrf_token": csrf}, follow_redirects=False).status_code
        == 303
    )
    hub.http.cookies.set("hub_holder", token)  # a copied cookie is worthless now
    assert hub.http.get("/me", follow_redirects=False).headers["location"] == "/me/login"


# ---- holder-app assertions -------------------------------------------------------------------
def _create(hub: Hub, token: str) -> object:
    return hub.http.post(
        "/v1/presentations",
        json={"licence_id": hub.world.qualification, "disclose": ["occupation", "level"]},
        headers={**hub.headers("holder-app", "holder-service"), "X-Holder-Assertion": token},
    )


def test_holder_app_assertion_accepted_once(hub: Hub) -> None:
    key = app_key()
    HolderApps(hub.app.state.hub.library.engine).register("holder-app", public_pem(key))
    token = assertion(key)
    made = _create(hub, token)
    assert made.status_code == 201, made.text
    replayed = _create(hub, token)
    assert replayed.status_code == 401 and "already used" in replayed.json()["detail"]
    outcomes = _outcomes(hub, "/v1/presentations")
    assert outcomes == ["assertion-replayed", "presentation-made"]


def test_forged_expired_and_misaddressed_assertions_are_refused(hub: Hub) -> None:
    key = app_key()
    HolderApps(hub.app.state.hub.library.engine).register("holder-app", public_pem(key))
    forged = _create(hub, assertion(app_key()))  # signed by a key the hub does not know
    assert forged.status_code == 401 and forged.json()["type"].endswith("assertion-forged")
    old = _create(hub, assertion(key, iat=1_700_000_000, exp=1_700_000_100))
    assert old.status_code == 401 and old.json()["type"].endswith("assertion-expired")
    elsewhere = _create(hub, assertion(key, aud="https://other.example"))
    assert elsewhere.status_code == 401 and "not for this hub" in elsewhere.json()["detail"]
    too_long = _create(hub, assertion(key, exp=int(time.time()) + 3600))
    assert too_long.status_code == 401 and too_long.json()["type"].endswith("assertion-too-long")
    none_alg = _create(hub, _unsigned())
    assert none_alg.status_code == 401
    # audited: the ones whose signature held under the citizen, every one under the app
    outcomes = _outcomes(hub, "/v1/presentations")
    assert "assertion-expired" in outcomes and "assertion-wrong-audience" in outcomes


def _unsigned() -> str:
    import base64
    import json

    def b64(obj: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{b64({'alg': 'none'})}.{b64({'iss': 'holder-app', 'sub': PERSON_ID})}."


def test_a_client_without_the_holder_app_grant_cannot_act_for_citizens(hub: Hub) -> None:
    key = app_key()
    HolderApps(hub.app.state.hub.library.engine).register("approvals-a", public_pem(key))
    answer = hub.http.post(
        "/v1/presentations",
        json={"licence_id": hub.world.qualification, "disclose": ["occupation"]},
        headers={
            **hub.headers("approvals-a"),
            "X-Holder-Assertion": assertion(key, iss="approvals-a"),
        },
    )
    assert answer.status_code == 403


def test_hub_holder_app_key_registers_the_key_assertions_are_checked_with(
    hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = app_key()
    pem = tmp_path / "app.pem"
    pem.write_bytes(public_pem(key))
    monkeypatch.setattr(hub_settings, "_settings", hub.settings)
    out = CliRunner().invoke(main, ["holder", "app-key", "holder-app", "--public-key", str(pem)])
    assert out.exit_code == 0, out.output
    assert _create(hub, assertion(key)).status_code == 201
    bad = tmp_path / "bad.pem"
    bad.write_text("not a key")
    out = CliRunner().invoke(main, ["holder", "app-key", "holder-app", "--public-key", str(bad)])
    assert out.exit_code == 2 and "not a PEM public key" in out.output


# ---- a stranger who knows the ID cannot lock the holder out ----------------------------------
def _from(hub: Hub, address: str, pin: str = "000000") -> int:
    """A wrong sign-in (or a right one with ``pin``) from a browser at ``address``."""
    from fastapi.testclient import TestClient

    other = TestClient(hub.app, client=(address, 40000))
    page = other.get("/me/login").text
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    answer = other.post(
        "/me/login",
        data={"csrf_token": token, "id_number": PERSON_ID, "pin": pin, "otp": hub.phone.code()},
        follow_redirects=False,
    )
    return answer.status_code


def test_a_strangers_wrong_pins_lock_only_the_strangers_address(hub: Hub) -> None:
    answers = [_from(hub, "203.0.113.7") for _ in range(7)]
    assert answers[-1] in (403, 429) and 401 in answers  # paused, then locked, there
    assert hub.sign_in().status_code == 303  # the holder, from their own address, gets in
    cid = hub.cloudsign.list_credentials(PERSON_ID)[0]
    events = [(r["event"], r["outcome"]) for r in hub.cloudsign.audit_trail(cid)]
    assert ("sign-in", "refused:invalid_pin") in events and ("sign-in", "ok") in events


def test_a_spray_from_many_addresses_meets_a_back_off_the_holders_browser_skips(
    hub: Hub,
) -> None:
    from api.pages.me import SPRAY_ALLOWED

    assert hub.sign_in().status_code == 303  # the holder's browser: marked as known
    hub.http.post("/me/logout", data={"csrf_token": hub.csrf("/me")})
    for i in range(SPRAY_ALLOWED - 1):
        assert _from(hub, f"198.51.100.{i}") == 401  # one guess from each of many addresses
    assert _from(hub, "198.51.100.249") == 429  # the last allowed failure starts the pause
    assert _from(hub, "198.51.100.250") == 429  # a new address now waits ...
    assert _from(hub, "198.51.100.251", pin="246810") == 429  # ... even with the right PIN
    hub.clock.advance(31)  # a fresh OTP step for the holder
    assert hub.sign_in().status_code == 303  # ... but the holder's own browser does not
