"""The licence-type catalogue: YAML files in ``schemas/licence_types/`` and field checks.

Each type has its GB/T 36904 type code (defining authority USCC + 3 digits), the holder kind
(``entity`` held by USCC, ``person`` by resident ID), the kinds of authority allowed to issue it,
its validity rule and its fields (Chinese and English names, type, required, constraints, and
``library``: the library field bulk issuance takes the value from).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

CATALOGUE_DIR = Path(__file__).with_name("licence_types")
FIELD_TYPES = ("string", "date", "enum", "integer")
HOLDER_KINDS = ("entity", "person")


class LicenceTypeError(ValueError):
    """A licence type is unknown or its YAML is malformed."""


class FieldError(ValueError):
    """Licence fields do not satisfy the type; ``problems`` lists field -> reason."""

    def __init__(self, problems: dict[str, str]) -> None:
        self.problems = problems
        text = "; ".join(f"{k}: {v}" for k, v in sorted(problems.items()))
        super().__init__(f"invalid licence fields: {text}")


@dataclass(frozen=True)
class FieldSpec:
    key: str
    name: str
    name_en: str
    type: str
    required: bool
    max_length: int | None = None
    pattern: str | None = None
    values: tuple[str, ...] = ()
    library: str | None = None  # the library field it is taken from in bulk issuance

    def check(self, value: str) -> str | None:
        """Reason the value is invalid, or None."""
        if self.type == "date":
            try:
                dt.date.fromisoformat(value)
            except ValueError:
                return f"expected a date YYYY-MM-DD, got {value!r}"
        elif self.type == "integer" and not re.fullmatch(r"-?\d+", value):
            return f"expected an integer, got {value!r}"
        elif self.type == "enum" and value not in self.values:
            return f"must be one of {', '.join(self.values)}"
        if self.max_length is not None and len(value) > self.max_length:
            return f"longer than {self.max_length} characters"
        if self.pattern is not None and not re.fullmatch(self.pattern, value):
            return f"does not match the pattern {self.pattern}"
        return None


@dataclass(frozen=True)
class LicenceType:
    code: str
    name: str
    name_en: str
    defined_by: str
    holder_kind: str
    issuer_kinds: tuple[str, ...]
    long_term_allowed: bool
    default_years: int | None
    fields: tuple[FieldSpec, ...]

    def field(self, key: str) -> FieldSpec:
        for spec in self.fields:
            if spec.key == key:
                return spec
        raise KeyError(key)

    def check_fields(self, values: dict[str, str]) -> dict[str, str]:
        """The values normalised (stripped); raises FieldError listing every problem."""
        problems: dict[str, str] = {}
        known = {f.key for f in self.fields}
        for key in sorted(set(values) - known):
            problems[key] = f"not a field of {self.name} ({self.name_en})"
        out: dict[str, str] = {}
        for spec in self.fields:
            raw = values.get(spec.key)
            value = raw.strip() if raw is not None else ""
            if not value:
                if spec.required:
                    problems[spec.key] = f"required field {spec.name} ({spec.name_en}) is missing"
                continue
            reason = spec.check(value)
            if reason:
                problems[spec.key] = reason
            out[spec.key] = value
        if problems:
            raise FieldError(problems)
        return out


def _parse(path: Path) -> LicenceType:
    data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    try:
        fields = tuple(
            FieldSpec(
                key=str(f["key"]),
                name=str(f["name"]),
                name_en=str(f["name_en"]),
                type=str(f["type"]),
                required=bool(f.get("required", False)),
                max_length=f.get("max_length"),
                pattern=f.get("pattern"),
                values=tuple(str(v) for v in f.get("values", ())),
                library=str(f["library"]) if f.get("library") else None,
            )
            for f in data["fields"]
        )
        lt = LicenceType(
            code=str(data["code"]),
            name=str(data["name"]),
            name_en=str(data["name_en"]),
            defined_by=str(data["defined_by"]),
            holder_kind=str(data["holder_kind"]),
            issuer_kinds=tuple(str(k) for k in data["issuer_kinds"]),
            long_term_allowed=bool(data["validity"]["long_term_allowed"]),
            default_years=data["validity"].get("default_years"),
            fields=fields,
        )
    except (KeyError, TypeError) as exc:
        raise LicenceTypeError(f"{path.name}: missing or malformed entry {exc}") from exc
    if not re.fullmatch(r"[0-9A-Z]{18}\d{3}", lt.code) or not lt.code.startswith(lt.defined_by):
        raise LicenceTypeError(f"{path.name}: type code must be the defining USCC + 3 digits")
    if lt.holder_kind not in HOLDER_KINDS:
        raise LicenceTypeError(f"{path.name}: holder_kind must be one of {HOLDER_KINDS}")
    for f in lt.fields:
        if f.type not in FIELD_TYPES:
            raise LicenceTypeError(f"{path.name}: field {f.key} has unknown type {f.type}")
    return lt


@cache
def catalogue(folder: Path = CATALOGUE_DIR) -> dict[str, LicenceType]:
    """All licence types, keyed by type code (also reachable by file stem through ``get``)."""
    types: dict[str, LicenceType] = {}
    for path in sorted(folder.glob("*.yaml")):
        lt = _parse(path)
        types[lt.code] = lt
        types[path.stem] = lt
    return types


def get(name_or_code: str, folder: Path = CATALOGUE_DIR) -> LicenceType:
    """A licence type by type code, file stem (e.g. ``business_licence``) or Chinese name."""
    types = catalogue(folder)
    if name_or_code in types:
        return types[name_or_code]
    for lt in types.values():
        if lt.name == name_or_code:
            return lt
    known = sorted({k for k in types if not k[0].isdigit()})
    raise LicenceTypeError(f"unknown licence type {name_or_code!r}; known: {', '.join(known)}")
