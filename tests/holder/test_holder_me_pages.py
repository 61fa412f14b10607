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
    assert PERSON_NAME in page.text and "police.residents" in page.text


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
