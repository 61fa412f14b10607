# MinIO built from source with `go install` (binary cached in .cache/bin), one server on
# 127.0.0.1 with data under var/services/minio, buckets made by minio_buckets.py.

# The Go module proxy serves MinIO's source only as this pseudo-version (the last commit of the
# github.com/minio/minio repository, February 2026); the RELEASE.* tags are not semver and the
# proxy refuses them.
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
MINIO_BIN="$REPO/.cache/bin/minio"
MINIO_STAMP="$REPO/.cache/bin/minio.version"
MINIO_LOG="$LOGS/minio.log"
MINIO_DATA="$SVC/minio/data"

minio_build() {
    if [ -x "$MINIO_BIN" ] && [ "$(cat "$MINIO_STAMP" 2>/dev/null)" = "$MINIO_VERSION" ]; then
        return 0
    fi
    command -v go >/dev/null || die "go not found on PATH (needed to build MinIO)"
    log "building MinIO $MINIO_VERSION with $(go version | awk '{print $3}') (cold: several minutes)"
    local start=$SECONDS
    mkdir -p "$REPO/.cache/bin"
    GOTOOLCHAIN=local GOFLAGS=-buildvcs=false CGO_ENABLED=0 GOBIN="$REPO/.cache/bin" \
        go install "github.com/minio/minio@$MINIO_VERSION" > "$LOGS/minio-build.log" 2>&1 \
        || { show_log "$LOGS/minio-build.log"; die "MinIO build failed"; }
    echo "$MINIO_VERSION" > "$MINIO_STAMP"
    log "MinIO built in $((SECONDS - start))s"
}

minio_up() {
    minio_build
    mkdir -p "$MINIO_DATA"
    if pid_alive minio; then
        log "minio already running on 127.0.0.1:$MINIO_PORT"
    else
        MINIO_ROOT_USER=hubadmin MINIO_ROOT_PASSWORD=$(secret minio_root) \
        MINIO_BROWSER=on MINIO_UPDATE=off \
            start_bg minio "$MINIO_LOG" "$MINIO_BIN" server --quiet --anonymous \
            --address "127.0.0.1:$MINIO_PORT" --console-address "127.0.0.1:$MINIO_CONSOLE_PORT" \
            "$MINIO_DATA"
    fi
    wait_for minio 60 "$MINIO_LOG" http_ok "http://127.0.0.1:$MINIO_PORT/minio/health/ready" \
        || die "minio not ready"
    "$PY" "$REPO/scripts/services/minio_buckets.py" "127.0.0.1:$MINIO_PORT" hubadmin \
        "$(secret minio_root)" || die "creating MinIO buckets failed"
    log "minio up on 127.0.0.1:$MINIO_PORT (console :$MINIO_CONSOLE_PORT)"
}

minio_down() { pid_alive minio && stop_bg minio 20 && log "minio stopped"; rm -f "$RUN/minio.pid"; }

minio_status() {
    if pid_alive minio; then echo "minio      running  127.0.0.1:$MINIO_PORT"; else echo "minio      stopped"; fi
}
