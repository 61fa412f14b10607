"""Every case of the reading corpus through the real pipeline (land → check → quarantine → merge
→ publish on the embedded default): its exact outcome, and never a traceback, a run left
unfinished, a row lost or a stored value the contract would reject."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hub.settings import Settings
from hub.wiring import ingest_services
from pipeline.run import run_pipeline
from pipeline.services import IngestServices
from pipeline.work import load_table
from schemas.readers import ReadError
from tests.ingest.corpus_reading import CASES, Case, contract_yaml, count_csv_rows


def _hub(settings: Settings, folder: Path, case: Case) -> tuple[IngestServices, str]:
    dataset, text = contract_yaml(case.fmt, case.encoding, case.sheet)
    contracts = folder / "contracts"
    contracts.mkdir(exist_ok=True)
    (contracts / f"{dataset}.yaml").write_text(text, encoding="utf-8")
    return ingest_services(settings, contracts), dataset


def test_the_corpus_covers_every_class_with_several_cases() -> None:
    per_class = {k: [c for c in CASES if c.klass == k] for k in (1, 3, 4, 5, 6, 7)}
    assert all(len(cases) >= 2 for cases in per_class.values()), per_class
    assert len({c.name for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_case_outcome(case: Case, settings: Settings, tmp_path: Path) -> None:
    hub, dataset = _hub(settings, tmp_path, case)
    message = None
    try:
        ref = run_pipeline(hub, dataset, case.data, case.filename)
    except ReadError as exc:  # the only way a file may fail: a message, not a traceback
        message = str(exc)
    (run,) = hub.library.list_runs()
    if case.refused is not None:
        assert message is not None, f"{case.name} was accepted"
        assert re.search(case.refused, message), message
        assert message.startswith(f"{case.filename}: ")
        assert run["status"] == "failed" and run["message"] == message
        assert hub.library.fact_count() == 0
        assert hub.library.list_quarantine() == []
        return
    assert message is None, message
    assert run["status"] == "published" and ref["status"] == "published"
    assert run["rows_in"] == case.rows
    if case.fmt == "csv":  # an independent count of the file's data lines
        assert run["rows_in"] == count_csv_rows(case.data)
    assert run["rows_in"] == run["rows_accepted"] + run["rows_quarantined"]
    quarantined: dict[int, list[str]] = {}
    for entry in hub.library.list_quarantine():
        table = load_table(hub.objects, entry["object_key"])
        for row, reasons in zip(
            table["_row"].to_pylist(), table["_reasons"].to_pylist(), strict=True
        ):
            quarantined[row] = reasons
    assert quarantined == case.quarantined
    stored = {
        (subject, field): value
        for library, subject, field, value, *_ in hub.library.golden_snapshot()
        if library == "population" and field != "id_number"
    }
    assert stored == case.stored


def test_a_refused_file_fails_its_run_on_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`hub ingest` says what is wrong and exits 1, no traceback; `hub runs` shows the run
    failed with the same message."""
    from click.testing import CliRunner

    from hub.cli import main

    monkeypatch.setenv("HUB_HOME", str(tmp_path / "hub"))
    monkeypatch.setenv("HUB_KEY_PASSPHRASE", "test-passphrase")
    monkeypatch.setattr("hub.settings._settings", None)  # read the variables above; undone after
    bad = tmp_path / "dept.csv"
    bad.write_text("id_number,name,sex,name\n11010519491231002X,张三,1,李四\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["ingest", str(bad), "--dataset", "ps_household"])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "dept.csv: duplicate column 'name' in the header (columns 2 and 4)" in result.output
    runs = CliRunner().invoke(main, ["runs"])
    assert runs.exit_code == 0
    assert re.search(r"failed .*duplicate column 'name'", runs.output), runs.output


@pytest.mark.parametrize(
    "name", ["xlsx_broken_sheet_xml", "jsonl_nested_too_deep", "csv_unterminated_quote"]
)
def test_a_refused_file_fails_the_dag_check_task_at_once(
    name: str, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The DAG's check task fails without retries, with the reader's message, and the run is
    marked failed with it."""
    from airflow.sdk.exceptions import AirflowFailException

    from dags import ingest as dags_ingest
    from pipeline import steps as ingest

    (case,) = [c for c in CASES if c.name == name]
    hub, dataset = _hub(settings, tmp_path, case)
    ref = ingest.land(hub, dataset, case.data, case.filename)
    monkeypatch.setattr(dags_ingest, "_hub", lambda: hub)
    with pytest.raises(AirflowFailException) as info:
        dags_ingest._final_on_breach(ingest.check, ref)
    assert case.refused is not None and re.search(case.refused, str(info.value))
    run = hub.library.get_run(ref["run_id"])
    assert run["status"] == "failed" and run["message"] == str(info.value)


def test_any_failure_of_the_check_step_fails_the_run_with_a_message(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not only an unreadable file: whatever stops the check step marks the run failed with a
    message saying which step and what kind of failure, never leaving it "landed"; checking
    it again when the cause is gone carries on to the end."""
    from pipeline import steps as ingest

    (case,) = [c for c in CASES if c.name == "utf8_plain"]
    hub, dataset = _hub(settings, tmp_path, case)
    ref = ingest.land(hub, dataset, case.data, case.filename)

    def broken(*_: object, **__: object) -> object:
        raise RuntimeError("张三 110105198001020011")  # personal data in an error's text

    monkeypatch.setattr("quality.engine.check_table", broken)
    with pytest.raises(ingest.IngestError, match=r"check step failed \(RuntimeError\)"):
        ingest.check(hub, ref)
    run = hub.library.get_run(ref["run_id"])
    assert run["status"] == "failed"
    assert "RuntimeError" in run["message"] and "张三" not in run["message"]
    monkeypatch.undo()
    checked = ingest.quarantine(hub, ingest.check(hub, ref))
    done = ingest.publish(hub, ingest.measure_accuracy(hub, ingest.merge(hub, checked)))
    assert done["status"] == "published"
    assert hub.library.get_run(ref["run_id"])["message"] is None
