"""A dispute round trip in a real browser: an approval system disputes a field through the
API, the department's publisher finds it on ``/disputes`` and answers it there, and the
granted reader sees the field ``disputed`` before the answer and not after."""

from __future__ import annotations

from typing import Any

import httpx
from pages_site import PASSWORD, Site, screenshot

PURPOSE = "social-assistance-review"


def _reader(site: Site) -> tuple[str, str]:
    """A client granted the population's ``name`` (its API key), and a person's ID; the
    publisher alice bound to the department owning ``name`` (公安)."""
    import datetime as dt

    from api.clients import ClientStore
    from storage.access_requests import AccessRequestStore
    from storage.library import LibraryStore, engine_for

    engine = engine_for(site.settings.db_url)
    AccessRequestStore(engine).bind("alice", "省公安厅 Public Security Department")
    clients = ClientStore(engine)
    key = clients.add("reader", "民政救助审核系统")
    clients.grant("reader", "population", PURPOSE, dt.datetime(2099, 1, 1), ["name"])
    subject = str(LibraryStore(engine).subjects("population")[0])
    return key, subject


def _name(site: Site, key: str, subject: str) -> dict[str, Any]:
    got = httpx.get(
        f"{site.url}/v1/persons/{subject}",
        headers={"Authorization": f"Bearer {key}", "X-Purpose": PURPOSE},
    )
    assert got.status_code == 200, got.text
    return dict(got.json()["fields"]["name"])


def test_a_dispute_filed_by_api_is_answered_on_the_department_page(site: Site, desk: Any) -> None:
    key, subject = _reader(site)
    assert "disputed" not in _name(site, key, subject)
    filed = httpx.post(
        f"{site.url}/v1/disputes",
        json={
            "subject": subject,
            "field": "name",
            "claimed_value": "王小明",
            "evidence": "户口簿第 2 页（2025-03-01 更名）",
        },
        headers={"Authorization": f"Bearer {key}"},
    )
    assert filed.status_code == 201, filed.text
    dispute = filed.json()["dispute_id"]
    assert _name(site, key, subject)["disputed"] is True

    desk.goto(site.url + "/disputes")
    assert "/login" in desk.url
    desk.fill("input[name=username]", "alice")
    desk.fill("input[name=password]", PASSWORD)
    desk.click("form.stack button[type=submit]")
    desk.wait_for_url(site.url + "/disputes")
    row = desk.locator(f"#dispute-{dispute}")
    assert row.get_attribute("data-status") == "open"
    assert row.locator(".claimed").inner_text() == "王小明"
    assert "户口簿第 2 页" in row.locator(".evidence").inner_text()
    assert "0 天" in row.locator(".age").inner_text()
    screenshot(desk, "disputes-open")

    row.locator("input[value=rejected]").check()
    row.locator("textarea[name=reason]").fill("户籍登记姓名无误，更名未经登记")
    with desk.expect_navigation():
        row.locator("button[type=submit]").click()
    row = desk.locator(f"#dispute-{dispute}")
    assert row.get_attribute("data-status") == "closed"
    assert row.get_attribute("data-closed-by") == "rejected"
    assert "更名未经登记" in row.inner_text()
    screenshot(desk, "disputes-answered")
    assert "disputed" not in _name(site, key, subject)
