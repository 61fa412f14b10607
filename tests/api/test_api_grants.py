"""Grants are enforced on every endpoint: without the grant a client gets nothing (and the
refusal is audited); with it, only the granted fields."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from sharing.access import Approval
from tests.api.conftest import ENTITY, ENTITY_NAME, PERSON, PERSON_NAME, PURPOSE, Api

# (method, path, json body) of every data endpoint of the sharing API
ENDPOINTS: list[tuple[str, str, Any]] = [
    ("GET", f"/v1/persons/{PERSON}", None),
    ("GET", f"/v1/entities/{ENTITY}", None),
    ("POST", "/v1/verify/person", {"id": PERSON, "name": PERSON_NAME}),
    ("POST", "/v1/verify/entity", {"uscc": ENTITY, "name": ENTITY_NAME}),
    ("GET", f"/v1/holders/{ENTITY}/licences", None),
    ("POST", "/v1/batch/persons", {"ids": [PERSON]}),
    ("POST", "/v1/batch/entities", {"ids": [ENTITY]}),
    ("POST", "/v1/batch/verify/person", {"items": [{"id": PERSON, "name": PERSON_NAME}]}),
    ("POST", "/v1/batch/verify/entity", {"items": [{"uscc": ENTITY, "name": ENTITY_NAME}]}),
    ("POST", "/v1/batch/holders/licences", {"ids": [ENTITY]}),
    ("GET", "/v1/ledger/checkpoint", None),
    ("GET", "/v1/ledger/proof/0", None),
    ("GET", "/v1/ledger/consistency?from=1", None),
    ("GET", "/v1/runs/ps_household-0000000000000000", None),
]


def _call(api: Api, method: str, path: str, body: Any, headers: dict[str, str]) -> Any:
    return api.http.request(method, path, json=body, headers=headers)


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS, ids=[e[1] for e in ENDPOINTS])
def test_without_the_grant_a_client_gets_nothing(
    api: Api, method: str, path: str, body: Any
) -> None:
    r = _call(api, method, path, body, api.headers(api.ungranted))
    assert r.status_code == 403
    assert r.headers["content-type"] == "application/problem+json"
    text = r.text
    assert PERSON_NAME not in text and ENTITY_NAME not in text and "match" not in r.json()
    assert r.json()["type"].endswith("/not-granted")
    # the refusal is audited, under the client that asked
    last = _audit_rows(api)[-1]
    assert (last["client_id"], last["outcome"], last["status"]) == ("approvals-b", "denied", 403)
    assert last["fields"] == ""
    # a granted client declaring another purpose gets nothing either
    other = api.headers(purpose="business-registration-review")
    assert _call(api, method, path, body, other).status_code == 403
    # a purpose that is not a registered code is refused as malformed
    assert _call(api, method, path, body, api.headers(purpose="marketing")).status_code == 400
    # no key, an unknown key, no purpose or an overlong purpose: refused before any data
    assert _call(api, method, path, body, {"X-Purpose": PURPOSE}).status_code == 401
    bad = {"Authorization": "Bearer hub_not-a-key", "X-Purpose": PURPOSE}
    assert _call(api, method, path, body, bad).status_code == 401
    no_purpose = {"Authorization": f"Bearer {api.granted}"}
    assert _call(api, method, path, body, no_purpose).status_code == 400
    assert _call(api, method, path, body, api.headers(purpose="p" * 65)).status_code == 400


def _audit_rows(api: Api) -> list[dict[str, Any]]:
    from sqlalchemy import select

    from api.audit import audit_log

    audit = api.http.app.state.hub.audit
    audit.flush()
    with audit.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(audit_log).order_by(audit_log.c.id))]


def test_person_returns_only_granted_fields_with_sources(api: Api) -> None:
    r = api.http.get(f"/v1/persons/{PERSON}", headers=api.headers())
    assert r.status_code == 200
    body = r.json()
    assert set(body["fields"]) == {"name", "sex"}  # mobile exists but is not granted
    assert body["fields"]["name"]["value"] == PERSON_NAME
    assert body["fields"]["name"]["source"] == "ps_household"
    assert body["fields"]["name"]["authoritative"] is True
    assert "13900000000" not in r.text and "13800000000" not in r.text


def test_person_as_of_and_field_grant_widened(api: Api) -> None:
    until = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    # mobile is 有条件共享: a grant of it needs its department's approval of a request
    approved = Approval("AR-1", frozenset({"mobile"}), "identity-verification")
    api.clients.grant(
        "approvals-a", "population", "identity-verification", until, ["mobile"], approved
    )
    h = api.headers(purpose="identity-verification")
    now = api.http.get(f"/v1/persons/{PERSON}", headers=h).json()
    assert now["fields"] == {"mobile": now["fields"]["mobile"]}
    assert now["fields"]["mobile"]["value"] == "13900000000"
    assert now["fields"]["mobile"]["source"] == "hrss_insurance"
    before = api.http.get(f"/v1/persons/{PERSON}?as_of=2026-02-01", headers=h).json()
    assert before["fields"]["mobile"]["value"] == "13800000000"
    assert api.http.get(f"/v1/persons/{PERSON}?as_of=2025-01-01", headers=h).status_code == 404


def test_expired_and_revoked_grants_stop_working(api: Api) -> None:
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    api.clients.grant("approvals-b", "population", PURPOSE, past, ["name"])
    r = api.http.get(f"/v1/persons/{PERSON}", headers=api.headers(api.ungranted))
    assert r.status_code == 403
    api.clients.revoke("approvals-a")
    r = api.http.get(f"/v1/persons/{PERSON}", headers=api.headers())
    assert r.status_code == 401


def test_entity_and_verification_answers(api: Api) -> None:
    h = api.headers()
    ent = api.http.get(f"/v1/entities/{ENTITY}", headers=h).json()
    assert ent["fields"]["entity_name"]["value"] == ENTITY_NAME
    yes = api.http.post("/v1/verify/person", json={"id": PERSON, "name": " 张 三"}, headers=h)
    assert yes.json() == {"match": True}
    no = api.http.post("/v1/verify/person", json={"id": PERSON, "name": "王五"}, headers=h)
    assert no.json() == {"match": False}
    unknown = api.http.post(
        "/v1/verify/person", json={"id": "110105194912310030", "name": PERSON_NAME}, headers=h
    )
    assert unknown.json() == {"match": False}  # unknown and wrong look the same
    claim = {"uscc": ENTITY, "name": ENTITY_NAME, "legal_representative": PERSON_NAME}
    assert api.http.post("/v1/verify/entity", json=claim, headers=h).json() == {"match": True}
    claim["legal_representative"] = "王五"
    assert api.http.post("/v1/verify/entity", json=claim, headers=h).json() == {"match": False}


def test_batch_answers_each_item_and_caps_size(api: Api) -> None:
    h = api.headers()
    r = api.http.post("/v1/batch/persons", json={"ids": [PERSON, "110105194912310030"]}, headers=h)
    results = r.json()["results"]
    assert [x["found"] for x in results] == [True, False]
    assert set(results[0]["fields"]) == {"name", "sex"}
    too_many = api.http.post("/v1/batch/persons", json={"ids": [PERSON] * 1001}, headers=h)
    assert too_many.status_code == 422
    assert too_many.headers["content-type"] == "application/problem+json"
    assert PERSON not in too_many.text  # validation problems never echo input values
    items = [{"id": PERSON, "name": PERSON_NAME}, {"id": PERSON, "name": "王五"}]
    m = api.http.post("/v1/batch/verify/person", json={"items": items}, headers=h)
    assert m.json() == {"results": [True, False]}
    # one audit row per subject of a batch, with what was returned for it; the refused
    # batch too (under the subjects it named, at most the largest batch's 1,000)
    rows = [r for r in _audit_rows(api) if r["route"].startswith("/v1/batch/")]
    assert [(r["outcome"], r["fields"]) for r in rows] == [
        ("ok", "name,sex"),
        ("not-found", ""),
        *[("invalid-request", "")] * 1000,
        ("match", ""),
        ("no-match", ""),
    ]


def test_every_request_is_audited_with_a_keyed_subject_hash(api: Api) -> None:
    api.http.get(f"/v1/persons/{PERSON}", headers=api.headers())
    api.http.get(f"/v1/persons/{PERSON}", headers=api.headers(api.ungranted))
    rows = _audit_rows(api)
    assert [r["outcome"] for r in rows] == ["ok", "denied"]
    ok = rows[0]
    assert ok["client_id"] == "approvals-a" and ok["purpose"] == PURPOSE
    assert ok["fields"] == "name,sex" and ok["route"] == "/v1/persons/{id}"
    assert ok["subject_hash"] and PERSON not in str(rows)
    audit = api.http.app.state.hub.audit
    assert [r["client_id"] for r in audit.query(PERSON.lower())] == ["approvals-b", "approvals-a"]


def test_rate_limit_per_client(api: Api) -> None:
    key = api.clients.add("slow", "Slow system", rate_limit=1)
    until = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    api.clients.grant("slow", "population", PURPOSE, until, ["name"])
    codes = [
        api.http.get(f"/v1/persons/{PERSON}", headers=api.headers(key)).status_code
        for _ in range(5)
    ]
    assert codes[:2] == [200, 200] and 429 in codes
    r = api.http.get(f"/v1/persons/{PERSON}", headers=api.headers(key))
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
    # the other client is not slowed down by this one
    assert api.http.get(f"/v1/persons/{PERSON}", headers=api.headers()).status_code == 200


def test_rotated_key_replaces_the_old_one(api: Api) -> None:
    new = api.clients.rotate("approvals-a")
    assert api.http.get(f"/v1/persons/{PERSON}", headers=api.headers()).status_code == 401
    assert api.http.get(f"/v1/persons/{PERSON}", headers=api.headers(new)).status_code == 200
