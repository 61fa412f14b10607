"""The ``/access`` page: an approver sees the requests their department must decide, with age
and deadline, and approves, narrows or refuses them there."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher
from click.testing import CliRunner

from api.pages.accounts import StaffAccounts
from hub import settings as settings_module
from hub.cli import main
from storage.library import engine_for
from tests.sharing.catalog_kit import PASSWORD, PURPOSE, Hub, csrf, hub, sign_in

__all__ = ["hub"]  # fixture


@pytest.fixture
def desk(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> Hub:
    monkeypatch.setattr(settings_module, "_settings", hub.settings)
    accounts = StaffAccounts(
        engine_for(hub.settings.db_url), PasswordHasher(time_cost=1, memory_cost=8192)
    )
    for user, dept in (("minzheng", "民政"), ("renshe", "人力资源")):
        accounts.add(user, "approver", PASSWORD)
        assert CliRunner().invoke(main, ["access", "approver", user, dept]).exit_code == 0
    return hub


def _file(hub: Hub, fields: list[str]) -> str:
    answer = hub.http.post(
        "/v1/access-requests",
        json={
            "scope": "population",
            "fields": fields,
            "purpose": PURPOSE,
            "legal_basis": "《社会救助暂行办法》",
            "until": "2099-01-01",
        },
        headers={"Authorization": f"Bearer {hub.keys['approvals']}"},
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["request_id"])


def test_an_approver_narrows_a_request_on_the_page(desk: Hub) -> None:
    rid = _file(desk, ["death_date", "marital_status"])
    sign_in(desk.http, "minzheng")
    page = desk.http.get("/access").text
    assert f'id="request-{rid}"' in page and "10 个工作日" in page
    row = page[page.index(f'id="request-{rid}"') :]
    assert 'value="death_date"' in row and 'value="marital_status"' in row
    done = desk.http.post(
        f"/access/{rid}",
        data={
            "csrf_token": csrf(desk.http, "/access"),
            "decision": "approve",
            "fields": "death_date",
        },
    )
    assert done.status_code == 200 and "granted" in done.text
    (client,) = [c for c in desk.clients.list() if c["client_id"] == "approvals"]
    assert [g["fields"] for g in client["grants"]] == ["death_date"]


def test_a_refusal_needs_a_reason_and_other_departments_see_nothing(desk: Hub) -> None:
    rid = _file(desk, ["death_date"])
    sign_in(desk.http, "renshe")
    assert f'id="request-{rid}"' not in desk.http.get("/access").text  # not 人社's field
    desk.http.post("/logout", data={"csrf_token": csrf(desk.http, "/access")})
    sign_in(desk.http, "minzheng")
    token = csrf(desk.http, "/access")
    bare = desk.http.post(f"/access/{rid}", data={"csrf_token": token, "decision": "refuse"})
    assert bare.status_code == 422 and "why" in bare.text
    refused = desk.http.post(
        f"/access/{rid}", data={"csrf_token": token, "decision": "refuse", "note": "用途不符"}
    )
    assert refused.status_code == 200 and "refused" in refused.text
    assert "用途不符" in desk.http.get("/access").text


def test_staff_without_the_approver_role_are_turned_away(desk: Hub) -> None:
    sign_in(desk.http, "clerk")  # a publisher
    assert desk.http.get("/access").status_code == 403
