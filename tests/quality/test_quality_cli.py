"""``hub quality report`` prints the scorecard and writes an HTML page with trend charts."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from click.testing import CliRunner

from hub.cli import main
from hub.settings import Settings
from quality.metrics import record_run
from schemas.contracts import Contract
from storage.library import engine_for


@pytest.fixture
def cli_settings(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("HUB_HOME", str(settings.home))
    monkeypatch.setattr("hub.settings._settings", None)
    return settings


def test_report_text_and_html(
    cli_settings: Settings, contracts: dict[str, Contract], tmp_path: Path
) -> None:
    engine = engine_for(cli_settings.db_url)
    for day, completeness in ((1, 0.999), (2, 0.95), (3, 0.99)):
        record_run(
            engine,
            run_id=f"ps-{day}",
            contract=contracts["ps_household"],
            metrics={"completeness": completeness, "conformity": 0.99, "uniqueness": 1.0},
            rows_in=1000,
            rows_accepted=950,
            checked_at=dt.datetime(2025, 6, day),
        )
    record_run(
        engine,
        run_id="mr-1",
        contract=contracts["mr_enterprise"],
        metrics={"completeness": 1.0},
        rows_in=10,
        rows_accepted=10,
        checked_at=dt.datetime(2025, 6, 1),
    )
    runner = CliRunner()
    out = runner.invoke(main, ["quality", "report", "--dataset", "ps_household"])
    assert out.exit_code == 0, out.output
    assert out.output.count("ps_household") == 3 and "mr_enterprise" not in out.output
    assert "degraded" in out.output and "completeness 0.9500 < 0.9800" in out.output

    page = tmp_path / "card.html"
    out = runner.invoke(main, ["quality", "report", "--department", "公安", "--html", str(page)])
    assert out.exit_code == 0, out.output
    text = page.read_text(encoding="utf-8")
    assert text.count("<svg") == 3  # completeness, conformity, uniqueness were measured
    assert "<polyline" in text and "threshold 0.98" in text and "mr_enterprise" not in text


def test_report_without_runs(cli_settings: Settings) -> None:
    out = CliRunner().invoke(main, ["quality", "report"])
    assert out.exit_code == 0 and "no quality runs" in out.output
