"""Thresholds turn ratios into breaches; runs and ratios are stored and read back as a scorecard."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from hub.settings import Settings
from quality.engine import check_table
from quality.metrics import (
    Breach,
    QualityBreachError,
    accuracy,
    enforce,
    evaluate_thresholds,
    record_run,
    scorecard,
)
from schemas.contracts import Contract
from storage.library import engine_for
from tests.quality.conftest import AS_OF, person, to_table


def test_thresholds(contracts: dict[str, Contract]) -> None:
    contract = contracts["ps_household"]  # completeness 0.98, conformity 0.97, on_breach fail
    assert evaluate_thresholds({"completeness": 0.99, "conformity": 0.97}, contract) == []
    breaches = evaluate_thresholds({"completeness": 0.5, "accuracy": 0.0}, contract)
    assert breaches == [Breach("completeness", 0.5, 0.98)]  # accuracy has no threshold here
    with pytest.raises(QualityBreachError, match=r"completeness 0\.5000 < 0\.9800"):
        enforce(contract, breaches)
    enforce(contract, breaches, fail=False)  # warn mode configured by the caller
    enforce(
        contracts["hrss_insurance"],
        evaluate_thresholds({"completeness": 0.5}, contracts["hrss_insurance"]),
    )


def test_record_and_scorecard(settings: Settings, contracts: dict[str, Contract]) -> None:
    engine = engine_for(settings.db_url)
    contract = contracts["ps_household"]
    rows = [person(i) for i in range(10)]
    clean = check_table(to_table(rows), contract, as_of=AS_OF)
    rows[3]["name"] = None
    dirty = check_table(to_table(rows), contract, as_of=AS_OF)
    for run_id, result, day in (("r1", clean, 1), ("r2", dirty, 2)):
        record_run(
            engine,
            run_id=run_id,
            contract=contract,
            metrics=result.metrics,
            rows_in=result.rows_in,
            rows_accepted=result.rows_accepted,
            reason_counts=result.reason_counts(),
            checked_at=dt.datetime(2025, 6, day),
        )
    # recording a run again replaces it rather than adding a second one
    record_run(
        engine,
        run_id="r2",
        contract=contract,
        metrics=dirty.metrics,
        rows_in=10,
        rows_accepted=9,
        reason_counts=dirty.reason_counts(),
        checked_at=dt.datetime(2025, 6, 2),
    )
    card = scorecard(engine, dataset="ps_household")
    assert [r["run_id"] for r in card] == ["r1", "r2"]
    assert [r["status"] for r in card] == ["ok", "degraded"]
    assert card[1]["metrics"]["completeness"] == pytest.approx(0.9)
    assert card[1]["reasons"] == "name:REQUIRED=1"
    assert scorecard(engine, department="公安") == card
    assert scorecard(engine, department="民政") == []


def test_accuracy_against_authoritative_source() -> None:
    keys = pa.array(["a", "b", "c", "d"])
    ours = pa.array(["1", "2", "9", None])
    ref_keys = pa.array(["a", "b", "c", "x"])
    ref = pa.array(["1", "2", "2", "5"])
    assert accuracy(ours, keys, ref, ref_keys) == pytest.approx(2 / 3)
    assert accuracy(ours, keys, pa.array([], pa.string()), pa.array([], pa.string())) == 1.0
