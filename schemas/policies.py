"""Eligibility policies (免申即享) as data: who a benefit is for, the form it generates, and the
department that owns it. Pure.

A policy (``schemas/policies/*.yaml``) names its ``form`` (:mod:`schemas.forms`; the applicant
kind and library follow from it), its ``period`` (``month``, ``year`` or ``once``: at most one
application per person per period) and its ``rule``, a list of conditions that must all hold,
judged on the first day of the period. A condition is one of:

``{field: F, age_at_least: N}`` / ``{field: F, age_below: N}``
    a date field (a birth date) at least / less than N whole years before that day;
``{field: F, prefix: "3404"}``, ``{field: F, equals: [v, ...]}``, ``{field: F, matches: RE}``
    the stored text starts with the prefix, is one of the values, matches the expression;
``{field: F, range: {min: a, max: b}}``
    a number between the bounds (either may be left out);
``{field: F, present: true}``
    the library holds a value;
``{licence: <type code>}``
    the subject holds a valid licence of the type.

``not: true`` on a field condition inverts it: the condition holds unless the library holds a
value that passes it (``{field: deceased, equals: ["1"], not: true}``: not recorded as dead).
The conditions run as the quality engine's rules (:func:`quality.engine.passes`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

POLICIES_DIR = Path(__file__).with_name("policies")
PERIODS = ("month", "year", "once")
TESTS = ("age_at_least", "age_below", "prefix", "equals", "matches", "range", "present")
_ID = re.compile(r"^[a-z][a-z0-9-]{1,40}$")


class PolicyError(ValueError):
    """A policy is unknown, or a policy file is malformed."""


@dataclass(frozen=True)
class Condition:
    """One condition of a policy's rule."""

    test: str  # one of TESTS, or "licence"
    field: str | None  # the library field (None for a licence condition)
    value: Any  # the test's argument (years, prefix, values, pattern, bounds, licence type)
    negate: bool = False

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {self.test: self.value}
        if self.field is not None:
            out = {"field": self.field, **out}
        if self.negate:
            out["not"] = True
        return out


@dataclass(frozen=True)
class Policy:
    id: str
    title_zh: str
    title_en: str
    department: str
    form: str
    period: str
    rule: tuple[Condition, ...]

    @property
    def library(self) -> str:
        from schemas import forms

        return forms.get(self.form).library

    def fields(self) -> tuple[str, ...]:
        """The library fields the rule reads, in order, each once."""
        return tuple(dict.fromkeys(c.field for c in self.rule if c.field is not None))

    def licence_types(self) -> tuple[str, ...]:
        return tuple(str(c.value) for c in self.rule if c.test == "licence")

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title_zh": self.title_zh,
            "title_en": self.title_en,
            "department": self.department,
            "form": self.form,
            "period": self.period,
            "rule": [c.to_json() for c in self.rule],
        }


def _condition(pid: str, library: str, entry: Any) -> Condition:
    from schemas import licence_types
    from schemas.library import library_schema

    if not isinstance(entry, dict):
        raise PolicyError(f"policy {pid}: every condition is a mapping")
    if "licence" in entry:
        code = str(entry["licence"])
        if code not in licence_types.shipped():
            raise PolicyError(f"policy {pid}: no licence type {code!r}")
        if set(entry) != {"licence"}:
            raise PolicyError(f"policy {pid}: a licence condition takes nothing else")
        return Condition("licence", None, code)
    name = entry.get("field")
    try:
        spec = library_schema(library).field(str(name))
    except KeyError as exc:
        raise PolicyError(f"policy {pid}: {exc.args[0]}") from None
    tests = [t for t in TESTS if t in entry]
    extra = set(entry) - {"field", "not", *TESTS}
    if len(tests) != 1 or extra:
        raise PolicyError(
            f"policy {pid}: condition on {name} must name exactly one of {', '.join(TESTS)}"
            + (f" (unknown: {', '.join(sorted(extra))})" if extra else "")
        )
    test, value = tests[0], entry[tests[0]]
    where = f"policy {pid}: {name} {test}"
    if test in ("age_at_least", "age_below"):
        if spec.type != "date" or isinstance(value, bool) or not isinstance(value, int):
            raise PolicyError(f"{where}: needs a date field and a whole number of years")
    elif test in ("prefix", "matches"):
        if not isinstance(value, str) or not value:
            raise PolicyError(f"{where}: needs a text")
        if test == "matches":
            try:
                re.compile(value)
            except re.error as exc:
                raise PolicyError(f"{where}: not a regular expression ({exc})") from None
    elif test == "equals":
        if not isinstance(value, list) or not value:
            raise PolicyError(f"{where}: needs a list of values")
        value = [str(v) for v in value]
    elif test == "range":
        if not isinstance(value, dict) or not set(value) <= {"min", "max"} or not value:
            raise PolicyError(f"{where}: needs {{min, max}}")
    elif value is not True:
        raise PolicyError(f"{where}: present must be true")
    negate = entry.get("not", False)
    if not isinstance(negate, bool):
        raise PolicyError(f"policy {pid}: not must be true or false")
    return Condition(test, str(name), value, negate)


def parse(data: Any, source: str = "<policy>") -> Policy:
    """A policy from its parsed YAML; :class:`PolicyError` saying what is wrong."""
    from schemas import forms

    if not isinstance(data, dict):
        raise PolicyError(f"{source}: expected a mapping")
    pid = data.get("id")
    if not isinstance(pid, str) or not _ID.match(pid):
        raise PolicyError(f"{source}: policy id {pid!r} is not lower-case-with-dashes")
    try:
        form = forms.get(str(data.get("form")))
    except forms.FormError as exc:
        raise PolicyError(f"policy {pid}: {exc}") from None
    period = data.get("period")
    if period not in PERIODS:
        raise PolicyError(f"policy {pid}: period must be one of {', '.join(PERIODS)}")
    entries = data.get("rule")
    if not isinstance(entries, list) or not entries:
        raise PolicyError(f"policy {pid}: rule must be a non-empty list of conditions")
    rule = tuple(_condition(pid, form.library, e) for e in entries)
    for name in ("title_zh", "title_en", "department"):
        if not isinstance(data.get(name), str) or not data[name]:
            raise PolicyError(f"policy {pid}: {name} is required")
    return Policy(
        pid, data["title_zh"], data["title_en"], data["department"], form.id, str(period), rule
    )


def load(folder: Path = POLICIES_DIR) -> dict[str, Policy]:
    """Every policy of a folder, by id, in file-name order."""
    out: dict[str, Policy] = {}
    for path in sorted(folder.glob("*.yaml")):
        policy = parse(yaml.safe_load(path.read_text(encoding="utf-8")), path.name)
        if policy.id in out:
            raise PolicyError(f"{path.name}: policy {policy.id} is declared twice")
        out[policy.id] = policy
    return out


@cache
def catalogue() -> dict[str, Policy]:
    """The hub's policies (read once)."""
    return load()


def get(policy_id: str) -> Policy:
    """A policy by id; :class:`PolicyError` naming the known ones otherwise."""
    found = catalogue().get(policy_id)
    if found is None:
        shown = policy_id if len(policy_id) <= 60 and policy_id.isprintable() else "?"
        raise PolicyError(f"unknown policy {shown!r}; known: {', '.join(catalogue())}")
    return found
