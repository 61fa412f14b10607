# The platform's RFC 3161 time-stamping authority, OCSP responder and CRLs (licence/ltv.py,
# `hub licence ltv-serve`) on 127.0.0.1, over a hub of its own under var/services/ltv: its
# platform CA, seal registry and ledger (SQLite, local objects, keys encrypted under a generated
# passphrase). Seals made in that hub carry this service's OCSP and CRL locations; revoking one
# there revokes it in OCSP and the CRL at once. Sourced by scripts/services.sh.

LTV_PORT=${HUB_SERVICES_LTV_PORT:-59457}
LTV_URL="http://127.0.0.1:$LTV_PORT"
LTV_HOME="$SVC/ltv"
LTV_LOG="$LOGS/ltv.log"

# ltv_hub ARG...: the command line of a hub command in the service's own hub, never in the
# caller's (a sourced var/services/env would point it at the tests' PostgreSQL and MinIO)
ltv_hub() {
    LTV_CMD=(env -i PATH="$PATH" HOME="${HOME:-/tmp}" LANG=C.UTF-8 HUB_HOME="$LTV_HOME"
             HUB_KEY_PASSPHRASE="$(secret ltv_keys)" HUB_LTV_URL="$LTV_URL"
             "$REPO/.venv/bin/hub" "$@")
}

ltv_up() {
    mkdir -p "$LTV_HOME"; chmod 700 "$LTV_HOME"
    if pid_alive ltv; then
        log "ltv already running on $LTV_URL"
    else
        # another checkout's service on this port would answer our health check for a hub
        # that is not ours
        if curl -s -o /dev/null --max-time 2 "$LTV_URL/"; then
            die "port $LTV_PORT already answers HTTP: set HUB_SERVICES_LTV_PORT to a free port"
        fi
        # platform CA, log key and the registered authorities' seals, made once (idempotent)
        ltv_hub init
        "${LTV_CMD[@]}" >>"$LTV_LOG" 2>&1 || { show_log "$LTV_LOG"; die "hub init for the LTV service failed"; }
        ltv_hub licence ltv-serve --host 127.0.0.1 --port "$LTV_PORT" --base-url "$LTV_URL"
        start_bg ltv "$LTV_LOG" "${LTV_CMD[@]}"
    fi
    # healthy = the root's CRL is signed and served (the keys are unlocked, the store is read)
    wait_for ltv 20 "$LTV_LOG" http_ok "$LTV_URL/crl/root.crl" || die "ltv not ready"
    pid_alive ltv || { show_log "$LTV_LOG"; die "ltv exited after starting"; }
    log "ltv up on $LTV_URL (POST /tsa, POST /ocsp, GET /crl/seal-ca.crl, /crl/root.crl)"
}

ltv_down() { pid_alive ltv && stop_bg ltv 10 && log "ltv stopped"; rm -f "$RUN/ltv.pid"; }

ltv_status() {
    if pid_alive ltv; then echo "ltv        running  $LTV_URL"; else echo "ltv        stopped"; fi
}

# ltv_env: the lines of var/services/env for the LTV service (its URL; the hub it speaks for)
ltv_env() {
    echo "export HUB_LTV_URL='$LTV_URL'"
    echo "export HUB_SERVICES_LTV_HOME='$LTV_HOME'"
    echo "export HUB_SERVICES_LTV_KEY_PASSPHRASE='$(secret ltv_keys)'"
}
