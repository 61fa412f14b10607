"""The holder's /me pages: my licences (all statuses), my copies, my data, who looked at it."""

from __future__ import annotations

import datetime as dt

from holder_app import PURPOSE, Hub
from holder_world import ENTITY_USCC, OTHER_ID, PERSON_ID, PERSON_NAME

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
        data={"csrf_token": token, "username": "alice", "password": PASSWORD, "next": "/disputes"},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text


def _dispute(hub: Hub, csrf: str, field: str = "name", evidence: str = "户口簿第 2 页") -> object:
    return hub.http.post(
        "/me/data/disputes",
        data={"csrf_token": csrf, "field": field, "claimed_value": "张叁", "evidence": evidence},
        follow_redirects=False,
    )


def test_this_is_wrong_is_a_dispute_the_department_answers(hub: Hub) -> None:
    hub.sign_in()
    csrf = hub.csrf("/me/data")
    filed = _dispute(hub, csrf, evidence="姓名写错了，见户口簿")
    assert filed.status_code == 303  # type: ignore[attr-defined]
    page = hub.http.get("/me/data")
    assert 'data-status="open"' in page.text and "省公安厅" in page.text and "张叁" in page.text
    again = _dispute(hub, csrf)
    assert again.status_code == 400 and "already open" in again.text  # type: ignore[attr-defined]
    unknown = _dispute(hub, csrf, field="salary")
    assert unknown.status_code == 400 and "no field" in unknown.text  # type: ignore[attr-defined]
    # the granted reader sees the field disputed meanwhile: one rule for citizens and systems
    from api.records import record

    golden = record(hub.app.state.hub, "population", PERSON_ID, None)
    assert golden is not None and golden["name"]["disputed"] is True
    # the department's publisher sees it among its disputes and answers it
    hub.http.cookies.clear()
    _staff_login(hub)
    listed = hub.http.get("/disputes")
    assert listed.status_code == 200 and "姓名写错了" in listed.text
    assert "holder-pages" in listed.text
    dispute_id = listed.text.split('id="dispute-')[1].split('"')[0]
    token = listed.text.split('name="csrf_token" value="')[1].split('"')[0]
    answered = hub.http.post(
        f"/disputes/{dispute_id}/answer",
        data={"csrf_token": token, "verdict": "rejected", "reason": "已核实户籍登记，姓名无误"},
        follow_redirects=False,
    )
    assert answered.status_code == 303
    hub.http.cookies.clear()
    hub.sign_in()
    page = hub.http.get("/me/data")
    assert 'data-closed-by="rejected"' in page.text and "姓名无误" in page.text
    audit = hub.http.get("/me/audit").text
    assert "staff:alice" in audit and "部门答复：原值无误" in audit


def test_a_corrected_delivery_closes_the_dispute(hub: Hub) -> None:
    from storage.library import LibraryStore

    hub.sign_in()
    _dispute(hub, hub.csrf("/me/data"))
    LibraryStore(hub.app.state.hub.library.engine).merge(
        "population",
        "run-p2",
        "ps_household",
        dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1),
        [PERSON_ID],
        {"name": ["张叁"]},
    )
    page = hub.http.get("/me/data")
    assert 'data-closed-by="delivery"' in page.text and "张叁" in page.text


def test_the_old_corrections_address_leads_to_the_disputes(hub: Hub) -> None:
    answer = hub.http.get("/corrections", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/disputes"
    answer = hub.http.get("/disputes", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")


def test_requests_stored_before_become_disputes(hub: Hub) -> None:
    """A hub that kept correction requests in their own table moves them into the disputes."""
    from sqlalchemy import insert

    from holder import store
    from holder.corrections import move_to_disputes

    engine = hub.app.state.hub.library.engine
    now = dt.datetime(2026, 1, 6, 8, 0)
    with engine.begin() as conn:
        for status, answer in (("open", None), ("answered", "姓名无误")):
            conn.execute(
                insert(store.corrections).values(
                    holder=PERSON_ID,
                    field="name",
                    dataset="ps_household",
                    department="省公安厅 Public Security Department",
                    note="错字",
                    status=status,
                    created_at=now,
                    answer=answer,
                )
            )
    assert move_to_disputes(engine) == 2 and move_to_disputes(engine) == 0
    hub.sign_in()
    page = hub.http.get("/me/data").text
    assert 'data-status="open"' in page and 'data-closed-by="answer"' in page
    assert "姓名无误" in page


# ---- a company's legal representative acts for it ------------------------------------------
def _represent(hub: Hub, person: str, minutes: int = 1) -> None:
    from storage.library import LibraryStore

    LibraryStore(hub.app.state.hub.library.engine).merge(
        "legal-entity",
        f"run-e-{person[-4:]}-{minutes}",
        "mr_enterprise",
        dt.datetime.now(dt.UTC) + dt.timedelta(minutes=minutes),
        [ENTITY_USCC],
        {"legal_rep_id_number": [person]},
    )


def _act_for(hub: Hub, uscc: str) -> object:
    return hub.http.post(
        "/me/act-for", data={"csrf_token": hub.csrf("/me"), "uscc": uscc}, follow_redirects=False
    )


def test_the_legal_representative_sees_the_companys_licences_and_data(hub: Hub) -> None:
    hub.sign_in()
    refused = _act_for(hub, ENTITY_USCC)  # the library names no representative yet
    assert refused.status_code == 403 and "法定代表人" in refused.text  # type: ignore[attr-defined]
    _represent(hub, PERSON_ID)
    assert _act_for(hub, ENTITY_USCC.lower()).status_code == 303  # type: ignore[attr-defined]
    home = hub.http.get("/me").text
    assert hub.world.business in home and hub.world.qualification not in home
    assert 'id="acting-for"' in home and ENTITY_USCC in home
    data = hub.http.get("/me/data").text
    assert "legal-entity" in data and "legal_rep_id_number" in data
    seen = [r["outcome"] for r in hub.audit(ENTITY_USCC)]
    assert "acting-for" in seen  # the company's own "who looked at my data"
    back = hub.http.post(
        "/me/act-for/end", data={"csrf_token": hub.csrf("/me")}, follow_redirects=False
    )
    assert back.status_code == 303
    home = hub.http.get("/me").text
    assert hub.world.qualification in home and hub.world.business not in home


def test_a_change_of_representative_ends_the_company_session(hub: Hub) -> None:
    _represent(hub, PERSON_ID)
    hub.sign_in()
    assert _act_for(hub, ENTITY_USCC).status_code == 303  # type: ignore[attr-defined]
    _represent(hub, OTHER_ID, minutes=2)  # the regulator's next delivery names another person
    answer = hub.http.get("/me", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/me/login"


def test_nobody_else_acts_for_the_company(hub: Hub) -> None:
    _represent(hub, OTHER_ID)
    hub.sign_in()  # PERSON_ID, not the representative
    assert _act_for(hub, ENTITY_USCC).status_code == 403  # type: ignore[attr-defined]
    assert "act-for-refused" in [r["outcome"] for r in hub.audit(PERSON_ID)]
