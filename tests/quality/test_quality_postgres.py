"""The SQL parts of the quality room on PostgreSQL: the USCC expectation's SQL form and the
accuracy count after merge give the same answers there as on SQLite."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.servicekit import services_settings

pytestmark = pytest.mark.services


def test_identifier_sql_conditions_on_postgresql(tmp_path: Path) -> None:
    from quality import gx
    from schemas import uscc
    from storage.library import engine_for
    from tests.quality.test_gx import RESIDENT_ID_SQL_CASES, USCC_CASES, sql_verdicts

    engine = engine_for(services_settings(tmp_path).db_url)
    fast = uscc.validate_array(USCC_CASES).is_null().to_pylist()
    got = sql_verdicts(engine, gx._sql_uscc_valid, USCC_CASES)
    assert got == dict(zip(USCC_CASES, fast, strict=True))
    ids = list(RESIDENT_ID_SQL_CASES)
    assert sql_verdicts(engine, gx._sql_resident_id_valid, ids) == RESIDENT_ID_SQL_CASES


def test_accuracy_after_merge_on_postgresql(tmp_path: Path) -> None:
    from quality.metrics import scorecard
    from tests.quality import test_quality_accuracy as acc

    settings = services_settings(tmp_path)
    hub = acc._hub(settings, tmp_path, on_breach="warn")
    acc_ids = acc.IDS
    acc.run_pipeline(hub, "src_police", acc.SOURCE, "src.csv")
    dept = acc.run_pipeline(hub, "dept_b", acc.DEPT, "dept.csv")
    assert dept["accuracy_compared"] == 3
    assert dept["metrics"]["accuracy"] == pytest.approx(2 / 3, abs=1e-6)
    card = scorecard(hub.library.engine, dataset="dept_b")
    assert card[-1]["metrics"]["accuracy"] == pytest.approx(2 / 3)
    assert hub.library.person(acc_ids[2]).value("name") == "王五"  # type: ignore[union-attr]
