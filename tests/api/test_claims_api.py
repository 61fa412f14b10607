"""``POST /v1/claims/verify`` and its batch: answers without values, grants per claim type,
audit under the subject's normalised ID, and a receipt per answer set."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from api.clients import ClientError
from hub.settings import Settings
from tests.sharing.claims_api_kit import PURPOSE, ClaimsApi, claims_api
from tests.sharing.claims_fixtures import (
    ALIVE,
    DEAD,
    DISAGREE,
    LEGACY,
    LEGACY_15,
    NAMES,
    OPEN,
    STRANGER,
)


@pytest.fixture(name="capi")
def _capi(settings: Settings) -> Iterator[ClaimsApi]:
    yield from claims_api(settings)


def test_a_question_is_answered_without_any_value_and_with_a_receipt(capi: ClaimsApi) -> None:
    before = dt.datetime.now(dt.UTC).date()  # as_of defaults to today
    r = capi.ask(
        {
            "subject": ALIVE,
            "claims": [
                {"type": "person.alive"},
                {"type": "person.household_in", "params": {"division": "3404"}},
                {"type": "person.age_at_least", "params": {"years": "18"}},
                {"type": "person.marital_status_is", "params": {"status": "10"}},
                {"type": "person.insured", "params": {}},
            ],
        }
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert [a["holds"] for a in body["answers"]] == [True, True, True, False, True]
    assert body["answers"][2]["params"] == {"years": 18}  # the canonical form echoed
    assert body["receipt_id"].startswith("CR")
    assert dt.date.fromisoformat(body["as_of"]) in (before, dt.datetime.now(dt.UTC).date())
    for value in (NAMES[ALIVE], "1980-01-01", "340402", "安徽省淮南市"):
        assert value not in r.text


def test_undetermined_answers_carry_their_reason(capi: ClaimsApi) -> None:
    r = capi.ask(
        {
            "subject": DISAGREE,
            "claims": [{"type": "person.marital_status_is", "params": {"status": "10"}}],
        }
    )
    assert r.json()["answers"][0] == {
        "type": "person.marital_status_is",
        "params": {"status": "10"},
        "holds": "undetermined",
        "reason": "SOURCES_DISAGREE",
    }
    r = capi.ask({"subject": STRANGER, "claims": [{"type": "person.alive"}]})
    assert r.json()["answers"][0]["reason"] == "SUBJECT_UNKNOWN"


def test_a_15_digit_id_is_answered_and_audited_under_the_18_digit_form(capi: ClaimsApi) -> None:
    r = capi.ask({"subject": LEGACY_15, "claims": [{"type": "person.alive"}]})
    assert r.json()["answers"][0]["holds"] is True
    state = capi.app.state.hub
    row = capi.audit()[-1]
    assert row["subject_hash"] == state.audit.subject_hash(LEGACY)
    assert (row["client_id"], row["outcome"], row["status"]) == ("approvals-a", "answered", 200)
    assert row["fields"] == "person.alive"


def test_without_the_grant_of_a_claim_type_a_client_gets_403_and_no_answer(
    capi: ClaimsApi,
) -> None:
    state = capi.app.state.hub
    # granted person.alive only: asking another type is refused whole, audited
    r = capi.ask(
        {"subject": DEAD, "claims": [{"type": "person.alive"}, {"type": "person.insured"}]},
        capi.partial,
    )
    assert r.status_code == 403
    assert r.json()["type"].endswith("/not-granted") and "person.insured" in r.json()["detail"]
    assert "answers" not in r.json()
    row = capi.audit()[-1]
    assert (row["client_id"], row["outcome"], row["status"]) == ("approvals-p", "not-granted", 403)
    assert row["subject_hash"] == state.audit.subject_hash(DEAD)
    assert row["fields"] == ""
    # the type it was granted is answered
    ok = capi.ask({"subject": DEAD, "claims": [{"type": "person.alive"}]}, capi.partial)
    assert ok.status_code == 200 and ok.json()["answers"][0]["holds"] is False
    # no claims grant at all: refused by the gate, audited under the subject
    r = capi.ask({"subject": DEAD, "claims": [{"type": "person.alive"}]}, capi.ungranted)
    assert r.status_code == 403 and "answers" not in r.json()
    row = capi.audit()[-1]
    assert (row["client_id"], row["outcome"], row["status"]) == ("approvals-b", "denied", 403)
    assert row["subject_hash"] == state.audit.subject_hash(DEAD)


def test_unknown_types_and_bad_parameters_are_422_naming_each(capi: ClaimsApi) -> None:
    r = capi.ask(
        {
            "subject": ALIVE,
            "claims": [
                {"type": "person.household_in", "params": {"division": "9"}},
                {"type": "person.age_at_least", "params": {"years": -1, "colour": "red"}},
            ],
        }
    )
    assert r.status_code == 422
    detail = r.json()["detail"]
    for part in ("claims[0].params.division", "claims[1].params.years", "colour"):
        assert part in detail
    r = capi.ask({"subject": ALIVE, "claims": [{"type": "person.rich"}]})
    # an unknown type is not granted by a "*" grant either: it is unknown (422), not hidden
    assert r.status_code == 422 and "unknown claim type" in r.json()["detail"]
    r = capi.ask({"subject": ALIVE, "claims": [{"type": "person.alive"}], "as_of": "2999-01-01"})
    assert r.status_code == 422


def test_as_of_answers_as_the_library_knew_it(capi: ClaimsApi) -> None:
    body = {"subject": DEAD, "claims": [{"type": "person.alive"}], "as_of": "2025-05-31"}
    r = capi.ask(body)
    assert r.json()["answers"][0]["holds"] is True and r.json()["as_of"] == "2025-05-31"


def test_a_batch_answers_each_subject_with_its_own_receipt_and_audit_row(
    capi: ClaimsApi,
) -> None:
    subjects = [ALIVE, DEAD, LEGACY_15, STRANGER, OPEN]
    before = len(capi.audit())
    r = capi.ask(
        {
            "subjects": subjects,
            "claims": [{"type": "person.alive"}, {"type": "person.insured"}],
        },
        batch=True,
    )
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["subject"] for x in results] == [ALIVE, DEAD, LEGACY, STRANGER, OPEN]
    assert [[a["holds"] for a in x["answers"]] for x in results] == [
        [True, True],
        [False, False],
        [True, True],
        ["undetermined", "undetermined"],
        ["undetermined", "undetermined"],
    ]
    assert len({x["receipt_id"] for x in results}) == len(subjects)
    rows = capi.audit()[before:]
    state = capi.app.state.hub
    assert [r["subject_hash"] for r in rows] == [
        state.audit.subject_hash(s) for s in (ALIVE, DEAD, LEGACY, STRANGER, OPEN)
    ]
    for value in NAMES.values():
        assert value not in r.text
    too_many = capi.ask(
        {"subjects": [ALIVE] * 1001, "claims": [{"type": "person.alive"}]}, batch=True
    )
    assert too_many.status_code == 422


def test_claim_grants_name_only_known_claim_types(capi: ClaimsApi) -> None:
    until = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    with pytest.raises(ClientError, match="unknown claim type"):
        capi.clients.grant("approvals-b", "claim:person.rich", PURPOSE, until)
    with pytest.raises(ClientError, match="unknown claim type"):
        capi.clients.grant("approvals-b", "claims", PURPOSE, until, ["person.alive", "x.y"])


def test_every_claim_type_has_an_openapi_example(capi: ClaimsApi) -> None:
    from schemas import claims as catalogue

    doc = capi.http.get("/openapi.json").json()
    op = doc["paths"]["/v1/claims/verify"]["post"]
    examples = op["requestBody"]["content"]["application/json"]["examples"]
    assert set(examples) == set(catalogue.catalogue())
