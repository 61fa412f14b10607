"""Library schemas carry the §7 fields; code tables hold the national codes."""

from __future__ import annotations

import pytest

from schemas.library import (
    LEGAL_ENTITY,
    POPULATION,
    UnknownCodeTableError,
    code_table,
    code_table_names,
    library_schema,
)


def test_ethnic_groups_are_the_56_plus_two() -> None:
    table = code_table("ethnic_group")
    assert [f"{i:02d}" for i in range(1, 57)] == [c for c in table if c <= "56"]
    assert table["01"] == "汉族" and table["56"] == "基诺族" and "97" in table
    assert len(set(table.values())) == len(table) == 58


def test_national_code_tables() -> None:
    assert code_table("sex") == {"0": "未知的性别", "1": "男性", "2": "女性", "9": "未说明的性别"}
    assert set(code_table("entity_status").values()) == {"存续", "在业", "吊销", "注销", "迁出"}
    assert list(code_table("industry_section")) == [chr(c) for c in range(ord("A"), ord("T") + 1)]
    with pytest.raises(UnknownCodeTableError, match="known: currency"):
        code_table("gender")


def test_every_field_code_table_exists() -> None:
    for schema in (POPULATION, LEGAL_ENTITY):
        for f in schema.fields:
            if f.code_table:
                assert f.code_table in code_table_names()


def test_personal_information_flags() -> None:
    assert POPULATION.key_field == "id_number" and LEGAL_ENTITY.key_field == "uscc"
    assert POPULATION.field("id_number").sensitivity == "high"
    assert all(f.personal for f in POPULATION.fields if f.name != "id_document_type")
    assert not LEGAL_ENTITY.field("entity_name").personal
    assert LEGAL_ENTITY.field("legal_rep_id_number").personal
    assert library_schema("legal-entity") is LEGAL_ENTITY
    with pytest.raises(KeyError, match="known: legal-entity, population"):
        library_schema("vehicles")


def test_subject_keys_upgrade_15_digit_ids_but_never_fail() -> None:
    from schemas.library import subject_key

    # GB 11643: the 15-digit 110105491231002 is 11010519491231002X
    assert subject_key("population", " 110105491231002 ") == "11010519491231002X"
    assert subject_key("population", "１１０１０５１９４９１２３１００２ｘ") == "11010519491231002X"
    # sequence 996-999 may mean born in 18YY: kept as sent (the check quarantines it)
    assert subject_key("population", "110105491231996") == "110105491231996"
    assert subject_key("legal-entity", "110105491231002") == "110105491231002"
