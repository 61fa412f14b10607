"""Publisher staff work for one department (``hub staff department``): the ``/publisher`` page
shows that department's rejected rows and the findings it is the authoritative source of,
open and closed, and nothing of another department's."""

from __future__ import annotations

import datetime as dt

import pytest
from argon2 import PasswordHasher
from click.testing import CliRunner

from api.pages.accounts import StaffAccounts
from hub import settings as settings_module
from hub.cli import main
from pipeline.cross_checks import cross_checks
from storage.library import POPULATION, engine_for
from tests.sharing.catalog_kit import DATASET, PASSWORD, Hub, hub, sign_in

__all__ = ["hub"]  # fixture


@pytest.fixture
def desk(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> Hub:
    """Publishers of 公安 (police, owns ps_household) and 人社 (hrss), and one bound to none."""
    monkeypatch.setattr(settings_module, "_settings", hub.settings)
    accounts = StaffAccounts(
        engine_for(hub.settings.db_url), PasswordHasher(time_cost=1, memory_cost=8192)
    )
    for user, dept in (("police", "公安"), ("renshe", "人力资源")):
        accounts.add(user, "publisher", PASSWORD)
        bound = CliRunner().invoke(main, ["staff", "department", user, dept])
        assert bound.exit_code == 0, bound.output
    listed = CliRunner().invoke(main, ["staff", "list"])
    assert "省公安厅" in listed.output and "[-]" in listed.output  # clerk: bound to none
    return hub


def _birth_date_finding(hub: Hub) -> str:
    subject = str(hub.ingest.library.subjects(POPULATION)[0])
    when = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)
    hub.ingest.library.merge(
        POPULATION,
        f"{DATASET}-late",
        DATASET,
        when,
        [subject],
        {"birth_date": ["1901-01-01"]},
        ["birth_date"],
    )
    assert cross_checks(hub.ingest)["findings_opened"] >= 1
    return subject


def test_the_department_sees_its_rejected_rows_and_findings(desk: Hub) -> None:
    subject = _birth_date_finding(desk)
    (run,) = desk.ingest.library.list_runs(DATASET)
    sign_in(desk.http, "police")
    page = desk.http.get("/publisher")
    assert page.status_code == 200, page.text
    assert f'data-run="{run["run_id"]}"' in page.text
    row = page.text[page.text.index('id="findings"') :]
    assert subject in row and 'data-status="open"' in row and "birth_date_vs_id" in row
    rows = desk.http.get(f"/publisher/runs/{run['run_id']}")
    assert rows.status_code == 200 and rows.text.count("data-row=") == run["rows_quarantined"]
    code = desk.ingest.library.list_quarantine(DATASET)[0]["reasons"].split("=")[0]
    assert code in rows.text.split('id="rejected-rows"')[1]  # each row's reasons
    audit = desk.http.app.state.hub.audit.query(subject, 50)  # type: ignore[attr-defined]
    assert any(a["client_id"] == "staff:police" for a in audit)


def test_a_finding_a_later_delivery_corrected_shows_as_closed(desk: Hub) -> None:
    subject = _birth_date_finding(desk)
    right = f"{subject[6:10]}-{subject[10:12]}-{subject[12:14]}"
    when = dt.datetime.now(dt.UTC) + dt.timedelta(days=3)
    desk.ingest.library.merge(
        POPULATION,
        f"{DATASET}-fix",
        DATASET,
        when,
        [subject],
        {"birth_date": [right]},
        ["birth_date"],
    )
    assert cross_checks(desk.ingest)["findings_closed"] >= 1
    sign_in(desk.http, "police")
    shown = desk.http.get("/publisher?status=closed").text
    row = shown[shown.index('id="findings"') :]
    assert subject in row and 'data-status="closed"' in row and "已解决" in row
    assert subject not in desk.http.get("/publisher?status=open").text


def test_another_department_sees_none_of_it(desk: Hub) -> None:
    subject = _birth_date_finding(desk)
    (run,) = desk.ingest.library.list_runs(DATASET)
    sign_in(desk.http, "renshe")
    page = desk.http.get("/publisher").text
    assert run["run_id"] not in page and subject not in page
    assert desk.http.get(f"/publisher/runs/{run['run_id']}").status_code == 404


def test_a_publisher_bound_to_no_department_sees_nothing(desk: Hub) -> None:
    sign_in(desk.http, "clerk")
    page = desk.http.get("/publisher")
    assert page.status_code == 403 and "hub staff department clerk" in page.text
    assert desk.http.get("/corrections").status_code == 403


def test_only_publisher_and_approver_accounts_get_a_department(desk: Hub) -> None:
    StaffAccounts(
        engine_for(desk.settings.db_url), PasswordHasher(time_cost=1, memory_cost=8192)
    ).add("checker", "verifier", PASSWORD)
    refused = CliRunner().invoke(main, ["staff", "department", "checker", "公安"])
    assert refused.exit_code != 0 and "only publisher and approver" in refused.output
