"""A failure of the merge or publish step ends with the run marked failed and a message saying
which step and what kind of failure (never the data an error's text may quote), in every way a
run is driven: the steps in a row, the command line, the DAG's tasks and the API's worker. Once
the cause is gone, the run carries on to "published" (issue 24, class 5)."""

from __future__ import annotations

import io
import json
import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from hub.settings import Settings
from hub.wiring import ingest_services
from pipeline import steps
from pipeline.run import run_pipeline
from pipeline.services import IngestServices
from storage.library import LibraryStore
from tests.ingest.corpus_values import Case, household

# a valid household file of two persons, updated today (timely)
TODAY = date.today().isoformat()
FILE = Case("two", "ps_household", tuple(household(n, updated_on=TODAY) for n in (1, 2))).data()
SECRET = "张三 110105194912310020"  # personal data in an error's own text


def _broken(*_: object, **__: object) -> Any:
    raise RuntimeError(SECRET)


def _failed(hub: IngestServices, run_id: str, step: str) -> str:
    run = hub.library.get_run(run_id)
    assert run["status"] == "failed", run
    message = str(run["message"])
    assert f"{step} step failed (RuntimeError)" in message
    assert "张三" not in message and "1101" not in message
    return message


@pytest.fixture
def hub(settings: Settings) -> IngestServices:
    return ingest_services(settings)


def test_a_merge_failure_fails_the_run_and_a_retry_publishes(
    hub: IngestServices, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(LibraryStore, "merge_chunks", _broken)
    with pytest.raises(steps.IngestError, match=r"merge step failed \(RuntimeError\)"):
        run_pipeline(hub, "ps_household", FILE, "f.csv")
    (run,) = hub.library.list_runs()
    assert "merge it again" in _failed(hub, run["run_id"], "merge")
    assert hub.library.fact_count() == 0  # the library write is one transaction
    monkeypatch.undo()
    done = run_pipeline(hub, "ps_household", FILE, "f.csv")
    assert done["status"] == "published" and hub.library.fact_count() > 0
    assert hub.library.get_run(run["run_id"])["message"] is None


def test_a_publish_failure_fails_the_run_and_publishing_again_works(
    hub: IngestServices, monkeypatch: pytest.MonkeyPatch
) -> None:
    ref = steps.quarantine(hub, steps.check(hub, steps.land(hub, "ps_household", FILE, "f.csv")))
    ref = steps.measure_accuracy(hub, steps.merge(hub, ref))
    set_run = LibraryStore.set_run

    def no_publishing(self: LibraryStore, run_id: str, **values: Any) -> None:
        if values.get("status") == "published":
            raise RuntimeError(SECRET)
        set_run(self, run_id, **values)

    monkeypatch.setattr(LibraryStore, "set_run", no_publishing)
    with pytest.raises(steps.IngestError, match=r"publish step failed \(RuntimeError\)"):
        steps.publish(hub, ref)
    assert "published again" in _failed(hub, ref["run_id"], "publish")
    monkeypatch.undo()
    assert steps.publish(hub, ref)["status"] == "published"
    assert hub.library.get_run(ref["run_id"])["status"] == "published"


def test_publishing_a_run_that_is_not_merged_is_refused_and_changes_nothing(
    hub: IngestServices,
) -> None:
    ref = steps.check(hub, steps.land(hub, "ps_household", FILE, "f.csv"))
    with pytest.raises(steps.IngestError, match=r"is checked, not merged: cannot publish"):
        steps.publish(hub, ref)
    assert hub.library.get_run(ref["run_id"])["status"] == "checked"


def test_a_merge_failure_on_the_command_line_is_a_message_and_a_failed_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from hub.cli import main

    monkeypatch.setenv("HUB_HOME", str(tmp_path / "hub"))
    monkeypatch.setenv("HUB_KEY_PASSPHRASE", "test-passphrase")
    monkeypatch.setattr("hub.settings._settings", None)  # read the variables above; undone after
    monkeypatch.setattr(LibraryStore, "merge_chunks", _broken)
    path = tmp_path / "dept.csv"
    path.write_bytes(FILE)
    result = CliRunner().invoke(main, ["ingest", str(path), "--dataset", "ps_household"])
    assert result.exit_code == 1
    assert "Traceback" not in result.output and "张三" not in result.output
    assert "merge step failed (RuntimeError)" in result.output
    runs = CliRunner().invoke(main, ["runs"])
    assert re.search(r"failed .*merge step failed \(RuntimeError\)", runs.output), runs.output


def test_a_merge_failure_in_the_dag_task_fails_the_run_and_is_retried(
    hub: IngestServices, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The merge task's failure is not final (an outage may pass: Airflow retries it), and the
    run says why it stopped meanwhile."""
    from dags import ingest as dags_ingest

    ref = steps.quarantine(hub, steps.check(hub, steps.land(hub, "ps_household", FILE, "f.csv")))
    monkeypatch.setattr(dags_ingest, "_hub", lambda: hub)
    monkeypatch.setattr(LibraryStore, "merge_chunks", _broken)
    with pytest.raises(steps.IngestError):  # not AirflowFailException: retried
        dags_ingest._final_on_breach(steps.merge, dict(ref))
    _failed(hub, ref["run_id"], "merge")
    monkeypatch.undo()
    monkeypatch.setattr(dags_ingest, "_hub", lambda: hub)
    merged = dags_ingest._final_on_breach(steps.merge, dict(ref))  # the retry
    assert steps.publish(hub, steps.measure_accuracy(hub, merged))["status"] == "published"


def test_a_merge_failure_in_the_api_worker_fails_the_run(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``python -m hub.publish_worker`` (run here in-process, without its resource limits)
    exits 1 and leaves the run failed with the merge step's message."""
    from hub import publish_worker as publish

    path = tmp_path / "dept.csv"
    path.write_bytes(FILE)
    monkeypatch.setattr(publish, "_limits", lambda: None)
    monkeypatch.setattr("sys.stdin", io.StringIO(settings.model_dump_json()))
    monkeypatch.setattr(LibraryStore, "merge_chunks", _broken)
    assert publish._work(["ps_household", str(path), "dept.csv"]) == 1
    hub = ingest_services(settings)
    (run,) = hub.library.list_runs()
    _failed(hub, run["run_id"], "merge")
    assert json.loads(json.dumps(run, default=str))["rows_in"] == 2
