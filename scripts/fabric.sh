#!/usr/bin/env bash
# Local Hyperledger Fabric 2.5 network for the ledger's `fabric` anchor: one Raft orderer, one
# peer, the loganchor chaincode as a service, all native on 127.0.0.1 with TLS.
# Usage: scripts/fabric.sh up|down|restart|stop-peer|start-peer|clean|status|build
# Ports: FABRIC_PORT_BASE=B (e.g. 17000) puts them all in B..B+99; unset, the stock ones.
# State and logs: var/fabric/ (git-ignored). Binaries: .cache/fabric/ (git-ignored, rebuilt from
# the warm Go build cache in seconds). `up` writes var/fabric/hub.env (HUB_FABRIC_* settings).
#
# Fabric is built from the Go module proxy at the pseudo-version below: a release-2.5 commit
# whose Makefile says 2.5.0 (the proxy this project can reach serves it; it refuses the 2.5.x
# tags and their `@v/list`, so `go install ...@version`, which looks up deprecations in that
# list, cannot be used: the module is downloaded and built in place). To build another Fabric,
# point FABRIC_SRC at a checkout of hyperledger/fabric (it vendors its dependencies).
# The chaincode-as-a-service external builder is our own (scripts/ccaas-builder).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

FABRIC_MODULE=github.com/hyperledger/fabric
FABRIC_VERSION=v1.4.0-rc1.0.20230401164317-bd8e24856939 # release-2.5, FABRIC_VER 2.5.0
CACHE=$ROOT/.cache/fabric
BIN=$CACHE/bin
BUILDERS=$ROOT/scripts/ccaas-builder
CC_BIN=$CACHE/loganchor
VAR=$ROOT/var/fabric
CHANNEL=${FABRIC_CHANNEL:-anchors}
CC_NAME=${FABRIC_CHAINCODE:-loganchor}
export GOTOOLCHAIN=local GOFLAGS=

log() { echo "fabric: $*" >&2; }
die() {
    echo "fabric: ERROR: $*" >&2
    exit 1
}

# Ports: with FABRIC_PORT_BASE unset, today's ports; FABRIC_PORT_BASE=B puts every port in
# B..B+99, so two networks (two checkouts) never clash. The base is recorded with the network's
# material (the channel's config names the ports): another base needs `clean` first.
PORT_BASE=${FABRIC_PORT_BASE:-}
if [ -n "$PORT_BASE" ]; then
    [[ $PORT_BASE =~ ^[0-9]+$ ]] && ((PORT_BASE >= 1024 && PORT_BASE <= 65436)) ||
        die "FABRIC_PORT_BASE must be a port number from 1024 to 65436, not '$PORT_BASE'"
    ORDERER_PORT=$((PORT_BASE + 10))
    ORDERER_ADMIN_PORT=$((PORT_BASE + 11))
    ORDERER_OPS_PORT=$((PORT_BASE + 12))
    PEER_PORT=$((PORT_BASE + 50))
    PEER_CC_PORT=$((PORT_BASE + 51))
    PEER_OPS_PORT=$((PORT_BASE + 52))
    CC_PORT=$((PORT_BASE + 90))
else
    ORDERER_PORT=7050
    ORDERER_ADMIN_PORT=7053
    ORDERER_OPS_PORT=8443
    PEER_PORT=7051
    PEER_CC_PORT=7052
    PEER_OPS_PORT=9444 # stock 9443 clashes with the orderer admin default
    CC_PORT=9999
fi

# ---------------------------------------------------------------- build
fabric_source() { # the Fabric source tree to build: FABRIC_SRC, or the module download, writable
    if [ -n "${FABRIC_SRC:-}" ]; then
        echo "$FABRIC_SRC"
        return
    fi
    local src=$CACHE/src-$FABRIC_VERSION dir
    if [ ! -f "$src/go.mod" ]; then
        dir=$(go mod download -json "$FABRIC_MODULE@$FABRIC_VERSION" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
        [ -f "$dir/go.mod" ] || die "cannot download $FABRIC_MODULE@$FABRIC_VERSION from the Go module proxy"
        mkdir -p "$CACHE" && rm -rf "$src.tmp" && cp -r "$dir" "$src.tmp" && chmod -R u+w "$src.tmp"
        # the module zip keeps vendor/modules.txt but not the vendored code: build from go.sum
        rm -rf "$src.tmp/vendor"
        mv "$src.tmp" "$src"
    fi
    echo "$src"
}

build_fabric() {
    local tools=(peer orderer configtxgen cryptogen osnadmin) missing=0 t src
    for t in "${tools[@]}"; do [ -x "$BIN/$t" ] || missing=1; done
    if [ $missing = 1 ] || [ ! -d "$CACHE/sampleconfig" ]; then
        src=$(fabric_source)
    fi
    if [ $missing = 1 ]; then
        mkdir -p "$BIN"
        log "building Fabric $FABRIC_VERSION (cold, with module downloads: about 2 min on 2 cores; warm Go cache: seconds)"
        local mode=-mod=mod
        [ -d "$src/vendor/github.com" ] && mode=-mod=vendor
        (cd "$src" && GOBIN=$BIN GOFLAGS=$mode go install \
            ./cmd/peer ./cmd/orderer ./cmd/configtxgen ./cmd/cryptogen ./cmd/osnadmin) ||
            die "cannot build Fabric from $src"
    fi
    if [ ! -d "$CACHE/sampleconfig" ]; then
        [ -f "$src/sampleconfig/core.yaml" ] || die "Fabric sampleconfig not found in $src"
        cp -r "$src/sampleconfig" "$CACHE/sampleconfig.tmp" && chmod -R u+w "$CACHE/sampleconfig.tmp"
        mv "$CACHE/sampleconfig.tmp" "$CACHE/sampleconfig"
    fi
    build_chaincode
}

build_chaincode() {
    # Rebuild when any chaincode source is newer than the binary. Its Fabric modules (the
    # contract API 1.2 and the shim it needs) are pinned by ledger/chaincode/go.mod and go.sum.
    if [ -x "$CC_BIN" ] && [ -z "$(find ledger/chaincode -newer "$CC_BIN" -name '*.go' -o -newer "$CC_BIN" -name 'go.*')" ]; then
        return
    fi
    log "building the $CC_NAME chaincode"
    mkdir -p "$CACHE"
    (cd ledger/chaincode && go build -tags fabric -o "$CC_BIN.tmp" ./cmd/loganchor) ||
        die "cannot build the chaincode (Fabric Go modules unavailable from the Go module proxy?)"
    mv "$CC_BIN.tmp" "$CC_BIN"
}

# ---------------------------------------------------------------- helpers
pid_alive() { [ -f "$VAR/pids/$1.pid" ] && kill -0 "$(cat "$VAR/pids/$1.pid")" 2>/dev/null; }

start_bg() { # start_bg NAME COMMAND... : run detached, remember its pid, log to var/fabric/logs
    local name=$1
    shift
    if pid_alive "$name"; then return; fi
    mkdir -p "$VAR/pids" "$VAR/logs"
    setsid "$@" >>"$VAR/logs/$name.log" 2>&1 </dev/null &
    echo $! >"$VAR/pids/$name.pid"
}

stop_bg() { # stop_bg NAME : TERM the pid we started, wait, then KILL
    local name=$1 pid i
    [ -f "$VAR/pids/$name.pid" ] || return 0
    pid=$(cat "$VAR/pids/$name.pid")
    if kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
        for i in $(seq 1 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$VAR/pids/$name.pid"
}

wait_until() { # wait_until SECONDS DESCRIPTION COMMAND... : poll until the command succeeds
    local limit=$1 what=$2 start=$SECONDS
    shift 2
    until "$@" >/dev/null 2>&1; do
        ((SECONDS - start < limit)) || die "timed out after ${limit}s waiting for $what (logs: var/fabric/logs)"
        sleep 0.3
    done
}

# (curl's output is read whole first: `grep -q` stops at a match, and curl writing on into the
# closed pipe would fail the pipeline under pipefail)
healthy() {
    local out
    out=$(curl -fsS "http://127.0.0.1:$1/healthz") && grep -q '"status":"OK"' <<<"$out"
}

# the orderer leads the channel's one-node Raft (its Prometheus metrics say so)
raft_leader() {
    local out
    out=$(curl -fsS "http://127.0.0.1:$ORDERER_OPS_PORT/metrics") &&
        grep -q "^consensus_etcdraft_is_leader{channel=\"$CHANNEL\"} 1" <<<"$out"
}
wait_leader() { wait_until 60 "the orderer to lead the channel's Raft" raft_leader; }

ORG_O=$VAR/crypto/ordererOrganizations/example.com
ORG_P=$VAR/crypto/peerOrganizations/org1.example.com
ORDERER_DIR=$ORG_O/orderers/orderer.example.com
PEER_DIR=$ORG_P/peers/peer0.org1.example.com
ORDERER_CA=$ORDERER_DIR/tls/ca.crt
PEER_CA=$PEER_DIR/tls/ca.crt

# ---------------------------------------------------------------- material
make_material() {
    mkdir -p "$VAR/config"
    if [ -f "$VAR/$CHANNEL.block" ] || [ -d "$VAR/crypto" ]; then
        [ "$(cat "$VAR/port-base" 2>/dev/null || echo default)" = "${PORT_BASE:-default}" ] ||
            die "var/fabric was made with FABRIC_PORT_BASE=$(cat "$VAR/port-base"), not ${PORT_BASE:-unset}: use that base, or run scripts/fabric.sh clean first"
    fi
    echo "${PORT_BASE:-default}" >"$VAR/port-base"
    if [ ! -f "$VAR/config/core.yaml" ]; then
        cp -r "$CACHE/sampleconfig/." "$VAR/config/"
        chmod -R u+w "$VAR/config"
        # vm.endpoint must be empty in the file itself (no docker); register the ccaas builder.
        "$ROOT/.venv/bin/python" - "$VAR/config/core.yaml" "$BUILDERS" <<'EOF'
import sys, yaml
path, builder = sys.argv[1], sys.argv[2]
with open(path) as f:
    core = yaml.safe_load(f)
core["vm"]["endpoint"] = ""
core["chaincode"]["externalBuilders"] = [
    {"name": "ccaas_builder", "path": builder,
     "propagateEnvironment": ["CHAINCODE_AS_A_SERVICE_BUILDER_CONFIG"]}
]
with open(path, "w") as f:
    yaml.safe_dump(core, f, sort_keys=False)
EOF
    fi
    if [ ! -d "$VAR/crypto" ]; then
        cat >"$VAR/crypto-config.yaml" <<'EOF'
OrdererOrgs:
  - Name: Orderer
    Domain: example.com
    EnableNodeOUs: true
    Specs:
      - Hostname: orderer
        SANS: [localhost, 127.0.0.1]
PeerOrgs:
  - Name: Org1
    Domain: org1.example.com
    EnableNodeOUs: true
    Template:
      Count: 1
      SANS: [localhost, 127.0.0.1]
    Users:
      Count: 1
EOF
        "$BIN/cryptogen" generate --config="$VAR/crypto-config.yaml" --output="$VAR/crypto.tmp" >/dev/null
        mv "$VAR/crypto.tmp" "$VAR/crypto"
    fi
    if [ ! -f "$VAR/$CHANNEL.block" ]; then
        cat >"$VAR/configtx.yaml" <<EOF
Organizations:
  - &OrdererOrg
    Name: OrdererOrg
    ID: OrdererMSP
    MSPDir: crypto/ordererOrganizations/example.com/msp
    Policies:
      Readers: {Type: Signature, Rule: "OR('OrdererMSP.member')"}
      Writers: {Type: Signature, Rule: "OR('OrdererMSP.member')"}
      Admins: {Type: Signature, Rule: "OR('OrdererMSP.admin')"}
    OrdererEndpoints: [127.0.0.1:$ORDERER_PORT]
  - &Org1
    Name: Org1MSP
    ID: Org1MSP
    MSPDir: crypto/peerOrganizations/org1.example.com/msp
    Policies:
      Readers: {Type: Signature, Rule: "OR('Org1MSP.admin', 'Org1MSP.peer', 'Org1MSP.client')"}
      Writers: {Type: Signature, Rule: "OR('Org1MSP.admin', 'Org1MSP.client')"}
      Admins: {Type: Signature, Rule: "OR('Org1MSP.admin')"}
      Endorsement: {Type: Signature, Rule: "OR('Org1MSP.peer')"}
Capabilities:
  Channel: &ChannelCapabilities {V2_0: true}
  Orderer: &OrdererCapabilities {V2_0: true}
  Application: &ApplicationCapabilities {V2_5: true}
Application: &ApplicationDefaults
  Organizations:
  Policies:
    Readers: {Type: ImplicitMeta, Rule: "ANY Readers"}
    Writers: {Type: ImplicitMeta, Rule: "ANY Writers"}
    Admins: {Type: ImplicitMeta, Rule: "MAJORITY Admins"}
    LifecycleEndorsement: {Type: ImplicitMeta, Rule: "MAJORITY Endorsement"}
    Endorsement: {Type: ImplicitMeta, Rule: "MAJORITY Endorsement"}
  Capabilities: *ApplicationCapabilities
Orderer: &OrdererDefaults
  OrdererType: etcdraft
  EtcdRaft:
    Consenters:
      - Host: 127.0.0.1
        Port: $ORDERER_PORT
        ClientTLSCert: crypto/ordererOrganizations/example.com/orderers/orderer.example.com/tls/server.crt
        ServerTLSCert: crypto/ordererOrganizations/example.com/orderers/orderer.example.com/tls/server.crt
    # Snapshots every 256 KB (stock: 16 MB). A restarted orderer replays its Raft log after the
    # last snapshot; when that takes more than one Raft Ready batch (MaxSizePerMsg =
    # PreferredMaxBytes, 512 KB) and includes the channel's first config change, this Fabric's
    # etcdraft chain deadlocks (chain.apply waits on WALSyncC while node.run waits on applyC, both
    # unbuffered) and the node never elects itself. Frequent snapshots keep the replay short.
    Options:
      TickInterval: 500ms
      ElectionTick: 10
      HeartbeatTick: 1
      MaxInflightBlocks: 5
      SnapshotIntervalSize: 256 KB
  # A lone transaction waits for the batch timeout: 500 ms keeps an anchor near half a second.
  BatchTimeout: 500ms
  BatchSize: {MaxMessageCount: 10, AbsoluteMaxBytes: 99 MB, PreferredMaxBytes: 512 KB}
  Organizations:
  Policies:
    Readers: {Type: ImplicitMeta, Rule: "ANY Readers"}
    Writers: {Type: ImplicitMeta, Rule: "ANY Writers"}
    Admins: {Type: ImplicitMeta, Rule: "MAJORITY Admins"}
    BlockValidation: {Type: ImplicitMeta, Rule: "ANY Writers"}
Channel: &ChannelDefaults
  Policies:
    Readers: {Type: ImplicitMeta, Rule: "ANY Readers"}
    Writers: {Type: ImplicitMeta, Rule: "ANY Writers"}
    Admins: {Type: ImplicitMeta, Rule: "MAJORITY Admins"}
  Capabilities: *ChannelCapabilities
Profiles:
  AnchorChannel:
    <<: *ChannelDefaults
    Orderer:
      <<: *OrdererDefaults
      Organizations: [*OrdererOrg]
      Capabilities: *OrdererCapabilities
    Application:
      <<: *ApplicationDefaults
      Organizations: [*Org1]
      Capabilities: *ApplicationCapabilities
EOF
        "$BIN/configtxgen" -profile AnchorChannel -channelID "$CHANNEL" -configPath "$VAR" \
            -outputBlock "$VAR/$CHANNEL.block.tmp" 2>>"$VAR/logs/configtxgen.log"
        mv "$VAR/$CHANNEL.block.tmp" "$VAR/$CHANNEL.block"
    fi
}

# ---------------------------------------------------------------- processes
start_orderer() {
    mkdir -p "$VAR/orderer"
    FABRIC_CFG_PATH=$VAR/config \
        ORDERER_GENERAL_LISTENADDRESS=127.0.0.1 \
        ORDERER_GENERAL_LISTENPORT=$ORDERER_PORT \
        ORDERER_GENERAL_LOCALMSPID=OrdererMSP \
        ORDERER_GENERAL_LOCALMSPDIR=$ORDERER_DIR/msp \
        ORDERER_GENERAL_TLS_ENABLED=true \
        ORDERER_GENERAL_TLS_PRIVATEKEY=$ORDERER_DIR/tls/server.key \
        ORDERER_GENERAL_TLS_CERTIFICATE=$ORDERER_DIR/tls/server.crt \
        ORDERER_GENERAL_TLS_ROOTCAS="[$ORDERER_CA]" \
        ORDERER_GENERAL_CLUSTER_CLIENTCERTIFICATE=$ORDERER_DIR/tls/server.crt \
        ORDERER_GENERAL_CLUSTER_CLIENTPRIVATEKEY=$ORDERER_DIR/tls/server.key \
        ORDERER_GENERAL_CLUSTER_ROOTCAS="[$ORDERER_CA]" \
        ORDERER_GENERAL_BOOTSTRAPMETHOD=none \
        ORDERER_CHANNELPARTICIPATION_ENABLED=true \
        ORDERER_ADMIN_LISTENADDRESS=127.0.0.1:$ORDERER_ADMIN_PORT \
        ORDERER_ADMIN_TLS_ENABLED=true \
        ORDERER_ADMIN_TLS_PRIVATEKEY=$ORDERER_DIR/tls/server.key \
        ORDERER_ADMIN_TLS_CERTIFICATE=$ORDERER_DIR/tls/server.crt \
        ORDERER_ADMIN_TLS_ROOTCAS="[$ORDERER_CA]" \
        ORDERER_ADMIN_TLS_CLIENTAUTHREQUIRED=true \
        ORDERER_ADMIN_TLS_CLIENTROOTCAS="[$ORDERER_CA]" \
        ORDERER_OPERATIONS_LISTENADDRESS=127.0.0.1:$ORDERER_OPS_PORT \
        ORDERER_METRICS_PROVIDER=prometheus \
        ORDERER_FILELEDGER_LOCATION=$VAR/orderer/ledger \
        ORDERER_CONSENSUS_WALDIR=$VAR/orderer/etcdraft/wal \
        ORDERER_CONSENSUS_SNAPDIR=$VAR/orderer/etcdraft/snapshot \
        start_bg orderer "$BIN/orderer"
    wait_until 120 "orderer /healthz" healthy $ORDERER_OPS_PORT
}

peer_env() { # environment for the peer process and for admin CLI calls
    export FABRIC_CFG_PATH=$VAR/config
    export CORE_PEER_ID=peer0.org1.example.com
    export CORE_PEER_ADDRESS=127.0.0.1:$PEER_PORT
    export CORE_PEER_LISTENADDRESS=127.0.0.1:$PEER_PORT
    export CORE_PEER_CHAINCODEADDRESS=127.0.0.1:$PEER_CC_PORT
    export CORE_PEER_CHAINCODELISTENADDRESS=127.0.0.1:$PEER_CC_PORT
    export CORE_PEER_GOSSIP_BOOTSTRAP=127.0.0.1:$PEER_PORT
    export CORE_PEER_GOSSIP_EXTERNALENDPOINT=127.0.0.1:$PEER_PORT
    export CORE_PEER_LOCALMSPID=Org1MSP
    export CORE_PEER_TLS_ENABLED=true
    export CORE_PEER_TLS_CERT_FILE=$PEER_DIR/tls/server.crt
    export CORE_PEER_TLS_KEY_FILE=$PEER_DIR/tls/server.key
    export CORE_PEER_TLS_ROOTCERT_FILE=$PEER_CA
    export CORE_PEER_FILESYSTEMPATH=$VAR/peer
    export CORE_OPERATIONS_LISTENADDRESS=127.0.0.1:$PEER_OPS_PORT
    export CORE_METRICS_PROVIDER=disabled
    export CORE_LEDGER_SNAPSHOTS_ROOTDIR=$VAR/peer/snapshots
}

start_peer() {
    mkdir -p "$VAR/peer"
    (
        peer_env
        export CORE_PEER_MSPCONFIGPATH=$PEER_DIR/msp
        start_bg peer "$BIN/peer" node start
    )
    wait_until 120 "peer /healthz" healthy $PEER_OPS_PORT
}

admin() { # run a peer CLI command as the Org1 admin
    (
        peer_env
        export CORE_PEER_MSPCONFIGPATH=$ORG_P/users/Admin@org1.example.com/msp
        "$BIN/peer" "$@"
    )
}

osn() {
    "$BIN/osnadmin" "$@" -o 127.0.0.1:$ORDERER_ADMIN_PORT --ca-file "$ORDERER_CA" \
        --client-cert "$ORG_O/users/Admin@example.com/tls/client.crt" \
        --client-key "$ORG_O/users/Admin@example.com/tls/client.key"
}

package_chaincode() { # reproducible package: fixed mtimes and owners, gzip without timestamp
    local dir=$VAR/ccpkg
    [ -f "$VAR/$CC_NAME.tar.gz" ] && return
    rm -rf "$dir" && mkdir -p "$dir/code"
    printf '{"address":"127.0.0.1:%s","dial_timeout":"10s","tls_required":false}\n' $CC_PORT \
        >"$dir/code/connection.json"
    printf '{"type":"ccaas","label":"%s_1"}\n' "$CC_NAME" >"$dir/metadata.json"
    tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$dir/code" -cf - connection.json |
        gzip -n >"$dir/code.tar.gz"
    tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$dir" -cf - metadata.json code.tar.gz |
        gzip -n >"$VAR/$CC_NAME.tar.gz"
}

deploy_chaincode() {
    package_chaincode
    local pkgid
    pkgid=$(admin lifecycle chaincode calculatepackageid "$VAR/$CC_NAME.tar.gz")
    if ! admin lifecycle chaincode queryinstalled 2>/dev/null | grep -q "$pkgid"; then
        admin lifecycle chaincode install "$VAR/$CC_NAME.tar.gz" >>"$VAR/logs/lifecycle.log" 2>&1 ||
            die "chaincode install failed (var/fabric/logs/lifecycle.log)"
    fi
    CHAINCODE_ID=$pkgid CHAINCODE_SERVER_ADDRESS=127.0.0.1:$CC_PORT start_bg chaincode "$CC_BIN"
    # Committed already? "not defined" is the only answer that means no; other errors (peer still
    # catching up after a restart) are retried rather than taken as a reason to approve again.
    local out start=$SECONDS
    while ! out=$(admin lifecycle chaincode querycommitted --channelID "$CHANNEL" --name "$CC_NAME" 2>&1); do
        grep -q "is not defined" <<<"$out" && break
        ((SECONDS - start < 60)) || die "cannot query the chaincode definition: $out"
        sleep 0.5
    done
    grep -q "is not defined" <<<"$out" || return 0
    local common=(-o 127.0.0.1:$ORDERER_PORT --tls --cafile "$ORDERER_CA" --channelID "$CHANNEL"
        --name "$CC_NAME" --version 1 --sequence 1)
    ordered 60 approve admin lifecycle chaincode approveformyorg "${common[@]}" --package-id "$pkgid"
    ordered 60 commit admin lifecycle chaincode commit "${common[@]}" \
        --peerAddresses 127.0.0.1:$PEER_PORT --tlsRootCertFiles "$PEER_CA"
}

ordered() { # ordered SECONDS WHAT COMMAND... : a transaction, retried while the orderer's
    # one-node Raft has no leader yet (right after a start it elects itself within seconds)
    local limit=$1 what=$2 start=$SECONDS out
    shift 2
    until out=$("$@" 2>&1); do
        echo "$out" >>"$VAR/logs/lifecycle.log"
        grep -qE "no Raft leader|SERVICE_UNAVAILABLE" <<<"$out" && ((SECONDS - start < limit)) ||
            die "chaincode $what failed (var/fabric/logs/lifecycle.log)"
        sleep 0.5
    done
    echo "$out" >>"$VAR/logs/lifecycle.log"
}

write_env() {
    local user=$ORG_P/users/User1@org1.example.com/msp
    cat >"$VAR/hub.env" <<EOF
HUB_LEDGER_ANCHOR=fabric
HUB_FABRIC_PEER=127.0.0.1:$PEER_PORT
HUB_FABRIC_CHANNEL=$CHANNEL
HUB_FABRIC_CHAINCODE=$CC_NAME
HUB_FABRIC_MSP_ID=Org1MSP
HUB_FABRIC_TLS_CA=$PEER_CA
HUB_FABRIC_CERT=$(ls "$user"/signcerts/*.pem)
HUB_FABRIC_KEY=$(ls "$user"/keystore/*)
EOF
}

up() {
    build_fabric
    mkdir -p "$VAR/logs" "$VAR/pids"
    make_material
    start_orderer
    if ! osn channel list 2>/dev/null | grep -q "\"$CHANNEL\""; then
        local out
        out=$(osn channel join --channelID "$CHANNEL" --config-block "$VAR/$CHANNEL.block" 2>&1) || true
        echo "$out" >>"$VAR/logs/osnadmin.log"
        # osnadmin exits 0 even on HTTP errors: 201 is joined, 405 "already exists" is fine too.
        grep -qE "Status: 201|already exists" <<<"$out" ||
            die "orderer channel join failed (var/fabric/logs/osnadmin.log)"
    fi
    wait_leader
    start_peer
    # Right after a restart `peer channel list` may not show the channel yet, so a join that
    # finds the ledger already there counts as joined.
    if ! admin channel list 2>/dev/null | grep -qx "$CHANNEL"; then
        local out
        if ! out=$(admin channel join -b "$VAR/$CHANNEL.block" 2>&1); then
            echo "$out" >>"$VAR/logs/channel.log"
            grep -q "ledger \[$CHANNEL\] already exists" <<<"$out" ||
                die "peer channel join failed (var/fabric/logs/channel.log)"
        fi
    fi
    deploy_chaincode
    write_env
    log "up; settings in var/fabric/hub.env"
    cat "$VAR/hub.env"
}

down() {
    stop_bg chaincode
    stop_bg peer
    stop_bg orderer
}

status() {
    local n rc=0
    for n in orderer peer chaincode; do
        if pid_alive $n; then echo "$n: running (pid $(cat "$VAR/pids/$n.pid"))"; else
            echo "$n: stopped"
            rc=1
        fi
    done
    return $rc
}

case ${1:-} in
build) build_fabric ;;
up) up ;;
down) down ;;
restart) # restart orderer and peer (the chaincode server keeps running), as after a crash
    stop_bg peer
    stop_bg orderer
    start_orderer
    wait_leader
    start_peer
    ;;
stop-peer) stop_bg peer ;; # the anchoring tests' fault: the peer away, the orderer still up
start-peer) start_peer ;;
clean)
    down
    rm -rf "$VAR"
    ;;
status) status ;;
*)
    echo "usage: $0 up|down|restart|stop-peer|start-peer|clean|status|build" >&2
    exit 2
    ;;
esac
