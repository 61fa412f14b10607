"""The Great Expectations mirror flags the same rows as the fast path, rule by rule.

Importing GX costs seconds, so this module runs GX once per case family (module-scoped fixtures).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from hub.settings import Settings
from quality import gx
from quality.engine import check_table
from quality.results import CheckResult
from schemas.contracts import Contract, load_contracts
from storage.library import subject_queries
from tests.quality.conftest import AS_OF, make_uscc, person, to_table
from tests.quality.test_engine import CASES


@pytest.fixture(scope="module")
def dirty_population() -> tuple[CheckResult, gx.GxRun]:
    contract = load_contracts()["ps_household"]
    rows: list[dict[str, Any]] = [person(i) for i in range(len(CASES) + 6)]
    for i, (column, value, _) in enumerate(CASES):
        rows[i][column] = value
    rows.append(dict(rows[-1]))  # an exact duplicate row
    changed = dict(rows[-3], name="另一人")
    rows.append(changed)  # a duplicate key
    result = check_table(to_table(rows), contract, as_of=AS_OF)
    return result, gx.validate(contract, result.typed, as_of=AS_OF)


def test_gx_and_fast_path_flag_the_same_rows(
    dirty_population: tuple[CheckResult, gx.GxRun],
) -> None:
    result, run = dirty_population
    assert not run.success
    assert gx.disagreements(result, run) == {}
    # the comparison is not vacuous: most mirrored rules failed somewhere
    failing = [codes for codes, rows in run.failing.items() if rows]
    assert len(failing) >= 15
    assert run.failing[frozenset({"id_number:DUPLICATE_KEY"})] == {
        r
        for r, reasons in enumerate(result.reasons.to_pylist())
        if "id_number:DUPLICATE_KEY" in reasons
    }


def test_gx_agrees_on_entities_with_uscc() -> None:
    contract: Contract = load_contracts()["mr_enterprise"]
    base = {
        "uscc": make_uscc(),
        "entity_name": "某某科技有限公司",
        "legal_rep_name": "张三",
        "legal_rep_id_number": person(0)["id_number"],
        "registered_capital": "100",
        "capital_currency": "CNY",
        "established_date": "2015-03-01",
        "registered_address": "北京市朝阳区",
        "registered_division": "110105",
        "registration_authority": "朝阳区市场监督管理局",
        "registration_status": "1",
        "industry": "I",
        "changed_on": "2025-06-01",
    }
    rows = [
        base,
        dict(base, uscc=make_uscc("MA01ABCE")),
        dict(base, uscc=make_uscc()[:-1] + "0"),
        dict(base, uscc=make_uscc("MA01ABCF"), registered_capital="-5", capital_currency="XXX"),
        dict(base, uscc=make_uscc("MA01ABCG"), registered_division="341400"),  # gone in 2011
        dict(
            base, uscc=make_uscc("MA01ABCH"), registered_division="341400", changed_on="2010-05-01"
        ),
        # no date to judge by: only changed_on's REQUIRED, not DIVISION_AT
        dict(base, uscc=make_uscc("MA01ABCJ"), registered_division="341400", changed_on=""),
    ]
    result = check_table(to_table(rows), contract, as_of=AS_OF)
    run = gx.validate(contract, result.typed, as_of=AS_OF)
    assert gx.disagreements(result, run) == {}
    assert run.failing[frozenset(f"uscc:{c}" for c in gx.USCC_CODES)] == {2}
    assert run.failing[frozenset({"registered_division:DIVISION_AT"})] == {4}
    assert result.reasons.to_pylist()[6] == ["changed_on:REQUIRED"]


def test_checkpoint_archives_results_and_builds_docs(settings: Settings) -> None:
    contract = load_contracts()["ps_household"]
    result = check_table(to_table([person(i) for i in range(5)]), contract, as_of=AS_OF)
    path = gx.checkpoint_accepted(
        settings, contract, result.accepted(), run_id="run-1", as_of=AS_OF
    )
    assert path == settings.objects_path / "quality" / "ps_household" / "run-1.json"
    archived = json.loads(path.read_text(encoding="utf-8"))
    assert archived["success"] is True
    docs = list((gx.docs_root(settings)).rglob("index.html"))
    assert docs, "Data Docs were not built under HUB_HOME"


def test_library_checkpoint_runs_resident_id_rule_in_sql(settings: Settings) -> None:
    good, bad = person(0)["id_number"], str(person(1)["id_number"])[:-1] + "Y"
    _golden_subjects(settings, [("population", str(good)), ("population", bad)])
    archived = json.loads(
        gx.checkpoint_library(settings, subject_queries()).read_text(encoding="utf-8")
    )
    assert archived["success"] is False
    results = {
        e["expectation_type"]: e["result"]
        for v in archived["validation_results"]
        for e in v["expectations"]
    }
    assert results["expect_column_values_to_be_valid_resident_id"]["unexpected_count"] == 1


USCC_CASES = [
    make_uscc(),  # valid
    make_uscc().lower(),  # valid: upper-cased like the fast path does
    "91350100M000100Y43",  # valid (standard's vector)
    "91110000600037341L",  # valid (standard's vector)
    "91110000600037341N",  # CHECKSUM
    "9111000060003IOZSV",  # CHARSET
    make_uscc()[:-1],  # FORMAT
    make_uscc(prefix="X1110105"),  # AUTHORITY (check characters recomputed, still wrong)
    make_uscc(prefix="94110105"),  # ENTITY_TYPE
    make_uscc(prefix="91119999"),  # DIVISION_UNKNOWN
    make_uscc(prefix="91100000"),  # valid: central registration
    "91110105MA01ABCD" + "0" + make_uscc()[-1],  # ORG_CODE_CHECK (or CHECKSUM)
]


GOOD_ID = person(0)["id_number"] or ""
RESIDENT_ID_SQL_CASES = {
    GOOD_ID: True,
    "11010519491231002X": True,  # the standard's example
    "11010519491231002x": True,  # lower-case x: upper-cased like the fast path
    "110105194912310021": False,  # CHECKSUM
    GOOD_ID[:-1]: False,  # FORMAT: 17 characters
    "1101051949X231002X": False,  # a letter inside: PostgreSQL must not fail on the cast
}


def sql_verdicts(engine: Any, condition: Any, values: list[str]) -> dict[str, bool]:
    """``condition(column)`` evaluated by the database for each value (in a scratch table)."""
    import secrets

    import sqlalchemy as sa

    table = sa.Table(f"scratch_{secrets.token_hex(4)}", sa.MetaData(), sa.Column("v", sa.Text))
    table.metadata.create_all(engine)
    try:
        with engine.begin() as conn:
            conn.execute(table.insert(), [{"v": v} for v in values])
            rows = conn.execute(sa.select(table.c.v, condition(table.c.v)))
            return {v: bool(ok) for v, ok in rows}
    finally:
        table.metadata.drop_all(engine)


def test_uscc_sql_condition_matches_fast_path(settings: Settings) -> None:
    """The SQL form of the USCC expectation gives the fast path's verdict, value by value."""
    from schemas import uscc
    from storage.library import engine_for

    sql_valid = sql_verdicts(engine_for(settings.db_url), gx._sql_uscc_valid, USCC_CASES)
    fast_valid = dict(
        zip(USCC_CASES, uscc.validate_array(USCC_CASES).is_null().to_pylist(), strict=True)
    )
    assert sql_valid == fast_valid
    assert sum(fast_valid.values()) == 5  # the comparison covers both verdicts


def test_resident_id_sql_condition(settings: Settings) -> None:
    from storage.library import engine_for

    cases = list(RESIDENT_ID_SQL_CASES)
    engine = engine_for(settings.db_url)
    assert sql_verdicts(engine, gx._sql_resident_id_valid, cases) == RESIDENT_ID_SQL_CASES


def _golden_subjects(settings: Settings, rows: list[tuple[str, str]]) -> None:
    """Golden records for these subjects (one merged run per library), keys not checked."""
    import datetime as dt

    from storage.library import LibraryStore, engine_for

    store = LibraryStore(engine_for(settings.db_url))
    for library in sorted({lib for lib, _ in rows}):
        subjects: list[str | None] = [s for lib, s in rows if lib == library]
        dataset = "ps_household" if library == "population" else "mr_enterprise"
        store.merge(
            library,
            f"r-{library}",
            dataset,
            dt.datetime(2025, 6, 1, tzinfo=dt.UTC),
            subjects,
            {"name": ["x"] * len(subjects)},
            ["name"],
        )


def test_library_checkpoint_validates_entity_usccs_in_sql(settings: Settings) -> None:
    from schemas import uscc

    _golden_subjects(
        settings,
        [("population", str(person(0)["id_number"]))]
        + [("legal-entity", c) for c in USCC_CASES if c == c.upper()],
    )
    archived = json.loads(
        gx.checkpoint_library(settings, subject_queries()).read_text(encoding="utf-8")
    )
    assert archived["success"] is False
    results = {
        e["expectation_type"]: e for v in archived["validation_results"] for e in v["expectations"]
    }
    people = results["expect_column_values_to_be_valid_resident_id"]
    assert people["success"] is True
    entities = results["expect_column_values_to_be_valid_uscc"]
    assert entities["kwargs"]["batch_id"] == "library-entity_keys"
    stored = [c for c in USCC_CASES if c == c.upper()]
    invalid = [
        c
        for c, ok in zip(stored, uscc.validate_array(stored).is_null().to_pylist(), strict=True)
        if not ok
    ]
    assert entities["result"]["unexpected_count"] == len(invalid) == 7
    assert set(entities["result"]["partial_unexpected_list"]) == set(invalid)
