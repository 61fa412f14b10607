"""The environment Airflow runs in for this hub: its home, config, metadata DB and DAG folder.

Airflow reads its configuration from the environment when first imported, so callers build the
variables here and either pass them to a subprocess (``airflow db migrate``, the api-server) or
apply them to this process *before* importing airflow (``dag.test()`` from the command line).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from hub.settings import PROJECT_ROOT, Settings

AIRFLOW_CFG = PROJECT_ROOT / "airflow.cfg"
DAGS_FOLDER = PROJECT_ROOT / "dags"


def airflow_environ(settings: Settings) -> dict[str, str]:
    """AIRFLOW_* variables for this hub (metadata in SQLite under HUB_HOME unless configured)."""
    home = settings.airflow_path
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW_CONFIG": str(AIRFLOW_CFG),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        "HUB_HOME": str(settings.home),
    }


def subprocess_env(settings: Settings) -> dict[str, str]:
    """The current environment plus the Airflow variables (for ``airflow ...`` subprocesses)."""
    env = dict(os.environ)
    env.update(airflow_environ(settings))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    return env


def apply_in_process(settings: Settings) -> None:
    """Set the variables in this process; refuse if airflow was already imported with others."""
    wanted = airflow_environ(settings)
    if "airflow" in sys.modules and os.environ.get("AIRFLOW_HOME") != wanted["AIRFLOW_HOME"]:
        raise RuntimeError(
            "airflow was imported before the hub's Airflow environment was applied; "
            "call hub.airflow_env.apply_in_process() first"
        )
    settings.airflow_path.mkdir(parents=True, exist_ok=True)
    os.environ.update(wanted)


def airflow_bin() -> str:
    return str(Path(sys.executable).with_name("airflow"))


def migrate(settings: Settings) -> None:
    """Create or upgrade Airflow's metadata database (slow: tens of seconds on SQLite)."""
    settings.airflow_path.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [airflow_bin(), "db", "migrate"],
        env=subprocess_env(settings),
        capture_output=True,
        text=True,
        timeout=900,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed:\n{proc.stderr[-3000:]}")


def run_dag_test(settings: Settings, dataset: str, file: Path) -> dict[str, Any]:
    """Run ``ingest_<dataset>`` in this process with ``dag.test()``; returns the run summary."""
    apply_in_process(settings)
    if not (settings.airflow_path / "airflow.db").exists():
        migrate(settings)
    from dags.ingest import build_ingest_dag
    from hub.wiring import ingest_services

    hub = ingest_services(settings)
    dag = build_ingest_dag(hub.contract(dataset))
    dr = dag.test(run_conf={"file": str(file.resolve())})
    from storage.objects import sha256_hex

    run = hub.library.find_run(dataset, sha256_hex(file.read_bytes()))
    return {"dag_id": dag.dag_id, "dag_run_state": str(dr.state), "run": run}
