"""Sharing attributes of the catalogue: every field has one, declared in the contracts and the
library schemas, high sensitivity defaulting to conditional, and shown on the dataset page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from schemas.contracts import load_contract, load_contracts
from schemas.library import LEGAL_ENTITY, POPULATION
from schemas.sharing import (
    SharingError,
    contract_sharing,
    field_owners,
    library_sharing,
    parse_sharing,
)
from tests.sharing.catalog_kit import catalogue_page, hub

__all__ = ["catalogue_page", "hub"]  # fixtures


def test_every_library_field_and_contract_column_has_an_attribute() -> None:
    contracts = load_contracts()
    for schema in (POPULATION, LEGAL_ENTITY):
        shared = library_sharing(schema.name, contracts.values())
        assert set(shared) == set(schema.field_names)
        for f in schema.fields:
            if f.sensitivity == "high":  # never unconditional unless declared so
                assert shared[f.name].attribute != "unconditional", f.name
    for contract in contracts.values():
        assert set(contract_sharing(contract)) == set(contract.column_names)


def test_declarations_are_read_from_the_library_and_the_contract() -> None:
    contracts = load_contracts()
    population = library_sharing("population", contracts.values())
    assert population["contact_address"].attribute == "none"  # declared 不予共享
    assert population["name"].attribute == "unconditional"  # low sensitivity: default
    mobile = population["mobile"]
    assert mobile.attribute == "conditional" and mobile.legal_basis
    assert mobile.purposes == (
        "identity-verification",
        "social-assistance-review",
        "business-registration-review",
    )
    assert contract_sharing(contracts["ps_household"])["family_size"].attribute == "none"


def test_a_contract_can_narrow_a_library_field_but_never_widen_it(tmp_path: Path) -> None:
    source = Path(load_contracts()["ps_household"].source)
    raw = yaml.safe_load(source.read_text(encoding="utf-8"))
    for column in raw["columns"]:
        if column["name"] == "mobile":
            column["sharing"] = "无条件共享"  # wider than the library's 有条件共享
        if column["name"] == "education":
            column["sharing"] = {"sharing": "有条件共享", "purposes": ["identity-verification"]}
    path = tmp_path / "ps_household.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    contract = load_contract(path)
    columns = contract_sharing(contract)
    assert columns["mobile"].attribute == "conditional"
    assert columns["education"].attribute == "conditional"
    fields = library_sharing("population", [contract])
    assert fields["education"].purposes == ("identity-verification",)
    assert fields["mobile"].attribute == "conditional"


@pytest.mark.parametrize(
    ("value", "wrong"),
    [
        ("shared", "sharing must be one of"),
        ({"sharing": "不予共享", "purposes": ["identity-verification"]}, "only 有条件共享"),
        ({"sharing": "有条件共享", "legal_basis": "yes"}, "legal_basis"),
        ({"sharing": "有条件共享", "when": "always"}, "unknown key"),
        (["有条件共享"], "expected a sharing term"),
    ],
)
def test_a_bad_declaration_names_the_field(value: object, wrong: str) -> None:
    with pytest.raises(SharingError, match=wrong) as err:
        parse_sharing(value, "ps_household.yaml: columns.mobile.sharing")
    assert "columns.mobile" in str(err.value)


def test_each_field_has_the_authoritative_department_as_owner() -> None:
    contracts = load_contracts()
    owners = field_owners("population", contracts.values())
    assert owners["death_date"] == contracts["ca_marriage_death"].department
    assert owners["name"] == contracts["ps_household"].department
    assert "contact_address" not in owners  # nobody delivers it


def test_the_dataset_page_shows_each_columns_sharing(catalogue_page: str) -> None:
    rows = {
        m.group(1): m.group(2)
        for m in re.finditer(
            r'<tr><td class="mono">(\w+)</td>.*?<td class="sharing (\w+)">', catalogue_page, re.S
        )
    }
    assert rows["family_size"] == "none" and rows["name"] == "unconditional"
    assert rows["mobile"] == "conditional"
    assert "不予共享" in catalogue_page and "须说明法律依据" in catalogue_page


def test_a_contract_with_a_bad_sharing_declaration_fails_to_load_naming_the_line(
    tmp_path: Path,
) -> None:
    from schemas.contracts import ContractError

    source = Path(load_contracts()["ps_household"].source)
    text = source.read_text(encoding="utf-8").replace("sharing: 不予共享", "sharing: 保密")
    path = tmp_path / "ps_household.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ContractError, match=r"family_size\)\.sharing: sharing must be one of"):
        load_contract(path)
