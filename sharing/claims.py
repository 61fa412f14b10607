"""Claim predicates (核验): does a claim hold of a subject, as of a date? Pure.

``evaluate(facts, claim, params, subject, as_of)`` answers one claim of the catalogue
(:mod:`schemas.claims`) about one subject with ``True``, ``False`` or ``"undetermined"`` and,
when undetermined, a reason code: never a value of the library. It reads golden records (and the
licence store) through :class:`ClaimFacts`, a Protocol the caller implements over its stores.

How a field's value is taken, per the 一数一源 rule (:mod:`schemas.precedence`): a value from the
field's authoritative source is the answer's ground; without one, the latest value of each
source that spoke of the field is weighed, and if they would answer the claim differently the
answer is ``undetermined`` (``SOURCES_DISAGREE``), never a guess. A field the claim needs and the
library does not hold is ``FIELD_MISSING``; a subject the library does not know is
``SUBJECT_UNKNOWN``. Every answer carries the library runs it rested on (for the receipt).
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, Protocol

from schemas.claims import ClaimType, ParamValue
from storage.library.model import FactView, GoldenRecord

UNDETERMINED: Literal["undetermined"] = "undetermined"
Holds = bool | Literal["undetermined"]

POPULATION = "population"
LEGAL_ENTITY = "legal-entity"

# reason code -> (English, Chinese): why a claim is undetermined
REASONS: dict[str, tuple[str, str]] = {
    "SUBJECT_UNKNOWN": ("the library does not know the subject", "库中无此主体"),
    "FIELD_MISSING": ("the library does not hold what the claim needs", "库中缺少判断所需信息"),
    "SOURCES_DISAGREE": (
        "the sources disagree and none is authoritative for the field",
        "各来源部门数据不一致且无权威来源",
    ),
    "VALUE_UNREADABLE": (
        "the library holds a value the claim cannot read",
        "库中数据格式无法判断",
    ),
    "RELATED_UNKNOWN": (
        "the person or entity the claim refers to is not in the library",
        "所涉及的关联主体不在库中",
    ),
    "NOT_APPLICABLE": (
        "the claim is about another kind of subject (a person or an entity)",
        "核验事项与主体类型不符",
    ),
}
# values the libraries store for booleans (storage.library.encoding writes 1/0)
_TRUE, _FALSE = (
    frozenset({"1", "true", "True", "TRUE"}),
    frozenset({"0", "false", "False", "FALSE"}),
)
# GB/T 2261.2: 20 (married) covers first marriage, remarriage, restored marriage
_MARRIED = frozenset({"20", "21", "22", "23"})
_IN_OPERATION, _ENDED = frozenset({"1", "2"}), frozenset({"3", "4", "5"})  # entity_status
_MAX_CANDIDATES = 16  # sources weighed per question (product over fields)


class ClaimFacts(Protocol):
    """What claims read, as of the question's date (the caller binds the date)."""

    def record(self, library: str, subject: str, fields: Sequence[str]) -> GoldenRecord | None:
        """The subject's golden record as of the date (None if unknown). ``fields``: the
        fields the claim needs; a record whose winners for them are all authoritative may come
        without history, any other must carry the history of those fields."""
        ...

    def valid_licence(self, holder: str, type_code: str, on: dt.date) -> bool:
        """Does ``holder`` hold a licence of ``type_code`` valid on ``on`` (issued, not
        revoked, suspended, superseded or expired)?"""
        ...


@dataclass(frozen=True)
class Answer:
    """One claim's answer: holds or not or undetermined (with a reason), and the runs of the
    library it rested on (for the receipt; never shown as values)."""

    type: str
    params: dict[str, ParamValue]
    holds: Holds
    reason: str | None = None
    runs: frozenset[str] = frozenset()

    def to_json(self) -> dict[str, Any]:
        """What the API answers and the receipt seals: type, params, holds, reason."""
        out: dict[str, Any] = {"type": self.type, "params": dict(self.params), "holds": self.holds}
        if self.reason is not None:
            out["reason"] = self.reason
        return out


class Undetermined(Exception):
    """Raised inside a predicate: the library cannot decide, for ``reason``."""

    def __init__(self, reason: str, runs: frozenset[str] = frozenset()) -> None:
        super().__init__(reason)
        self.reason = reason
        self.runs = runs


@dataclass(frozen=True)
class _Outcome:
    holds: bool
    runs: frozenset[str]


def _candidates(record: GoldenRecord, name: str) -> list[FactView | None]:
    """The values of one field a claim must weigh: the authoritative winner alone; else the
    latest value of each source that spoke of the field (one if they all agree); [None] if the
    library holds no value of the field."""
    winner = record.fields.get(name)
    if winner is None:
        return [None]
    if winner.authoritative:
        return [winner]
    latest: dict[str, FactView] = {}
    for fact in record.history.get(name) or (winner,):
        held = latest.get(fact.dataset)
        if held is None or (fact.observed_at, fact.run_id) >= (held.observed_at, held.run_id):
            latest[fact.dataset] = fact
    if len({f.value for f in latest.values()}) <= 1:
        return [winner]
    return [latest[k] for k in sorted(latest)]


def decide(
    record: GoldenRecord,
    names: Sequence[str],
    predicate: Callable[[Mapping[str, str | None]], bool],
) -> _Outcome:
    """Apply ``predicate`` (to {field: value or None}) under every combination of the sources'
    values; the answer if they all agree, else :class:`Undetermined` (``SOURCES_DISAGREE``).
    A predicate raises :class:`Undetermined` itself for a missing or unreadable value."""
    options = [_candidates(record, n) for n in names]
    combos = list(itertools.islice(itertools.product(*options), _MAX_CANDIDATES + 1))
    if len(combos) > _MAX_CANDIDATES:
        raise Undetermined("SOURCES_DISAGREE")
    answers: set[bool] = set()
    runs: set[str] = set()
    for combo in combos:
        values = {
            n: (f.value if f is not None else None) for n, f in zip(names, combo, strict=True)
        }
        runs.update(f.run_id for f in combo if f is not None)
        answers.add(predicate(values))
    if len(answers) != 1:
        raise Undetermined("SOURCES_DISAGREE", frozenset(runs))
    return _Outcome(answers.pop(), frozenset(runs))


# ---- readers of stored values --------------------------------------------------------------
def _need(value: str | None) -> str:
    if value is None or value == "":
        raise Undetermined("FIELD_MISSING")
    return value


def _flag(value: str | None) -> bool | None:
    if value is None or value == "":
        return None
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise Undetermined("VALUE_UNREADABLE")


def _date(value: str | None) -> dt.date | None:
    if value is None or value == "":
        return None
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        raise Undetermined("VALUE_UNREADABLE") from None


def _amount(value: str) -> Decimal:
    try:
        amount = Decimal(value.replace(",", "").strip())
    except InvalidOperation:
        raise Undetermined("VALUE_UNREADABLE") from None
    if not amount.is_finite():
        raise Undetermined("VALUE_UNREADABLE")
    return amount


def _alive(values: Mapping[str, str | None], on: dt.date) -> bool:
    deceased = _flag(values.get("deceased"))
    died = _date(values.get("death_date"))
    if died is not None:
        return died > on  # died after the as-of date: alive then
    if deceased is None:
        raise Undetermined("FIELD_MISSING")
    return not deceased


def _age(born: dt.date, on: dt.date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


# ---- the predicates, one per claim type ----------------------------------------------------
@dataclass(frozen=True)
class Question:
    """One claim about one subject, its parameters parsed (:meth:`ClaimType.parse`)."""

    claim: ClaimType
    typed: Mapping[str, Any]
    params: dict[str, ParamValue]
    subject: str
    as_of: dt.date


Predicate = Callable[[ClaimFacts, Question], _Outcome]


def _own(facts: ClaimFacts, q: Question, library: str, names: Sequence[str]) -> GoldenRecord:
    record = facts.record(library, q.subject, names)
    if record is None:
        raise Undetermined("SUBJECT_UNKNOWN")
    return record


def _on_fields(
    library: str, names: Sequence[str], test: Callable[[Mapping[str, str | None], Question], bool]
) -> Predicate:
    """A predicate over fields of the subject's own record."""

    def predicate(facts: ClaimFacts, q: Question) -> _Outcome:
        record = _own(facts, q, library, names)
        return decide(record, names, lambda values: test(values, q))

    return predicate


def _marital(values: Mapping[str, str | None], q: Question) -> bool:
    status = _need(values["marital_status"])
    wanted = str(q.typed["status"])
    return status == wanted or (wanted == "20" and status in _MARRIED)


def _age_at_least(values: Mapping[str, str | None], q: Question) -> bool:
    born = _date(_need(values["birth_date"]))
    assert born is not None
    on = q.typed.get("on") or q.as_of
    return _age(born, on) >= int(q.typed["years"])


def _insured(values: Mapping[str, str | None], _q: Question) -> bool:
    return _need(values["social_insurance_status"]) == "1"


def _in_operation(values: Mapping[str, str | None], _q: Question) -> bool:
    status = _need(values["registration_status"])
    if status in _IN_OPERATION:
        return True
    if status in _ENDED:
        return False
    raise Undetermined("VALUE_UNREADABLE")


def _capital(values: Mapping[str, str | None], q: Question) -> bool:
    currency = values.get("capital_currency")
    if currency not in (None, "", "CNY"):
        raise Undetermined("VALUE_UNREADABLE")  # no exchange rates here: not a guess
    return _amount(_need(values["registered_capital"])) >= Decimal(q.typed["amount"])


def _established_before(values: Mapping[str, str | None], q: Question) -> bool:
    day = _date(_need(values["established_date"]))
    assert day is not None
    wanted: dt.date = q.typed["date"]
    return day <= wanted


def _person_alive(facts: ClaimFacts, q: Question) -> _Outcome:
    names = ("deceased", "death_date")
    record = _own(facts, q, POPULATION, names)
    return decide(record, names, lambda values: _alive(values, q.as_of))


def _is_legal_rep_of(facts: ClaimFacts, q: Question) -> _Outcome:
    if facts.record(POPULATION, q.subject, ()) is None:
        raise Undetermined("SUBJECT_UNKNOWN")
    entity = facts.record(LEGAL_ENTITY, str(q.typed["uscc"]), ("legal_rep_id_number",))
    if entity is None:
        raise Undetermined("RELATED_UNKNOWN")
    return decide(
        entity,
        ("legal_rep_id_number",),
        lambda v: _person_key(_need(v["legal_rep_id_number"])) == q.subject,
    )


def _legal_rep_is(values: Mapping[str, str | None], q: Question) -> bool:
    return _person_key(_need(values["legal_rep_id_number"])) == str(q.typed["id"])


def _legal_rep_alive(facts: ClaimFacts, q: Question) -> _Outcome:
    entity = _own(facts, q, LEGAL_ENTITY, ("legal_rep_id_number",))
    reps = {
        _person_key(f.value): f
        for f in _candidates(entity, "legal_rep_id_number")
        if f is not None and f.value
    }
    if not reps:
        raise Undetermined("FIELD_MISSING")
    if len(reps) > 1:
        runs = frozenset(f.run_id for f in reps.values())
        raise Undetermined("SOURCES_DISAGREE", runs)
    ((rep_id, rep_fact),) = reps.items()
    names = ("deceased", "death_date")
    person = facts.record(POPULATION, rep_id, names)
    if person is None:
        raise Undetermined("RELATED_UNKNOWN", frozenset({rep_fact.run_id}))
    try:
        outcome = decide(person, names, lambda values: _alive(values, q.as_of))
    except Undetermined as exc:
        raise Undetermined(exc.reason, exc.runs | {rep_fact.run_id}) from None
    return _Outcome(outcome.holds, outcome.runs | {rep_fact.run_id})


def _has_valid_licence(facts: ClaimFacts, q: Question) -> _Outcome:
    return _Outcome(facts.valid_licence(q.subject, str(q.typed["type"]), q.as_of), frozenset())


def _division_in(name: str) -> Callable[[Mapping[str, str | None], Question], bool]:
    def test(values: Mapping[str, str | None], q: Question) -> bool:
        return _need(values[name]).startswith(str(q.typed["division"]))

    return test


def _code_is(name: str, param: str) -> Callable[[Mapping[str, str | None], Question], bool]:
    def test(values: Mapping[str, str | None], q: Question) -> bool:
        return _need(values[name]) == str(q.typed[param])

    return test


def _person_key(raw: str) -> str:
    from schemas.library import subject_key

    return subject_key(POPULATION, raw)


PREDICATES: dict[str, Predicate] = {
    "person.alive": _person_alive,
    "person.marital_status_is": _on_fields(POPULATION, ("marital_status",), _marital),
    "person.age_at_least": _on_fields(POPULATION, ("birth_date",), _age_at_least),
    "person.household_in": _on_fields(
        POPULATION, ("household_division",), _division_in("household_division")
    ),
    "person.insured": _on_fields(POPULATION, ("social_insurance_status",), _insured),
    "person.is_legal_representative_of": _is_legal_rep_of,
    "entity.in_operation": _on_fields(LEGAL_ENTITY, ("registration_status",), _in_operation),
    "entity.legal_representative_is": _on_fields(
        LEGAL_ENTITY, ("legal_rep_id_number",), _legal_rep_is
    ),
    "entity.registered_capital_at_least": _on_fields(
        LEGAL_ENTITY, ("registered_capital", "capital_currency"), _capital
    ),
    "entity.registered_in": _on_fields(
        LEGAL_ENTITY, ("registered_division",), _division_in("registered_division")
    ),
    "entity.established_before": _on_fields(
        LEGAL_ENTITY, ("established_date",), _established_before
    ),
    "entity.industry_is": _on_fields(LEGAL_ENTITY, ("industry",), _code_is("industry", "section")),
    "entity.legal_representative_alive": _legal_rep_alive,
    "holder.has_valid_licence": _has_valid_licence,
}


@functools.lru_cache(maxsize=65536)
def subject_kind(subject: str) -> str | None:
    """``person`` for a (normalised) resident ID number, ``entity`` for a USCC, else None."""
    from schemas import resident_id, uscc

    if resident_id.validate(subject).valid:
        return "person"
    if uscc.validate(subject).valid:
        return "entity"
    return None


def evaluate(
    facts: ClaimFacts,
    claim: ClaimType,
    typed: Mapping[str, Any],
    params: dict[str, ParamValue],
    subject: str,
    as_of: dt.date,
) -> Answer:
    """Answer one claim about ``subject`` (normalised: ``schemas.library.subject_key``) as of
    ``as_of``, from the parameters :meth:`ClaimType.parse` returned."""
    predicate = PREDICATES[claim.id]
    kind = subject_kind(subject)
    if kind is None:
        return Answer(claim.id, params, UNDETERMINED, "SUBJECT_UNKNOWN")
    if claim.subject != "holder" and kind != claim.subject:
        return Answer(claim.id, params, UNDETERMINED, "NOT_APPLICABLE")
    try:
        outcome = predicate(facts, Question(claim, typed, params, subject, as_of))
    except Undetermined as exc:
        return Answer(claim.id, params, UNDETERMINED, exc.reason, exc.runs)
    return Answer(claim.id, params, outcome.holds, None, outcome.runs)
