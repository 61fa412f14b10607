"""Strangers (requests without a valid key) are held to a per-address budget before any key is
looked up and never write into a citizen's audit trail; a batch counts each subject against the
client's rate limit; every refusal is found under the subject's normalised ID."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from api.audit import audit_log
from tests.api.conftest import PERSON, PERSON_NAME, Api

PERSON_15 = "110105491231002"  # the same person's 15-digit number
PERSON_FULL_WIDTH = "".join(chr(ord(c) + 0xFEE0) for c in PERSON)


def _rows(api: Api) -> list[dict[str, Any]]:
    audit = api.http.app.state.hub.audit
    audit.flush()
    with audit.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(audit_log).order_by(audit_log.c.id))]


def test_strangers_are_limited_by_address_and_not_attributed_to_the_subject(api: Api) -> None:
    state = api.http.app.state.hub
    state.stranger_rate = 2.0  # bursts of 4
    bad = {"Authorization": "Bearer hub_guess", "X-Purpose": "social-assistance-review"}
    codes = [api.http.get(f"/v1/persons/{PERSON}", headers=bad).status_code for _ in range(30)]
    assert codes[:4] == [401] * 4 and set(codes[4:]) == {429}
    assert "Retry-After" in api.http.get(f"/v1/persons/{PERSON}", headers=bad).headers
    rows = _rows(api)
    # bounded: one row per admitted attempt, one for the flood, none naming the citizen
    assert [r["outcome"] for r in rows] == ["unauthenticated"] * 4 + ["address-limited"]
    assert {r["subject_hash"] for r in rows} == {None}
    assert {r["client_id"] for r in rows} == {"anon@testclient"}
    assert api.http.app.state.hub.audit.query(PERSON) == []
    # a registered client this server has just seen, from the same address (a NAT, a
    # gateway), is answered from memory and not held back by the strangers' budget
    api.http.app.state.hub.clients.authenticate(api.granted)
    ok = api.http.get(f"/v1/persons/{PERSON}", headers=api.headers())
    assert ok.status_code == 200


def test_a_batch_counts_each_subject_against_the_rate_limit(api: Api) -> None:
    store = api.clients
    import datetime as dt

    key = store.add("slow", "Slow system", rate_limit=5)  # bursts of 10
    until = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    store.grant("slow", "population", "social-assistance-review", until, ["name"])
    h = api.headers(key)
    first = api.http.post("/v1/batch/persons", json={"ids": [PERSON] * 10}, headers=h)
    assert first.status_code == 200
    second = api.http.post("/v1/batch/persons", json={"ids": [PERSON] * 2}, headers=h)
    assert second.status_code == 429, second.text
    assert "a batch counts each subject" in second.json()["detail"]
    # the refused batch is audited under its subjects
    rows = api.http.app.state.hub.audit.query(PERSON)
    assert [r["outcome"] for r in rows[:2]] == ["rate-limited", "rate-limited"]


def test_refusals_are_found_under_the_normalised_id_whatever_form_was_sent(api: Api) -> None:
    h = api.headers(api.ungranted)
    for form in (PERSON_15, PERSON_FULL_WIDTH, PERSON.lower()):
        assert api.http.get(f"/v1/persons/{form}", headers=h).status_code == 403
    refused_post = api.http.post(
        "/v1/verify/person", json={"id": PERSON_15, "name": PERSON_NAME}, headers=h
    )
    assert refused_post.status_code == 403
    batch = api.http.post("/v1/batch/persons", json={"ids": [PERSON_FULL_WIDTH]}, headers=h)
    assert batch.status_code == 403
    no_purpose = {"Authorization": f"Bearer {api.ungranted}"}
    assert api.http.get(f"/v1/persons/{PERSON_15}", headers=no_purpose).status_code == 400
    found = api.http.app.state.hub.audit.query(PERSON)
    assert [(r["route"], r["outcome"]) for r in reversed(found)] == [
        ("/v1/persons/{id}", "denied"),
        ("/v1/persons/{id}", "denied"),
        ("/v1/persons/{id}", "denied"),
        ("/v1/verify/person", "denied"),
        ("/v1/batch/persons", "denied"),
        ("/v1/persons/{id}", "no-purpose"),
    ]
    assert {r["client_id"] for r in found} == {"approvals-b"}
    # and `hub audit query` finds them from any form too
    assert len(api.http.app.state.hub.audit.query(PERSON_15)) == len(found)
    with api.http.app.state.hub.audit.engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(audit_log)).scalar_one()
    assert total == len(found)  # no row under a raw form


def test_an_address_over_its_budget_costs_no_key_look_up(api: Api, monkeypatch: Any) -> None:
    """Past the budget a stranger's requests are refused before the key is hashed and looked
    up in the database: guessing keys costs the server nothing more."""
    state = api.http.app.state.hub
    state.stranger_rate = 1.0  # bursts of 2
    looked_up = []
    real = state.clients._load

    def counting(digest: str) -> Any:
        looked_up.append(digest)
        return real(digest)

    monkeypatch.setattr(state.clients, "_load", counting)
    for i in range(20):
        headers = {"Authorization": f"Bearer hub_guess-{i}", "X-Purpose": "system-testing"}
        api.http.get(f"/v1/persons/{PERSON}", headers=headers)
    assert len(looked_up) == 2
