"""Every claim type holds, does not hold, or is undetermined (with a reason) on a small
synthetic library; sources that disagree and a subject known only under a 15-digit ID included.
No answer ever carries a value of the library."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from schemas import claims as catalogue
from schemas.library import POPULATION, subject_key
from sharing.claims import PREDICATES, REASONS, UNDETERMINED, Answer, evaluate
from sharing.facts import StoreFacts
from storage.library import LibraryStore, engine_for
from tests.sharing.claims_fixtures import (
    ALIVE,
    AS_OF,
    BARE,
    CLOSED,
    DEAD,
    DISAGREE,
    FOOD,
    LEGACY,
    LEGACY_15,
    NOWHERE,
    OPEN,
    ORPHAN,
    SOCIAL,
    SPARSE,
    STRANGER,
    add_licence,
    seed,
)

U = UNDETERMINED


@pytest.fixture(scope="module")
def lib(tmp_path_factory: pytest.TempPathFactory) -> LibraryStore:
    path: Path = tmp_path_factory.mktemp("claims") / "hub.db"
    store = seed(LibraryStore(engine_for(f"sqlite:///{path}")))
    add_licence(store, OPEN, FOOD)
    add_licence(store, CLOSED, FOOD, status="revoked", serial=2)
    return store


def ask(
    lib: LibraryStore,
    subject: str,
    claim_id: str,
    params: dict[str, Any] | None = None,
    as_of: dt.date | None = AS_OF,
    *,
    now: bool = False,
) -> Answer:
    claim = catalogue.get(claim_id)
    typed, canonical = claim.parse(params or {})
    from storage.library import GoldenReader

    facts = StoreFacts(lib, GoldenReader(lib), None if now else as_of)
    day = as_of or dt.date.today()
    return evaluate(facts, claim, typed, canonical, subject_key(POPULATION.name, subject), day)


def outcome(answer: Answer) -> tuple[Any, str | None]:
    return answer.holds, answer.reason


# (subject, claim, params, expected holds, expected reason)
CASES: list[tuple[str, str, dict[str, Any], Any, str | None]] = [
    (ALIVE, "person.alive", {}, True, None),
    (DEAD, "person.alive", {}, False, None),
    (SPARSE, "person.alive", {}, U, "FIELD_MISSING"),
    (STRANGER, "person.alive", {}, U, "SUBJECT_UNKNOWN"),
    (ALIVE, "person.marital_status_is", {"status": "20"}, True, None),  # 21 is a marriage
    (ALIVE, "person.marital_status_is", {"status": "10"}, False, None),  # authoritative wins
    (DEAD, "person.marital_status_is", {"status": "30"}, True, None),
    (SPARSE, "person.marital_status_is", {"status": "10"}, U, "FIELD_MISSING"),
    (DISAGREE, "person.marital_status_is", {"status": "10"}, U, "SOURCES_DISAGREE"),
    (DISAGREE, "person.marital_status_is", {"status": "40"}, False, None),  # both say no
    (ALIVE, "person.age_at_least", {"years": 18}, True, None),
    (SPARSE, "person.age_at_least", {"years": "18"}, False, None),
    (SPARSE, "person.age_at_least", {"years": 18, "on": "2028-02-02"}, True, None),
    (SPARSE, "person.age_at_least", {"years": 18, "on": "2028-02-01"}, False, None),
    (STRANGER, "person.age_at_least", {"years": 18}, U, "SUBJECT_UNKNOWN"),
    (ALIVE, "person.household_in", {"division": "34"}, True, None),
    (ALIVE, "person.household_in", {"division": "3404"}, True, None),
    (ALIVE, "person.household_in", {"division": "340402"}, True, None),
    (ALIVE, "person.household_in", {"division": "340403"}, False, None),
    (ALIVE, "person.household_in", {"division": "11"}, False, None),
    (STRANGER, "person.household_in", {"division": "34"}, U, "SUBJECT_UNKNOWN"),
    (ALIVE, "person.insured", {}, True, None),
    (DEAD, "person.insured", {}, False, None),
    (SPARSE, "person.insured", {}, U, "FIELD_MISSING"),
    (ALIVE, "person.is_legal_representative_of", {"uscc": OPEN}, True, None),
    (ALIVE, "person.is_legal_representative_of", {"uscc": CLOSED}, False, None),
    (ALIVE, "person.is_legal_representative_of", {"uscc": BARE}, U, "FIELD_MISSING"),
    (ALIVE, "person.is_legal_representative_of", {"uscc": NOWHERE}, U, "RELATED_UNKNOWN"),
    (STRANGER, "person.is_legal_representative_of", {"uscc": OPEN}, U, "SUBJECT_UNKNOWN"),
    (OPEN, "entity.in_operation", {}, True, None),
    (ORPHAN, "entity.in_operation", {}, True, None),
    (CLOSED, "entity.in_operation", {}, False, None),
    (BARE, "entity.in_operation", {}, U, "FIELD_MISSING"),
    (SOCIAL, "entity.in_operation", {}, U, "SOURCES_DISAGREE"),
    (NOWHERE, "entity.in_operation", {}, U, "SUBJECT_UNKNOWN"),
    (OPEN, "entity.legal_representative_is", {"id": ALIVE}, True, None),
    (OPEN, "entity.legal_representative_is", {"id": DEAD}, False, None),
    (BARE, "entity.legal_representative_is", {"id": ALIVE}, U, "FIELD_MISSING"),
    (OPEN, "entity.registered_capital_at_least", {"amount": "5000000"}, True, None),
    (OPEN, "entity.registered_capital_at_least", {"amount": 5000000.01}, False, None),
    (CLOSED, "entity.registered_capital_at_least", {"amount": 1000000}, False, None),
    (BARE, "entity.registered_capital_at_least", {"amount": 1}, U, "FIELD_MISSING"),
    (OPEN, "entity.registered_in", {"division": "3404"}, True, None),
    (CLOSED, "entity.registered_in", {"division": "340402"}, False, None),
    (SOCIAL, "entity.registered_in", {"division": "340404"}, True, None),  # sources agree
    (BARE, "entity.registered_in", {"division": "34"}, U, "FIELD_MISSING"),
    (OPEN, "entity.established_before", {"date": "2010-05-01"}, True, None),
    (CLOSED, "entity.established_before", {"date": "2020-01-01"}, False, None),
    (BARE, "entity.established_before", {"date": "2020-01-01"}, U, "FIELD_MISSING"),
    (OPEN, "entity.industry_is", {"section": "C"}, True, None),
    (CLOSED, "entity.industry_is", {"section": "C"}, False, None),
    (BARE, "entity.industry_is", {"section": "C"}, U, "FIELD_MISSING"),
    (OPEN, "entity.legal_representative_alive", {}, True, None),
    (CLOSED, "entity.legal_representative_alive", {}, False, None),
    (ORPHAN, "entity.legal_representative_alive", {}, U, "RELATED_UNKNOWN"),
    (BARE, "entity.legal_representative_alive", {}, U, "FIELD_MISSING"),
    (OPEN, "holder.has_valid_licence", {"type": FOOD}, True, None),
    (OPEN, "holder.has_valid_licence", {"type": "business_licence"}, False, None),
    (CLOSED, "holder.has_valid_licence", {"type": FOOD}, False, None),  # revoked
    (NOWHERE, "holder.has_valid_licence", {"type": FOOD}, False, None),
    (ALIVE, "entity.in_operation", {}, U, "NOT_APPLICABLE"),
    (OPEN, "person.alive", {}, U, "NOT_APPLICABLE"),
    ("not-an-id", "person.alive", {}, U, "SUBJECT_UNKNOWN"),
]


@pytest.mark.parametrize(
    ("subject", "claim_id", "params", "holds", "reason"),
    CASES,
    ids=[f"{c[1]}-{i}" for i, c in enumerate(CASES)],
)
def test_claim_answers(
    lib: LibraryStore, subject: str, claim_id: str, params: dict[str, Any], holds: Any, reason: Any
) -> None:
    answer = ask(lib, subject, claim_id, params)
    assert outcome(answer) == (holds, reason)
    assert reason is None or reason in REASONS
    # answered today (the point reads, not the dated history) the same way
    assert outcome(ask(lib, subject, claim_id, params, now=True)) == (holds, reason)


def test_every_claim_type_has_a_predicate_and_holds_not_and_undetermined_cases() -> None:
    assert set(PREDICATES) == set(catalogue.catalogue())
    assert len(catalogue.catalogue()) >= 12
    for claim_id in catalogue.catalogue():
        seen = {c[3] for c in CASES if c[1] == claim_id}
        assert {True, False} <= seen, claim_id
        if claim_id != "holder.has_valid_licence":  # the licence index always decides
            assert U in seen, claim_id


def test_a_person_known_only_under_a_15_digit_id_is_found_under_either_form(
    lib: LibraryStore,
) -> None:
    for form in (LEGACY_15, LEGACY, f" {LEGACY_15} "):
        assert outcome(ask(lib, form, "person.alive")) == (True, None)
        assert outcome(ask(lib, form, "person.marital_status_is", {"status": "20"})) == (
            True,
            None,
        )
        assert outcome(ask(lib, form, "person.age_at_least", {"years": 50})) == (True, None)
    assert outcome(ask(lib, OPEN, "entity.legal_representative_is", {"id": LEGACY_15})) == (
        False,
        None,
    )


def test_as_of_a_date_before_a_death_the_person_was_alive(lib: LibraryStore) -> None:
    assert outcome(ask(lib, DEAD, "person.alive", as_of=dt.date(2025, 5, 31))) == (True, None)
    # before the civil-affairs run was merged the library knew nothing of their life or death
    early = ask(lib, DEAD, "person.alive", as_of=dt.date(2025, 2, 1))
    assert outcome(early) == (U, "FIELD_MISSING")
    # before the household register, not even the person
    assert outcome(ask(lib, DEAD, "person.alive", as_of=dt.date(2024, 12, 31))) == (
        U,
        "SUBJECT_UNKNOWN",
    )


def test_answers_name_the_runs_they_rest_on(lib: LibraryStore) -> None:
    assert ask(lib, ALIVE, "person.alive").runs == {"ca_marriage_death-1"}
    both = ask(lib, OPEN, "entity.legal_representative_alive")
    assert both.runs == {"mr_enterprise-1", "ca_marriage_death-1"}
    assert ask(lib, DISAGREE, "person.marital_status_is", {"status": "10"}).runs == {
        "ps_household-1",
        "tax_register-1",
    }


def test_bad_parameters_are_refused_naming_each() -> None:
    claim = catalogue.get("person.household_in")
    with pytest.raises(catalogue.ClaimParamError) as err:
        claim.parse({"division": "3", "colour": "red"})
    assert set(err.value.problems) == {"division", "colour"}
    with pytest.raises(catalogue.ClaimParamError, match="required"):
        catalogue.get("person.age_at_least").parse({})
    with pytest.raises(catalogue.ClaimParamError, match="resident ID"):
        catalogue.get("entity.legal_representative_is").parse({"id": "110105194912310021"})
    with pytest.raises(catalogue.ClaimParamError, match="code of table"):
        catalogue.get("person.marital_status_is").parse({"status": "99"})
    with pytest.raises(catalogue.ClaimParamError, match="amount"):
        catalogue.get("entity.registered_capital_at_least").parse({"amount": "NaN"})
    with pytest.raises(catalogue.ClaimCatalogueError, match=r"known: person\.alive"):
        catalogue.get("person.rich")


def test_parameters_have_one_canonical_form() -> None:
    claim = catalogue.get("entity.registered_capital_at_least")
    assert claim.parse({"amount": "1000000.00"})[1] == claim.parse({"amount": 1000000})[1]
    age = catalogue.get("person.age_at_least")
    assert age.parse({"years": "18"})[1] == {"years": 18}
    lt = catalogue.get("holder.has_valid_licence")
    assert lt.parse({"type": "food_business_permit"})[1] == {"type": FOOD}


def test_catalogue_examples_are_valid_questions() -> None:
    for claim in catalogue.catalogue().values():
        claim.parse(claim.example)
        assert claim.title_zh and claim.title_en and claim.replaces


# ---- no value of the library in any answer ---------------------------------------------------
_ALNUM = st.text(alphabet="ABCDEFGHJKLMNPQRTUWXY赵钱孙李周吴郑王", min_size=6, max_size=12)


@hsettings(max_examples=40)
@given(
    values=st.fixed_dictionaries(
        {
            "name": _ALNUM,
            "household_address": _ALNUM,
            "birth_date": st.dates(dt.date(1900, 1, 1), dt.date(2025, 1, 1)).map(str),
            "household_division": st.sampled_from(["340402", "340403", "110105"]),
            "marital_status": st.sampled_from(["10", "20", "21", "30", "40"]),
            "deceased": st.sampled_from(["0", "1"]),
            "death_date": st.dates(dt.date(1990, 1, 1), dt.date(2025, 1, 1)).map(str),
            "social_insurance_status": st.sampled_from(["1", "2", "3", "4"]),
        }
    ),
    other=st.sampled_from(["10", "20", "40"]),
    claim_id=st.sampled_from(sorted(catalogue.catalogue())),
)
def test_no_field_value_is_a_substring_of_any_answer(
    tmp_path_factory: pytest.TempPathFactory,
    values: dict[str, str],
    other: str,
    claim_id: str,
) -> None:
    path = tmp_path_factory.mktemp("prop") / "hub.db"
    lib = LibraryStore(engine_for(f"sqlite:///{path}"))
    lib.merge(
        POPULATION.name,
        "ps-1",
        "ps_household",
        dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
        [ALIVE],
        {k: [v] for k, v in values.items()},
        ["name", "birth_date"],
    )
    lib.merge(  # a second, disagreeing source now and then
        POPULATION.name,
        "tax-1",
        "tax_register",
        dt.datetime(2025, 2, 1, tzinfo=dt.UTC),
        [ALIVE],
        {"marital_status": [other]},
    )
    claim = catalogue.get(claim_id)
    typed, canonical = claim.parse(claim.example)
    answer = evaluate(StoreFacts(lib, None, AS_OF), claim, typed, canonical, ALIVE, AS_OF)
    body = answer.to_json()
    assert set(body) <= {"type", "params", "holds", "reason"}
    assert body["holds"] in (True, False, U)
    # what the answer says beyond echoing the question: no value of the record in it
    said = json.dumps({k: v for k, v in body.items() if k != "params"}, ensure_ascii=False)
    for value in values.values():
        assert value not in said
