"""Sharing attributes of the catalogue (共享属性): 无条件共享 / 有条件共享 / 不予共享 per field.

Every field of every library schema and every column of every dataset contract has one:

* a library field takes what ``schemas/library_sharing.yaml`` declares for it, else
  有条件共享 if its ``sensitivity`` is high and 无条件共享 otherwise;
* a contract column may declare ``sharing:`` itself (a term, or a mapping with ``sharing``,
  ``purposes`` and ``legal_basis``); else it takes the sharing of the library field it feeds,
  else 无条件共享;
* a library field fed by columns that declare something stricter takes the strictest of them:
  the department delivering a field can narrow it, never widen it.

A conditional field names the purposes it may be shared for (registered purpose codes; none =
any registered purpose) and whether a request must state its legal basis. The field's owner is
the department whose contract is its authoritative source (一数一源), else the department(s)
delivering it. Pure code: YAML and dataclasses, no Arrow.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml

from schemas.library import library_schema

if TYPE_CHECKING:
    from schemas.contracts import Contract

LIBRARY_SHARING_FILE = Path(__file__).resolve().parent / "library_sharing.yaml"

Attribute = Literal["unconditional", "conditional", "none"]
ATTRIBUTE_ZH: dict[str, str] = {
    "unconditional": "无条件共享",
    "conditional": "有条件共享",
    "none": "不予共享",
}
_BY_TERM: dict[str, Attribute] = {
    "unconditional": "unconditional",
    "conditional": "conditional",
    "none": "none",
    "无条件共享": "unconditional",
    "有条件共享": "conditional",
    "不予共享": "none",
}
_STRICTNESS = {"unconditional": 0, "conditional": 1, "none": 2}
_KEYS = ("sharing", "purposes", "legal_basis")


class SharingError(ValueError):
    """A sharing declaration that cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class Sharing:
    """The sharing attribute of one field, with the conditions of a conditional one."""

    attribute: Attribute
    purposes: tuple[str, ...] = ()  # conditional: the purposes allowed (empty = any)
    legal_basis: bool = False  # conditional: a request must state its legal basis

    @property
    def zh(self) -> str:
        return ATTRIBUTE_ZH[self.attribute]

    def allows_purpose(self, purpose: str) -> bool:
        """Whether a grant for ``purpose`` may open this field (never for 不予共享)."""
        if self.attribute == "none":
            return False
        return not self.purposes or purpose in self.purposes

    def stricter(self, other: Sharing) -> Sharing:
        """The stricter of two declarations (the conditions of both for two conditional)."""
        a, b = _STRICTNESS[self.attribute], _STRICTNESS[other.attribute]
        if a != b:
            return self if a > b else other
        if self.attribute != "conditional":
            return self
        if self.purposes and other.purposes:
            purposes = tuple(p for p in self.purposes if p in other.purposes)
            if not purposes:  # no purpose both allow: nothing can be shared
                return Sharing("none")
        else:
            purposes = self.purposes or other.purposes
        return Sharing("conditional", purposes, self.legal_basis or other.legal_basis)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"attribute": self.attribute, "attribute_zh": self.zh}
        if self.attribute == "conditional":
            out["purposes"] = list(self.purposes)
            out["legal_basis_required"] = self.legal_basis
        return out


UNCONDITIONAL = Sharing("unconditional")


def parse_sharing(value: Any, where: str) -> Sharing:
    """A declaration: a term (``有条件共享`` or ``conditional``) or a mapping with ``sharing``,
    ``purposes`` and ``legal_basis``. :class:`SharingError` names ``where`` on a bad one."""
    if isinstance(value, str):
        value = {"sharing": value}
    if not isinstance(value, Mapping):
        raise SharingError(f"{where}: expected a sharing term or a mapping, got {value!r}")
    unknown = sorted(str(k) for k in value if k not in _KEYS)
    if unknown:
        raise SharingError(f"{where}: unknown key(s) {', '.join(unknown)} (known: {_KEYS})")
    term = value.get("sharing")
    attribute = _BY_TERM.get(str(term).strip()) if term is not None else None
    if attribute is None:
        raise SharingError(
            f"{where}: sharing must be one of {', '.join(ATTRIBUTE_ZH.values())} "
            f"(or {', '.join(ATTRIBUTE_ZH)}), got {term!r}"
        )
    purposes = value.get("purposes", [])
    if not isinstance(purposes, list) or not all(isinstance(p, str) and p for p in purposes):
        raise SharingError(f"{where}: purposes must be a list of purpose codes")
    basis = value.get("legal_basis", False)
    if not isinstance(basis, bool):
        raise SharingError(f"{where}: legal_basis must be true or false")
    if attribute != "conditional" and (purposes or basis):
        raise SharingError(f"{where}: only 有条件共享 fields take purposes or legal_basis")
    return Sharing(attribute, tuple(purposes), basis)


def _default(sensitivity: str) -> Sharing:
    return Sharing("conditional", (), True) if sensitivity == "high" else UNCONDITIONAL


@cache
def _declared_library(path: Path = LIBRARY_SHARING_FILE) -> dict[str, dict[str, Sharing]]:
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(raw, dict):
        raise SharingError(f"{path.name}: expected a mapping of libraries")
    out: dict[str, dict[str, Sharing]] = {}
    for library, fields in raw.items():
        try:
            schema = library_schema(str(library))
        except KeyError as exc:
            raise SharingError(f"{path.name}: {exc.args[0]}") from None
        if not isinstance(fields, dict):
            raise SharingError(f"{path.name}: {library}: expected a mapping of fields")
        for name, decl in fields.items():
            if name not in schema.field_names:
                raise SharingError(f"{path.name}: {library}.{name}: not a field of {library}")
            out.setdefault(schema.name, {})[name] = parse_sharing(
                decl, f"{path.name}: {library}.{name}"
            )
    return out


def library_sharing(library: str, contracts: Iterable[Contract] = ()) -> dict[str, Sharing]:
    """Every field of ``library`` -> its sharing: the declaration (or the sensitivity default),
    made stricter by what the ``contracts`` feeding it declare on their columns."""
    schema = library_schema(library)
    declared = _declared_library().get(schema.name, {})
    out = {f.name: declared.get(f.name) or _default(f.sensitivity) for f in schema.fields}
    for contract in contracts:
        if contract.library != schema.name:
            continue
        own = _column_declarations(contract)
        for column in contract.columns:
            if column.field in out and column.name in own:
                out[column.field] = out[column.field].stricter(own[column.name])
    return out


def contract_sharing(contract: Contract) -> dict[str, Sharing]:
    """Every column of ``contract`` -> its sharing (its own declaration, else the library
    field's, else 无条件共享)."""
    own = _column_declarations(contract)
    fields = library_sharing(contract.library)
    out: dict[str, Sharing] = {}
    for column in contract.columns:
        inherited = fields.get(column.field) if column.field else None
        if column.name in own:
            out[column.name] = (
                own[column.name] if inherited is None else inherited.stricter(own[column.name])
            )
        else:
            out[column.name] = inherited or UNCONDITIONAL
    return out


def field_owners(library: str, contracts: Iterable[Contract]) -> dict[str, str]:
    """Library field -> the department that owns it: the authoritative source's, else the
    first (by dataset id) department delivering it. A field nobody delivers has no owner."""
    out: dict[str, str] = {}
    delivered: dict[str, str] = {}
    for contract in sorted(contracts, key=lambda c: c.dataset_id):
        if contract.library != library:
            continue
        for name in contract.authoritative_for:
            out.setdefault(name, contract.department)
        for column in contract.columns:
            if column.field:
                delivered.setdefault(column.field, contract.department)
    return {**delivered, **out}


@cache
def _declarations_of(source: str) -> dict[str, Sharing]:
    path = Path(source)
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    columns = raw.get("columns") if isinstance(raw, dict) else None
    out: dict[str, Sharing] = {}
    for column in columns if isinstance(columns, list) else []:
        if isinstance(column, dict) and "sharing" in column:
            name = str(column.get("name"))
            out[name] = parse_sharing(column["sharing"], f"{path.name}: columns.{name}.sharing")
    return out


def _column_declarations(contract: Contract) -> dict[str, Sharing]:
    return _declarations_of(contract.source) if contract.source else {}
