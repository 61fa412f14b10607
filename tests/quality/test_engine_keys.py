"""One identifier written two ways in a file is one key (issue 24): ``DUPLICATE_KEY`` on both
rows, like a literal duplicate, and the typed table (what the library stores) holds the
canonical forms: 18 digits with upper-case X, USCC in upper-case ASCII."""

from __future__ import annotations

import pyarrow as pa
import pytest

from quality.engine import check_table
from schemas.contracts import Contract, load_contracts
from tests.quality.conftest import AS_OF, make_id, make_uscc, person, to_table


@pytest.fixture(scope="module")
def persons() -> Contract:
    return load_contracts()["ps_household"]


@pytest.fixture(scope="module")
def enterprises() -> Contract:
    return load_contracts()["mr_enterprise"]


def _full_width(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) for c in text)


def test_one_resident_id_written_two_ways_is_a_duplicate_key(persons: Contract) -> None:
    rows = [person(i) for i in range(8)]
    legacy = "110105491231003"  # 1949-12-31, male
    upgraded = make_id("19491231", "003")
    for i, id_number in ((0, upgraded), (1, legacy)):
        rows[i].update(id_number=id_number, birth_date="1949-12-31", sex="1")
    rows[3]["id_number"] = _full_width(str(rows[2]["id_number"]))
    rows[3]["name"] = "另一人"
    written = str(rows[4]["id_number"])
    rows[5] = rows[4] | {"id_number": f" {written[:9]}\u200b{written[9:]}"}
    result = check_table(to_table(rows), persons, as_of=AS_OF)
    reasons = result.reasons.to_pylist()
    for i in range(6):
        assert "id_number:DUPLICATE_KEY" in reasons[i], i
    assert reasons[6] == reasons[7] == []
    # rows 4 and 5 differ only in how the ID was written: an exact copy once normalised
    assert "_row:DUPLICATE_ROW" in reasons[4] and "_row:DUPLICATE_ROW" not in reasons[2]
    typed = result.typed["id_number"].to_pylist()
    assert typed[1] == upgraded and typed[3] == rows[2]["id_number"]
    assert typed[5] == rows[4]["id_number"]


def test_typed_identifiers_are_canonical(enterprises: Contract) -> None:
    code = make_uscc()
    rep = make_id("19800101", "123")
    rows = [
        {
            "uscc": code.lower(),
            "entity_name": "某公司",
            "legal_rep_name": "张三",
            "legal_rep_id_number": _full_width(rep[:-1]) + rep[-1].lower(),
            "established_date": "2010-01-01",
            "registered_division": "110105",
            "registration_status": "1",
            "changed_on": "2025-06-01",
        },
        {
            "uscc": _full_width(make_uscc("MA01ABCE")),
            "entity_name": "另一公司",
            "legal_rep_name": "李四",
            "legal_rep_id_number": "110105491231003",
            "established_date": "2010-01-01",
            "registered_division": "110105",
            "registration_status": "1",
            "changed_on": "2025-06-01",
        },
    ]
    result = check_table(pa.Table.from_pylist(rows), enterprises, as_of=AS_OF)
    assert result.reasons.to_pylist() == [[], []]
    accepted = result.accepted()
    assert accepted["uscc"].to_pylist() == [code, make_uscc("MA01ABCE")]
    assert accepted["legal_rep_id_number"].to_pylist() == [rep, make_id("19491231", "003")]


def test_one_uscc_written_two_ways_is_a_duplicate_key(enterprises: Contract) -> None:
    code = make_uscc()
    base = {
        "entity_name": "某公司",
        "legal_rep_name": "张三",
        "legal_rep_id_number": make_id(),
        "established_date": "2010-01-01",
        "registered_division": "110105",
        "registration_status": "1",
        "changed_on": "2025-06-01",
    }
    rows = [
        base | {"uscc": code},
        base | {"uscc": code.lower(), "entity_name": "别名"},
        base | {"uscc": _full_width(code), "entity_name": "又一名"},
        base | {"uscc": make_uscc("MA01ABCE")},
    ]
    result = check_table(pa.Table.from_pylist(rows), enterprises, as_of=AS_OF)
    reasons = result.reasons.to_pylist()
    assert reasons[:3] == [["uscc:DUPLICATE_KEY"]] * 3 and reasons[3] == []
