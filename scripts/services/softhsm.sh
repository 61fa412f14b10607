# SoftHSM2 from Debian's packages: one token "hub" under var/services/softhsm with its own
# SOFTHSM2_CONF and generated PINs (no process to run; the PKCS#11 module is loaded in-process).

HSM_DIR="$SVC/softhsm"
HSM_CONF="$HSM_DIR/softhsm2.conf"
HSM_TOKEN=hub

softhsm_module() {
    local m
    for m in /usr/lib/softhsm/libsofthsm2.so /usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so \
             $(dpkg -L libsofthsm2 2>/dev/null | grep 'libsofthsm2\.so$'); do
        [ -f "$m" ] && { echo "$m"; return 0; }
    done
    die "libsofthsm2.so not found (run scripts/system-deps.sh)"
}

softhsm_up() {
    command -v softhsm2-util >/dev/null || die "softhsm2-util not found (run scripts/system-deps.sh)"
    mkdir -p "$HSM_DIR/tokens"; chmod 700 "$HSM_DIR"
    cat > "$HSM_CONF" <<CONF
directories.tokendir = $HSM_DIR/tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
CONF
    export SOFTHSM2_CONF="$HSM_CONF"
    if softhsm2-util --show-slots 2>/dev/null | grep -Eq "Label:[[:space:]]+$HSM_TOKEN[[:space:]]*$"; then
        log "softhsm token '$HSM_TOKEN' already initialised"
    else
        softhsm2-util --init-token --free --label "$HSM_TOKEN" \
            --so-pin "$(secret hsm_so_pin)" --pin "$(secret hsm_user_pin)" >/dev/null \
            || die "softhsm2-util --init-token failed"
        log "softhsm token '$HSM_TOKEN' initialised"
    fi
}

softhsm_status() {
    if SOFTHSM2_CONF="$HSM_CONF" softhsm2-util --show-slots 2>/dev/null | grep -Eq "Label:[[:space:]]+$HSM_TOKEN"; then
        echo "softhsm    ready    token $HSM_TOKEN"
    else
        echo "softhsm    absent"
    fi
}
