"""The DAG factory: one thin ingest DAG per contract, Asset events, and dag.test() end to end."""

from __future__ import annotations

from pathlib import Path

import pytest

from schemas.contracts import load_contracts

STEPS = ["land", "check", "quarantine", "merge", "publish"]


def test_one_ingest_dag_per_contract_with_the_five_steps() -> None:
    from dags import ingest as dags_ingest

    contracts = load_contracts()
    assert contracts
    for ds, contract in contracts.items():
        dag = getattr(dags_ingest, f"ingest_{ds}")
        assert dag.dag_id == f"ingest_{ds}"
        assert [t.task_id for t in dag.topological_sort()] == STEPS
        (outlet,) = dag.get_task("publish").outlets
        assert outlet.uri.rstrip("/") == f"library://{contract.library}"
    cross = dags_ingest.library_cross_checks
    assert [t.task_id for t in cross.tasks] == ["cross_checks"]


def test_dag_file_does_no_io_beyond_contracts(tmp_path: Path) -> None:
    # parsing the DAG file must not create any hub state (no database, no objects)
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[2]
    home = tmp_path / "untouched"
    code = "import dags.ingest, dags.anchor, dags.expire_licences"
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=repo,
        env={"HUB_HOME": str(home), "PATH": "/usr/bin:/bin", "AIRFLOW_HOME": str(tmp_path / "af")},
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    assert not home.exists()


# ~2.5 min on a quiet machine; seven Airflow runs can take four times that on a loaded one
@pytest.mark.timeout(1800)
def test_every_dag_runs_under_dag_test_and_a_rerun_changes_nothing(
    tmp_path: Path,
) -> None:
    import json
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[2]
    code = f"""
import json
from pathlib import Path
from hub.settings import Settings
from hub.synth import generate
from hub.airflow_env import run_dag_test
s = Settings(home=Path({str(tmp_path / "hub")!r}))
files = generate(Path({str(tmp_path / "files")!r}), persons=200, entities=40, dirt=0.005).files
for ds, path in sorted(files.items()):
    for attempt in ("first", "again") if ds == "ps_household" else ("first",):
        out = run_dag_test(s, ds, path)
        print("RESULT " + json.dumps({{"ds": ds, "attempt": attempt, **out}}, default=str))
"""
    proc = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, timeout=1700)
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    results = [
        json.loads(line[len("RESULT ") :])
        for line in proc.stdout.decode().splitlines()
        if line.startswith("RESULT ")
    ]
    by = {(r["ds"], r["attempt"]): r for r in results}
    assert {ds for ds, _ in by} == set(load_contracts())
    for ds in load_contracts():
        first = by[(ds, "first")]
        assert first["dag_run_state"] == "success", ds
        run = first["run"]
        assert run["status"] in ("published", "degraded"), ds
        assert run["rows_in"] == run["rows_accepted"] + run["rows_quarantined"] > 0, ds
    # the same file again: the DAG succeeds and the run is the same, unchanged
    again = by[("ps_household", "again")]
    assert again["dag_run_state"] == "success"
    assert again["run"] == by[("ps_household", "first")]["run"]


def test_outages_are_retried_but_a_quality_breach_is_final(monkeypatch: object) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    from dags import ingest as dags_ingest
    from quality.metrics import QualityBreachError

    dag = dags_ingest.ingest_ps_household
    assert all(t.retries == 3 for t in dag.tasks)

    def breaching_step(_hub: object, _ref: dict[str, object]) -> dict[str, object]:
        raise QualityBreachError("ps_household", ["completeness 0.5000 < 0.9800"])

    monkeypatch.setattr(dags_ingest, "_hub", lambda: None)  # type: ignore[attr-defined]
    try:
        dags_ingest._final_on_breach(breaching_step, {"run_id": "r"})
    except AirflowFailException as exc:  # fails the task at once, no retry
        assert "completeness 0.5000 < 0.9800" in str(exc)
    else:
        raise AssertionError("a quality breach must fail the task")


def test_an_unreadable_file_fails_the_check_task_at_once(
    tmp_path: Path, monkeypatch: object
) -> None:
    """Reading is part of the check task: a file that cannot be read fails it without retries
    (a retry cannot fix the file), with the reader's message, and the run is marked failed."""
    from airflow.sdk.exceptions import AirflowFailException

    from dags import ingest as dags_ingest
    from hub.settings import Settings
    from hub.wiring import ingest_services
    from pipeline import steps as ingest

    hub = ingest_services(Settings(home=tmp_path))
    ref = ingest.land(hub, "ps_household", b"id_number;name\n1;2\n", "bad.csv")
    monkeypatch.setattr(dags_ingest, "_hub", lambda: hub)  # type: ignore[attr-defined]
    with pytest.raises(AirflowFailException, match=r"bad\.csv: wrong delimiter"):
        dags_ingest._final_on_breach(ingest.check, ref)
    run = hub.library.get_run(ref["run_id"])
    assert run["status"] == "failed" and "wrong delimiter" in run["message"]
