"""The department's ``/disputes`` page: the disputes of its fields with the claimed value,
evidence and age; answered there (upheld or rejected, with a reason), or closed by its next
delivery; never another department's."""

from __future__ import annotations

import datetime as dt

import pytest

from storage.access_requests import AccessRequestStore
from storage.library import POPULATION, engine_for
from tests.sharing.catalog_kit import DATASET, PASSWORD, PURPOSE, UNTIL, Hub, csrf, hub, sign_in

__all__ = ["hub"]  # fixture
POLICE = "省公安厅 Public Security Department"


@pytest.fixture
def desk(hub: Hub) -> Hub:
    from argon2 import PasswordHasher

    from api.pages.accounts import StaffAccounts

    engine = engine_for(hub.settings.db_url)
    accounts = StaffAccounts(engine, PasswordHasher(time_cost=1, memory_cost=8192))
    accounts.add("police", "publisher", PASSWORD)
    accounts.add("renshe", "publisher", PASSWORD)
    AccessRequestStore(engine).bind("police", POLICE)
    AccessRequestStore(engine).bind(
        "renshe", "省人力资源和社会保障厅 Human Resources and Social Security Department"
    )
    hub.clients.grant("approvals", "population", PURPOSE, UNTIL, ["name"])
    return hub


def _file(hub: Hub) -> tuple[str, dict[str, object]]:
    subject = str(hub.ingest.library.subjects(POPULATION)[0])
    filed = hub.http.post(
        "/v1/disputes",
        json={
            "subject": subject,
            "field": "name",
            "claimed_value": "王小明",
            "evidence": "户口簿第 2 页",
        },
        headers=hub.headers("approvals"),
    )
    assert filed.status_code == 201, filed.text
    return subject, filed.json()


def _disputed(hub: Hub, subject: str) -> bool:
    got = hub.http.get(f"/v1/persons/{subject}", headers=hub.headers("approvals"))
    return bool(got.json()["fields"]["name"].get("disputed"))


def test_the_department_answers_a_dispute_on_its_page(desk: Hub) -> None:
    subject, dispute = _file(desk)
    sign_in(desk.http, "police")
    page = desk.http.get("/disputes").text
    row = page[page.index(f'id="dispute-{dispute["dispute_id"]}"') :]
    assert 'data-status="open"' in row[:200] and "王小明" in row and "户口簿第 2 页" in row
    assert "0 天" in row and "approvals" in row  # its age and who filed it
    token = csrf(desk.http, "/disputes")
    url = f"/disputes/{dispute['dispute_id']}/answer"
    bare = desk.http.post(url, data={"csrf_token": token, "reason": "无误"})
    assert bare.status_code == 422 and _disputed(desk, subject)  # no verdict: nothing changed
    done = desk.http.post(
        url, data={"csrf_token": token, "verdict": "rejected", "reason": "户籍登记姓名无误"}
    )
    assert done.status_code == 200  # the redirect followed back to the page
    row = done.text[done.text.index(f'id="dispute-{dispute["dispute_id"]}"') :]
    assert 'data-closed-by="rejected"' in row[:300] and "户籍登记姓名无误" in row
    assert not _disputed(desk, subject)
    again = desk.http.post(url, data={"csrf_token": token, "verdict": "upheld", "reason": "x"})
    assert again.status_code == 422 and "closed already" in again.text


def test_the_next_delivery_closes_it_and_the_page_says_so(desk: Hub) -> None:
    subject, dispute = _file(desk)
    when = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    desk.ingest.library.merge(
        POPULATION, f"{DATASET}-fix", DATASET, when, [subject], {"name": ["王小明"]}, ["name"]
    )
    sign_in(desk.http, "police")
    page = desk.http.get("/disputes").text
    row = page[page.index(f'id="dispute-{dispute["dispute_id"]}"') :]
    assert 'data-closed-by="delivery"' in row[:300] and "新交付" in row


def test_another_department_neither_sees_nor_answers_it(desk: Hub) -> None:
    subject, dispute = _file(desk)
    sign_in(desk.http, "renshe")
    assert dispute["dispute_id"] not in desk.http.get("/disputes").text
    answered = desk.http.post(
        f"/disputes/{dispute['dispute_id']}/answer",
        data={"csrf_token": csrf(desk.http, "/disputes"), "verdict": "upheld", "reason": "改"},
    )
    assert answered.status_code == 422 and "no dispute" in answered.text
    assert _disputed(desk, subject)
