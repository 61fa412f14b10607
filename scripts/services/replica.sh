# A streaming replica of our PostgreSQL (sourced by scripts/services.sh after postgres.sh): a hot
# standby on 127.0.0.1:HUB_SERVICES_PG_REPLICA_PORT (default: the primary's port + 2), cloned with
# pg_basebackup -R from the primary over a physical replication slot, data under
# var/services/postgres-replica. The API reads golden records from it (HUB_DATABASE_REPLICA_URL
# in var/services/env); everything that writes, or must be fresh, stays on the primary.

PG_REPLICA_PORT=${HUB_SERVICES_PG_REPLICA_PORT:-$((PG_PORT + 2))}  # +1 is the department's (edge.sh)
PG_REPLICA_DATA="$SVC/postgres-replica"
PG_REPLICA_LOG="$LOGS/postgres-replica.log"
PG_SLOT=hub_replica
# WAL the primary keeps for a replica that is down (the slot's hold on the primary's disk is
# bounded: past it the slot is invalidated and the replica must be cloned again)
PG_SLOT_MAX_WAL=${HUB_SERVICES_PG_SLOT_MAX_WAL:-2GB}

replica_running() {
    [ -s "$PG_REPLICA_DATA/PG_VERSION" ] \
        && runuser -u postgres -- "$(pg_bin)/pg_ctl" -D "$PG_REPLICA_DATA" status >/dev/null 2>&1
}

replica_psql() { PG_PSQL_PORT=$PG_REPLICA_PORT pg_psql "$@"; }

replica_in_recovery() { [ "$(replica_psql postgres "select pg_is_in_recovery()")" = t ]; }

replica_up() {
    pg_running || die "the replica needs the primary: scripts/services.sh up postgres replica"
    local bin pw; bin=$(pg_bin); pw=$(secret pg_replicator)
    # the replication role and the slot that keeps the WAL the replica has not received yet
    if [ "$(pg_psql postgres "select 1 from pg_roles where rolname='replicator'")" != 1 ]; then
        pg_psql postgres "create role replicator with replication login password '$pw'"
    else
        pg_psql postgres "alter role replicator with replication login password '$pw'"
    fi
    if [ "$(pg_psql postgres "show max_slot_wal_keep_size")" != "$PG_SLOT_MAX_WAL" ]; then
        pg_psql postgres "alter system set max_slot_wal_keep_size = '$PG_SLOT_MAX_WAL'"
        pg_psql postgres "select pg_reload_conf()" >/dev/null
    fi
    if [ "$(pg_psql postgres "select 1 from pg_replication_slots where slot_name='$PG_SLOT'")" != 1 ]; then
        pg_psql postgres "select pg_create_physical_replication_slot('$PG_SLOT')" >/dev/null
    fi
    touch "$PG_REPLICA_LOG"; chown postgres: "$PG_REPLICA_LOG"
    if [ ! -s "$PG_REPLICA_DATA/PG_VERSION" ]; then
        log "pg_basebackup of 127.0.0.1:$PG_PORT into $PG_REPLICA_DATA"
        pg_prepare_dir "$PG_REPLICA_DATA"
        find "$PG_REPLICA_DATA"/ -mindepth 1 -delete  # what a failed clone left behind
        # -R: standby.signal and primary_conninfo (with the slot) for the standby to follow;
        # the password comes from the environment, never the command line
        PGPASSWORD=$pw runuser -u postgres -- "$bin/pg_basebackup" -h 127.0.0.1 -p "$PG_PORT" \
            -U replicator -D "$PG_REPLICA_DATA" -R -S "$PG_SLOT" -X stream -c fast \
            >>"$PG_REPLICA_LOG" 2>&1 \
            || { show_log "$PG_REPLICA_LOG"; die "pg_basebackup failed"; }
        # the clone carries the primary's settings: its own port, and reads while it replays
        cat >> "$PG_REPLICA_DATA/postgresql.conf" <<CONF
# the hot standby (scripts/services/replica.sh)
port = $PG_REPLICA_PORT
hot_standby = on
# tell the primary which rows its queries still see: a long read is not cancelled by the
# vacuum of the primary (the cost: those rows' space is reclaimed later)
hot_standby_feedback = on
CONF
    fi
    if replica_running; then
        log "replica already running on 127.0.0.1:$PG_REPLICA_PORT"
    else
        runuser -u postgres -- "$bin/pg_ctl" -D "$PG_REPLICA_DATA" -l "$PG_REPLICA_LOG" -w -t 60 \
            start >/dev/null 9>&- || { show_log "$PG_REPLICA_LOG"; die "the replica did not start"; }
    fi
    wait_for replica 30 "$PG_REPLICA_LOG" replica_in_recovery || die "the replica is not a standby"
    log "replica up on 127.0.0.1:$PG_REPLICA_PORT (hot standby of :$PG_PORT, slot $PG_SLOT)"
}

# HUB_SERVICES_PG_STOP_MODE=immediate stops it as a crash would (tests of the fallback)
replica_down() {
    [ -s "$PG_REPLICA_DATA/PG_VERSION" ] || return 0
    if replica_running; then
        runuser -u postgres -- "$(pg_bin)/pg_ctl" -D "$PG_REPLICA_DATA" \
            -m "${HUB_SERVICES_PG_STOP_MODE:-fast}" -w -t 60 stop >/dev/null \
            && log "replica stopped"
    fi
}

replica_status() {
    if replica_running; then
        echo "replica    running  127.0.0.1:$PG_REPLICA_PORT (standby of :$PG_PORT)"
    else
        echo "replica    stopped"
    fi
}

# replica_env: the line of var/services/env that sends the API's reads to the replica
replica_env() {
    echo "export HUB_DATABASE_REPLICA_URL='postgresql+psycopg://hub:$(secret pg_hub)@127.0.0.1:$PG_REPLICA_PORT/hub'"
}
