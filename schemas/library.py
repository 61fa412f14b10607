"""Library schemas of the hub: the population and legal-entity base data elements (standards §7).

A library schema lists the fields a golden record holds, each with its type, the code table its
values must come from, and whether it is personal information (and how sensitive). Code tables
are data files under ``schemas/code_tables/`` (``code,label_zh`` CSV) read by :func:`code_table`.
"""

from __future__ import annotations

import contextlib
import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

CODE_TABLES_DIR = Path(__file__).resolve().parent / "code_tables"

FieldType = Literal["string", "int", "decimal", "date", "datetime", "bool"]
Sensitivity = Literal["none", "low", "high"]


class UnknownCodeTableError(KeyError):
    """A code table name that has no file under ``schemas/code_tables/``."""


@dataclass(frozen=True)
class Field:
    """One field of a library record."""

    name: str
    label_zh: str
    type: FieldType
    code_table: str | None = None
    personal: bool = False
    sensitivity: Sensitivity = "none"


@dataclass(frozen=True)
class LibrarySchema:
    """The fields of one subject library and the field that identifies a subject."""

    name: str
    key_field: str
    fields: tuple[Field, ...]

    def field(self, name: str) -> Field:
        """The field called ``name``; KeyError naming the library if there is none."""
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"library {self.name!r} has no field {name!r}")

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)


@cache
def code_table(name: str) -> dict[str, str]:
    """Codes of the table ``name`` mapped to their Chinese labels (read once, cached)."""
    path = CODE_TABLES_DIR / f"{name}.csv"
    if not path.is_file():
        known = ", ".join(code_table_names())
        raise UnknownCodeTableError(f"no code table {name!r} (known: {known})")
    with path.open(encoding="utf-8", newline="") as fh:
        return {row["code"]: row["label_zh"] for row in csv.DictReader(fh)}


def code_table_names() -> tuple[str, ...]:
    """Names of every code table shipped with the hub."""
    return tuple(sorted(p.stem for p in CODE_TABLES_DIR.glob("*.csv")))


POPULATION = LibrarySchema(
    name="population",
    key_field="id_number",
    fields=(
        Field("id_number", "公民身份号码", "string", personal=True, sensitivity="high"),
        Field("name", "姓名", "string", personal=True, sensitivity="low"),
        Field("sex", "性别代码", "string", "sex", personal=True, sensitivity="low"),
        Field("ethnic_group", "民族", "string", "ethnic_group", personal=True, sensitivity="high"),
        Field("birth_date", "出生日期", "date", personal=True, sensitivity="low"),
        Field("id_document_type", "证件类型", "string", "id_document_type"),
        Field("mobile", "移动电话", "string", personal=True, sensitivity="high"),
        Field("real_name_verified", "是否实名认证", "bool", personal=True, sensitivity="low"),
        Field(
            "residence_address", "常住户口所在地住址", "string", personal=True, sensitivity="high"
        ),
        Field("household_address", "户籍地址", "string", personal=True, sensitivity="high"),
        Field(
            "household_division", "户籍地行政区划代码", "string", personal=True, sensitivity="low"
        ),
        Field("contact_address", "联系地址", "string", personal=True, sensitivity="high"),
        Field("marital_status", "婚姻状况", "string", "marital_status", True, "high"),
        Field("education", "学历", "string", "education", personal=True, sensitivity="low"),
        Field(
            "social_insurance_status",
            "社保参保状态",
            "string",
            "social_insurance_status",
            personal=True,
            sensitivity="high",
        ),
        Field("deceased", "死亡标识", "bool", personal=True, sensitivity="high"),
        Field("death_date", "死亡日期", "date", personal=True, sensitivity="high"),
    ),
)

LEGAL_ENTITY = LibrarySchema(
    name="legal-entity",
    key_field="uscc",
    fields=(
        Field("uscc", "统一社会信用代码", "string"),
        Field("entity_name", "机构名称", "string"),
        Field("entity_type", "机构类型", "string"),
        Field("legal_rep_name", "法定代表人姓名", "string", personal=True, sensitivity="low"),
        Field("legal_rep_id_number", "法定代表人公民身份号码", "string", None, True, "high"),
        Field("registered_capital", "注册资本", "decimal"),
        Field("capital_currency", "注册资本币种", "string", "currency"),
        Field("established_date", "成立日期", "date"),
        Field("registered_address", "注册地址", "string"),
        Field("registered_division", "注册地行政区划代码", "string"),
        Field("business_scope", "经营范围", "string"),
        Field("registration_authority", "登记机关", "string"),
        Field("registration_status", "登记状态", "string", "entity_status"),
        Field("industry", "行业门类", "string", "industry_section"),
    ),
)

_LIBRARIES = {s.name: s for s in (POPULATION, LEGAL_ENTITY)}


def library_schema(name: str) -> LibrarySchema:
    """The library schema called ``name`` ("population" or "legal-entity")."""
    try:
        return _LIBRARIES[name]
    except KeyError:
        raise KeyError(f"no library {name!r} (known: {', '.join(sorted(_LIBRARIES))})") from None


def subject_key(library: str, raw: str) -> str:
    """A subject's key as the library stores it, from a file's or a request's text: trimmed,
    upper case, full-width forms in ASCII, and a 15-digit resident ID upgraded to 18. A
    15-digit number with sequence 996-999 (perhaps born in the 1800s) is not upgraded: the
    check step quarantines it for review (``LEGACY_REVIEW``), so a request for it finds
    nothing instead of failing."""
    from schemas import identifiers, resident_id  # numpy and Arrow: only when needed

    value = raw.strip().upper()
    if not value.isascii():
        value = identifiers.normalise_code(value)
    if library == POPULATION.name and len(value) == 15 and value.isdigit():
        with contextlib.suppress(ValueError):
            value = resident_id.upgrade_15(value)
    return value
