"""One ``pull_<dataset>`` DAG per contract with a source: scheduled on its cadence, on its
department's queue, and run end to end with ``dag.test()`` (Airflow resolving the connection)."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine

import schemas.contracts
from schemas.contracts import load_contracts
from tests.pipeline.pullkit import DATASET, create_table, delete, upsert, write_contracts

REPO = Path(__file__).resolve().parents[2]
SOURCE = "kind: sql\nconnection: dept_db\ntable: residents\nwatermark: seq\ndeleted: is_deleted\n"
EDGE = SOURCE + "queue: dept_ps\nevery_minutes: 2\n"


def test_one_pull_dag_per_contract_with_a_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = write_contracts(tmp_path / "contracts", EDGE)
    monkeypatch.setattr(schemas.contracts, "CONTRACTS_DIR", folder)
    import dags.pull

    module = importlib.reload(dags.pull)
    with_source = [c for c in load_contracts().values() if c.pull is not None]
    assert [c.dataset_id for c in with_source] == [DATASET]  # other_names is delivered only
    dag = module.pull_dept_residents
    assert not hasattr(module, "pull_other_names")
    assert dag.schedule == timedelta(minutes=2)  # every_minutes (else cadence_days)
    assert [t.task_id for t in dag.topological_sort()] == ["settle", "extract", "ingest"]
    # only the reading runs on the department's queue (its edge worker); the rest at the hub
    assert [t.queue for t in dag.topological_sort()] == ["default", "dept_ps", "default"]
    (outlet,) = dag.get_task("ingest").outlets
    assert outlet.uri.rstrip("/") == "library://population"


def test_a_source_the_hub_reads_is_one_task_on_its_cadence(tmp_path: Path) -> None:
    from dags.pull import build_pull_dag

    folder = write_contracts(tmp_path / "contracts", SOURCE)
    dag = build_pull_dag(load_contracts(folder)[DATASET])
    assert dag.schedule == timedelta(days=1)  # cadence_days
    (only,) = dag.tasks
    assert only.task_id == "pull" and only.queue == "default"
    (outlet,) = only.outlets
    assert outlet.uri.rstrip("/") == "library://population"


DAG_TEST = """
import json, sys
from pathlib import Path
import schemas.contracts
schemas.contracts.CONTRACTS_DIR = Path(sys.argv[2])
from hub.settings import Settings
from hub.airflow_env import apply_in_process, migrate
import hub.settings
s = Settings(home=Path(sys.argv[1]), key_passphrase="test-passphrase")
hub.settings._settings = s
apply_in_process(s)
migrate(s)
from dags.pull import build_pull_dag
from hub.wiring import ingest_services
hub_ = ingest_services(s)
dag = build_pull_dag(hub_.contract("dept_residents"))
for attempt in range(int(sys.argv[3])):
    dr = dag.test()
    names = hub_.library.field_values("population", "name")
    print("RESULT " + json.dumps({"state": str(dr.state), "names": names}))
"""


@pytest.mark.timeout(900)
def test_pull_dag_runs_with_airflow_resolving_the_connection(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'dept.sqlite'}"
    engine = create_engine(url)
    create_table(engine)
    upsert(engine, [(1, "甲"), (2, "乙")])
    folder = write_contracts(tmp_path / "contracts", SOURCE)
    # Airflow's URI of an absolute SQLite path (sqlite:////abs/path), resolved by Airflow
    env = {**os.environ, "AIRFLOW_CONN_DEPT_DB": url}
    proc = subprocess.run(
        [sys.executable, "-c", DAG_TEST, str(tmp_path / "hub"), str(folder), "1"],
        cwd=REPO,
        env=env,
        capture_output=True,
        timeout=850,
    )
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    (result,) = [
        json.loads(line[7:])
        for line in proc.stdout.decode().splitlines()
        if line.startswith("RESULT ")
    ]
    assert result["state"].endswith("success")
    assert sorted(result["names"].values()) == ["乙", "甲"]
    delete(engine, [1])
    upsert(engine, [(2, "乙改")])
    proc = subprocess.run(
        [sys.executable, "-c", DAG_TEST, str(tmp_path / "hub"), str(folder), "1"],
        cwd=REPO,
        env=env,
        capture_output=True,
        timeout=850,
    )
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    (result,) = [
        json.loads(line[7:])
        for line in proc.stdout.decode().splitlines()
        if line.startswith("RESULT ")
    ]
    assert list(result["names"].values()) == ["乙改"]


def test_pull_dag_file_does_no_io_beyond_contracts(tmp_path: Path) -> None:
    home = tmp_path / "untouched"
    extra = write_contracts(tmp_path / "province", EDGE)
    proc = subprocess.run(
        [sys.executable, "-c", "import dags.pull as d; assert hasattr(d, 'pull_dept_residents')"],
        cwd=REPO,
        env={
            "HUB_HOME": str(home),
            "HUB_CONTRACTS_EXTRA": str(extra),
            "PATH": "/usr/bin:/bin",
            "AIRFLOW_HOME": str(tmp_path / "af"),
        },
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    assert not home.exists()
