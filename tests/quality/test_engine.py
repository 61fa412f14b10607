"""Each rule of the fast path: a clean file passes, one dirty cell gives exactly its reason code."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quality.engine import check_table
from schemas.contracts import Contract
from tests.quality.conftest import AS_OF, make_id, make_uscc, person, to_table


def _check(contract: Contract, rows: list[dict[str, Any]], **kw: Any):  # type: ignore[no-untyped-def]
    return check_table(to_table(rows), contract, as_of=AS_OF, **kw)


def test_clean_file_is_all_accepted(contracts: dict[str, Contract]) -> None:
    result = _check(contracts["ps_household"], [person(i) for i in range(20)])
    assert result.rows_in == 20 and result.rows_accepted == 20 and result.rows_quarantined == 0
    assert result.reasons.to_pylist() == [[]] * 20
    assert all(v == 1.0 for v in result.metrics.values())
    accepted = result.accepted()
    assert accepted.schema == contracts["ps_household"].arrow_schema()
    assert accepted.column("birth_date")[0].as_py() == dt.date(1950, 1, 1)
    assert accepted.column("family_size")[0].as_py() == 3


BAD_ID = make_id()[:-1] + ("0" if make_id()[-1] != "0" else "1")

CASES = [
    ("id_number", None, "id_number:REQUIRED"),
    ("id_number", "   ", "id_number:REQUIRED"),
    ("id_number", BAD_ID, "id_number:CHECKSUM"),
    ("id_number", "11010519800101123", "id_number:FORMAT"),
    ("id_number", make_id("19800230"), "id_number:BIRTH_DATE"),
    ("name", "张" * 51, "name:MAX_LENGTH"),
    ("sex", "3", "sex:CODE_TABLE"),
    ("sex", "2", "sex:ID_MISMATCH"),
    ("ethnic_group", "57", "ethnic_group:CODE_TABLE"),
    ("birth_date", "1980-02-30", "birth_date:TYPE"),
    ("birth_date", "not a date", "birth_date:TYPE"),
    ("birth_date", "1889-12-31", "birth_date:DATE"),
    ("household_division", "11010", "household_division:REGEX"),
    ("household_division", "119999", "household_division:DIVISION"),
    ("household_division", "341400", "household_division:DIVISION_AT"),  # abolished 2011
    ("mobile", "12345678901", "mobile:REGEX"),
    ("marital_status", "99", "marital_status:CODE_TABLE"),
    ("education", "55", "education:CODE_TABLE"),
    ("family_size", "3.5", "family_size:TYPE"),
    ("family_size", "0", "family_size:RANGE"),
    ("family_size", "31", "family_size:RANGE"),
    ("updated_on", "2025-07-01", "updated_on:DATE"),
]


@pytest.mark.parametrize(("column", "value", "reason"), CASES)
def test_one_dirty_cell_gives_its_reason(
    contracts: dict[str, Contract], column: str, value: str | None, reason: str
) -> None:
    rows = [person(i) for i in range(5)]
    rows[2][column] = value
    if column == "id_number" and reason == "id_number:BIRTH_DATE":
        rows[2]["birth_date"] = None  # keep the row's own birth date out of the picture
    result = _check(contracts["ps_household"], rows)
    reasons = result.reasons.to_pylist()
    assert reason in reasons[2]
    assert [r for i, r in enumerate(reasons) if i != 2] == [[]] * 4
    assert result.rows_accepted == 4
    quarantined = result.quarantined()
    assert quarantined.column("_row").to_pylist() == [2]
    assert reason in quarantined.column("_reasons")[0].as_py()


def test_birth_date_must_agree_with_id(contracts: dict[str, Contract]) -> None:
    rows = [person(i) for i in range(3)]
    rows[1]["birth_date"] = "1950-01-02"
    result = _check(contracts["ps_household"], rows)
    assert result.reasons.to_pylist()[1] == ["birth_date:ID_MISMATCH"]
    assert result.metrics["consistency"] == pytest.approx(2 / 3)


def test_optional_blank_is_fine_but_required_blank_is_not(contracts: dict[str, Contract]) -> None:
    rows = [person(i) for i in range(2)]
    rows[0]["mobile"] = ""
    rows[1]["name"] = ""
    result = _check(contracts["ps_household"], rows)
    assert result.reasons.to_pylist() == [[], ["name:REQUIRED"]]
    assert result.metrics["completeness"] == 0.5


def test_duplicate_rows_and_keys(contracts: dict[str, Contract]) -> None:
    rows = [person(i) for i in range(4)]
    rows.append(dict(rows[0]))  # exact copy
    changed = dict(rows[1])
    changed["name"] = "另一人"
    rows.append(changed)  # same key, different content
    result = _check(contracts["ps_household"], rows)
    reasons = result.reasons.to_pylist()
    both = ["_row:DUPLICATE_ROW", "id_number:DUPLICATE_KEY"]
    assert sorted(reasons[0]) == both == sorted(reasons[4])
    assert reasons[1] == ["id_number:DUPLICATE_KEY"] == reasons[5]
    assert reasons[2] == [] == reasons[3]
    assert result.metrics["uniqueness"] == pytest.approx(2 / 6)


def test_missing_required_column_fails_every_row(contracts: dict[str, Contract]) -> None:
    table = to_table([person(i) for i in range(3)]).drop_columns(["name"])
    result = check_table(table, contracts["ps_household"], as_of=AS_OF)
    assert all("name:MISSING_COLUMN" in r for r in result.reasons.to_pylist())
    assert result.metrics["completeness"] == 0.0


def test_typed_input_is_checked_without_parsing(contracts: dict[str, Contract]) -> None:
    table = to_table([person(i) for i in range(3)])
    table = table.set_column(
        table.schema.get_field_index("family_size"), "family_size", pa.array([3, 50, None])
    )
    result = check_table(table, contracts["ps_household"], as_of=AS_OF)
    assert result.reasons.to_pylist() == [[], ["family_size:RANGE"], []]


def test_timeliness_against_cadence(contracts: dict[str, Contract]) -> None:
    rows = [person(i) for i in range(3)]  # newest record: 2025-06-01, cadence 1 day
    on_time = _check(contracts["ps_household"], rows, received_at=dt.datetime(2025, 6, 2, 8))
    late = _check(contracts["ps_household"], rows, received_at=dt.datetime(2025, 6, 5))
    assert on_time.metrics["timeliness"] == 1.0
    assert late.metrics["timeliness"] == pytest.approx(1 / 4)
    assert "timeliness" not in _check(contracts["ps_household"], rows).metrics


def test_division_valid_at_the_time(contracts: dict[str, Contract]) -> None:
    # 340102 was 东市区 until 2001 and 瑶海区 from 2002; 341400 (巢湖市) existed 1999-2011;
    # 340422 (寿县) is under Huainan only from 2015
    cases = [
        ("340102", "1995-06-01", []),
        ("340102", "2024-06-01", []),
        ("341400", "2005-03-01", []),
        ("341400", "2012-01-01", ["household_division:DIVISION_AT"]),
        ("340422", "2014-12-31", ["household_division:DIVISION_AT"]),
        ("340422", "2015-01-01", []),
        ("119999", "2024-06-01", ["household_division:DIVISION", "household_division:DIVISION_AT"]),
    ]
    rows = [person(i) for i in range(len(cases) + 1)]
    for row, (code, day, _) in zip(rows, cases, strict=False):
        row["household_division"] = code
        row["updated_on"] = day
    rows[-1]["updated_on"] = "not a day"  # no date to judge by: only DIVISION would apply
    rows[-1]["household_division"] = "341400"
    result = _check(contracts["ps_household"], rows)
    got = [sorted(r) for r in result.reasons.to_pylist()]
    assert got[:-1] == [sorted(expected) for _, _, expected in cases]
    assert got[-1] == ["updated_on:TYPE"]


def test_division_in_force_matches_the_table_everywhere() -> None:
    """The vectorised period lookup agrees with ``DivisionTable.valid_in`` on every code."""
    import numpy as np

    from quality.engine import divisions_in_force
    from schemas.divisions import division_table

    table = division_table()
    codes = table.codes()
    for year in (1980, 1999, 2002, 2011, 2012, 2015, 2024):
        got = divisions_in_force(np.array([int(c) for c in codes]), np.full(len(codes), year))
        assert got.tolist() == [table.valid_in(c, year) for c in codes], year
    assert not divisions_in_force(np.array([-1, 999999]), np.array([2024, 2024])).any()


def test_division_at_needs_a_date_column(tmp_path: Any) -> None:
    from schemas.contracts import ContractError, load_contract

    text = (
        "dataset_id: t\ntitle: t\ndepartment: d\nlibrary: population\nformat: csv\n"
        "key: [id]\nsubject_column: id\ncadence_days: 1\ncolumns:\n"
        "  - {name: id}\n  - {name: div, rules: [{division_at: seen}]}\n"
        "  - {name: seen}\n"
    )
    path = tmp_path / "t.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ContractError, match="division_at needs a date column"):
        load_contract(path)


def test_entity_contract_uscc_rules(contracts: dict[str, Contract]) -> None:
    good = {
        "uscc": make_uscc(),
        "entity_name": "某某科技有限公司",
        "legal_rep_name": "张三",
        "legal_rep_id_number": make_id(),
        "registered_capital": "1000000.00",
        "capital_currency": "CNY",
        "established_date": "2015-03-01",
        "registered_address": "北京市朝阳区",
        "registered_division": "110105",
        "registration_authority": "北京市朝阳区市场监督管理局",
        "registration_status": "1",
        "industry": "I",
        "changed_on": "2025-06-01",
    }
    bad = dict(good, uscc=make_uscc()[:-1] + "0", registered_capital="-1", industry="Z")
    result = _check(contracts["mr_enterprise"], [good, bad])
    assert result.reasons.to_pylist()[0] == []
    assert set(result.reasons.to_pylist()[1]) == {
        "uscc:CHECKSUM",
        "registered_capital:RANGE",
        "industry:CODE_TABLE",
    }


def _one_date(value: str | None) -> dt.date | None:
    """The per-value definition of a date the check accepts: YYYY-MM-DD, YYYY/MM/DD or
    YYYYMMDD in ASCII digits, a real day of year 1 to 9999."""
    import re

    found = re.fullmatch(r"([0-9]{4})([-/]?)([0-9]{2})\2([0-9]{2})", value or "")
    if not found or (found[2] == "" and len(value or "") != 8):
        return None
    try:
        return dt.date(int(found[1]), int(found[3]), int(found[4]))
    except ValueError:
        return None


# every day of the calendar's range, and near-dates: wrong days, months, separators, digits
DAYS = st.dates(min_value=dt.date(1, 1, 1), max_value=dt.date(9999, 12, 31))
NEAR_DATES = st.one_of(
    DAYS.map(lambda d: d.isoformat()),
    DAYS.map(lambda d: d.strftime("%Y/%m/%d").zfill(10)),
    DAYS.map(lambda d: d.isoformat().replace("-", "")),
    st.from_regex(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", fullmatch=True),
    st.from_regex(r"[0-9]{8}", fullmatch=True),
    st.text("0123456789-/:０ ", min_size=8, max_size=10),
    st.none(),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(NEAR_DATES, max_size=30))
def test_dates_are_parsed_as_the_per_value_definition(values: list[str | None]) -> None:
    from quality.coercion import _parse_dates

    assert _parse_dates(pa.array(values, pa.string())).to_pylist() == [_one_date(v) for v in values]


def test_date_shapes() -> None:
    from quality.coercion import _parse_dates

    text = ["2024-02-29", "2023-02-29", "2024/12/31", "20240101", "2024-13-01", "2024-1-01", None]
    assert _parse_dates(pa.array(text)).to_pylist() == [
        dt.date(2024, 2, 29),
        None,
        dt.date(2024, 12, 31),
        dt.date(2024, 1, 1),
        None,
        None,
        None,
    ]
