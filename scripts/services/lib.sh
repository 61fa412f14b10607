# Shared helpers for scripts/services/*.sh (sourced, not run): paths, ports, secrets, pid files,
# health waits that print the tail of the log when they give up.

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SVC="$REPO/var/services"          # all state of the loopback services (git-ignored)
RUN="$SVC/run"                    # pid files of the processes we started
LOGS="$SVC/logs"
PY="$REPO/.venv/bin/python"

# Non-default ports so a system PostgreSQL/MinIO/Airflow on the same machine does not collide.
PG_PORT=${HUB_SERVICES_PG_PORT:-55432}
MINIO_PORT=${HUB_SERVICES_MINIO_PORT:-59000}
MINIO_CONSOLE_PORT=${HUB_SERVICES_MINIO_CONSOLE_PORT:-59001}
AIRFLOW_PORT=${HUB_SERVICES_AIRFLOW_PORT:-58080}

# var/services stays traversable: the postgres OS user owns the cluster folder inside it. Secrets
# live in var/services/secrets (0700) and the env files are 0600.
mkdir -p "$SVC" "$RUN" "$LOGS"

log() { printf '[services] %s\n' "$*"; }
die() { printf '[services] ERROR: %s\n' "$*" >&2; exit 1; }

# secret NAME [KIND]: a value generated once into var/services/secrets/NAME (never committed).
secret() {
    local file="$SVC/secrets/$1"
    if [ ! -s "$file" ]; then
        mkdir -p "$SVC/secrets"; chmod 700 "$SVC/secrets"
        (umask 077; od -An -tx1 -N16 /dev/urandom | tr -d ' \n' > "$file")
    fi
    cat "$file"
}

# show_log FILE: the last lines of a log, to say why a start failed.
show_log() {
    echo "----- last lines of $1 -----" >&2
    tail -n 40 "$1" >&2 2>/dev/null || echo "(no log)" >&2
    echo "-----" >&2
}

# wait_for NAME TIMEOUT LOG CMD...: poll CMD every second until it succeeds; on timeout show LOG.
wait_for() {
    local name=$1 timeout=$2 logfile=$3; shift 3
    local deadline=$((SECONDS + timeout))
    until "$@" >/dev/null 2>&1; do
        if [ $SECONDS -ge $deadline ]; then
            echo "[services] $name did not become healthy within ${timeout}s (check: $*)" >&2
            show_log "$logfile"
            return 1
        fi
        sleep 1
    done
}

# pid_alive NAME: the process recorded in run/NAME.pid is running.
pid_alive() {
    local f="$RUN/$1.pid"
    [ -s "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null
}

# start_bg NAME LOG CMD...: start CMD in its own session (process group = its pid), record the pid.
start_bg() {
    local name=$1 logfile=$2; shift 2
    setsid "$@" >>"$logfile" 2>&1 < /dev/null 9>&- &
    echo $! > "$RUN/$name.pid"
}

# stop_bg NAME [TIMEOUT]: TERM the process group we recorded, then KILL after TIMEOUT seconds.
stop_bg() {
    local name=$1 timeout=${2:-30} f="$RUN/$1.pid" pid
    [ -s "$f" ] || return 0
    pid=$(cat "$f")
    if kill -0 "$pid" 2>/dev/null || kill -0 -- "-$pid" 2>/dev/null; then
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
        local deadline=$((SECONDS + timeout))
        while kill -0 -- "-$pid" 2>/dev/null; do
            if [ $SECONDS -ge $deadline ]; then
                log "$name did not stop within ${timeout}s; killing its process group"
                kill -KILL -- "-$pid" 2>/dev/null
                sleep 1
                break
            fi
            sleep 0.5
        done
    fi
    rm -f "$f"
}

http_ok() { curl -sf -o /dev/null --max-time 3 "$1"; }
