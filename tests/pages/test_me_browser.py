"""The holder's side in a real browser: a citizen signs in with their cloud-signature
credential, shows a licence by code hiding two fields, a clerk redeems it on /verify, and the
citizen sees both redemptions in "who looked at my data"."""

from __future__ import annotations

import base64
import time
from typing import Any
from urllib.parse import parse_qs, urlparse

from pages_site import Site, screenshot
from sqlalchemy import select

PIN = "246810"
HIDDEN = ("certificate_number", "持证主体代码")


def _citizen(site: Site) -> tuple[str, str, dict[str, Any], bytes]:
    """A citizen holding a valid, receipted qualification certificate: their ID, the licence,
    its fields, and the OTP key of the credential enrolled for them here."""
    from hub.wiring import cloudsign_service, licence_service
    from licence.tables import licences
    from schemas import licence_types

    svc = licence_service(site.settings)
    qualification = licence_types.get("professional_qualification").code
    with svc.store.engine.connect() as conn:
        rows = conn.execute(
            select(licences.c.licence_id, licences.c.holder_id).where(
                licences.c.holder_kind == "person",
                licences.c.type_code == qualification,  # the demo now issues 14 types
                licences.c.status == "valid",
                licences.c.receipt.is_not(None),
            )
        ).all()
    lid, holder = rows[0]
    enrolment = cloudsign_service(site.settings).enrol(holder, PIN)
    secret = parse_qs(urlparse(enrolment.otp_uri).query)["secret"][0]
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    return holder, lid, svc.document(lid)["fields"], key


def test_citizen_presents_hiding_two_fields_clerk_redeems_once(
    site: Site, phone: Any, desk: Any
) -> None:
    from licence.cloudsign import totp

    holder, lid, fields, otp_key = _citizen(site)
    # the citizen signs in on their phone
    phone.goto(site.url + "/me")
    assert phone.url.endswith("/me/login")
    phone.fill("input[name=id_number]", holder)
    phone.fill("input[name=pin]", PIN)
    phone.fill("input[name=otp]", totp.totp(otp_key, time.time()))
    phone.click("#me-login button[type=submit]")
    phone.wait_for_url(site.url + "/me")
    assert lid in phone.inner_text("#my-licences")
    # present the licence, hiding two fields
    phone.click(f"tr[data-licence='{lid}'] a.present")
    phone.wait_for_selector("#present-form")
    for name in HIDDEN:
        phone.uncheck(f"input[data-field='{name}']")
    phone.click("#present-form button[type=submit]")
    phone.wait_for_selector("#code-text")
    code = phone.inner_text("#code-text").strip()
    assert phone.get_attribute("#code-qr", "src").startswith("data:image/png;base64,")
    assert "certificate_number" in phone.inner_text("#code-hidden")
    screenshot(phone, "me-code-phone")
    # the clerk opens the code's link: nothing is spent until they press Verify
    desk.goto(f"{site.url}/p/{code}")
    desk.click("#verify-form button[type=submit]")
    desk.wait_for_selector("#verdict")
    assert desk.get_attribute("#verdict", "data-verdict") == "TOTAL_PASSED"
    shown = desk.inner_text("#shown-fields")
    assert str(fields["occupation"]["value"]) in shown
    page_text = desk.inner_text("main")
    for name in HIDDEN:
        assert str(fields[name]["value"]) not in page_text
        assert desk.inner_text(f"#shown-fields dd[data-field='{name}']").startswith("（未出示")
    screenshot(desk, "verify-presentation-desk")
    # a second redemption: already used
    desk.fill("textarea[name=qr]", code)
    desk.click("#verify-form button[type=submit]")
    desk.wait_for_selector("#verdict")
    assert desk.get_attribute("#verdict", "data-verdict") == "TOTAL_FAILED"
    assert "已使用" in desk.inner_text("#verdict")
    # the citizen sees both in "who looked at my data"
    phone.goto(site.url + "/me/audit")
    rows = phone.locator("#who-looked tr[data-route='/p/{code}']")
    outcomes = [rows.nth(i).get_attribute("data-outcome") for i in range(rows.count())]
    assert outcomes == ["already-used", "redeemed"]
    assert "已核验" in phone.inner_text("#who-looked")
    screenshot(phone, "me-audit-phone")


def test_the_live_code_renews_itself_before_it_expires(site: Site, phone: Any) -> None:
    from hub.wiring import cloudsign_service
    from licence.cloudsign import totp

    holder, lid, _fields, _key = _citizen(site)
    # a second credential for the same citizen: the newest one signs in
    enrolment = cloudsign_service(site.settings).enrol(holder, PIN)
    secret = parse_qs(urlparse(enrolment.otp_uri).query)["secret"][0]
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    phone.goto(site.url + "/me/login")
    phone.fill("input[name=id_number]", holder)
    phone.fill("input[name=pin]", PIN)
    phone.fill("input[name=otp]", totp.totp(key, time.time()))
    phone.click("#me-login button[type=submit]")
    phone.wait_for_url(site.url + "/me")
    phone.goto(f"{site.url}/me/licences/{lid}/present")
    phone.fill("input[name=lifetime]", "10")
    phone.click("#present-form button[type=submit]")
    phone.wait_for_selector("#code-text")
    first = phone.inner_text("#code-text").strip()
    # about 5 s before it expires the page fetches a new code and shows it
    phone.wait_for_function(
        "first => document.getElementById('code-text').textContent.trim() !== first",
        arg=first,
        timeout=15_000,
    )
    second = phone.inner_text("#code-text").strip()
    assert second != first and len(second) == 24
    assert phone.get_attribute("#code-qr", "src").startswith("data:image/png;base64,")
