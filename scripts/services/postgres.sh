# PostgreSQL from Debian's packages: our own cluster under var/services/postgres on 127.0.0.1,
# a role+database for the hub and one for Airflow (sourced by scripts/services.sh).

PG_DATA="$SVC/postgres"
PG_LOG="$LOGS/postgres.log"

pg_bin() {
    local d
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    [ -n "$d" ] || die "PostgreSQL server binaries not found under /usr/lib/postgresql (run scripts/system-deps.sh)"
    echo "$d"
}

# initdb refuses to run as root, so the cluster belongs to Debian's `postgres` OS user. If that
# user cannot reach the repository (e.g. a clone under /root), the data lives in /var/lib and
# var/services/postgres is a symlink to it.
pg_prepare_dir() {  # pg_prepare_dir [DIR] : a cluster's data folder (default: the primary's)
    local dir=${1:-$PG_DATA}
    [ -e "$dir" ] && return 0
    if runuser -u postgres -- test -x "$SVC" 2>/dev/null; then
        mkdir -p "$dir"
    else
        local ext
        ext="/var/lib/hub-services/$(echo -n "$REPO" | sha256sum | cut -c1-12)/$(basename "$dir")"
        log "postgres user cannot reach $SVC; keeping the cluster in $ext"
        mkdir -p "$ext"; ln -sfn "$ext" "$dir"
    fi
    chown postgres: "$dir"/ && chmod 700 "$dir"/
}

pg_running() { runuser -u postgres -- "$(pg_bin)/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; }

pg_psql() {  # pg_psql DB SQL : run SQL as the cluster superuser over TCP
    PGPASSWORD=$(secret pg_superuser) "$(pg_bin)/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 \
        -p "${PG_PSQL_PORT:-$PG_PORT}" -U postgres -d "$1" -tAc "$2"
}

postgres_up() {
    id postgres >/dev/null 2>&1 || die "OS user postgres missing (is the postgresql package installed?)"
    local bin; bin=$(pg_bin)
    pg_prepare_dir
    touch "$PG_LOG"; chown postgres: "$PG_LOG"
    if [ ! -s "$PG_DATA/PG_VERSION" ]; then
        log "initdb $PG_DATA"
        local pwfile; pwfile=$(mktemp); secret pg_superuser > "$pwfile"; chown postgres: "$pwfile"
        runuser -u postgres -- "$bin/initdb" -D "$PG_DATA" -U postgres --pwfile="$pwfile" \
            -E UTF8 --no-locale --auth-local=peer --auth-host=scram-sha-256 >>"$PG_LOG" 2>&1
        local rc=$?; rm -f "$pwfile"
        [ $rc = 0 ] || { show_log "$PG_LOG"; die "initdb failed"; }
        # TCP on loopback only; no Unix socket (its folder would need to be reachable by root and
        # postgres alike). Memory and checkpoints: pg_tune below.
        cat >> "$PG_DATA/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = ''
max_connections = 200
fsync = on
CONF
    fi
    if pg_running; then
        log "postgres already running on 127.0.0.1:$PG_PORT"
    else
        runuser -u postgres -- "$bin/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t 60 start >/dev/null 9>&- \
            || { show_log "$PG_LOG"; die "postgres did not start"; }
    fi
    wait_for postgres 30 "$PG_LOG" pg_psql postgres "select 1" || die "postgres not answering"
    # full-page images in the WAL compressed (an index build writes one per page): a quarter less
    # WAL to write and flush for a bulk load; pglz where the server is built without lz4
    if [ "$(pg_psql postgres "show wal_compression")" != lz4 ]; then
        pg_psql postgres "alter system set wal_compression = 'lz4'" 2>/dev/null \
            || pg_psql postgres "alter system set wal_compression = 'pglz'"
        pg_psql postgres "select pg_reload_conf()" >/dev/null
    fi
    pg_tune
    local role db pw
    for role in hub airflow; do
        db=$role; pw=$(secret "pg_$role")
        if [ "$(pg_psql postgres "select 1 from pg_roles where rolname='$role'")" != 1 ]; then
            pg_psql postgres "create role $role login createdb password '$pw'"
        else
            pg_psql postgres "alter role $role login createdb password '$pw'"
        fi
        if [ "$(pg_psql postgres "select 1 from pg_database where datname='$db'")" != 1 ]; then
            pg_psql postgres "create database $db owner $role"
        fi
    done
    log "postgres up on 127.0.0.1:$PG_PORT (databases hub, airflow)"
}

# Sized for a province's bulk loads (ten million persons in one run) on a machine of 24 GiB
# shared with other work: a 4 GiB buffer cache holds the hot pages of the statements' and golden
# records' keys while a run's rows go in (128 MB made every partition's B-tree page go out and
# back in; 1 GiB: the 10 M ingest of bench.province 96.9 s, 4 GiB: 83.8 to 86.0 s, quiet); checkpoints at most every 15 min or 8 GiB of WAL, so a load writes each page's full
# image once per checkpoint rather than once a minute; the rest stays as Debian ships it. Set
# with ALTER SYSTEM, so a cluster made before these settings gets them too (a restart when the
# buffer cache changed). The merge session raises its own work_mem and maintenance_work_mem.
PG_TUNING="shared_buffers=4GB max_wal_size=8GB min_wal_size=1GB checkpoint_timeout=15min
checkpoint_completion_target=0.9 effective_cache_size=8GB"

pg_tune() {
    local kv name value
    for kv in $PG_TUNING; do
        name=${kv%%=*}; value=${kv#*=}
        if [ "$(pg_psql postgres "show $name")" != "$value" ]; then
            pg_psql postgres "alter system set $name = '$value'"
        fi
    done
    pg_psql postgres "select pg_reload_conf()" >/dev/null
    if [ "$(pg_psql postgres "select count(*) from pg_settings where pending_restart")" != 0 ]; then
        log "postgres: restarting for its new settings"
        runuser -u postgres -- "$(pg_bin)/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t 120 restart \
            >/dev/null 9>&- || { show_log "$PG_LOG"; die "postgres did not restart"; }
        wait_for postgres 30 "$PG_LOG" pg_psql postgres "select 1" || die "postgres not answering"
    fi
}

postgres_down() {
    [ -s "$PG_DATA/PG_VERSION" ] || return 0
    if pg_running; then
        runuser -u postgres -- "$(pg_bin)/pg_ctl" -D "$PG_DATA" -m fast -w -t 60 stop >/dev/null \
            && log "postgres stopped"
    fi
}

postgres_status() {
    if pg_running; then echo "postgres   running  127.0.0.1:$PG_PORT"; else echo "postgres   stopped"; fi
}
