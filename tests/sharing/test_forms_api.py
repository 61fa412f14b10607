"""``POST /v1/forms/{form}/prefill``: fields filled under the client's grants only (the rest
say not-granted), audited under the applicant's normalised ID; clear errors for bad requests."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.clients import ClientStore
from hub.settings import Settings
from hub.wiring import api_app
from sharing.access import Approval
from storage.library import LibraryStore, engine_for
from tests.sharing.claims_fixtures import add_licence, seed
from tests.sharing.test_forms import BUSINESS, COMPANY, ELDER, seed_typical

PURPOSE = "social-assistance-review"
REGISTRATION = "business-registration-review"


@dataclass
class FormsApi:
    http: TestClient
    app: Any
    keys: dict[str, str]

    def prefill(self, who: str, form: str, body: dict[str, Any], purpose: str = PURPOSE) -> Any:
        headers = {"Authorization": f"Bearer {self.keys[who]}", "X-Purpose": purpose}
        return self.http.post(f"/v1/forms/{form}/prefill", json=body, headers=headers)

    def audit(self) -> list[dict[str, Any]]:
        from sqlalchemy import select

        from api.audit import audit_log

        log = self.app.state.hub.audit
        log.flush()
        with log.engine.connect() as conn:
            rows = conn.execute(select(audit_log).order_by(audit_log.c.id))
            return [dict(r._mapping) for r in rows]


@pytest.fixture(name="api")
def _api(settings: Settings) -> Iterator[FormsApi]:
    store = seed(LibraryStore(engine_for(settings.db_url)))
    seed_typical(store)
    add_licence(store, COMPANY, BUSINESS, serial=12)
    app = api_app(settings, background=False)
    clients: ClientStore = app.state.hub.clients
    until = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)
    keys = {
        "all": clients.add("civil-affairs", "民政 approvals", rate_limit=10_000),
        "some": clients.add("street-office", "街道 window", rate_limit=10_000),
        "none": clients.add("other", "no forms grant", rate_limit=10_000),
    }
    for scope in ("forms", "legal-entity", "licences"):
        clients.grant("civil-affairs", scope, PURPOSE, until)
    # the conditional (有条件共享) fields the form reads were approved for this purpose by the
    # population department (an access request); contact_address is 不予共享, never granted
    conditional = {"mobile", "death_date", "ethnic_group", "household_address", "marital_status"}
    approved = Approval("AR-forms", frozenset(conditional), PURPOSE)
    clients.grant("civil-affairs", "population", PURPOSE, until, None, approved)
    # a company's registration is reviewed under its own purpose; the representative's ID
    # number (有条件共享) and mobile were approved for it by their departments
    for scope in ("forms", "licences"):
        clients.grant("civil-affairs", scope, REGISTRATION, until)
    rep = Approval("AR-rep", frozenset({"legal_rep_id_number"}), REGISTRATION)
    clients.grant("civil-affairs", "legal-entity", REGISTRATION, until, None, rep)
    mobile = Approval("AR-mobile", frozenset({"mobile"}), REGISTRATION)
    clients.grant("civil-affairs", "population", REGISTRATION, until, ["mobile"], mobile)
    clients.grant("street-office", "forms", PURPOSE, until, ["elderly-allowance"])
    clients.grant("street-office", "population", PURPOSE, until, ["name", "birth_date"])
    clients.grant("other", "population", PURPOSE, until)
    with TestClient(app, raise_server_exceptions=False) as http:
        yield FormsApi(http, app, keys)


def test_a_granted_client_gets_the_form_filled_with_sources(api: FormsApi) -> None:
    body = {"applicant": ELDER.lower(), "as_of": "2026-01-01"}
    r = api.prefill("all", "elderly-allowance", body)
    assert r.status_code == 200, r.text
    body = r.json()
    fields = {f["key"]: f for f in body["fields"]}
    assert body["applicant"] == ELDER
    assert fields["age"]["value"] == "81"
    assert fields["name"]["source"]["department"] == "省公安厅 Public Security Department"
    assert "bank_account" in body["to_fill"]
    assert body["filled"] >= 10


def test_fields_not_granted_stay_empty_and_say_so(api: FormsApi) -> None:
    r = api.prefill("some", "elderly-allowance", {"applicant": ELDER})
    assert r.status_code == 200, r.text
    fields = {f["key"]: f for f in r.json()["fields"]}
    assert fields["name"]["status"] == "filled"
    assert fields["age"]["status"] == "filled"  # derived from birth_date, which is granted
    for key in ("mobile", "household_address", "sex", "household_register"):
        assert fields[key]["status"] == "not-granted" and fields[key]["value"] is None
    assert "13905540001" not in r.text and "舜耕路" not in r.text
    row = api.audit()[-1]
    # audited under the normalised ID (keyed hash), with exactly the fields shown
    assert row["subject_hash"] == api.app.state.hub.audit.subject_hash(ELDER)
    assert row["outcome"] == "prefilled"
    assert set(row["fields"].split(",")) == {"population.name", "population.birth_date"}


def test_a_form_not_granted_is_refused_and_audited(api: FormsApi) -> None:
    r = api.prefill("some", "retirement", {"applicant": ELDER})
    assert r.status_code == 403
    assert "retirement" in r.json()["detail"]
    r = api.prefill("none", "retirement", {"applicant": ELDER})
    assert r.status_code == 403
    rows = api.audit()[-2:]
    assert [a["status"] for a in rows] == [403, 403]
    assert {a["subject_hash"] for a in rows} == {api.app.state.hub.audit.subject_hash(ELDER)}


@pytest.mark.parametrize(
    ("form", "applicant", "status", "words"),
    [
        ("elderly-allowance", "110105194912310021", 422, "resident ID"),
        ("business-registration", ELDER, 422, "social credit code"),
        ("tax-return", ELDER, 404, "known: "),
    ],
)
def test_bad_requests_say_what_is_wrong(
    api: FormsApi, form: str, applicant: str, status: int, words: str
) -> None:
    r = api.prefill("all", form, {"applicant": applicant})
    assert r.status_code == status, r.text
    assert words in r.json()["detail"]


def test_a_company_form_fills_from_the_company_and_its_representative(api: FormsApi) -> None:
    r = api.prefill("all", "business-registration", {"applicant": COMPANY}, REGISTRATION)
    assert r.status_code == 200, r.text
    fields = {f["key"]: f for f in r.json()["fields"]}
    assert fields["legal_rep_mobile"]["value"] == "13905540001"
    assert fields["business_licence"]["licence"]["type_code"] == BUSINESS
