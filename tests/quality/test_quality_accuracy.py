"""Accuracy (GB/T 36344): after merge, a run's values are compared with the authoritative source's.

Two small contracts: ``src_police`` is the authoritative source of ``name``; ``dept_b`` also
delivers names. The ratio is stored with the run's other ratios, shown by ``hub quality report``,
and the contract's accuracy threshold marks the run degraded and, in fail mode, stops it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from hub.cli import main
from hub.settings import Settings
from hub.wiring import ingest_services
from pipeline.run import run_pipeline
from pipeline.services import IngestServices
from quality.metrics import QualityBreachError, scorecard
from tests.quality.conftest import make_id

CONTRACT = """\
dataset_id: {name}
title: {name}
department: {department}
library: population
format: csv
encoding: utf-8
key: id_number
subject_column: id_number
authoritative_for: {authoritative}
cadence_days: 30
thresholds: {{accuracy: 0.9}}
on_breach: {on_breach}
columns:
  - {{name: id_number, required: true, field: id_number, rules: [resident_id]}}
  - {{name: name, required: true, field: name}}
  - {{name: mobile, field: mobile}}
"""
IDS = [make_id("19770707", f"{i:03d}") for i in range(1, 6)]  # nobody else's test person


def _hub(settings: Settings, tmp_path: Path, on_breach: str) -> IngestServices:
    folder = tmp_path / "contracts"
    folder.mkdir(exist_ok=True)
    for name, department, authoritative in (
        ("src_police", "省公安厅", "[id_number, name]"),
        ("dept_b", "省人社厅", "[mobile]"),
    ):
        (folder / f"{name}.yaml").write_text(
            CONTRACT.format(
                name=name, department=department, authoritative=authoritative, on_breach=on_breach
            ),
            encoding="utf-8",
        )
    return ingest_services(settings, folder)


def _csv(rows: list[tuple[str, str, str]]) -> bytes:
    return ("id_number,name,mobile\n" + "".join(f"{a},{b},{c}\n" for a, b, c in rows)).encode()


SOURCE = _csv([(IDS[0], "张三", ""), (IDS[1], "李四", ""), (IDS[2], "王五", "")])
# two names agree, one differs, one person the source does not know (not compared)
DEPT = _csv(
    [
        (IDS[0], "张三", "13800000001"),
        (IDS[1], "李四", "13800000002"),
        (IDS[2], "王伍", "13800000003"),
        (IDS[3], "赵六", "13800000004"),
    ]
)


@pytest.fixture
def cli_settings(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("HUB_HOME", str(settings.home))
    monkeypatch.setattr("hub.settings._settings", None)
    return settings


def test_accuracy_is_stored_with_the_run_and_reported(
    cli_settings: Settings, tmp_path: Path
) -> None:
    hub = _hub(cli_settings, tmp_path, on_breach="warn")
    src = run_pipeline(hub, "src_police", SOURCE, "src.csv")
    dept = run_pipeline(hub, "dept_b", DEPT, "dept.csv")
    assert src["metrics"]["accuracy"] == 1.0 and src["accuracy_compared"] == 0
    assert dept["accuracy_compared"] == 3
    assert dept["metrics"]["accuracy"] == pytest.approx(2 / 3, abs=1e-6)
    assert dept["status"] == "published"  # warn mode: reported, not stopped

    card = {r["dataset"]: r for r in scorecard(hub.library.engine)}
    assert card["dept_b"]["metrics"]["accuracy"] == pytest.approx(2 / 3)
    assert card["dept_b"]["status"] == "degraded"
    assert card["dept_b"]["breaches"] == "accuracy 0.6667 < 0.9000"
    assert card["src_police"]["status"] == "ok"
    # the authoritative name still wins in the golden record
    assert hub.library.person(IDS[2]).value("name") == "王五"  # type: ignore[union-attr]

    out = CliRunner().invoke(main, ["quality", "report", "--dataset", "dept_b"])
    assert out.exit_code == 0, out.output
    line = next(x for x in out.output.splitlines() if x.startswith("20") and "dept_b" in x)
    assert "0.667" in line  # the accuracy column is filled, not "-"
    assert "breach: accuracy 0.6667 < 0.9000" in out.output


def test_accuracy_breach_fails_the_run_in_fail_mode(settings: Settings, tmp_path: Path) -> None:
    hub = _hub(settings, tmp_path, on_breach="fail")
    run_pipeline(hub, "src_police", SOURCE, "src.csv")
    with pytest.raises(QualityBreachError, match=r"accuracy 0\.6667 < 0\.9000"):
        run_pipeline(hub, "dept_b", DEPT, "dept.csv")
    run = next(r for r in hub.library.list_runs("dept_b"))
    assert run["status"] == "failed" and "accuracy" in run["message"]
    assert [r["status"] for r in scorecard(hub.library.engine, dataset="dept_b")] == ["degraded"]

    # a steward re-runs it in warn mode: it completes, and the ratio is recorded once
    again = run_pipeline(hub, "dept_b", DEPT, "dept.csv", fail_on_breach=False)
    assert again["status"] == "published"
    card = scorecard(hub.library.engine, dataset="dept_b")
    assert len(card) == 1 and card[0]["metrics"]["accuracy"] == pytest.approx(2 / 3)
