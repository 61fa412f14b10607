#!/usr/bin/env bash
# `make airflow`: migrate Airflow's metadata DB under HUB_HOME and start the api-server on
# 127.0.0.1:8080 (plus scheduler and dag-processor) with the hub's airflow.cfg and dags folder.
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(.venv/bin/python - <<'PY'
import shlex
from hub.airflow_env import subprocess_env
from hub.settings import get_settings
s = get_settings()
s.ensure_dirs()
for k, v in subprocess_env(s).items():
    if k.startswith(("AIRFLOW", "HUB_", "PYTHONPATH")):
        print(f"export {k}={shlex.quote(v)}")
PY
)"
.venv/bin/airflow db migrate
.venv/bin/airflow scheduler >"$AIRFLOW_HOME/scheduler.log" 2>&1 &
echo $! >"$AIRFLOW_HOME/scheduler.pid"
.venv/bin/airflow dag-processor >"$AIRFLOW_HOME/dag-processor.log" 2>&1 &
echo $! >"$AIRFLOW_HOME/dag-processor.pid"
exec .venv/bin/airflow api-server --host 127.0.0.1 --port 8080
