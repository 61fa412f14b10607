"""The staff pages in a real browser (headless Chromium): what staff at a service window see.

Each test takes a screenshot into var/screenshots/ so a person can look at the pages.
"""

from __future__ import annotations

from typing import Any

import httpx
from pages_site import PASSWORD, Site, screenshot

GREEN, RED, AMBER = "rgb(27, 122, 52)", "rgb(179, 38, 30)", "rgb(168, 107, 0)"


def _drop(page: Any, site: Site, name: str) -> None:
    page.goto(site.url + "/verify")
    with page.expect_navigation():  # choosing (or dropping) the file sends the form at once
        page.set_input_files("input[name=file]", str(site.files / name))
    page.wait_for_selector("#verdict")


def _background(page: Any, selector: str) -> str:
    return str(page.eval_on_selector(selector, "e => getComputedStyle(e).backgroundColor"))


def _login(page: Any, site: Site, user: str, then: str = "/catalog") -> None:
    page.goto(site.url + then)
    assert "/login" in page.url  # protected: sent to the sign-in page first
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", PASSWORD)
    page.click("form.stack button[type=submit]")
    page.wait_for_url(site.url + then)


def test_valid_licence_shows_green_passed(site: Site, phone: Any) -> None:
    _drop(phone, site, "valid.json")
    assert phone.get_attribute("#verdict", "data-verdict") == "TOTAL_PASSED"
    assert "核验通过" in phone.inner_text("#verdict")
    assert _background(phone, "#verdict") == GREEN
    table = phone.inner_text("#checks")
    assert "内容完整性" in table and "integrity" in table  # Chinese with English beneath
    assert phone.locator("#checks tr.failed").count() == 0
    # a phone-sized screen: nothing wider than the viewport
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(phone, "verify-valid-phone")


def test_tampered_licence_shows_red_naming_the_failing_check(site: Site, phone: Any) -> None:
    _drop(phone, site, "tampered.json")
    assert phone.get_attribute("#verdict", "data-verdict") == "TOTAL_FAILED"
    assert _background(phone, "#verdict") == RED
    failing = phone.inner_text("#failing")
    assert "内容完整性" in failing and "integrity" in failing
    assert "被篡改" in failing  # "altered", in the verifier's own words
    assert phone.locator("#checks tr.failed[data-check=integrity]").count() == 1
    screenshot(phone, "verify-tampered-phone")


def test_revoked_licence_shows_revoked_with_date_and_reason(site: Site, desk: Any) -> None:
    _drop(desk, site, "revoked.json")
    assert desk.get_attribute("#verdict", "data-verdict") == "TOTAL_FAILED"
    banner = desk.inner_text("#status-banner")
    assert "已吊销" in banner
    row = site_row(site, site.revoked_id)
    from api.pages.web import cst  # the pages show China Standard Time, not UTC

    assert cst(row["updated_at"], "%Y-%m-%d") in banner
    assert "以欺骗手段取得许可" in desk.inner_text("#verdict")
    assert desk.locator("#checks tr.failed[data-check=status]").count() == 1
    screenshot(desk, "verify-revoked-desk")
    desk.emulate_media(media="print")  # printed for the case file: no form, no navigation
    assert not desk.is_visible("#verify-form") and desk.is_visible("#verdict")
    screenshot(desk, "verify-revoked-print")


def test_truncated_file_is_red_as_unreadable(site: Site, phone: Any) -> None:
    _drop(phone, site, "truncated.json")
    assert phone.get_attribute("#verdict", "data-verdict") == "TOTAL_FAILED"
    assert "文件格式" in phone.inner_text("#failing")


def test_licence_not_yet_in_the_ledger_is_amber(site: Site, phone: Any) -> None:
    _drop(phone, site, "pending.json")
    assert phone.get_attribute("#verdict", "data-verdict") == "INDETERMINATE"
    assert _background(phone, "#verdict") == AMBER
    assert "无法确定" in phone.inner_text("#verdict")
    assert phone.locator("#checks tr.indeterminate[data-check=ledger_inclusion]").count() == 1
    screenshot(phone, "verify-indeterminate-phone")


def test_sealed_pdf_verifies_green(site: Site, phone: Any) -> None:
    _drop(phone, site, "valid.pdf")
    assert phone.get_attribute("#verdict", "data-verdict") == "TOTAL_PASSED"
    assert phone.locator("#checks tr[data-check=pdf_signature]").count() == 1
    assert site.valid_id in phone.inner_text(".licence")


def site_row(site: Site, lid: str) -> dict[str, Any]:
    from licence.store import LicenceStore
    from licence.tables import engine_for

    row = LicenceStore(engine_for(site.settings.db_url)).licence(lid)
    assert row is not None
    return row


def test_scanned_qr_code_link_verifies_straight_away(site: Site, phone: Any) -> None:
    query = site.qr_payload.split("?", 1)[1]
    phone.goto(f"{site.url}/verify?{query}")
    assert phone.get_attribute("#verdict", "data-verdict") == "TOTAL_PASSED"
    assert site.valid_id in phone.inner_text(".licence")  # what was issued, as printed
    pasted = site.qr_payload.replace("&d=sha256:", "&d=sha256:00")
    phone.goto(site.url + "/verify")
    phone.fill("textarea[name=qr]", pasted)
    phone.click("#verify-form button[type=submit]")
    assert phone.get_attribute("#verdict", "data-verdict") == "TOTAL_FAILED"
    screenshot(phone, "verify-qr-mismatch-phone")
    unknown = site.qr_payload.replace(".001.", ".009.")
    phone.fill("textarea[name=qr]", unknown)
    phone.click("#verify-form button[type=submit]")
    assert phone.get_attribute("#verdict", "data-verdict") == "TOTAL_FAILED"


def test_catalogue_needs_sign_in_and_lists_the_five_datasets(site: Site, desk: Any) -> None:
    _login(desk, site, "alice")
    rows = desk.locator("#catalog tbody tr")
    assert rows.count() == 5
    ids = {rows.nth(i).get_attribute("data-dataset") for i in range(5)}
    assert ids == {
        "ca_marriage_death",
        "ca_social_org",
        "hrss_insurance",
        "mr_enterprise",
        "ps_household",
    }
    assert "省公安厅" in desk.inner_text("#catalog")
    screenshot(desk, "catalog-desk")
    desk.click("a[href='/catalog/ps_household']")
    desk.wait_for_selector("#fields")
    # one run so far: a sentence, not six one-dot charts (they come with the second run)
    assert desk.locator(".charts svg").count() == 0
    assert "至少 2 次" in desk.inner_text("#no-trend")
    assert "id_number" in desk.inner_text("#fields")
    assert desk.locator("#upload-form").count() == 1  # a publisher may publish
    screenshot(desk, "catalog-dataset-desk")
    desk.set_viewport_size({"width": 390, "height": 844})
    desk.goto(site.url + "/catalog")
    assert desk.evaluate("document.documentElement.scrollWidth") <= 390  # tables scroll inside
    screenshot(desk, "catalog-phone")
    desk.click("button.link")  # sign out
    desk.wait_for_url(site.url + "/login")
    desk.goto(site.url + "/catalog")
    assert "/login" in desk.url


def test_wrong_password_is_refused(site: Site, phone: Any) -> None:
    phone.goto(site.url + "/login")
    phone.fill("input[name=username]", "alice")
    phone.fill("input[name=password]", "not the password")
    phone.click("form.stack button[type=submit]")
    assert "用户名或密码错误" in phone.inner_text(".alert")
    screenshot(phone, "login-refused-phone")


def test_form_without_csrf_token_is_refused(site: Site, desk: Any) -> None:
    _login(desk, site, "alice", then="/catalog/ps_household")
    desk.evaluate("document.querySelector('#upload-form input[name=csrf_token]').remove()")
    desk.set_input_files("#upload-form input[name=file]", str(site.files / "valid.json"))
    desk.click("#upload-form button[type=submit]")
    desk.wait_for_selector("text=请求被拒绝")
    assert "CSRF" in desk.inner_text("main")
    screenshot(desk, "csrf-refused-desk")
    # a cross-site form post (no session, no token) is refused the same way
    forged = httpx.post(
        site.url + "/verify", files={"file": ("l.json", b"{}")}, data={"qr": ""}, timeout=30
    )
    assert forged.status_code == 403


def test_role_is_enforced(site: Site, desk: Any) -> None:
    _login(desk, site, "victor", then="/catalog/ps_household")
    assert desk.locator("#upload-form").count() == 0  # a verifier sees no publish form
    token = desk.get_attribute("input[name=csrf_token]", "value")
    answer = desk.request.post(
        site.url + "/catalog/ps_household/upload",
        multipart={
            "csrf_token": token,
            "file": {"name": "a.csv", "mimeType": "text/csv", "buffer": b"x"},
        },
    )
    assert answer.status == 403
    assert "无权访问" in answer.text()


def test_publisher_publishes_a_department_file(site: Site, desk: Any) -> None:
    _login(desk, site, "alice", then="/catalog/ps_household")
    before = desk.locator(".runs tbody tr").count()
    desk.set_input_files("#upload-form input[name=file]", str(site.files / "ps_household-2.csv"))
    desk.click("#upload-form button[type=submit]")
    desk.wait_for_selector("#upload-result")
    result = desk.inner_text("#upload-result")
    # started as POST /v1/datasets/{id}/uploads starts it (no scheduler here: in an ingest worker)
    assert "ingest started" in result and "in an ingest worker process" in result
    run = result.split("run ", 1)[1].split(" ", 1)[0]
    assert desk.locator(f".runs tr[data-run='{run}']").count() == 1
    screenshot(desk, "catalog-upload-started-desk")
    # the page follows the run (it refreshes itself) until the run is published
    desk.wait_for_selector(f".runs tr[data-run='{run}'][data-status='published']", timeout=60_000)
    assert desk.locator("#following").count() == 0
    assert desk.locator(".runs tbody tr").count() == before + 1
    # the completeness trend now has one point per run
    assert desk.locator(".charts figure").first.locator("circle").count() == before + 1
    screenshot(desk, "catalog-published-desk")


def test_docs_render_offline_under_the_pages_csp(site: Site, desk: Any) -> None:
    outside: list[str] = []
    violations: list[str] = []
    desk.on(
        "request",
        lambda r: outside.append(r.url) if not r.url.startswith(site.url) else None,
    )
    desk.on(
        "console",
        lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
    )
    desk.goto(site.url + "/docs")
    desk.wait_for_selector(".swagger-ui .info .title")
    assert "Data sharing hub" in desk.inner_text(".swagger-ui .info .title")
    desk.wait_for_selector(".opblock-summary-path")  # the operations are listed
    screenshot(desk, "docs")
    assert outside == [] and violations == []
