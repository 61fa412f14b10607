"""Builders of small, fully valid population files that tests then dirty one cell at a time."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pyarrow as pa
import pytest

from schemas import resident_id, uscc
from schemas.contracts import Contract, load_contracts

AS_OF = dt.date(2025, 6, 30)


def make_id(birth: str = "19800101", seq: str = "123", division: str = "110105") -> str:
    """A resident ID with a correct check character (seq odd = male, even = female)."""
    body = division + birth + seq
    return body + resident_id.check_character(body)


def make_uscc(org8: str = "MA01ABCD", prefix: str = "91110105") -> str:
    """A USCC whose organisation-code check and final check character are both right."""
    body = prefix + org8 + uscc.org_code_check(org8)
    return body + uscc.check_character(body)


def person(i: int) -> dict[str, str | None]:
    """A valid household-registration row, distinct for each ``i``."""
    seq = f"{(2 * i + 1) % 1000:03d}"
    birth = dt.date(1950, 1, 1) + dt.timedelta(days=37 * i)
    return {
        "id_number": make_id(birth.strftime("%Y%m%d"), seq),
        "name": f"测试{i}",
        "sex": "1",
        "ethnic_group": "01",
        "birth_date": birth.isoformat(),
        "household_division": "110105",
        "household_address": "北京市朝阳区某街道",
        "mobile": "13800138000",
        "marital_status": "20",
        "education": "20",
        "family_size": "3",
        "updated_on": "2025-06-01",
    }


@pytest.fixture(scope="session")
def contracts() -> dict[str, Contract]:
    return load_contracts()


@pytest.fixture
def population_rows() -> Callable[[int], list[dict[str, str | None]]]:
    return lambda n: [person(i) for i in range(n)]


def to_table(rows: list[dict[str, str | None]]) -> pa.Table:
    return pa.Table.from_pylist(rows)
