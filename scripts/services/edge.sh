# A department next to the hub (sourced by scripts/services.sh): its own PostgreSQL cluster
# (the department's exchange database, on its own port, with a read-only account for the
# pull) and an Airflow Edge worker bound to the department's queue, plus the hub's API
# (`hub serve`) the worker lands its batches through. Needs postgres and airflow up.
#
# What lives where: the department's database password and its API key for the hub are in the
# worker's environment only (var/services/edge-worker.env, as they would be on the department's
# own machine); the worker reaches the hub only over HTTP (Airflow's edge and execution APIs, the
# hub's API). The hub keeps no department credential.

DEPT_PG_PORT=${HUB_SERVICES_DEPT_PG_PORT:-55433}
EDGE_HUB_PORT=${HUB_SERVICES_EDGE_HUB_PORT:-58081}
EDGE_QUEUE=${HUB_SERVICES_EDGE_QUEUE:-dept_ps}
EDGE_DATASETS=${HUB_SERVICES_EDGE_DATASETS:-dept_residents}
DEPT_PG_DATA="$SVC/dept-postgres"
DEPT_PG_LOG="$LOGS/dept-postgres.log"
EDGE_ENV="$SVC/edge-worker.env"

dept_pg_running() { runuser -u postgres -- "$(pg_bin)/pg_ctl" -D "$DEPT_PG_DATA" status >/dev/null 2>&1; }

dept_psql() {  # dept_psql DB SQL : as the department cluster's superuser
    PGPASSWORD=$(secret dept_pg_superuser) "$(pg_bin)/psql" -X -q -v ON_ERROR_STOP=1 \
        -h 127.0.0.1 -p "$DEPT_PG_PORT" -U postgres -d "$1" -tAc "$2"
}

dept_pg_up() {
    local bin; bin=$(pg_bin)
    if [ ! -e "$DEPT_PG_DATA" ]; then
        if runuser -u postgres -- test -x "$SVC" 2>/dev/null; then
            mkdir -p "$DEPT_PG_DATA"
        else
            local ext
            ext="/var/lib/hub-services/$(echo -n "$REPO" | sha256sum | cut -c1-12)/dept-postgres"
            mkdir -p "$ext"; ln -sfn "$ext" "$DEPT_PG_DATA"
        fi
        chown postgres: "$DEPT_PG_DATA"/ && chmod 700 "$DEPT_PG_DATA"/
    fi
    touch "$DEPT_PG_LOG"; chown postgres: "$DEPT_PG_LOG"
    if [ ! -s "$DEPT_PG_DATA/PG_VERSION" ]; then
        log "initdb $DEPT_PG_DATA (the department's cluster)"
        local pwfile; pwfile=$(mktemp); secret dept_pg_superuser > "$pwfile"; chown postgres: "$pwfile"
        runuser -u postgres -- "$bin/initdb" -D "$DEPT_PG_DATA" -U postgres --pwfile="$pwfile" \
            -E UTF8 --no-locale --auth-local=peer --auth-host=scram-sha-256 >>"$DEPT_PG_LOG" 2>&1
        local rc=$?; rm -f "$pwfile"
        [ $rc = 0 ] || { show_log "$DEPT_PG_LOG"; die "initdb (department) failed"; }
        cat >> "$DEPT_PG_DATA/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $DEPT_PG_PORT
unix_socket_directories = ''
max_connections = 30
shared_buffers = 32MB
CONF
    fi
    if dept_pg_running; then
        log "department postgres already running on 127.0.0.1:$DEPT_PG_PORT"
    else
        runuser -u postgres -- "$bin/pg_ctl" -D "$DEPT_PG_DATA" -l "$DEPT_PG_LOG" -w -t 60 start \
            >/dev/null 9>&- || { show_log "$DEPT_PG_LOG"; die "department postgres did not start"; }
    fi
    wait_for "department postgres" 30 "$DEPT_PG_LOG" dept_psql postgres "select 1" \
        || die "department postgres not answering"
    # the department's own account (owns its data) and the pull's read-only one
    local role pw
    for role in dept dept_reader; do
        pw=$(secret "dept_pg_$role")
        if [ "$(dept_psql postgres "select 1 from pg_roles where rolname='$role'")" != 1 ]; then
            dept_psql postgres "create role $role login password '$pw'"
        else
            dept_psql postgres "alter role $role login password '$pw'"
        fi
    done
    if [ "$(dept_psql postgres "select 1 from pg_database where datname='dept'")" != 1 ]; then
        dept_psql postgres "create database dept owner dept"
    fi
    dept_psql dept "grant connect on database dept to dept_reader;
        grant usage on schema public to dept_reader;
        alter default privileges for role dept in schema public grant select on tables to dept_reader"
    # the exchange table the department's application writes (前置库): a sequence-like seq set
    # on every change, a deleted flag; indexed on seq for the pull's incremental reads
    PGPASSWORD=$(secret dept_pg_dept) "$(pg_bin)/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 \
        -p "$DEPT_PG_PORT" -U dept -d dept -tAc "create table if not exists residents (
            id_number varchar(18) primary key, name text not null, mobile text,
            seq bigint not null, is_deleted boolean not null default false);
        create index if not exists residents_seq on residents (seq)" \
        || die "could not create the department's exchange table"
    log "department postgres up on 127.0.0.1:$DEPT_PG_PORT (database dept)"
}

# edge_client: the department's API client at the hub, granted its datasets; its key (shown
# once by the hub) kept in the department's secrets.
edge_client() {
    local keyfile="$SVC/secrets/edge_api_key"
    # shellcheck disable=SC1090
    (source "$AF_ENV"; EDGE_DATASETS="$EDGE_DATASETS" "$PY" - "$keyfile" <<'PY'
import datetime as dt, os, sys
from pathlib import Path
from api.clients import ClientStore
from api.purposes import registry
from hub.settings import Settings
from storage.library import engine_for
settings = Settings()
settings.ensure_dirs()
store = ClientStore(engine_for(settings.db_url), purposes=registry(settings.home))
client = "dept-edge-worker"
path = Path(sys.argv[1])
if path.is_file() and store.authenticate(path.read_text().strip()) is not None:
    sys.exit(0)  # registered by an earlier `up`, and the running worker holds this key
try:
    key = store.add(client, "department edge worker", rate_limit=1000)
except Exception:  # registered, but its key is lost: a new key replaces the old one
    key = store.rotate(client)
until = dt.datetime.now(dt.UTC) + dt.timedelta(days=365)
store.grant(client, "datasets", "dataset-publishing", until, os.environ["EDGE_DATASETS"].split(","))
path.write_text(key)
path.chmod(0o600)
PY
    ) || die "could not register the department's API client at the hub"
}

edge_write_env() {
    local key; key=$(cat "$SVC/secrets/edge_api_key")
    mkdir -p "$SVC/edge-worker"
    (
        umask 077
        echo "# generated by scripts/services.sh: the department's edge worker (its own machine)"
        echo "export AIRFLOW_HOME='$SVC/edge-worker'"
        [ -f "$REPO/airflow.cfg" ] && echo "export AIRFLOW_CONFIG='$REPO/airflow.cfg'"
        echo "export PYTHONPATH='$REPO'"
        echo "export AIRFLOW__CORE__DAGS_FOLDER='$REPO/dags'"
        echo "export AIRFLOW__CORE__LOAD_EXAMPLES=False"
        echo "export AIRFLOW__CORE__EXECUTOR=LocalExecutor,airflow.providers.edge3.executors.EdgeExecutor"
        echo "export AIRFLOW__CORE__EXECUTION_API_SERVER_URL='http://127.0.0.1:$AIRFLOW_PORT/execution/'"
        echo "export AIRFLOW__EDGE__API_ENABLED=True"
        echo "export AIRFLOW__EDGE__API_URL='http://127.0.0.1:$AIRFLOW_PORT/edge_worker/v1/rpcapi'"
        # the worker signs its requests to the edge API with the site's shared JWT secret
        echo "export AIRFLOW__API_AUTH__JWT_SECRET='$(secret airflow_jwt_secret)'"
        echo "export AIRFLOW__LOGGING__BASE_LOG_FOLDER='$SVC/edge-worker/logs'"
        echo "export HUB_CONTRACTS_EXTRA='$SVC/contracts'"
        # the department's credentials: its database (read-only) and its key for the hub's API
        echo "export AIRFLOW_CONN_DEPT_PS='postgres://dept_reader:$(secret dept_pg_dept_reader)@127.0.0.1:$DEPT_PG_PORT/dept'"
        echo "export AIRFLOW_CONN_HUB_API='http://:$key@127.0.0.1:$EDGE_HUB_PORT'"
    ) > "$EDGE_ENV"
}

# edge_contract: the department's dataset contract, pulled from its exchange table by its edge
# worker every minute (a real department's would say its own cadence).
edge_contract() {
    mkdir -p "$SVC/contracts"
    cat > "$SVC/contracts/dept_residents.yaml" <<YAML
# written by scripts/services.sh up edge: a county public security bureau's residents,
# pulled from its exchange database (前置库) by the edge worker in its own network
dataset_id: dept_residents
title: 县公安局 常住人口 (exchange table)
department: 测试县公安局 County Public Security Bureau
library: population
format: csv
encoding: utf-8
key: [id_number]
subject_column: id_number
authoritative_for: [name]
cadence_days: 1
source:
  kind: sql
  connection: dept_ps
  table: public.residents
  watermark: seq
  deleted: is_deleted
  queue: $EDGE_QUEUE
  every_minutes: 1
columns:
  - {name: id_number, type: string, required: true, field: id_number, rules: [resident_id]}
  - {name: name, type: string, required: true, field: name}
  - {name: mobile, type: string, field: mobile}
YAML
}

edge_up() {
    [ -s "$AF_ENV" ] || die "airflow is not set up (scripts/services.sh up airflow)"
    dept_pg_up
    edge_contract
    edge_client
    edge_write_env
    if pid_alive hub-api; then
        log "hub api already running"
    else
        # shellcheck disable=SC1090
        (source "$AF_ENV"; start_bg hub-api "$LOGS/hub-api.log" "$REPO/.venv/bin/hub" serve \
            --host 127.0.0.1 --port "$EDGE_HUB_PORT" --no-background)
    fi
    wait_for "hub api" 60 "$LOGS/hub-api.log" http_ok "http://127.0.0.1:$EDGE_HUB_PORT/v1/health" \
        || die "hub api not up"
    if pid_alive edge-worker; then
        log "edge worker already running"
    else
        # a clean environment: the worker sees only what a department's machine would hold
        start_bg edge-worker "$LOGS/edge-worker.log" env -i PATH=/usr/bin:/bin HOME="$SVC/edge-worker" \
            bash -c "source '$EDGE_ENV' && exec '$REPO/.venv/bin/airflow' edge worker \
                --queues '$EDGE_QUEUE' --concurrency 2 --edge-hostname dept-edge"
    fi
    wait_for "edge worker" 90 "$LOGS/edge-worker.log" edge_registered || die "edge worker not registered"
    {
        echo "export HUB_SERVICES_DEPT_DATABASE_URL='postgresql+psycopg://dept:$(secret dept_pg_dept)@127.0.0.1:$DEPT_PG_PORT/dept'"
        echo "export HUB_SERVICES_API_URL='http://127.0.0.1:$EDGE_HUB_PORT'"
        echo "export HUB_SERVICES_EDGE_QUEUE='$EDGE_QUEUE'"
        echo "export HUB_CONTRACTS_EXTRA='$SVC/contracts'"
    } > "$SVC/edge.env"
    log "edge worker up on queue $EDGE_QUEUE; department database on 127.0.0.1:$DEPT_PG_PORT"
}

# edge_registered: Airflow lists our worker, idle or running, on the department's queue.
edge_registered() {
    pid_alive edge-worker || return 1
    # shellcheck disable=SC1090
    (source "$AF_ENV"; "$REPO/.venv/bin/airflow" edge list-workers -o json 2>/dev/null) \
        | "$PY" -c '
import json, sys
rows = json.loads(sys.stdin.read().strip().splitlines()[-1])
sys.exit(0 if any(r["worker_name"] == "dept-edge" and r["state"] in ("idle", "running")
                  and sys.argv[1] in r["queues"] for r in rows) else 1)' "$EDGE_QUEUE"
}

edge_down() {
    if [ -s "$RUN/edge-worker.pid" ]; then stop_bg edge-worker 30 && log "edge worker stopped"; fi
    if [ -s "$RUN/hub-api.pid" ]; then stop_bg hub-api 30 && log "hub api stopped"; fi
    if [ -s "$DEPT_PG_DATA/PG_VERSION" ] && dept_pg_running; then
        runuser -u postgres -- "$(pg_bin)/pg_ctl" -D "$DEPT_PG_DATA" -m fast -w stop >/dev/null \
            && log "department postgres stopped"
    fi
}

edge_status() {
    local c
    for c in edge-worker hub-api; do
        if pid_alive "$c"; then printf 'edge       running  %s\n' "$c"; else printf 'edge       stopped  %s\n' "$c"; fi
    done
}
