# Hyperledger Fabric: the consortium of scripts/fabric.sh (two organisations with a peer each,
# three Raft orderers, the loganchor chaincode as a service), built from the Go module proxy on
# first use. Its state and logs are in
# var/fabric/, its settings in var/fabric/hub.env (HUB_LEDGER_ANCHOR=fabric and HUB_FABRIC_*).
# HUB_SERVICES_FABRIC_PORT_BASE (or FABRIC_PORT_BASE) moves its ports to BASE..BASE+99.

fabric_sh() {
    FABRIC_PORT_BASE=${HUB_SERVICES_FABRIC_PORT_BASE:-${FABRIC_PORT_BASE:-}} bash "$REPO/scripts/fabric.sh" "$@"
}

fabric_up() {
    # fd 9 (services.sh's lock) must not live on in the network's processes
    fabric_sh up >/dev/null 9>&- || die "Fabric did not start (var/fabric/logs)"
    log "fabric up: anchor settings in var/fabric/hub.env"
}

fabric_down() {
    fabric_sh down
}

fabric_status() {
    local out
    if out=$(fabric_sh status 2>&1); then
        echo "fabric     running  3 orderers, the bureau's and the city's peers, chaincode on 127.0.0.1"
    else
        echo "fabric     stopped  ($(tr '\n' ' ' <<<"$out"))"
    fi
}
