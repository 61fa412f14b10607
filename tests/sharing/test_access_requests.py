"""Access requests decided by the departments owning the fields: filed through the API,
approved, narrowed or refused with ``hub access``; the approval creates the grant, each
decision is a ledger entry, and a request spanning two departments needs both."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from argon2 import PasswordHasher
from click.testing import CliRunner
from sqlalchemy import text

from api.pages.accounts import StaffAccounts
from hub import settings as settings_module
from hub.cli import main
from sharing.access import add_working_days, timing
from storage.library import engine_for
from tests.sharing.catalog_kit import PASSWORD, PURPOSE, Hub, hub

__all__ = ["hub"]  # fixture

CIVIL = "省民政厅 Civil Affairs Department"
HRSS = "省人力资源和社会保障厅 Human Resources and Social Security Department"
UNTIL = "2099-01-01"


@pytest.fixture
def desk(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> Hub:
    """The hub with two approvers (民政, 人社) and the CLI pointed at it."""
    monkeypatch.setattr(settings_module, "_settings", hub.settings)
    accounts = StaffAccounts(
        engine_for(hub.settings.db_url), PasswordHasher(time_cost=1, memory_cost=8192)
    )
    for user, dept in (("minzheng", "民政"), ("renshe", "人力资源")):
        accounts.add(user, "approver", PASSWORD)
        bound = cli("access", "approver", user, dept)
        assert bound.exit_code == 0, bound.output
    return hub


def cli(*args: str) -> Any:
    return CliRunner().invoke(main, list(args))


def file(hub: Hub, client: str = "approvals", **body: Any) -> Any:
    body.setdefault("scope", "population")
    body.setdefault("purpose", PURPOSE)
    body.setdefault("until", UNTIL)
    return hub.http.post("/v1/access-requests", json=body, headers=_bearer(hub, client))


def _bearer(hub: Hub, client: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {hub.keys[client]}"}


def _person(hub: Hub) -> str:
    path = hub.settings.home / "departments"
    found = next(path.rglob("ps_household*.csv"))
    first = found.read_bytes().splitlines()[1]  # the ID number leads, in ASCII
    return first.split(b",")[0].decode("ascii")


def _ledger_events(hub: Hub) -> list[bytes]:
    engine = engine_for(hub.settings.db_url)
    with engine.connect() as conn:
        rows = [r[0] for r in conn.execute(text("SELECT data FROM ledger_pending"))]
        rows += [r[0] for r in conn.execute(text("SELECT data FROM ledger_entries"))]
    return [bytes(r) for r in rows]


def test_unconditional_fields_are_granted_at_once(desk: Hub) -> None:
    made = file(desk, fields=["name", "birth_date"])
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["status"] == "granted" and body["departments"] == []
    assert sorted(body["granted_fields"]) == ["birth_date", "name"]
    read = desk.http.get(f"/v1/persons/{_person(desk)}", headers=desk.headers("approvals"))
    assert read.status_code == 200 and set(read.json()["fields"]) <= {"name", "birth_date"}


def test_a_request_spanning_two_departments_needs_both(desk: Hub) -> None:
    made = file(
        desk,
        fields=["name", "death_date", "mobile"],
        legal_basis="《社会救助暂行办法》第十一条",
    ).json()
    rid = made["request_id"]
    assert made["status"] == "pending" and made["departments"] == sorted([CIVIL, HRSS])
    assert made["deadline"] == str(add_working_days(dt.datetime.now(dt.UTC).date(), 10))
    person = f"/v1/persons/{_person(desk)}"
    assert desk.http.get(person, headers=desk.headers("approvals")).status_code == 403
    pending = cli("access", "list")
    assert rid in pending.output and "deadline=" in pending.output and "pending" in pending.output
    first = cli("access", "approve", rid, "--as", "minzheng")
    assert first.exit_code == 0 and "still waiting" in first.output and "人力资源" in first.output
    assert desk.http.get(person, headers=desk.headers("approvals")).status_code == 403
    again = cli("access", "approve", rid, "--as", "minzheng")
    assert again.exit_code != 0 and "already decided" in again.output
    second = cli("access", "approve", rid, "--as", "renshe")
    assert second.exit_code == 0 and "granted" in second.output, second.output
    desk.served_clients().invalidate()  # the CLI is another process: the server caches 2 s
    read = desk.http.get(person, headers=desk.headers("approvals"))
    assert read.status_code == 200
    assert set(read.json()["fields"]) <= {"name", "death_date", "mobile"}
    closed = desk.http.get(f"/v1/access-requests/{rid}", headers=_bearer(desk, "approvals"))
    assert closed.json()["status"] == "granted"
    assert [d["decision"] for d in closed.json()["decisions"]] == ["approve", "approve"]
    events = [e for e in _ledger_events(desk) if rid.encode() in e]
    assert sum(b'"access.decision"' in e for e in events) == 2
    assert sum(b'"access.grant"' in e for e in events) == 1


def test_narrowing_grants_only_what_the_department_kept(desk: Hub) -> None:
    rid = file(desk, fields=["death_date", "marital_status"], legal_basis="民政法规").json()[
        "request_id"
    ]
    wide = cli("access", "approve", rid, "--as", "minzheng", "--fields", "mobile")
    assert wide.exit_code != 0 and "death_date" in wide.output  # not one of its fields
    narrowed = cli("access", "approve", rid, "--as", "minzheng", "--fields", "death_date")
    assert narrowed.exit_code == 0, narrowed.output
    row = desk.http.get(f"/v1/access-requests/{rid}", headers=_bearer(desk, "approvals")).json()
    assert row["granted_fields"] == ["death_date"] and row["decisions"][0]["decision"] == "narrow"
    (client,) = [c for c in desk.clients.list() if c["client_id"] == "approvals"]
    assert [g["fields"] for g in client["grants"]] == ["death_date"]


def test_a_refusal_says_why_and_grants_nothing(desk: Hub) -> None:
    rid = file(desk, fields=["death_date"], legal_basis="x").json()["request_id"]
    assert cli("access", "refuse", rid, "--as", "minzheng", "--reason", "").exit_code != 0
    wrong = cli("access", "refuse", rid, "--as", "renshe", "--reason", "not ours")
    assert wrong.exit_code != 0 and "asks nothing of" in wrong.output
    refused = cli("access", "refuse", rid, "--as", "minzheng", "--reason", "用途不符")
    assert refused.exit_code == 0 and "refused" in refused.output
    row = desk.http.get(f"/v1/access-requests/{rid}", headers=_bearer(desk, "approvals")).json()
    assert row["status"] == "refused" and row["decisions"][0]["note"] == "用途不符"
    assert row["grant_id"] is None
    (client,) = [c for c in desk.clients.list() if c["client_id"] == "approvals"]
    assert client["grants"] == []
    late = cli("access", "approve", rid, "--as", "minzheng")
    assert late.exit_code != 0 and "refused already" in late.output


@pytest.mark.parametrize(
    ("body", "wrong"),
    [
        ({"fields": ["contact_address"]}, "不予共享"),
        ({"fields": ["mobile"], "purpose": "licence-exemption", "legal_basis": "x"}, "purpose"),
        ({"fields": ["death_date"]}, "legal basis"),
        ({"fields": ["name"], "until": "2020-01-01"}, "future"),
        ({"fields": ["nickname"]}, "not a field"),
        ({"fields": ["name"], "scope": "licences"}, "scope"),
    ],
)
def test_a_request_outside_the_catalogue_is_refused_naming_why(
    desk: Hub, body: dict[str, Any], wrong: str
) -> None:
    answer = file(desk, **body)
    assert answer.status_code == 422, answer.text
    assert wrong in answer.json()["detail"] or wrong in str(answer.json().get("errors"))
    assert desk.http.get("/v1/access-requests", headers=_bearer(desk, "approvals")).json() == []


def test_requests_are_the_clients_own_and_need_a_key(desk: Hub) -> None:
    rid = file(desk, fields=["death_date"], legal_basis="x").json()["request_id"]
    other = desk.http.get(f"/v1/access-requests/{rid}", headers=_bearer(desk, "stranger"))
    assert other.status_code == 404
    assert desk.http.post("/v1/access-requests", json={}).status_code == 401


def test_a_pending_request_shows_its_age_and_when_it_is_overdue() -> None:
    monday = dt.datetime(2026, 11, 2, 9, 0)
    row = {"created_at": monday, "status": "pending"}
    assert add_working_days(monday.date(), 10) == dt.date(2026, 11, 16)
    on_time = timing(row, dt.date(2026, 11, 16))
    assert on_time["age_days"] == 14 and on_time["age_working_days"] == 10
    assert not on_time["overdue"]
    assert timing(row, dt.date(2026, 11, 17))["overdue"]
    assert not timing({**row, "status": "granted"}, dt.date(2027, 1, 1))["overdue"]
