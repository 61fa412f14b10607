"""A company's agent in a real browser: the legal representative, acting for the company,
authorises a person for presentations only; the person acts as its agent and sees only that;
the representative revokes it and the agent's next page is the sign-in page."""

from __future__ import annotations

import base64
import datetime as dt
import time
from typing import Any
from urllib.parse import parse_qs, urlparse

from pages_site import Site, screenshot
from sqlalchemy import select

PIN = "246810"


def _enrol(site: Site, person: str) -> bytes:
    from hub.wiring import cloudsign_service

    enrolment = cloudsign_service(site.settings).enrol(person, PIN)
    secret = parse_qs(urlparse(enrolment.otp_uri).query)["secret"][0]
    return base64.b32decode(secret + "=" * (-len(secret) % 8))


def _cast(site: Site) -> tuple[str, str, str, str]:
    """A company holding a valid licence (its USCC and the licence), and two residents who
    hold licences (in the population library): its representative and its agent-to-be."""
    from licence.tables import licences
    from storage.library import LibraryStore, engine_for

    engine = engine_for(site.settings.db_url)
    valid = licences.c.status == "valid"
    with engine.connect() as conn:
        company, lid = conn.execute(
            select(licences.c.holder_id, licences.c.licence_id).where(
                licences.c.holder_kind == "entity", valid
            )
        ).first()  # type: ignore[misc]
        people = conn.execute(
            select(licences.c.holder_id).where(licences.c.holder_kind == "person").distinct()
        ).scalars()
        rep, agent = list(people)[:2]
    LibraryStore(engine).merge(  # the regulator's delivery names the representative
        "legal-entity",
        "run-agents-browser",
        "mr_enterprise",
        dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1),
        [company],
        {"legal_rep_id_number": [rep]},
    )
    return company, lid, rep, agent


def _sign_in(page: Any, site: Site, person: str, key: bytes) -> None:
    from licence.cloudsign import totp

    page.goto(site.url + "/me/login")
    page.fill("input[name=id_number]", person)
    page.fill("input[name=pin]", PIN)
    page.fill("input[name=otp]", totp.totp(key, time.time()))
    page.click("#me-login button[type=submit]")
    page.wait_for_url(site.url + "/me")


def test_representative_authorises_an_agent_then_revokes(site: Site, phone: Any, desk: Any) -> None:
    company, lid, rep, agent = _cast(site)
    rep_key, agent_key = _enrol(site, rep), _enrol(site, agent)
    # the representative acts for the company and authorises the agent (typed with a small x)
    _sign_in(phone, site, rep, rep_key)
    phone.click("#act-for summary")
    phone.fill("#act-for input[name=uscc]", company)
    phone.click("#act-for button[type=submit]")
    phone.wait_for_selector("#acting-for")
    phone.click("#manage-agents")
    phone.wait_for_selector("#grant-agent")
    phone.fill("#grant-agent input[name=agent_id]", agent.lower())
    phone.select_option("#grant-agent select[name=scope]", "present")
    phone.click("#grant-agent button[type=submit]")
    phone.wait_for_selector("#agents tr[data-status='live'][data-scope='present']")
    screenshot(phone, "me-agents-phone")
    # the agent signs in, is offered the company and acts as its agent, presentations only
    _sign_in(desk, site, agent, agent_key)
    desk.click(f"#agent-of li[data-company='{company}'] button.act-as-agent")
    desk.wait_for_selector("#acting-as-agent")
    assert company in desk.inner_text("#acting-as-agent")
    row = f"#my-licences tr[data-licence='{lid}']"
    assert desk.locator(f"{row} a.present").count() == 1
    assert desk.locator(f"{row} a[href$='/json']").count() == 0
    assert desk.locator("nav.me-nav a[href='/me/audit']").count() == 0
    screenshot(desk, "me-acting-as-agent")
    # the representative revokes it: the agent's next page is the sign-in page
    phone.click("#agents tr[data-status='live'] button.revoke")
    phone.wait_for_selector("#agents tr[data-status='revoked']")
    desk.goto(site.url + "/me")
    assert desk.url.endswith("/me/login")
    # the company's "who looked" names the agent
    phone.goto(site.url + "/me/audit")
    assert "经办人 " + agent[:6] in phone.inner_text("#who-looked")
