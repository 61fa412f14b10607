# MinIO built from source with `go install` (binary cached in .cache/bin): one erasure-coded server
# on 127.0.0.1 over four drive folders var/services/minio/drive{1...4}, buckets made by
# minio_buckets.py, drive state reported by minio_drives.py.

# The Go module proxy serves MinIO's source only as this pseudo-version (the last commit of the
# github.com/minio/minio repository, February 2026); the RELEASE.* tags are not semver and the
# proxy refuses them.
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
MINIO_BIN="$REPO/.cache/bin/minio"
MINIO_STAMP="$REPO/.cache/bin/minio.version"
MINIO_LOG="$LOGS/minio.log"
# One erasure set of four drives with two of them parity (EC:2, MinIO's own default for four
# drives, set explicitly so the survival figures in the README hold): an object is split into two
# data and two parity shards, one per drive. Reads need two drives, writes three, so the server
# keeps reading with two drives gone and keeps writing with one gone. An empty folder put back in
# a drive's place is formatted and healed by the server within seconds.
MINIO_DRIVES=4
MINIO_PARITY=2
MINIO_DRIVE_DIR="$SVC/minio"      # drive1 ... drive4
MINIO_OLD_DATA="$SVC/minio/data"  # the single-drive layout of earlier versions (no longer used)

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
    local i
    for i in $(seq 1 "$MINIO_DRIVES"); do mkdir -p "$MINIO_DRIVE_DIR/drive$i"; done
    if [ -d "$MINIO_OLD_DATA" ]; then
        log "minio: var/services/minio/data (the single-drive layout of earlier versions) is no" \
            "longer served; copy what you need from it with a single-drive server, then remove it"
    fi
    if pid_alive minio; then
        log "minio already running on 127.0.0.1:$MINIO_PORT"
    else
        # MINIO_ROOTDRIVE_THRESHOLD_SIZE: with several drives MinIO refuses folders on the root
        # file system (the OS disk is no drive to fill); on loopback every drive is a folder of
        # that file system, so only drives of at most 1 byte count as "root".
        MINIO_ROOT_USER=hubadmin MINIO_ROOT_PASSWORD=$(secret minio_root) \
        MINIO_BROWSER=on MINIO_UPDATE=off MINIO_STORAGE_CLASS_STANDARD="EC:$MINIO_PARITY" \
        MINIO_ROOTDRIVE_THRESHOLD_SIZE=1B \
            start_bg minio "$MINIO_LOG" "$MINIO_BIN" server \
            --address "127.0.0.1:$MINIO_PORT" --console-address "127.0.0.1:$MINIO_CONSOLE_PORT" \
            "$MINIO_DRIVE_DIR/drive{1...$MINIO_DRIVES}"
    fi
    # the cluster check answers 200 once the erasure set has write quorum (ready answers earlier)
    wait_for minio 60 "$MINIO_LOG" http_ok "http://127.0.0.1:$MINIO_PORT/minio/health/cluster" \
        || die "minio not ready"
    "$PY" "$REPO/scripts/services/minio_buckets.py" "127.0.0.1:$MINIO_PORT" hubadmin \
        "$(secret minio_root)" || die "creating MinIO buckets failed"
    log "minio up on 127.0.0.1:$MINIO_PORT (console :$MINIO_CONSOLE_PORT)," \
        "$MINIO_DRIVES drives EC:$MINIO_PARITY"
}

minio_down() { pid_alive minio && stop_bg minio 20 && log "minio stopped"; rm -f "$RUN/minio.pid"; }

minio_status() {
    if pid_alive minio; then
        echo "minio      running  127.0.0.1:$MINIO_PORT"
        "$PY" "$REPO/scripts/services/minio_drives.py" "127.0.0.1:$MINIO_PORT" hubadmin \
            "$(secret minio_root)" | sed 's/^/           /'
    else
        echo "minio      stopped"
    fi
}
