"""Issuance through the API: authority binding, type grants, Idempotency-Key, batch partial
failure, reads (sealed JSON, receipt, PDF) and lifecycle by the issuing authority only."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hub.settings import Settings
from hub.wiring import api_app
from tests.api.conftest import ENTITY, ENTITY_NAME, PERSON, PERSON_NAME, seed_library

CITY_MR = "11430100005543215L"  # 长沙市市场监督管理局
PROVINCE_MR = "11430000006122244L"  # 湖南省市场监督管理局
PROVINCE_HR = "114300000061427127"  # 湖南省人力资源和社会保障厅
PURPOSE = "licence-issuance"
BUSINESS = {
    "entity_type": "有限责任公司",
    "legal_representative": PERSON_NAME,
    "registered_capital": "人民币壹佰万元整",
    "established": "2020-05-18",
    "address": "湖南省长沙市岳麓区麓谷大道100号",
    "business_scope": "软件开发；信息技术咨询服务。",
}
QUALIFICATION = {
    "occupation": "电工",
    "level": "四级/中级工",
    "certificate_number": "S430000202600001",
    "assessed_on": "2025-11-20",
}


@dataclass
class Issuing:
    http: TestClient
    state: Any
    keys: dict[str, str]  # client id -> API key

    def headers(self, client: str, key: str | None = None) -> dict[str, str]:
        out = {"Authorization": f"Bearer {self.keys[client]}", "X-Purpose": PURPOSE}
        if key is not None:
            out["Idempotency-Key"] = key
        return out

    def licence_count(self) -> int:
        return len(self.state.licences.store.licences())


def business(holder: str = ENTITY, name: str = ENTITY_NAME, **fields: str) -> dict[str, Any]:
    return {
        "type": "business_licence",
        "holder": {"id": holder, "name": name},
        "fields": {**BUSINESS, **fields},
    }


@pytest.fixture
def issuing(settings: Settings) -> Iterator[Issuing]:
    seed_library(settings)
    app = api_app(settings, background=False)
    state = app.state.hub
    svc = state.licences
    svc.ensure_ca()
    for uscc in (CITY_MR, PROVINCE_MR, PROVINCE_HR):
        svc.create_seal(uscc)
    until = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)
    clients = state.clients
    keys = {}
    # city-mr: bound to the city's market regulation, may issue business licences
    # province-mr: bound to the province's, may issue every type
    # hr-as-mr: bound to human resources, granted business licences (the authority may not)
    # unbound: granted, but bound to no authority
    # food-only: bound to the city, granted food business permits only
    plan = [
        ("city-mr", CITY_MR, ["business_licence"]),
        ("province-mr", PROVINCE_MR, ["*"]),
        ("hr-as-mr", PROVINCE_HR, ["11100000000013338W001"]),
        ("unbound", None, ["*"]),
        ("food-only", CITY_MR, ["食品经营许可证"]),
    ]
    for client_id, authority, types in plan:
        keys[client_id] = clients.add(client_id, client_id, rate_limit=1000)
        clients.grant(client_id, "issue", PURPOSE, until, types)
        if authority is not None:
            svc.store.bind_client(client_id, authority)
    with TestClient(app, raise_server_exceptions=False) as http:
        yield Issuing(http, state, keys)


def test_issue_one_then_read_it_back(issuing: Issuing) -> None:
    r = issuing.http.post("/v1/licences", json=business(), headers=issuing.headers("city-mr"))
    assert r.status_code == 201, r.text
    out = r.json()
    lid = out["licence_id"]
    assert out["authority"] == CITY_MR and out["holder"] == ENTITY
    assert out["type_code"] == "11100000000013338W001" and out["valid_until"] is None
    assert r.headers["Location"] == f"/v1/licences/{lid}"

    got = issuing.http.get(f"/v1/licences/{lid}", headers=issuing.headers("city-mr"))
    assert got.status_code == 200
    assert got.headers["Licence-Status"] == "valid"
    assert got.content == issuing.state.licences.raw(lid)  # byte for byte as stored
    assert json.loads(got.content)["header"]["licence_id"] == lid

    pdf = issuing.http.get(f"/v1/licences/{lid}/pdf", headers=issuing.headers("city-mr"))
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert pdf.headers["content-type"] == "application/pdf"


def test_receipt_once_the_batch_is_sequenced(issuing: Issuing) -> None:
    lid = issuing.http.post(
        "/v1/licences", json=business(), headers=issuing.headers("city-mr")
    ).json()["licence_id"]
    pending = issuing.http.get(f"/v1/licences/{lid}/receipt", headers=issuing.headers("city-mr"))
    assert pending.status_code == 404
    assert pending.json()["type"].endswith("/receipt-pending")
    assert "Retry-After" in pending.headers
    issuing.state.licences.ledger.sequence()
    r = issuing.http.get(f"/v1/licences/{lid}/receipt", headers=issuing.headers("city-mr"))
    assert r.status_code == 200, r.text
    assert r.json()["checkpoint"]


def test_same_idempotency_key_twice_issues_one_licence(issuing: Issuing) -> None:
    h = issuing.headers("city-mr", key="case-2026-0001")
    first = issuing.http.post("/v1/licences", json=business(), headers=h)
    again = issuing.http.post("/v1/licences", json=business(), headers=h)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert issuing.licence_count() == 1
    # without a key, a second request is a second licence
    other = issuing.http.post("/v1/licences", json=business(), headers=issuing.headers("city-mr"))
    assert other.json()["licence_id"] != first.json()["licence_id"]
    assert issuing.licence_count() == 2


def test_same_key_with_another_body_is_a_conflict(issuing: Issuing) -> None:
    h = issuing.headers("city-mr", key="case-2026-0002")
    assert issuing.http.post("/v1/licences", json=business(), headers=h).status_code == 201
    r = issuing.http.post("/v1/licences", json=business(address="另一个地址"), headers=h)
    assert r.status_code == 409
    assert r.json()["type"].endswith("/idempotency-key-reused")
    assert issuing.licence_count() == 1


def test_idempotency_keys_are_per_client(issuing: Issuing) -> None:
    body = business()
    a = issuing.http.post("/v1/licences", json=body, headers=issuing.headers("city-mr", "k1"))
    b = issuing.http.post("/v1/licences", json=body, headers=issuing.headers("province-mr", "k1"))
    assert a.status_code == b.status_code == 201
    assert a.json()["authority"] == CITY_MR and b.json()["authority"] == PROVINCE_MR


def test_idempotency_survives_a_restart(issuing: Issuing, settings: Settings) -> None:
    h = issuing.headers("city-mr", key="case-2026-0003")
    first = issuing.http.post("/v1/licences", json=business(), headers=h)
    app = api_app(settings, background=False)  # another process: only the database is shared
    with TestClient(app, raise_server_exceptions=False) as http:
        again = http.post("/v1/licences", json=business(), headers=h)
    assert again.status_code == 201 and again.json() == first.json()
    assert issuing.licence_count() == 1


def test_refused_request_frees_its_key(issuing: Issuing) -> None:
    h = issuing.headers("city-mr", key="case-2026-0004")
    bad = issuing.http.post("/v1/licences", json=business(name="别的公司"), headers=h)
    assert bad.status_code == 422
    assert bad.json()["type"].endswith("/holder-refused")
    assert ENTITY not in bad.text and "别的公司" not in bad.text  # no personal data echoed
    good = issuing.http.post("/v1/licences", json=business(), headers=h)
    assert good.status_code == 201
    assert issuing.licence_count() == 1


@pytest.mark.parametrize(
    ("client", "kind"),
    [
        ("unbound", "not-an-issuer"),
        ("food-only", "authority-not-allowed"),  # type outside its grant
        ("hr-as-mr", "authority-not-allowed"),  # granted, but the authority may not issue it
    ],
)
def test_issuing_needs_binding_grant_and_authority_right(
    issuing: Issuing, client: str, kind: str
) -> None:
    r = issuing.http.post("/v1/licences", json=business(), headers=issuing.headers(client))
    assert r.status_code == 403, r.text
    assert r.json()["type"].endswith(f"/{kind}")
    assert issuing.licence_count() == 0


def test_a_client_without_the_issue_scope_is_refused(issuing: Issuing) -> None:
    clients = issuing.state.clients
    key = clients.add("reader", "reader", rate_limit=1000)
    until = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)
    clients.grant("reader", "licences", PURPOSE, until)
    issuing.state.licences.store.bind_client("reader", CITY_MR)
    h = {"Authorization": f"Bearer {key}", "X-Purpose": PURPOSE}
    r = issuing.http.post("/v1/licences", json=business(), headers=h)
    assert r.status_code == 403 and r.json()["type"].endswith("/not-granted")
    assert issuing.licence_count() == 0


def test_the_body_cannot_choose_the_authority(issuing: Issuing) -> None:
    body = {**business(), "authority": PROVINCE_MR}
    r = issuing.http.post("/v1/licences", json=body, headers=issuing.headers("city-mr"))
    assert r.status_code == 201
    assert r.json()["authority"] == CITY_MR


def test_batch_issues_good_rows_and_refuses_bad_ones_with_reasons(issuing: Issuing) -> None:
    person = {
        "type": "professional_qualification",
        "holder": {"id": PERSON, "name": PERSON_NAME},
        "fields": QUALIFICATION,
    }
    items = [
        business(),
        business(name="别的公司"),  # holder name differs from the library
        business(established="2020-13-45"),  # bad date
        {"type": "no_such_type", "holder": {"id": ENTITY, "name": ENTITY_NAME}, "fields": {}},
        person,  # the city's market regulation may not issue it (outside its grant)
        business(address="湖南省长沙市天心区"),
    ]
    r = issuing.http.post(
        "/v1/batch/licences", json={"items": items}, headers=issuing.headers("city-mr", "b-1")
    )
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["issued"], out["refused"]) == (2, 4)
    issued = [x["issued"] for x in out["results"]]
    assert issued == [True, False, False, False, False, True]
    kinds = [x["refused"]["kind"] for x in out["results"] if not x["issued"]]
    assert kinds == [
        "holder-refused",
        "invalid-fields",
        "unknown-licence-type",
        "authority-not-allowed",
    ]
    assert "established" in out["results"][2]["refused"]["detail"]
    assert [x["index"] for x in out["results"]] == list(range(6))
    assert issuing.licence_count() == 2
    # the retry answers the same, issuing nothing more
    again = issuing.http.post(
        "/v1/batch/licences", json={"items": items}, headers=issuing.headers("city-mr", "b-1")
    )
    assert again.json() == out
    assert issuing.licence_count() == 2


def test_batch_of_only_bad_rows_issues_nothing(issuing: Issuing) -> None:
    items = [business(name="别的公司"), business(established="x")]
    r = issuing.http.post(
        "/v1/batch/licences", json={"items": items}, headers=issuing.headers("city-mr")
    )
    assert r.status_code == 200
    assert (r.json()["issued"], r.json()["refused"]) == (0, 2)
    assert issuing.licence_count() == 0


def test_batch_is_limited_to_1000(issuing: Issuing) -> None:
    items = [business()] * 1001
    r = issuing.http.post(
        "/v1/batch/licences", json={"items": items}, headers=issuing.headers("city-mr")
    )
    assert r.status_code == 422
    assert issuing.licence_count() == 0


def _issue(issuing: Issuing, client: str = "city-mr") -> str:
    r = issuing.http.post("/v1/licences", json=business(), headers=issuing.headers(client))
    assert r.status_code == 201, r.text
    return str(r.json()["licence_id"])


def test_lifecycle_by_the_issuing_authority(issuing: Issuing) -> None:
    lid = _issue(issuing)
    h = issuing.headers("city-mr")
    r = issuing.http.post(f"/v1/licences/{lid}/suspend", json={"reason": "责令整改"}, headers=h)
    assert r.status_code == 200 and r.json()["status"] == "suspended"
    r = issuing.http.post(f"/v1/licences/{lid}/reinstate", json={"reason": "整改完成"}, headers=h)
    assert r.json()["status"] == "valid"
    r = issuing.http.post(
        f"/v1/licences/{lid}/change",
        json={"fields": {"address": "湖南省长沙市开福区"}, "reason": "住所变更"},
        headers=h,
    )
    assert r.status_code == 201, r.text
    new = r.json()["licence_id"]
    assert new != lid and issuing.state.licences.row(lid)["status"] == "superseded"
    r = issuing.http.post(
        f"/v1/licences/{new}/revoke",
        json={"reason": "违法经营", "reason_code": "ILLEGAL_OPERATION"},
        headers=h,
    )
    assert r.json() == {
        "licence_id": new,
        "status": "revoked",
        "reason_code": "ILLEGAL_OPERATION",
        "superseded_by": None,
    }
    # no PDF for a licence no longer valid
    assert issuing.http.get(f"/v1/licences/{new}/pdf", headers=h).status_code == 409


def test_lifecycle_reason_codes_and_transitions_are_checked(issuing: Issuing) -> None:
    lid = _issue(issuing)
    h = issuing.headers("city-mr")
    r = issuing.http.post(
        f"/v1/licences/{lid}/revoke", json={"reason": "x", "reason_code": "BORED"}, headers=h
    )
    assert r.status_code == 409 and "ILLEGAL_OPERATION" in r.json()["detail"]
    r = issuing.http.post(f"/v1/licences/{lid}/reinstate", json={}, headers=h)
    assert r.status_code == 409  # not suspended
    assert issuing.state.licences.row(lid)["status"] == "valid"


@pytest.mark.parametrize("action", ["revoke", "suspend", "reinstate", "change", "read"])
def test_another_authority_gets_403_audited_and_nothing_changes(
    issuing: Issuing, action: str
) -> None:
    lid = _issue(issuing)
    before = issuing.state.licences.row(lid)
    h = issuing.headers("province-mr")
    bodies = {
        "revoke": {"reason": "x", "reason_code": "OTHER"},
        "suspend": {"reason": "x"},
        "reinstate": {"reason": "x"},
        "change": {"fields": {"address": "别处"}, "reason": "x"},
    }
    if action == "read":
        r = issuing.http.get(f"/v1/licences/{lid}", headers=h)
    else:
        r = issuing.http.post(f"/v1/licences/{lid}/{action}", json=bodies[action], headers=h)
    assert r.status_code == 403
    assert r.json()["type"].endswith("/other-authority")
    assert issuing.state.licences.row(lid) == before
    assert issuing.licence_count() == 1
    audit = issuing.state.audit
    audit.flush()
    rows = [x for x in audit.query(ENTITY) if x["client_id"] == "province-mr"]
    assert [(x["status"], x["outcome"]) for x in rows] == [(403, "other-authority")]


def test_unknown_licence_is_404(issuing: Issuing) -> None:
    lid = _issue(issuing)
    other = lid[:-1] + ("0" if lid[-1] != "0" else "1")
    r = issuing.http.get(f"/v1/licences/{other}", headers=issuing.headers("city-mr"))
    assert r.status_code == 404


def test_issuance_is_audited_under_the_holder(issuing: Issuing) -> None:
    _issue(issuing)
    audit = issuing.state.audit
    audit.flush()
    rows = [x for x in audit.query(ENTITY) if x["client_id"] == "city-mr"]
    assert [(x["status"], x["outcome"]) for x in rows] == [(201, "issued")]


def test_a_retry_while_the_first_is_in_flight_is_told_to_wait(issuing: Issuing) -> None:
    from api.routers.issuing import LicenceIn, request_digest

    body = business()
    digest = request_digest("/v1/licences", LicenceIn.model_validate(body))
    # the first request holds the key (as while it is being sealed)
    assert issuing.state.licences.store.claim_key("city-mr", "case-9", digest) is None
    r = issuing.http.post("/v1/licences", json=body, headers=issuing.headers("city-mr", "case-9"))
    assert r.status_code == 409 and r.json()["type"].endswith("/idempotency-key-in-flight")
    assert r.headers["Retry-After"] == "1"
    assert issuing.licence_count() == 0
