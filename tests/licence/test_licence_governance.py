"""Governance (治理): planted deaths, deregistrations, renames and a changed legal
representative are all found, nothing else is; each type's policy flags or suspends, and an
automatic suspension is in the ledger and reported by verification."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from click.testing import CliRunner

import hub.settings
from hub.cli import main
from hub.settings import Settings
from ledger.receipt import Receipt
from licence import governance
from licence.governance_run import run_governance
from licence.issuance import Holder, IssueRequest
from licence.samples import HUAINAN_ISSUERS, sample_fields
from licence.service import LicenceService
from schemas import resident_id, uscc
from storage.library import LEGAL_ENTITY, POPULATION, LibraryStore

DAY1 = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
DAY2 = dt.datetime(2026, 2, 5, tzinfo=dt.UTC)


def person(i: int) -> str:
    body = f"34040219800101{i:03d}"
    return body + resident_id.check_character(body)


def entity(i: int) -> str:
    org = f"MA7{i:05d}"
    body = "91340400" + org + uscc.org_code_check(org)
    return body + uscc.check_character(body)


PERSONS = {person(i): f"居民{i}" for i in range(1, 6)}
ENTITIES = {entity(i): f"淮南企业{i}有限公司" for i in range(1, 6)}
REP = "李雷"


@pytest.fixture
def issued(service: LicenceService, library: LibraryStore) -> dict[str, str]:
    """A licence per holder; returns {name: licence id}. p1 holds a social security card
    (policy: a death suspends it), p2 a marriage certificate, p3..p5 household registers; e1 and
    e3..e5 business licences (policy: deregistration suspends), e2 a food business permit."""
    pids, eids = sorted(PERSONS), sorted(ENTITIES)
    library.merge(
        POPULATION, "ps-1", "ps_household", DAY1, pids, {"name": [PERSONS[p] for p in pids]}
    )
    library.merge(
        LEGAL_ENTITY,
        "mr-1",
        "mr_enterprise",
        DAY1,
        eids,
        {
            "entity_name": [ENTITIES[e] for e in eids],
            "legal_rep_name": [REP] * len(eids),
            "registration_status": ["1"] * len(eids),
        },
    )
    plan = {f"p{i}": ("household_register", person(i), PERSONS[person(i)]) for i in range(1, 6)}
    plan["p1"] = ("social_security_card", person(1), PERSONS[person(1)])
    plan["p2"] = ("marriage_certificate", person(2), PERSONS[person(2)])
    plan |= {f"e{i}": ("business_licence", entity(i), ENTITIES[entity(i)]) for i in range(1, 6)}
    plan["e2"] = ("food_business_permit", entity(2), ENTITIES[entity(2)])
    for authority in set(HUAINAN_ISSUERS.values()):
        service.create_seal(authority)
    requests = []
    for n, (stem, holder, name) in plan.items():
        fields = sample_fields(stem, int(n[1:]), holder, {"legal_rep_name": REP})
        requests.append(IssueRequest(stem, HUAINAN_ISSUERS[stem], Holder(holder, name), fields))
    docs = service.issue_many(requests)
    return {n: d["header"]["licence_id"] for n, d in zip(plan, docs, strict=True)}


def plant(library: LibraryStore) -> None:
    """The second deliveries: p1 died, p2 renamed; e1 deregistered, e2's legal representative
    changed, e3 renamed; everyone else as before."""
    library.merge(
        POPULATION,
        "ca-2",
        "ca_marriage_death",
        DAY2,
        [person(1)],
        {"deceased": ["1"], "death_date": ["2026-02-01"]},
        ["deceased", "death_date"],
    )
    library.merge(
        POPULATION, "ps-2", "ps_household", DAY2, [person(2)], {"name": ["居民二"]}, ["name"]
    )
    library.merge(
        LEGAL_ENTITY,
        "mr-2",
        "mr_enterprise",
        DAY2,
        [entity(1), entity(2), entity(3)],
        {
            "registration_status": ["4", None, None],
            "legal_rep_name": [None, "韩梅梅", None],
            "entity_name": [None, None, "淮南新名称有限公司"],
        },
        ["registration_status", "legal_rep_name", "entity_name"],
    )


def test_nothing_is_found_before_anything_changed(
    service: LicenceService, library: LibraryStore, issued: dict[str, str]
) -> None:
    result = run_governance(service, library)
    assert result.checked == 10 and result.findings == [] and result.suspended == []


def test_planted_changes_are_all_found_and_nothing_else(
    service: LicenceService, library: LibraryStore, issued: dict[str, str]
) -> None:
    plant(library)
    result = run_governance(service, library)
    found = {(f.licence_id, f.kind) for f in result.findings}
    assert found == {
        (issued["p1"], governance.HOLDER_DIED),
        (issued["p2"], governance.NAME_CHANGED),
        (issued["e1"], governance.ENTITY_NOT_OPERATING),
        (issued["e2"], governance.LEGAL_REP_CHANGED),
        (issued["e3"], governance.NAME_CHANGED),
    }
    # the policy: the social security card and the business licence are suspended at once,
    # the others only flagged
    assert sorted(result.suspended) == sorted([issued["p1"], issued["e1"]])
    stored = {r["licence_id"]: r for r in service.store.open_findings()}
    assert stored[issued["e1"]]["action"] == "suspended"
    assert stored[issued["e2"]]["action"] == "flagged"
    assert service.row(issued["e2"])["status"] == "valid"
    evidence = json.loads(stored[issued["e1"]]["evidence"])
    assert evidence["library_run"] == "mr-2" and evidence["dataset"] == "mr_enterprise"
    assert evidence["governance_run"] == result.run_no and evidence["now"] == "注销"
    renamed = json.loads(stored[issued["e3"]]["evidence"])
    assert (renamed["on_licence"], renamed["now"]) == ("淮南企业3有限公司", "淮南新名称有限公司")
    # per authority
    mr = HUAINAN_ISSUERS["business_licence"]
    assert {r["authority"] for r in service.store.open_findings(mr)} == {mr}
    assert len(service.store.open_findings(mr)) == 3


def test_a_second_run_adds_nothing_and_resolves_what_no_longer_holds(
    service: LicenceService, library: LibraryStore, issued: dict[str, str]
) -> None:
    plant(library)
    first = run_governance(service, library)
    library.merge(
        LEGAL_ENTITY,
        "mr-3",
        "mr_enterprise",
        DAY2 + dt.timedelta(days=1),
        [entity(3)],
        {"entity_name": [ENTITIES[entity(3)]]},
        ["entity_name"],
    )
    second = run_governance(service, library)
    assert second.new == 0 and second.suspended == []
    open_now = {(r["licence_id"], r["kind"]) for r in service.store.open_findings()}
    assert (issued["e3"], governance.NAME_CHANGED) not in open_now
    # the others stay open, those of the suspended licences too (they say why)
    assert len(open_now) == len(first.findings) - 1


def test_auto_suspension_is_in_the_ledger_and_verification_reports_it(
    service: LicenceService, library: LibraryStore, issued: dict[str, str]
) -> None:
    from licence.receipts import anchor_and_attach
    from licence.trust import online_context
    from licence.verify import verify

    plant(library)
    run_governance(service, library)
    row = service.row(issued["p1"])
    assert (row["status"], row["reason_code"]) == ("suspended", governance.HOLDER_DIED)
    anchor_and_attach(service)
    from sqlalchemy import select

    from storage.ledger_store import entries

    with service.store.engine.connect() as conn:
        logged = [json.loads(d) for d in conn.execute(select(entries.c.data)).scalars()]
    assert any(
        e.get("event") == "licence.suspend"
        and e.get("licence_id") == issued["p1"]
        and e.get("reason_code") == governance.HOLDER_DIED
        for e in logged
    )
    receipt = service.receipt(issued["p1"])
    report = verify(
        service.document(issued["p1"]),
        Receipt.from_dict(receipt) if receipt else None,
        online_context(service),
    )
    status = next(c for c in report.checks if c.check == "status")
    assert status.status == "FAILED" and "持证人已死亡" in status.zh


def test_unknown_holder_is_flagged_pure() -> None:
    lic = governance.Issued("L1", "A", "T", "person", "X", "甲")
    found = governance.reconcile([lic], {"person": {"name": {}}})
    assert [(f.kind, f.licence_id) for f in found] == [(governance.HOLDER_UNKNOWN, "L1")]


def test_cli_shows_findings_per_authority(
    service: LicenceService,
    library: LibraryStore,
    issued: dict[str, str],
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(hub.settings, "_settings", settings)
    plant(library)
    run = CliRunner()
    out = run.invoke(main, ["licence", "governance", "--run"])
    assert out.exit_code == 0, out.output
    assert "5 findings" in out.output and "2 suspended" in out.output
    civil = HUAINAN_ISSUERS["marriage_certificate"]
    out = run.invoke(main, ["licence", "governance", "--authority", civil])
    assert out.exit_code == 0, out.output
    assert issued["p2"] in out.output and "NAME_CHANGED" in out.output
    assert issued["e1"] not in out.output


def test_the_dag_runs_on_every_library_update() -> None:
    from dags.licence_governance import licence_governance_dag as dag

    condition = dag.timetable.asset_condition
    assert {a.uri.rstrip("/") for a in condition.objects} == {
        "library://population",
        "library://legal-entity",
    }
    assert list(dag.task_dict) == ["reconcile"]


def test_an_issuing_system_reads_its_authoritys_findings(
    service: LicenceService,
    library: LibraryStore,
    issued: dict[str, str],
    settings: Settings,
) -> None:
    from fastapi.testclient import TestClient

    from hub.wiring import api_app

    plant(library)
    run_governance(service, library)
    app = api_app(settings, background=False)
    clients = app.state.hub.clients
    key = clients.add("mr-system", "mr", rate_limit=1000)
    until = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)
    clients.grant("mr-system", "issue", "licence-issuance", until)
    mr = HUAINAN_ISSUERS["business_licence"]
    service.store.bind_client("mr-system", mr)
    headers = {"Authorization": f"Bearer {key}", "X-Purpose": "licence-issuance"}
    with TestClient(app) as http:
        r = http.get("/v1/governance/findings", headers=headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["authority"] == mr
    assert {f["licence_id"] for f in body["findings"]} == {issued["e1"], issued["e2"], issued["e3"]}
    e1 = next(f for f in body["findings"] if f["licence_id"] == issued["e1"])
    assert e1["action"] == "suspended" and e1["evidence"]["library_run"] == "mr-2"


def test_issuer_staff_see_findings_on_the_governance_page(
    service: LicenceService,
    library: LibraryStore,
    issued: dict[str, str],
    settings: Settings,
) -> None:
    from fastapi.testclient import TestClient

    from api.pages.accounts import StaffAccounts
    from hub.wiring import api_app

    plant(library)
    run_governance(service, library)
    app = api_app(settings, background=False)
    password = "correct horse battery staple 42"
    accounts = StaffAccounts(app.state.hub.library.engine)
    accounts.add("zhao", "issuer", password, "赵敏")
    accounts.add("qian", "verifier", password, "钱立")

    def login(http: TestClient, who: str) -> None:
        token = http.get("/login").text.split('name="csrf_token" value="')[1].split('"')[0]
        form = {"csrf_token": token, "username": who, "password": password, "next": "/"}
        assert http.post("/login", data=form, follow_redirects=False).status_code == 303

    with TestClient(app) as http:
        assert http.get("/governance", follow_redirects=False).status_code == 303  # sign in
        login(http, "zhao")
        page = http.get("/governance")
        assert page.status_code == 200, page.text
        for lid in (issued["e1"], issued["p2"]):
            assert lid in page.text
        assert 'data-action="suspended"' in page.text and "NAME_CHANGED" in page.text
        civil = HUAINAN_ISSUERS["marriage_certificate"]
        one = http.get("/governance", params={"authority": civil}).text
        assert issued["p2"] in one and issued["e1"] not in one
    with TestClient(app) as http:
        login(http, "qian")  # a verifier is not an issuer
        assert http.get("/governance", follow_redirects=False).status_code in (303, 403)
