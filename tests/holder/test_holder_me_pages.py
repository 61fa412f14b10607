"""The holder's /me pages: my licences (all statuses), my copies, my data, who looked at it."""

from __future__ import annotations

import datetime as dt

from holder_app import PURPOSE, Hub
from holder_world import PERSON_ID, PERSON_NAME

from licence.trust import export_bundle, offline_context
from licence.verify import TOTAL_PASSED, verify_input


def test_pages_need_a_holder_session(hub: Hub) -> None:
    for path in ("/me", "/me/audit", "/me/data", f"/me/licences/{hub.world.qualification}/json"):
        answer = hub.http.get(path, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"] == "/me/login", path


def test_my_licences_every_status_with_my_copy_and_pdf(hub: Hub) -> None:
    hub.sign_in()
    page = hub.http.get("/me")
    assert hub.world.qualification in page.text and hub.world.business not in page.text
    copy = hub.http.get(f"/me/licences/{hub.world.qualification}/json")
    assert copy.status_code == 200
    report = verify_input(
        copy.content, offline_context(export_bundle(hub.world.svc), hub.world.anchors())
    )
    assert report.verdict == TOTAL_PASSED, report.to_text()
    pdf = hub.http.get(f"/me/licences/{hub.world.qualification}/pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    hub.world.svc.suspend(hub.world.qualification, "核查中")
    page = hub.http.get("/me")
    assert 'data-status="suspended"' in page.text and "已暂扣" in page.text
    assert hub.http.get(f"/me/licences/{hub.world.qualification}/pdf").status_code == 409
    # another holder's licence: the same answer as an unknown one
    assert hub.http.get(f"/me/licences/{hub.world.business}/json").status_code == 404
    assert hub.http.get("/me/licences/nope/json").status_code == 404


def test_my_data_shows_each_field_with_its_source(hub: Hub) -> None:
    hub.sign_in()
    page = hub.http.get("/me/data")
    assert page.status_code == 200
    assert PERSON_NAME in page.text and "ps_household" in page.text


def test_who_looked_finds_accesses_whatever_form_the_request_used(hub: Hub) -> None:
    store = hub.app.state.hub.clients
    until = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)
    store.grant("approvals-a", "licences", PURPOSE, until)
    full_width = PERSON_ID.translate(str.maketrans("0123456789X", "０１２３４５６７８９Ｘ"))
    looked = hub.http.get(f"/v1/holders/{full_width}/licences", headers=hub.headers("approvals-a"))
    assert looked.status_code == 200, looked.text
    refused = hub.http.get(
        f"/v1/holders/{PERSON_ID.lower()}/licences", headers=hub.headers("approvals-b")
    )
    assert refused.status_code == 403
    hub.sign_in()
    page = hub.http.get("/me/audit")
    rows = page.text.split('data-route="/v1/holders/{id}/licences"')
    assert len(rows) == 3  # both requests, the allowed and the refused one
    assert "approvals-a" in page.text and "approvals-b" in page.text
    assert "证照免提交" in page.text  # the purpose, by its title


PASSWORD = "correct horse battery staple 42"


def _staff_login(hub: Hub) -> None:
    from api.pages.accounts import StaffAccounts
    from storage.access_requests import AccessRequestStore

    engine = hub.app.state.hub.library.engine
    StaffAccounts(engine).add("alice", "publisher", PASSWORD, "王丽")
    AccessRequestStore(engine).bind("alice", "省公安厅 Public Security Department")
    page = hub.http.get("/login")
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    answer = hub.http.post(
        "/login",
        data={
            "csrf_token": token,
            "username": "alice",
            "password": PASSWORD,
            "next": "/corrections",
        },
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text


def test_this_is_wrong_reaches_the_publisher_who_answers_it(hub: Hub) -> None:
    hub.sign_in()
    csrf = hub.csrf("/me/data")
    filed = hub.http.post(
        "/me/data/corrections",
        data={"csrf_token": csrf, "field": "name", "note": "姓名写错了，应为张叁"},
        follow_redirects=False,
    )
    assert filed.status_code == 303
    page = hub.http.get("/me/data")
    assert 'data-status="open"' in page.text and "ps_household" in page.text
    again = hub.http.post(
        "/me/data/corrections", data={"csrf_token": csrf, "field": "name", "note": "again"}
    )
    assert again.status_code == 400 and "already open" in again.text
    unknown = hub.http.post(
        "/me/data/corrections", data={"csrf_token": csrf, "field": "salary", "note": "x"}
    )
    assert unknown.status_code == 400 and "no field" in unknown.text
    # the department's publisher sees it and answers
    hub.http.cookies.clear()
    _staff_login(hub)
    listed = hub.http.get("/corrections")
    assert listed.status_code == 200 and "姓名写错了" in listed.text
    request_id = listed.text.split('data-id="')[1].split('"')[0]
    token = listed.text.split('name="csrf_token" value="')[1].split('"')[0]
    answered = hub.http.post(
        f"/corrections/{request_id}/answer",
        data={"csrf_token": token, "answer": "已核实户籍登记，姓名无误"},
        follow_redirects=False,
    )
    assert answered.status_code == 303
    hub.http.cookies.clear()
    hub.sign_in()
    page = hub.http.get("/me/data")
    assert 'data-status="answered"' in page.text and "姓名无误" in page.text
    audit = hub.http.get("/me/audit").text
    assert "staff:alice" in audit and "部门已答复更正申请" in audit


def test_a_corrected_delivery_closes_the_request(hub: Hub) -> None:
    from storage.library import LibraryStore

    hub.sign_in()
    csrf = hub.csrf("/me/data")
    hub.http.post(
        "/me/data/corrections", data={"csrf_token": csrf, "field": "name", "note": "错字"}
    )
    LibraryStore(hub.app.state.hub.library.engine).merge(
        "population",
        "run-p2",
        "ps_household",
        dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1),
        [PERSON_ID],
        {"name": ["张叁"]},
    )
    page = hub.http.get("/me/data")
    assert 'data-status="corrected"' in page.text and "张叁" in page.text


def test_only_publishers_see_correction_requests(hub: Hub) -> None:
    answer = hub.http.get("/corrections", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")
