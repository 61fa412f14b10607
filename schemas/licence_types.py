"""The licence-type catalogue: YAML files in ``schemas/licence_types/`` and field checks.

Each type has its GB/T 36904 type code (defining authority USCC + 3 digits), the holder kind
(``entity`` held by USCC, ``person`` by resident ID), the kinds of authority allowed to issue it,
its validity rule, its fields (Chinese and English names, type, required, constraints, and
``library``: the library field bulk issuance takes the value from) and its governance policy
(``governance: {auto_suspend: [...]}``: the findings that suspend a licence automatically).
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import yaml

from schemas import uscc

CATALOGUE_DIR = Path(__file__).with_name("licence_types")
FIELD_TYPES = ("string", "date", "enum", "integer")
# what governance may suspend a licence of a type for automatically (``governance:
# {auto_suspend: [...]}``; every other finding is only flagged to the authority)
SUSPENDABLE = ("HOLDER_DIED", "ENTITY_NOT_OPERATING", "NAME_CHANGED", "LEGAL_REP_CHANGED")
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
    auto_suspend: tuple[str, ...] = ()  # governance findings that suspend a licence at once

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
    return parse_text(path.read_text(encoding="utf-8"), path.name)


def parse_text(text: str, source: str) -> LicenceType:
    """A licence type from its YAML text (``source`` names it in errors); LicenceTypeError
    says what is wrong. Memoised by the exact text: the hub's registry is read again every
    :data:`REFRESH_SECONDS`, and parsing its YAML each time took a request ~0.2 s."""
    return _parse_text(text, source)


@lru_cache(maxsize=512)
def _parse_text(text: str, source: str) -> LicenceType:
    try:
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise LicenceTypeError(f"{source}: not YAML ({exc})") from None
    path = Path(source)
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
            auto_suspend=tuple(
                str(k) for k in (data.get("governance") or {}).get("auto_suspend") or ()
            ),
        )
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise LicenceTypeError(f"{path.name}: missing or malformed entry {exc}") from exc
    if not re.fullmatch(r"[0-9A-Z]{18}\d{3}", lt.code) or not lt.code.startswith(lt.defined_by):
        raise LicenceTypeError(f"{path.name}: type code must be the defining USCC + 3 digits")
    if lt.holder_kind not in HOLDER_KINDS:
        raise LicenceTypeError(f"{path.name}: holder_kind must be one of {HOLDER_KINDS}")
    for kind in lt.auto_suspend:
        if kind not in SUSPENDABLE:
            raise LicenceTypeError(
                f"{path.name}: governance.auto_suspend {kind!r}: one of {', '.join(SUSPENDABLE)}"
            )
    if not uscc.validate(lt.defined_by).valid:
        raise LicenceTypeError(f"{path.name}: defined_by {lt.defined_by} is not a valid USCC")
    if not lt.fields or len({f.key for f in lt.fields}) != len(lt.fields):
        raise LicenceTypeError(f"{path.name}: fields must be given, each key once")
    for f in lt.fields:
        if f.type not in FIELD_TYPES:
            raise LicenceTypeError(f"{path.name}: field {f.key} has unknown type {f.type}")
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,63}", f.key):
            raise LicenceTypeError(f"{path.name}: field key {f.key!r}: lower case, digits, _")
        if f.pattern is not None:
            try:
                re.compile(f.pattern)
            except re.error as exc:
                raise LicenceTypeError(f"{path.name}: field {f.key}: bad pattern ({exc})") from None
        if f.type == "enum" and not f.values:
            raise LicenceTypeError(f"{path.name}: enum field {f.key} lists no values")
    return lt


@cache
def shipped(folder: Path = CATALOGUE_DIR) -> dict[str, LicenceType]:
    """The licence types of the YAML files in ``folder`` (what seeds a new hub), keyed by type
    code and by file stem."""
    types: dict[str, LicenceType] = {}
    for path in sorted(folder.glob("*.yaml")):
        lt = _parse(path)
        types[lt.code] = lt
        types[path.stem] = lt
    return types


@dataclass(frozen=True)
class Version:
    """One version of a licence type in a hub's registry: in force from ``since`` (naive UTC)."""

    stem: str
    since: dt.datetime
    lt: LicenceType


# the hub's registry (``licence.store`` installs a loader reading the SQL store): versions of
# every type by code, oldest first, read again at most every REFRESH_SECONDS
REFRESH_SECONDS = 5.0
_registry: dict[str, Any] = {"loader": None, "at": 0.0, "versions": {}, "current": None}
_lock = threading.Lock()


def use_registry(loader: Callable[[], dict[str, list[Version]]] | None) -> None:
    """Read licence types from ``loader`` (versions by type code) instead of the YAML files
    (None: back to the YAML files)."""
    with _lock:
        _registry.update(loader=loader, at=0.0, versions={}, current=None)


def _live() -> dict[str, LicenceType] | None:
    loader = _registry["loader"]
    if loader is None:
        return None
    now = time.monotonic()
    if _registry["current"] is None or now - _registry["at"] > REFRESH_SECONDS:
        with _lock:
            if _registry["current"] is None or now - _registry["at"] > REFRESH_SECONDS:
                versions = loader()
                current: dict[str, LicenceType] = {}
                for code, vs in versions.items():
                    current[code] = vs[-1].lt
                    current[vs[-1].stem] = vs[-1].lt
                _registry.update(at=now, versions=versions, current=current)
    found: dict[str, LicenceType] = _registry["current"]
    return found


def refresh() -> None:
    """Read the registry again at the next look-up (after this process changed it)."""
    with _lock:
        _registry["at"] = 0.0
        _registry["current"] = None


def catalogue(folder: Path | None = None) -> dict[str, LicenceType]:
    """All licence types, keyed by type code and by catalogue name (file stem): the hub's
    registry when one is in use, else the YAML files (of ``folder`` when given)."""
    if folder is None:
        live = _live()
        if live is not None:
            return live
    return shipped(folder or CATALOGUE_DIR)


def at(code: str, when: dt.datetime | dt.date) -> LicenceType:
    """The version of type ``code`` in force at ``when`` (a licence's issue time): what its
    PDF is drawn with, so a later change of the type never alters a licence already issued."""
    current = get(code)
    versions: list[Version] = _registry["versions"].get(current.code, [])
    moment = when if isinstance(when, dt.datetime) else dt.datetime.combine(when, dt.time.max)
    moment = moment.replace(tzinfo=None)
    found = current
    for v in versions:
        if v.since <= moment:
            found = v.lt
    return found if versions else current


def get(name_or_code: str, folder: Path | None = None) -> LicenceType:
    """A licence type by type code, catalogue name (e.g. ``business_licence``) or Chinese name."""
    types = catalogue(folder)
    if name_or_code in types:
        return types[name_or_code]
    for lt in types.values():
        if lt.name == name_or_code:
            return lt
    known = sorted({k for k in types if not k[0].isdigit()})
    raise LicenceTypeError(f"unknown licence type {name_or_code!r}; known: {', '.join(known)}")
