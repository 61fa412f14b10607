"""``GET /v1/policies/{id}/applications?since=`` for the owning department (a grant per policy,
each application audited under its applicant), ``hub policies``, and a DAG per policy on the
library's Asset."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

import hub.settings
from hub.cli import main
from hub.settings import Settings
from hub.wiring import api_app
from storage.library import LibraryStore, engine_for
from tests.sharing.test_eligibility import DIES, JUST, MARCH, OLD, SOON, lib_with_people, run

PURPOSE = "social-assistance-review"


@pytest.fixture(name="hub_lib")
def _hub_lib(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> LibraryStore:
    monkeypatch.setattr(hub.settings, "_settings", settings)
    return lib_with_people(LibraryStore(engine_for(settings.db_url)))


@pytest.fixture(name="http")
def _http(
    settings: Settings, hub_lib: LibraryStore
) -> Iterator[tuple[TestClient, Any, dict[str, str]]]:
    app = api_app(settings, background=False)
    clients = app.state.hub.clients
    until = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)
    keys = {
        "owner": clients.add("civil-affairs", "民政 approvals", rate_limit=10_000),
        "other": clients.add("market", "市场监管 approvals", rate_limit=10_000),
    }
    clients.grant("civil-affairs", "policies", PURPOSE, until, ["elderly-allowance"])
    clients.grant("market", "policies", PURPOSE, until, ["food-permit-renewal"])
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, app, keys


def _get(http: Any, key: str, path: str, **params: Any) -> Any:
    headers = {"Authorization": f"Bearer {key}", "X-Purpose": PURPOSE}
    return http.get(path, params=params, headers=headers)


def test_the_owning_department_reads_new_applications_since(
    http: Any, hub_lib: LibraryStore
) -> None:
    client, app, keys = http
    run(hub_lib, MARCH)
    r = _get(client, keys["owner"], "/v1/policies/elderly-allowance/applications")
    assert r.status_code == 200, r.text
    body = r.json()
    assert {a["subject"] for a in body["applications"]} == {OLD, JUST, DIES}
    form = body["applications"][0]["form"]
    assert form["form"] == "elderly-allowance" and form["fields"][0]["source"]["dataset"]
    # page through: one at a time, following next_since / next_after, each seen once
    seen, since, after = [], None, None
    for _ in range(5):
        params = {"limit": 1, **({"since": since, "after": after} if since else {})}
        page = _get(
            client, keys["owner"], "/v1/policies/elderly-allowance/applications", **params
        ).json()
        if not page["applications"]:
            break
        seen += [a["application_id"] for a in page["applications"]]
        since, after = page["next_since"], page["next_after"]
    assert sorted(seen) == sorted(a["application_id"] for a in body["applications"])
    run(hub_lib, dt.date(2026, 4, 2))
    later = _get(
        client,
        keys["owner"],
        "/v1/policies/elderly-allowance/applications",
        since=since,
        after=after,
    )
    assert [a["subject"] for a in later.json()["applications"]] == [SOON]
    log = app.state.hub.audit
    log.flush()
    from sqlalchemy import select

    from api.audit import audit_log

    with log.engine.connect() as conn:
        hashes = {
            r.subject_hash
            for r in conn.execute(select(audit_log).where(audit_log.c.outcome == "application"))
        }
    assert log.subject_hash(SOON) in hashes and log.subject_hash(OLD) in hashes


def test_another_policy_is_not_granted(http: Any) -> None:
    client, _, keys = http
    r = _get(client, keys["other"], "/v1/policies/elderly-allowance/applications")
    assert r.status_code == 403 and "elderly-allowance" in r.json()["detail"]
    r = _get(client, keys["owner"], "/v1/policies/tax-rebate/applications")
    assert r.status_code == 404 and "known: " in r.json()["detail"]
    listed = _get(client, keys["other"], "/v1/policies").json()
    assert [p["id"] for p in listed] == ["food-permit-renewal"]


def test_hub_policies_run_list_and_applications(hub_lib: LibraryStore) -> None:
    cli = CliRunner().invoke
    out = cli(main, ["policies", "list"])
    assert out.exit_code == 0 and "elderly-allowance" in out.output and "age_at_least" in out.output
    first = cli(main, ["policies", "run", "elderly-allowance", "--on", "2026-03-10"])
    assert first.exit_code == 0, first.output
    assert json.loads(first.output)["created"] == 3
    again = cli(main, ["policies", "run", "elderly-allowance", "--on", "2026-03-10"])
    assert json.loads(again.output)["created"] == 0
    listed = cli(main, ["policies", "applications", "elderly-allowance"])
    assert listed.output.count(" open ") == 3 and OLD in listed.output
    bad = cli(main, ["policies", "run", "tax-rebate"])
    assert bad.exit_code != 0 and "unknown policy" in bad.output


def test_a_dag_per_policy_runs_when_its_library_changes() -> None:
    import dags.eligibility as module
    from schemas import policies

    for policy in policies.catalogue().values():
        dag = getattr(module, f"eligibility_{policy.id.replace('-', '_')}")
        uris = {a.uri.rstrip("/") for a in dag.timetable.asset_condition.objects}
        assert uris == {f"library://{policy.library}"}
        assert list(dag.task_dict) == ["judge"]


def test_staff_see_a_policys_applications_with_their_sources(
    settings: Settings, hub_lib: LibraryStore
) -> None:
    from api.pages.accounts import StaffAccounts

    run(hub_lib, MARCH)
    app = api_app(settings, background=False)
    password = "correct horse battery staple 42"
    accounts = StaffAccounts(app.state.hub.library.engine)
    accounts.add("sun", "verifier", password, "孙丽")
    accounts.add("li", "publisher", password, "李强")

    def login(client: TestClient, who: str) -> None:
        token = client.get("/login").text.split('name="csrf_token" value="')[1].split('"')[0]
        form = {"csrf_token": token, "username": who, "password": password, "next": "/"}
        assert client.post("/login", data=form, follow_redirects=False).status_code == 303

    with TestClient(app) as client:
        assert client.get("/policies", follow_redirects=False).status_code == 303  # sign in
        login(client, "sun")
        index = client.get("/policies")
        assert index.status_code == 200 and "/policies/elderly-allowance" in index.text
        page = client.get("/policies/elderly-allowance")
        assert page.status_code == 200, page.text
        assert OLD in page.text and "3 份申请" in page.text
        assert "省公安厅" in page.text and "ps_household" in page.text
        assert (
            client.get("/policies/elderly-allowance", params={"since": "2999-01-01"}).text.count(
                'data-status="open"'
            )
            == 0
        )
        assert client.get("/policies/tax-rebate").status_code == 404
    with TestClient(app) as client:
        login(client, "li")  # a publisher does not review benefit applications
        assert client.get("/policies", follow_redirects=False).status_code in (303, 403)
