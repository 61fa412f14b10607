"""The claim-type catalogue (核验事项, 证明免提交): ``schemas/claims.yaml`` read as data.

A claim type is a yes/no question an approval system may ask about a person or a legal entity
instead of asking for a paper certificate: its id (``person.alive``), whose claim it is
(``person``, ``entity`` or ``holder``: either), Chinese and English titles, its parameters and
their types, the library fields it reads and the certificates (证明) it replaces.
:meth:`ClaimType.parse` checks a request's parameters against the declaration and returns them
typed and in one canonical JSON form (what answers echo and receipts seal), so ``"18"`` and
``18`` are one question. The predicates themselves live in ``sharing.claims``.

Pure: reads its own YAML file (and the code tables, divisions and licence types it names).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml

CATALOGUE_FILE = Path(__file__).with_name("claims.yaml")

ParamType = Literal[
    "int", "decimal", "date", "division", "code", "resident_id", "uscc", "licence_type"
]
PARAM_TYPES: tuple[str, ...] = (
    "int",
    "decimal",
    "date",
    "division",
    "code",
    "resident_id",
    "uscc",
    "licence_type",
)
SUBJECTS = ("person", "entity", "holder")
_ID = re.compile(r"^(person|entity|holder)\.[a-z][a-z_]{1,40}$")
_DIVISION = re.compile(r"^(\d{2}|\d{4}|\d{6})$")
MAX_INT = 10**12  # no claim asks about a larger whole number (years, counts)
MAX_DECIMAL = Decimal(10) ** 15  # amounts in yuan

# a parameter's value as answers and receipts carry it (JSON)
ParamValue = str | int


class ClaimCatalogueError(ValueError):
    """A claim type is unknown, or the catalogue file is malformed."""


class ClaimParamError(ValueError):
    """A request's parameters do not fit the claim type; ``problems`` maps parameter to reason."""

    def __init__(self, claim: str, problems: Mapping[str, str]) -> None:
        self.claim = claim
        self.problems = dict(problems)
        text = "; ".join(f"{k}: {v}" for k, v in sorted(self.problems.items()))
        super().__init__(f"claim {claim}: {text}")


@cache
def _division_prefixes() -> frozenset[str]:
    """Every 2-, 4- and 6-digit prefix of a GB/T 2260 code (read once)."""
    from schemas.divisions import division_table

    codes = division_table().codes()
    return frozenset(c[:n] for c in codes for n in (2, 4, 6))


@dataclass(frozen=True)
class Param:
    """One declared parameter of a claim type."""

    name: str
    type: str
    required: bool = True
    title_zh: str = ""
    title_en: str = ""
    table: str | None = None  # the code table of a ``code`` parameter

    def parse(self, raw: Any) -> tuple[Any, ParamValue]:
        """(typed value, canonical JSON value) of ``raw``; ValueError saying what is wrong."""
        kind = self.type
        if kind == "int":
            if isinstance(raw, bool) or not isinstance(raw, int | str):
                raise ValueError("expected a whole number")
            text = str(raw).strip()
            if not re.fullmatch(r"\d{1,13}", text) or int(text) > MAX_INT:
                raise ValueError(f"expected a whole number from 0 to {MAX_INT}")
            return int(text), int(text)
        if kind == "decimal":
            if isinstance(raw, bool) or not isinstance(raw, int | float | str):
                raise ValueError("expected an amount as a number or a decimal string")
            try:
                amount = Decimal(str(raw).strip())
            except InvalidOperation:
                raise ValueError("expected an amount such as 1000000 or 2500.50") from None
            if not amount.is_finite() or amount < 0 or amount > MAX_DECIMAL:
                raise ValueError(f"expected an amount from 0 to {MAX_DECIMAL:f}")
            text = format(amount.normalize(), "f")
            return Decimal(text), text
        if not isinstance(raw, str):
            raise ValueError("expected a string")
        text = raw.strip()
        if kind == "date":
            try:
                day = dt.date.fromisoformat(text)
            except ValueError:
                raise ValueError("expected a date YYYY-MM-DD") from None
            return day, day.isoformat()
        if kind == "division":
            if not _DIVISION.match(text):
                raise ValueError("expected a GB/T 2260 code or prefix of 2, 4 or 6 digits")
            if text not in _division_prefixes():
                raise ValueError(f"no GB/T 2260 division starts with {text}")
            return text, text
        if kind == "code":
            from schemas.library import code_table

            table = code_table(self.table or "")
            if text not in table:
                raise ValueError(f"not a code of table {self.table} ({', '.join(table)})")
            return text, text
        if kind == "resident_id":
            from schemas import resident_id
            from schemas.library import POPULATION, subject_key

            checked = resident_id.validate(subject_key(POPULATION.name, text))
            if not checked.valid or checked.normalised is None:
                raise ValueError(f"not a valid resident ID number ({checked.reason})")
            return checked.normalised, checked.normalised
        if kind == "uscc":
            from schemas import uscc

            found = uscc.validate(text)
            if not found.valid or found.normalised is None:
                raise ValueError(f"not a valid unified social credit code ({found.reason})")
            return found.normalised, found.normalised
        if kind == "licence_type":
            from schemas import licence_types

            try:
                lt = licence_types.get(text)
            except licence_types.LicenceTypeError:
                raise ValueError("not a licence type of the catalogue") from None
            return lt.code, lt.code
        raise ValueError(f"parameter type {kind!r} is not known")  # the loader refuses these


@dataclass(frozen=True)
class ClaimType:
    """One declared claim type."""

    id: str
    subject: str  # person | entity | holder
    title_zh: str
    title_en: str
    params: tuple[Param, ...]
    reads: tuple[str, ...]
    replaces: tuple[str, ...]
    example: dict[str, Any] = field(default_factory=dict)

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    def parse(self, raw: Mapping[str, Any] | None) -> tuple[dict[str, Any], dict[str, ParamValue]]:
        """(typed parameters, canonical parameters) of a request; :class:`ClaimParamError`
        naming every parameter that is unknown, missing or malformed."""
        given = dict(raw or {})
        problems: dict[str, str] = {}
        typed: dict[str, Any] = {}
        canonical: dict[str, ParamValue] = {}
        declared = {p.name for p in self.params}
        for name in sorted(set(given) - declared):
            shown = name if len(name) <= 40 and name.isprintable() else repr(name[:40])
            problems[shown] = (
                f"not a parameter of {self.id} (its parameters: {', '.join(sorted(declared))})"
                if declared
                else f"{self.id} takes no parameters"
            )
        for p in self.params:
            if p.name not in given or given[p.name] is None:
                if p.required:
                    problems[p.name] = f"required ({p.title_en or p.type})"
                continue
            try:
                typed[p.name], canonical[p.name] = p.parse(given[p.name])
            except ValueError as exc:
                problems[p.name] = str(exc)
        if problems:
            raise ClaimParamError(self.id, problems)
        return typed, canonical

    def library_fields(self, library: str) -> tuple[str, ...]:
        """The fields of ``library`` ("population", "legal-entity") the claim reads."""
        return tuple(r.split(".", 1)[1] for r in self.reads if r.split(".", 1)[0] == library)

    def to_json(self) -> dict[str, Any]:
        """The catalogue entry as ``hub claims list --json`` and the API show it."""
        return {
            "id": self.id,
            "subject": self.subject,
            "title_zh": self.title_zh,
            "title_en": self.title_en,
            "params": {
                p.name: {
                    "type": p.type,
                    "required": p.required,
                    "title_zh": p.title_zh,
                    "title_en": p.title_en,
                    **({"table": p.table} if p.table else {}),
                }
                for p in self.params
            },
            "reads": list(self.reads),
            "replaces": list(self.replaces),
            "example": dict(self.example),
        }


def _parse_param(claim: str, name: Any, spec: Any) -> Param:
    if not isinstance(spec, dict) or spec.get("type") not in PARAM_TYPES:
        raise ClaimCatalogueError(
            f"claim {claim}: parameter {name} needs a type, one of {', '.join(PARAM_TYPES)}"
        )
    table = spec.get("table")
    if spec["type"] == "code":
        from schemas.library import code_table

        if not table:
            raise ClaimCatalogueError(f"claim {claim}: code parameter {name} names no table")
        code_table(str(table))  # an unknown table fails loading, not the first request
    return Param(
        str(name),
        str(spec["type"]),
        bool(spec.get("required", True)),
        str(spec.get("title_zh", "")),
        str(spec.get("title_en", "")),
        str(table) if table else None,
    )


def _parse(entry: Any) -> ClaimType:
    if not isinstance(entry, dict):
        raise ClaimCatalogueError("every claim type is a mapping")
    cid = entry.get("id")
    if not isinstance(cid, str) or not _ID.match(cid):
        raise ClaimCatalogueError(f"claim id {cid!r} is not <person|entity|holder>.<name>")
    try:
        subject = str(entry["subject"])
        params = entry.get("params") or {}
        reads = tuple(str(r) for r in entry["reads"])
        replaces = tuple(str(r) for r in entry["replaces"])
        claim = ClaimType(
            cid,
            subject,
            str(entry["title_zh"]),
            str(entry["title_en"]),
            tuple(_parse_param(cid, n, s) for n, s in params.items()),
            reads,
            replaces,
            dict(entry.get("example") or {}),
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise ClaimCatalogueError(f"claim {cid}: missing or malformed entry {exc}") from exc
    if subject not in SUBJECTS:
        raise ClaimCatalogueError(f"claim {cid}: subject must be one of {', '.join(SUBJECTS)}")
    if not cid.startswith(subject + "."):
        raise ClaimCatalogueError(f"claim {cid}: its id must start with its subject {subject}")
    if not reads or not replaces:
        raise ClaimCatalogueError(f"claim {cid}: name the fields it reads and what it replaces")
    for read in reads:
        _check_read(cid, read)
    claim.parse(claim.example)  # the example must be a valid question
    return claim


def _check_read(claim: str, read: str) -> None:
    from schemas.library import library_schema

    store, _, name = read.partition(".")
    if store == "licences":
        return
    try:
        library_schema(store).field(name)
    except KeyError as exc:
        raise ClaimCatalogueError(f"claim {claim}: reads {read}, {exc.args[0]}") from None


def load(path: Path = CATALOGUE_FILE) -> dict[str, ClaimType]:
    """Every claim type of a catalogue file, by id, in file order."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, list):
        raise ClaimCatalogueError(f"{path.name}: expected a list of claim types")
    out: dict[str, ClaimType] = {}
    for entry in data:
        claim = _parse(entry)
        if claim.id in out:
            raise ClaimCatalogueError(f"{path.name}: claim {claim.id} is declared twice")
        out[claim.id] = claim
    return out


@cache
def catalogue() -> dict[str, ClaimType]:
    """The hub's claim types (read once)."""
    return load()


def get(claim_id: str) -> ClaimType:
    """A claim type by id; :class:`ClaimCatalogueError` naming the known ids otherwise."""
    found = catalogue().get(claim_id)
    if found is None:
        shown = claim_id if len(claim_id) <= 60 and claim_id.isprintable() else repr(claim_id[:60])
        raise ClaimCatalogueError(f"unknown claim type {shown!r}; known: {', '.join(catalogue())}")
    return found
