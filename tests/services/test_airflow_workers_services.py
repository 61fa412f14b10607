"""A hub worker killed mid-merge: the task is retried on the other worker, to the same library.

``scripts/services.sh up airflow`` runs the hub's tasks on two Airflow Edge workers
(``hub-worker-1``, ``hub-worker-2``) on the hub's queue. A department file is uploaded through
the API; while its ``merge`` task runs, the worker running it (the task instance's hostname, as
the Airflow API reports it) is killed with SIGKILL together with every process it started (the
job's supervisor and the task, which the worker runs in process groups of their own), as when
its host dies. The task stops heartbeating; the
scheduler fails the try after ``[scheduler] task_instance_heartbeat_timeout`` and the DAG's
retries run it on the live worker. The run is published, and the library holds exactly what an
uninterrupted ingest of the same file holds: one merge of the run, one statement per accepted
row, the same golden values, the rejected rows quarantined once.

The killed worker is started again at the end (``scripts/services.sh up airflow``), so the
services stay as they were for the tests after this one.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from contextlib import suppress
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from servicekit import (
    ENV_FILE,
    airflow_api,
    household_publisher,
    libpq_url,
    scheduler_settings,
    service_env,
    upload_household,
    wait_for_run,
)
from sqlalchemy import Engine, select

from hub.settings import PROJECT_ROOT, Settings
from hub.wiring import api_app

pytestmark = pytest.mark.services

RUN_DIR = PROJECT_ROOT / "var" / "services" / "run"
DAG = "ingest_ps_household"
STEPS = ("land", "check", "quarantine", "merge", "publish")
PERSONS = 10_000  # a merge of some seconds on the services tier, so it can be caught running
RUN_TIMEOUT = 240.0  # seconds for the retried run to be published


def _alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _hub_workers() -> dict[str, int]:
    """The hub's running edge workers: name -> process group (their pid files)."""
    found = {}
    for pid_file in sorted(RUN_DIR.glob("hub-worker-*.pid")):
        pgid = int(pid_file.read_text())
        if _alive(pgid):
            found[pid_file.stem] = pgid
    return found


def _kill_host(pid: int) -> None:
    """SIGKILL a worker and every process it started, as when its machine is lost; wait until
    they are gone."""
    import psutil

    worker = psutil.Process(pid)
    tree = [worker, *worker.children(recursive=True)]
    for proc in tree:
        with suppress(psutil.NoSuchProcess):
            proc.send_signal(signal.SIGKILL)

    def gone(proc: psutil.Process) -> bool:
        try:
            return not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True

    deadline = time.monotonic() + 10
    while not all(gone(p) for p in tree):
        assert time.monotonic() < deadline, "a process of the killed worker survived SIGKILL"
        time.sleep(0.1)


def _services_env() -> dict[str, str]:
    """The environment that runs ``scripts/services.sh`` against these services (their ports)."""
    env = service_env()
    return {
        **os.environ,
        "HUB_SERVICES_PG_PORT": str(urlsplit(libpq_url(env["HUB_DATABASE_URL"])).port),
        "HUB_SERVICES_MINIO_PORT": env["HUB_MINIO_ENDPOINT"].rsplit(":", 1)[1],
        "HUB_SERVICES_AIRFLOW_PORT": str(urlsplit(env["HUB_AIRFLOW_API_URL"]).port),
    }


def _kill_the_merging_worker(settings: Settings, dag_run_id: str) -> tuple[str, int]:
    """SIGKILL the worker whose ``merge`` task is running; its name and the merge's try."""
    path = f"/api/v2/dags/{DAG}/dagRuns/{dag_run_id}/taskInstances/merge"
    deadline = time.monotonic() + 300
    ti: dict[str, Any] = {}
    with airflow_api(settings) as af:
        while time.monotonic() < deadline:
            r = af.get(path)
            if r.status_code == 200:
                ti = r.json()
                assert ti["state"] != "success", f"the merge ended before the kill: {ti}"
                workers = _hub_workers()
                if ti["state"] == "running" and ti["hostname"] in workers:
                    assert len(workers) >= 2, f"no other worker to retry on: {workers}"
                    _kill_host(workers[ti["hostname"]])
                    return str(ti["hostname"]), int(ti["try_number"])
            time.sleep(0.3)
    raise AssertionError(f"the merge did not start running on a hub worker within 300 s: {ti}")


def _run_rows(engine: Engine, run_id: str) -> dict[str, Any]:
    """What one run left in a library's tables: its merges, its statements (subject -> field ->
    value), its quarantine entries."""
    from storage.library.schema import merges, quarantine, statements

    with engine.connect() as conn:
        merged = conn.execute(
            select(merges.c.run_no, merges.c.fields, merges.c.facts).where(
                merges.c.run_id == run_id
            )
        ).all()
        written: list[dict[str, Any]] = []
        for run_no, fields, _ in merged:
            docs = conn.execute(
                select(statements.c.subject, statements.c.doc).where(statements.c.run_no == run_no)
            ).all()
            order = json.loads(fields) if fields else None
            written.append(
                {
                    subject: dict(zip(order, json.loads(doc), strict=True))
                    if order
                    else json.loads(doc)
                    for subject, doc in docs
                }
            )
        quarantined = conn.execute(
            select(quarantine.c.rows).where(quarantine.c.run_id == run_id)
        ).scalars()
        return {
            "merges": len(merged),
            "facts": [facts for _, _, facts in merged],
            "statements": written,
            "quarantine_entries": list(quarantined),
        }


def test_worker_killed_mid_merge_then_the_task_runs_on_the_other_worker(tmp_path: Path) -> None:
    from hub.synth import generate
    from hub.wiring import ingest_services
    from pipeline.run import run_pipeline
    from schemas.contracts import load_contracts

    airflow_env = service_env(ENV_FILE.parent / "airflow.env")
    assert "EdgeExecutor" in airflow_env["AIRFLOW__CORE__EXECUTOR"], airflow_env
    assert len(_hub_workers()) >= 2, "scripts/services.sh up airflow starts two hub workers"
    settings = scheduler_settings()
    contracts = {ds: c for ds, c in load_contracts().items() if ds == "ps_household"}
    files = generate(
        tmp_path / "synth",
        persons=PERSONS,
        entities=2,
        dirt=0.02,
        seed=time.time_ns(),
        contracts=contracts,
    )
    data = files.files["ps_household"].read_bytes()

    app = api_app(settings, background=False)
    headers = household_publisher(app, "workers")
    restart: subprocess.Popen[str] | None = None
    try:
        with TestClient(app) as http:
            upload = upload_household(http, headers, data)
            run_id = upload["run_id"]
            killed, first_try = _kill_the_merging_worker(settings, upload["dag_run_id"])
            # while the scheduler waits for the dead task's heartbeat: the same file ingested
            # without a fault, on the embedded default
            ref_hub = ingest_services(
                Settings(home=tmp_path / "reference", key_passphrase="reference")
            )
            ref = run_pipeline(ref_hub, "ps_household", data, "household.csv")
            run = wait_for_run(http, headers, run_id, RUN_TIMEOUT)
        restart = _restart_workers()
        _assert_same_run(settings, app, upload, killed, first_try, run, ref_hub, ref)
    finally:  # the killed worker back, as an operator (or a supervisor) would start it
        restart = restart or _restart_workers()
        out, _ = restart.communicate(timeout=300)
    assert restart.returncode == 0, out[-3000:]


def _restart_workers() -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["bash", "scripts/services.sh", "up", "airflow"],
        cwd=PROJECT_ROOT,
        env=_services_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _assert_same_run(
    settings: Settings,
    app: Any,
    upload: dict[str, Any],
    killed: str,
    first_try: int,
    run: dict[str, Any],
    ref_hub: Any,
    ref: Any,
) -> None:
    from storage.library import POPULATION

    run_id = upload["run_id"]
    assert run["status"] == "published", (
        f"{killed} killed during merge; run {run_id} is {run['status']!r}: {run.get('message')}"
    )

    # the merge was tried again, on the other worker, and every step succeeded
    # the run is marked published inside the publish task, a moment before Airflow records the
    # task's own success: wait (bounded) until no step of the run is still running
    url = f"/api/v2/dags/{DAG}/dagRuns/{upload['dag_run_id']}/taskInstances"
    with airflow_api(settings) as af:
        deadline = time.monotonic() + 60
        while True:
            by_task = {ti["task_id"]: ti for ti in af.get(url).json()["task_instances"]}
            pending = [t for t in STEPS if by_task[t]["state"] in ("running", "queued", None)]
            if not pending or time.monotonic() > deadline:
                break
            time.sleep(1)
    assert {t: by_task[t]["state"] for t in STEPS} == dict.fromkeys(STEPS, "success")
    assert by_task["merge"]["try_number"] > first_try
    assert by_task["merge"]["hostname"] not in ("", None, killed), by_task["merge"]
    assert by_task["merge"]["hostname"].startswith("hub-worker-")

    assert ref["status"] == "published"
    assert 0 < ref["rows_quarantined"] < ref["rows_in"]
    for count in ("rows_in", "rows_accepted", "rows_quarantined"):
        assert run[count] == ref[count], (count, run, ref)
    expected = _run_rows(ref_hub.library.engine, ref["run_id"])
    assert expected["merges"] == 1 and expected["quarantine_entries"] == [ref["rows_quarantined"]]
    # one merge, the same statements (one per subject), the rejected rows quarantined once
    got = _run_rows(app.state.hub.library.engine, run_id)
    same = got == expected  # (a diff of 10,000 statements would bury the summary below)
    assert same, {
        "merges": (got["merges"], expected["merges"]),
        "facts": (got["facts"], expected["facts"]),
        "statements": [len(s) for s in got["statements"]],
        "expected statements": [len(s) for s in expected["statements"]],
        "quarantine_entries": (got["quarantine_entries"], expected["quarantine_entries"]),
    }

    # and the golden values of the file's persons are this run's, as in the reference (a sample:
    # a record read is a few milliseconds)
    library = app.state.hub.library
    for pid in ref_hub.library.subjects(POPULATION)[::100]:
        want = ref_hub.library.person(pid)
        record = library.person(pid)
        assert want is not None and record is not None, "a person of the file is missing"
        assert {f: v.value for f, v in record.fields.items() if v.run_id == run_id} == {
            f: v.value for f, v in want.fields.items()
        }
