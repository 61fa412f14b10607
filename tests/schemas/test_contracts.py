"""Contracts load and validate; a broken contract names its file, line and field."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from schemas.contracts import CONTRACTS_DIR, ContractError, load_contract, load_contracts
from schemas.library import library_schema

GOOD = """\
dataset_id: demo
title: demo
department: 测试厅
library: population
format: csv
key: [id_number]
subject_column: id_number
cadence_days: 7
thresholds:
  completeness: 0.9
columns:
  - name: id_number
    required: true
    field: id_number
    rules: [resident_id]
  - name: sex
    field: sex
    rules:
      - code_table: sex
  - name: born
    type: date
    field: birth_date
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "demo.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_contracts_load() -> None:
    contracts = load_contracts()
    assert set(contracts) >= {
        "ps_household",
        "ca_marriage_death",
        "hrss_insurance",
        "mr_enterprise",
        "ca_social_org",
    }
    for c in contracts.values():
        lib = library_schema(c.library)
        assert c.subject_column in c.column_names
        assert set(c.authoritative_for) <= set(lib.field_names)
        assert c.arrow_schema().names == list(c.column_names)
    mr = contracts["mr_enterprise"]
    assert mr.library == "legal-entity" and mr.on_breach == "fail"
    assert mr.field_map()["legal_rep_id_number"] == "legal_rep_id_number"
    assert mr.column("legal_rep_id_number").rule("resident_id") is not None
    assert contracts["ca_marriage_death"].encoding == "gb18030"


def test_good_contract_defaults(tmp_path: Path) -> None:
    c = load_contract(write(tmp_path, GOOD))
    assert (c.encoding, c.delimiter, c.on_breach, c.cadence_days) == ("auto", ",", "warn", 7)
    assert c.column("sex").rules[0].params == {"table": "sex"}
    assert c.arrow_schema().field("born").type == pa.date32()
    assert c.thresholds == {"completeness": 0.9}


BROKEN = [
    ("library: population", "library: people", 4, "library", "not one of"),
    ("format: csv", "format: xml", 5, "format", "not one of"),
    ("key: [id_number]", "key: [nope]", 6, "key[0]", "is not a column"),
    ("cadence_days: 7", "cadence_days: weekly", 8, "cadence_days", "whole number"),
    ("  completeness: 0.9", "  completeness: 1.5", 10, "thresholds.completeness", "ratio"),
    ("  completeness: 0.9", "  freshness: 0.9", 10, "thresholds.freshness", "GB/T 36344"),
    (
        "      - code_table: sex",
        "      - code_table: gender",
        19,
        "columns[1] (sex).rules[0].code_table",
        "unknown code table",
    ),
    (
        "      - code_table: sex",
        "      - spelling: sex",
        19,
        "columns[1] (sex).rules[0]",
        "unknown rule",
    ),
    (
        "    field: birth_date",
        "    field: birthday",
        22,
        "columns[2] (born).field",
        "not a library field",
    ),
    ("    type: date", "    type: timestamp", 21, "columns[2] (born).type", "not one of"),
    (
        "    required: true",
        "    required: maybe",
        13,
        "columns[0] (id_number).required",
        "true or false",
    ),
    ("title: demo", "title: demo\ncolour: red", 3, "colour", "unknown key"),
    ("subject_column: id_number\n", "", 1, "subject_column", "missing required key"),
    ("  - name: born", "  - name: sex", 20, "columns[2] (sex).name", "duplicate column"),
]


@pytest.mark.parametrize(("old", "new", "line", "field", "message"), BROKEN)
def test_broken_contract_names_file_line_field(
    tmp_path: Path, old: str, new: str, line: int, field: str, message: str
) -> None:
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(ContractError) as info:
        load_contract(path)
    err = info.value
    assert (err.path, err.line, err.field_path) == (str(path), line, field)
    assert message in str(err)
    assert str(err).startswith(f"{path}:{line}: {field}: ")


def test_invalid_yaml_gives_line(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("title: demo", "title: [demo"))
    with pytest.raises(ContractError, match="not valid YAML") as info:
        load_contract(path)
    assert info.value.line > 1


def test_duplicate_dataset_ids_refused(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(GOOD, encoding="utf-8")
    (tmp_path / "b.yaml").write_text(GOOD, encoding="utf-8")
    with pytest.raises(ContractError, match="also in"):
        load_contracts(tmp_path)


def test_default_folder_is_the_shipped_one() -> None:
    assert CONTRACTS_DIR.name == "contracts" and any(CONTRACTS_DIR.glob("*.yaml"))
