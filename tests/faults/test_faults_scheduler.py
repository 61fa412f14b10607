"""The Airflow scheduler is killed in the middle of an ingest: the run is re-run to the same end state.

A department file is uploaded through the API; the loopback scheduler starts its DAG. While a
task after ``land`` is running, the scheduler's whole process group gets SIGKILL, as when its
host or container dies (the task runs on one of the hub's edge workers and goes on).
``scripts/services.sh up airflow`` (what an operator or a supervisor does) starts a new one; it
finds the dead scheduler's task instances (``orphaned_tasks_check_interval`` in airflow.cfg),
adopts those a worker still runs and resets the others, and the DAG runs to the end. The library must then hold exactly what an uninterrupted
ingest of the same file holds on the embedded default: same rows, same facts, same golden values.

This kills the shared services' scheduler, so it restarts it before it asserts anything else; the
services stay up for the tests after it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from servicekit import (
    airflow_api,
    airflow_task_states,
    household_publisher,
    scheduler_settings,
    upload_household,
    wait_for_run,
)

from hub.settings import PROJECT_ROOT, Settings
from hub.wiring import api_app

pytestmark = pytest.mark.services

PID_FILE = PROJECT_ROOT / "var" / "services" / "run" / "scheduler.pid"
STEPS = ("land", "check", "quarantine", "merge", "publish")
RUN_TIMEOUT = 600.0  # seconds for the restarted scheduler to finish the run


def _alive(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _kill_when_a_task_after_land_runs(settings: Settings, dag_run_id: str) -> str:
    """SIGKILL the scheduler's process group while a task after ``land`` runs; its id."""
    path = f"/api/v2/dags/ingest_ps_household/dagRuns/{dag_run_id}/taskInstances"
    deadline = time.monotonic() + 300
    with airflow_api(settings) as af:
        while time.monotonic() < deadline:
            r = af.get(path)
            r.raise_for_status()
            states = {ti["task_id"]: ti["state"] for ti in r.json()["task_instances"]}
            running = [t for t in STEPS[1:] if states.get(t) == "running"]
            if running:
                pgid = int(PID_FILE.read_text())
                os.killpg(pgid, signal.SIGKILL)
                return running[0]
            assert states.get("publish") != "success", f"the run ended before the kill: {states}"
            time.sleep(0.3)
    raise AssertionError(f"no task after land started running within 300 s: {states}")


def test_scheduler_killed_mid_run_then_the_run_completes_unchanged(tmp_path: Path) -> None:
    from hub.synth import generate
    from hub.wiring import ingest_services
    from pipeline.run import run_pipeline
    from storage.library import POPULATION

    settings = scheduler_settings()
    files = generate(tmp_path / "synth", persons=60, entities=2, dirt=0.0, seed=time.time_ns())
    data = files.files["ps_household"].read_bytes()

    app = api_app(settings, background=False)
    headers = household_publisher(app, "fault")
    old_pgid = int(PID_FILE.read_text())
    with TestClient(app) as http:
        upload = upload_household(http, headers, data)
        run_id = upload["run_id"]

        killed_in = _kill_when_a_task_after_land_runs(settings, upload["dag_run_id"])
        for _ in range(50):  # SIGKILL is delivered at once; the group is reaped by init
            if not _alive(old_pgid):
                break
            time.sleep(0.1)
        assert not _alive(old_pgid), "the scheduler's process group survived SIGKILL"
        assert http.get(f"/v1/runs/{run_id}", headers=headers).json()["status"] != "published"

        restart = subprocess.run(
            ["bash", "scripts/services.sh", "up", "airflow"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert restart.returncode == 0, restart.stdout[-2000:] + restart.stderr[-2000:]
        assert int(PID_FILE.read_text()) != old_pgid

        run = wait_for_run(http, headers, run_id, RUN_TIMEOUT)
    assert run["status"] == "published", (
        f"killed during {killed_in}; run {run_id} is {run['status']!r} after restart: "
        f"{run.get('message')}"
    )
    assert run["rows_in"] == run["rows_accepted"] == 60 and run["rows_quarantined"] == 0
    assert airflow_task_states(settings, upload["dag_run_id"]) == dict.fromkeys(STEPS, "success")

    # the same file ingested without a fault, on the embedded default
    ref_hub = ingest_services(Settings(home=tmp_path / "reference", key_passphrase="reference"))
    ref = run_pipeline(ref_hub, "ps_household", data, "household.csv")
    assert ref["status"] == "published"
    expected = {
        pid: {f: v.value for f, v in rec.fields.items()}
        for pid in ref_hub.library.subjects(POPULATION)
        if (rec := ref_hub.library.person(pid)) is not None
    }
    library = app.state.hub.library
    got: dict[str, dict[str, str]] = {}
    facts_of_run = 0
    for pid in expected:
        rec = library.person(pid)
        assert rec is not None, "a person of the file is missing from the library"
        got[pid] = {f: v.value for f, v in rec.fields.items() if v.run_id == run_id}
        facts_of_run += sum(1 for h in rec.history.values() for f in h if f.run_id == run_id)
    assert got == expected  # every value of the file, from this run, none lost
    assert facts_of_run == ref_hub.library.fact_count()  # and none written twice
