#!/usr/bin/env bash
# Local Hyperledger Fabric 2.5 network for the ledger's `fabric` anchor, all native on 127.0.0.1
# with TLS: a consortium of two organisations on the channel `anchors`, ordered by three Raft
# nodes, with the loganchor chaincode as a service.
# Usage: scripts/fabric.sh up|down|restart|status|clean|build|leader
#        scripts/fabric.sh stop-orderer N|start-orderer N   (N = 1, 2 or 3)
#        scripts/fabric.sh stop-peer [ORG]|start-peer [ORG]  (ORG = bureau or city; none: both)
# Ports: FABRIC_PORT_BASE=B (e.g. 17000) puts them all in B..B+99; unset, the stock ones.
# State and logs: var/fabric/ (git-ignored). Binaries: .cache/fabric/ (git-ignored, rebuilt from
# the warm Go build cache in seconds). `up` writes var/fabric/hub.env (HUB_FABRIC_* settings).
#
# The consortium
# - BureauMSP (the provincial data bureau, bureau.example.com) and CityMSP (a city,
#   city.example.com): each its own CA and TLS CA (cryptogen, one tree per organisation), one
#   peer, an admin and a user. Each is its channel organisation's anchor peer, so the two peers
#   gossip across organisations and discovery knows both.
# - OrdererMSP (example.com): three etcdraft consenters, orderer1..3. Every orderer is in the
#   channel's orderer endpoints, so peers (deliver) and their gateways (broadcast) fail over.
# - loganchor is approved by both organisations (the lifecycle's MAJORITY of two is both) with the
#   endorsement policy AND('BureauMSP.peer','CityMSP.peer'): a checkpoint is anchored only when
#   both organisations' peers have run the chaincode's checks and signed the same result. One
#   chaincode server serves both peers (the same package on each; the peers dial it).
# - The hub is a BureauMSP client (User1@bureau). It speaks to the Bureau peer's Gateway, which
#   collects the City's endorsement and broadcasts to an orderer; HUB_FABRIC_PEER lists the City
#   peer as well, where reads go when the Bureau peer is away (HUB_FABRIC_TLS_CA holds both TLS CAs).
#
# What survives which failure
# - One orderer down (leader or follower): the other two are a Raft majority; a new leader is
#   elected within ElectionTick x TickInterval (5 s) and anchoring goes on (the client retries
#   while there is no leader). Two orderers down: no majority, checkpoints queue.
# - One organisation's peer down: no transaction can gather both endorsements, so checkpoints
#   queue in the hub (HUB_FABRIC_RETRY_SECONDS, then queued) and are anchored in order once the
#   peer is back. With the Bureau peer down, reads (verifying an anchored checkpoint) are
#   answered by the City peer.
# - The chaincode server down: nothing is endorsed, checkpoints queue.
#
# Adding a third organisation (say CountyMSP)
# 1. Its crypto material: a PeerOrgs entry in crypto-config.yaml (or its own CA), with the
#    SANs of its peer; its peer's ports in peer_port/peer_cc_port/peer_ops_port below.
# 2. A running network: fetch the channel config (`peer channel fetch config`), add the
#    organisation's group (`configtxgen -printOrg`) with its anchor peer, compute the update with
#    `configtxlator`, have a MAJORITY of the current admins sign it (here: both), submit it.
#    A new network: add it to the profile's Application organisations below.
# 3. Its peer joins the channel (`peer channel join`, the channel's block from an orderer) and
#    installs the same chaincode package.
# 4. The endorsement policy names organisations, so it does not change by itself: approve and
#    commit a new definition (sequence 2) with the policy wanted, e.g. AND('BureauMSP.peer',
#    OutOf(1,'CityMSP.peer','CountyMSP.peer')), by the lifecycle's majority (two of three).
#
# Ports: with FABRIC_PORT_BASE unset, the first orderer and the Bureau peer keep the ports of the
# one-orderer network (7050, 7051, ...); FABRIC_PORT_BASE=B puts every port in B..B+99, so two
# networks (two checkouts) never clash. The base is recorded with the network's material (the
# channel's config names the ports): another base needs `clean` first.
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
CC_POLICY="AND('BureauMSP.peer','CityMSP.peer')"
ORDERERS="1 2 3"
ORGS="bureau city"
PORT_BASE=${FABRIC_PORT_BASE:-}
export GOTOOLCHAIN=local GOFLAGS=

log() { echo "fabric: $*" >&2; }
die() {
    echo "fabric: ERROR: $*" >&2
    exit 1
}

# ---------------------------------------------------------------- ports
if [ -n "$PORT_BASE" ]; then
    [[ $PORT_BASE =~ ^[0-9]+$ ]] && ((PORT_BASE >= 1024 && PORT_BASE <= 65436)) ||
        die "FABRIC_PORT_BASE must be a port number from 1024 to 65436, not '$PORT_BASE'"
fi
org_index() { case $1 in bureau) echo 0 ;; city) echo 1 ;; *) die "unknown organisation '$1' (bureau or city)" ;; esac; }
# orderer N: listen (clients, peers and the Raft cluster), admin (osnadmin), operations (healthz)
orderer_port() { if [ -n "$PORT_BASE" ]; then echo $((PORT_BASE + 10 * $1)); else echo $((7050 + 100 * ($1 - 1))); fi; }
orderer_admin_port() { if [ -n "$PORT_BASE" ]; then echo $((PORT_BASE + 10 * $1 + 1)); else echo $((7053 + 100 * ($1 - 1))); fi; }
orderer_ops_port() { if [ -n "$PORT_BASE" ]; then echo $((PORT_BASE + 10 * $1 + 2)); else echo $((8443 + 100 * ($1 - 1))); fi; }
# an organisation's peer: listen (gateway, gossip, endorser), chaincode, operations (the stock
# operations port 9443 clashes with the orderer admin default)
peer_port() { if [ -n "$PORT_BASE" ]; then echo $((PORT_BASE + 50 + 10 * $(org_index "$1"))); else echo $((7051 + 100 * $(org_index "$1"))); fi; }
peer_cc_port() { if [ -n "$PORT_BASE" ]; then echo $((PORT_BASE + 51 + 10 * $(org_index "$1"))); else echo $((7052 + 100 * $(org_index "$1"))); fi; }
peer_ops_port() { if [ -n "$PORT_BASE" ]; then echo $((PORT_BASE + 52 + 10 * $(org_index "$1"))); else echo $((9444 + 100 * $(org_index "$1"))); fi; }
CC_PORT=$(if [ -n "$PORT_BASE" ]; then echo $((PORT_BASE + 90)); else echo 9999; fi)

check_orderer() { case ${1:-} in 1 | 2 | 3) ;; *) die "which orderer? 1, 2 or 3, not '${1:-}'" ;; esac; }

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

# the orderer that leads the channel's Raft (its Prometheus metrics say so); none while electing
leads() {
    local out
    out=$(curl -fsS "http://127.0.0.1:$(orderer_ops_port "$1")/metrics" 2>/dev/null) &&
        grep -q "^consensus_etcdraft_is_leader{channel=\"$CHANNEL\"} 1" <<<"$out"
}
raft_leader() {
    local n
    for n in $ORDERERS; do
        if pid_alive "orderer$n" && leads "$n"; then
            echo "$n"
            return 0
        fi
    done
    return 1
}
wait_leader() { wait_until 60 "the orderers to elect a Raft leader" raft_leader; }

ORG_O=$VAR/crypto/ordererOrganizations/example.com
ORDERER_CA=$ORG_O/tlsca/tlsca.example.com-cert.pem
orderer_dir() { echo "$ORG_O/orderers/orderer$1.example.com"; }
org_dir() { echo "$VAR/crypto/peerOrganizations/$1.example.com"; }
peer_dir() { echo "$(org_dir "$1")/peers/peer0.$1.example.com"; }
peer_ca() { echo "$(peer_dir "$1")/tls/ca.crt"; }
msp_id() { case $1 in bureau) echo BureauMSP ;; city) echo CityMSP ;; esac; }

# ---------------------------------------------------------------- material
make_material() {
    mkdir -p "$VAR/config"
    # a network made with other ports (or the one-organisation network) cannot be reused: the
    # channel's configuration names its orderers, organisations and anchor peers
    if [ -f "$VAR/$CHANNEL.block" ] || [ -d "$VAR/crypto" ]; then
        [ -d "$(org_dir bureau)" ] ||
            die "var/fabric holds the former one-organisation network: run scripts/fabric.sh clean first"
        [ "$(cat "$VAR/port-base" 2>/dev/null || echo default)" = "${PORT_BASE:-default}" ] ||
            die "var/fabric was made with FABRIC_PORT_BASE=$(cat "$VAR/port-base"), not ${PORT_BASE:-unset}: use that base, or run scripts/fabric.sh clean first"
    fi
    echo "${PORT_BASE:-default}" >"$VAR/port-base"
    if [ ! -f "$VAR/config/core.yaml" ]; then
        cp -r "$CACHE/sampleconfig/." "$VAR/config/"
        chmod -R u+w "$VAR/config"
        # vm.endpoint must be empty in the file itself (no docker); register the ccaas builder.
        "$ROOT/.venv/bin/python" - "$VAR/config/core.yaml" "$BUILDERS" <<'PY'
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
PY
    fi
    if [ ! -d "$VAR/crypto" ]; then
        cat >"$VAR/crypto-config.yaml" <<'YAML'
OrdererOrgs:
  - Name: Orderer
    Domain: example.com
    EnableNodeOUs: true
    Specs:
      - {Hostname: orderer1, SANS: [localhost, 127.0.0.1]}
      - {Hostname: orderer2, SANS: [localhost, 127.0.0.1]}
      - {Hostname: orderer3, SANS: [localhost, 127.0.0.1]}
PeerOrgs:
  - Name: Bureau
    Domain: bureau.example.com
    EnableNodeOUs: true
    Template: {Count: 1, SANS: [localhost, 127.0.0.1]}
    Users: {Count: 1}
  - Name: City
    Domain: city.example.com
    EnableNodeOUs: true
    Template: {Count: 1, SANS: [localhost, 127.0.0.1]}
    Users: {Count: 1}
YAML
        "$BIN/cryptogen" generate --config="$VAR/crypto-config.yaml" --output="$VAR/crypto.tmp" >/dev/null
        mv "$VAR/crypto.tmp" "$VAR/crypto"
    fi
    if [ ! -f "$VAR/$CHANNEL.block" ]; then
        local o1 o2 o3
        o1=$(orderer_port 1) o2=$(orderer_port 2) o3=$(orderer_port 3)
        cat >"$VAR/configtx.yaml" <<YAML
Organizations:
  - &OrdererOrg
    Name: OrdererOrg
    ID: OrdererMSP
    MSPDir: crypto/ordererOrganizations/example.com/msp
    Policies:
      Readers: {Type: Signature, Rule: "OR('OrdererMSP.member')"}
      Writers: {Type: Signature, Rule: "OR('OrdererMSP.member')"}
      Admins: {Type: Signature, Rule: "OR('OrdererMSP.admin')"}
    OrdererEndpoints: [127.0.0.1:$o1, 127.0.0.1:$o2, 127.0.0.1:$o3]
$(for org in $ORGS; do
            m=$(msp_id "$org")
            cat <<ORG
  - &$m
    Name: $m
    ID: $m
    MSPDir: crypto/peerOrganizations/$org.example.com/msp
    Policies:
      Readers: {Type: Signature, Rule: "OR('$m.admin', '$m.peer', '$m.client')"}
      Writers: {Type: Signature, Rule: "OR('$m.admin', '$m.client')"}
      Admins: {Type: Signature, Rule: "OR('$m.admin')"}
      Endorsement: {Type: Signature, Rule: "OR('$m.peer')"}
    AnchorPeers: [{Host: 127.0.0.1, Port: $(peer_port "$org")}]
ORG
        done)
Capabilities:
  Channel: &ChannelCapabilities {V2_0: true}
  Orderer: &OrdererCapabilities {V2_0: true}
  Application: &ApplicationCapabilities {V2_5: true}
Application: &ApplicationDefaults
  Organizations:
  # MAJORITY of two organisations is both: each must approve a chaincode definition
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
$(for n in $ORDERERS; do
            d=crypto/ordererOrganizations/example.com/orderers/orderer$n.example.com/tls
            cat <<CONSENTER
      - Host: 127.0.0.1
        Port: $(orderer_port "$n")
        ClientTLSCert: $d/server.crt
        ServerTLSCert: $d/server.crt
CONSENTER
        done)
    # Snapshots every 256 KB (stock: 16 MB). A restarted orderer replays its Raft log after the
    # last snapshot; when that takes more than one Raft Ready batch (MaxSizePerMsg =
    # PreferredMaxBytes, 512 KB) and includes the channel's first config change, this Fabric's
    # etcdraft chain deadlocks (chain.apply waits on WALSyncC while node.run waits on applyC, both
    # unbuffered) and the node never elects itself. Frequent snapshots keep the replay short.
    # A leader that stops is replaced after ElectionTick x TickInterval = 5 s.
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
      Organizations: [*BureauMSP, *CityMSP]
      Capabilities: *ApplicationCapabilities
YAML
        "$BIN/configtxgen" -profile AnchorChannel -channelID "$CHANNEL" -configPath "$VAR" \
            -outputBlock "$VAR/$CHANNEL.block.tmp" 2>>"$VAR/logs/configtxgen.log" ||
            die "configtxgen failed (var/fabric/logs/configtxgen.log)"
        mv "$VAR/$CHANNEL.block.tmp" "$VAR/$CHANNEL.block"
    fi
}

# ---------------------------------------------------------------- processes
start_orderer() { # start_orderer N [wait]: start orderer N (if stopped) and wait for /healthz
    local n=$1 dir
    dir=$(orderer_dir "$n")
    mkdir -p "$VAR/orderer$n"
    FABRIC_CFG_PATH=$VAR/config \
        ORDERER_GENERAL_LISTENADDRESS=127.0.0.1 \
        ORDERER_GENERAL_LISTENPORT=$(orderer_port "$n") \
        ORDERER_GENERAL_LOCALMSPID=OrdererMSP \
        ORDERER_GENERAL_LOCALMSPDIR=$dir/msp \
        ORDERER_GENERAL_TLS_ENABLED=true \
        ORDERER_GENERAL_TLS_PRIVATEKEY=$dir/tls/server.key \
        ORDERER_GENERAL_TLS_CERTIFICATE=$dir/tls/server.crt \
        ORDERER_GENERAL_TLS_ROOTCAS="[$ORDERER_CA]" \
        ORDERER_GENERAL_CLUSTER_CLIENTCERTIFICATE=$dir/tls/server.crt \
        ORDERER_GENERAL_CLUSTER_CLIENTPRIVATEKEY=$dir/tls/server.key \
        ORDERER_GENERAL_CLUSTER_ROOTCAS="[$ORDERER_CA]" \
        ORDERER_GENERAL_BOOTSTRAPMETHOD=none \
        ORDERER_CHANNELPARTICIPATION_ENABLED=true \
        ORDERER_ADMIN_LISTENADDRESS=127.0.0.1:$(orderer_admin_port "$n") \
        ORDERER_ADMIN_TLS_ENABLED=true \
        ORDERER_ADMIN_TLS_PRIVATEKEY=$dir/tls/server.key \
        ORDERER_ADMIN_TLS_CERTIFICATE=$dir/tls/server.crt \
        ORDERER_ADMIN_TLS_ROOTCAS="[$ORDERER_CA]" \
        ORDERER_ADMIN_TLS_CLIENTAUTHREQUIRED=true \
        ORDERER_ADMIN_TLS_CLIENTROOTCAS="[$ORDERER_CA]" \
        ORDERER_OPERATIONS_LISTENADDRESS=127.0.0.1:$(orderer_ops_port "$n") \
        ORDERER_METRICS_PROVIDER=prometheus \
        ORDERER_FILELEDGER_LOCATION=$VAR/orderer$n/ledger \
        ORDERER_CONSENSUS_WALDIR=$VAR/orderer$n/etcdraft/wal \
        ORDERER_CONSENSUS_SNAPDIR=$VAR/orderer$n/etcdraft/snapshot \
        start_bg "orderer$n" "$BIN/orderer"
}

wait_orderer() { wait_until 120 "orderer$1 /healthz" healthy "$(orderer_ops_port "$1")"; }

peer_env() { # peer_env ORG: environment for ORG's peer process and for its admin's CLI calls
    local org=$1 dir port
    dir=$(peer_dir "$org")
    port=$(peer_port "$org")
    export FABRIC_CFG_PATH=$VAR/config
    export CORE_PEER_ID=peer0.$org.example.com
    export CORE_PEER_ADDRESS=127.0.0.1:$port
    export CORE_PEER_LISTENADDRESS=127.0.0.1:$port
    export CORE_PEER_CHAINCODEADDRESS=127.0.0.1:$(peer_cc_port "$org")
    export CORE_PEER_CHAINCODELISTENADDRESS=127.0.0.1:$(peer_cc_port "$org")
    export CORE_PEER_GOSSIP_BOOTSTRAP=127.0.0.1:$port
    export CORE_PEER_GOSSIP_EXTERNALENDPOINT=127.0.0.1:$port
    export CORE_PEER_LOCALMSPID=$(msp_id "$org")
    export CORE_PEER_TLS_ENABLED=true
    export CORE_PEER_TLS_CERT_FILE=$dir/tls/server.crt
    export CORE_PEER_TLS_KEY_FILE=$dir/tls/server.key
    export CORE_PEER_TLS_ROOTCERT_FILE=$dir/tls/ca.crt
    export CORE_PEER_FILESYSTEMPATH=$VAR/peer-$org
    export CORE_OPERATIONS_LISTENADDRESS=127.0.0.1:$(peer_ops_port "$org")
    export CORE_METRICS_PROVIDER=disabled
    export CORE_LEDGER_SNAPSHOTS_ROOTDIR=$VAR/peer-$org/snapshots
}

start_peer() { # start_peer ORG: start ORG's peer (if stopped); wait_peer ORG waits for /healthz
    local org=$1
    mkdir -p "$VAR/peer-$org"
    (
        peer_env "$org"
        export CORE_PEER_MSPCONFIGPATH=$(peer_dir "$org")/msp
        start_bg "peer-$org" "$BIN/peer" node start
    )
}

wait_peer() { wait_until 120 "the $1 peer's /healthz" healthy "$(peer_ops_port "$1")"; }

admin() { # admin ORG ARGS...: run a peer CLI command as ORG's admin, against ORG's peer
    local org=$1
    shift
    (
        peer_env "$org"
        export CORE_PEER_MSPCONFIGPATH=$(org_dir "$org")/users/Admin@$org.example.com/msp
        "$BIN/peer" "$@"
    )
}

osn() { # osn N ARGS...: osnadmin against orderer N
    local n=$1
    shift
    "$BIN/osnadmin" "$@" -o "127.0.0.1:$(orderer_admin_port "$n")" --ca-file "$ORDERER_CA" \
        --client-cert "$ORG_O/users/Admin@example.com/tls/client.crt" \
        --client-key "$ORG_O/users/Admin@example.com/tls/client.key"
}

join_orderer() { # join_orderer N: orderer N joins the channel (once)
    local n=$1 out
    osn "$n" channel list 2>/dev/null | grep -q "\"$CHANNEL\"" && return
    out=$(osn "$n" channel join --channelID "$CHANNEL" --config-block "$VAR/$CHANNEL.block" 2>&1) || true
    echo "$out" >>"$VAR/logs/osnadmin.log"
    # osnadmin exits 0 even on HTTP errors: 201 is joined, 405 "already exists" is fine too.
    grep -qE "Status: 201|already exists" <<<"$out" ||
        die "orderer$n channel join failed (var/fabric/logs/osnadmin.log)"
}

join_peer() { # join_peer ORG: ORG's peer joins the channel (once)
    local org=$1 out
    # Right after a restart `peer channel list` may not show the channel yet, so a join that
    # finds the ledger already there counts as joined.
    admin "$org" channel list 2>/dev/null | grep -qx "$CHANNEL" && return
    if ! out=$(admin "$org" channel join -b "$VAR/$CHANNEL.block" 2>&1); then
        echo "$out" >>"$VAR/logs/channel.log"
        grep -q "ledger \[$CHANNEL\] already exists" <<<"$out" ||
            die "the $org peer's channel join failed (var/fabric/logs/channel.log)"
    fi
}

package_chaincode() { # reproducible package: fixed mtimes and owners, gzip without timestamp
    local dir=$VAR/ccpkg
    [ -f "$VAR/$CC_NAME.tar.gz" ] && return
    rm -rf "$dir" && mkdir -p "$dir/code"
    printf '{"address":"127.0.0.1:%s","dial_timeout":"10s","tls_required":false}\n' "$CC_PORT" \
        >"$dir/code/connection.json"
    printf '{"type":"ccaas","label":"%s_1"}\n' "$CC_NAME" >"$dir/metadata.json"
    tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$dir/code" -cf - connection.json |
        gzip -n >"$dir/code.tar.gz"
    tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$dir" -cf - metadata.json code.tar.gz |
        gzip -n >"$VAR/$CC_NAME.tar.gz"
}

deploy_chaincode() {
    package_chaincode
    local pkgid org
    pkgid=$(admin bureau lifecycle chaincode calculatepackageid "$VAR/$CC_NAME.tar.gz")
    for org in $ORGS; do # the same package on each peer: one chaincode server serves both
        if ! admin "$org" lifecycle chaincode queryinstalled 2>/dev/null | grep -q "$pkgid"; then
            admin "$org" lifecycle chaincode install "$VAR/$CC_NAME.tar.gz" >>"$VAR/logs/lifecycle.log" 2>&1 ||
                die "chaincode install on the $org peer failed (var/fabric/logs/lifecycle.log)"
        fi
    done
    CHAINCODE_ID=$pkgid CHAINCODE_SERVER_ADDRESS=127.0.0.1:$CC_PORT start_bg chaincode "$CC_BIN"
    # Committed already? "not defined" is the only answer that means no; other errors (peer still
    # catching up after a restart) are retried rather than taken as a reason to approve again.
    local out start=$SECONDS
    while ! out=$(admin bureau lifecycle chaincode querycommitted --channelID "$CHANNEL" --name "$CC_NAME" 2>&1); do
        grep -q "is not defined" <<<"$out" && break
        ((SECONDS - start < 60)) || die "cannot query the chaincode definition: $out"
        sleep 0.5
    done
    grep -q "is not defined" <<<"$out" || return 0
    local common=(-o "127.0.0.1:$(orderer_port 1)" --tls --cafile "$ORDERER_CA" --channelID "$CHANNEL"
        --name "$CC_NAME" --version 1 --sequence 1 --signature-policy "$CC_POLICY")
    for org in $ORGS; do # each organisation approves once (a second identical approval fails)
        admin "$org" lifecycle chaincode checkcommitreadiness "${common[@]}" --output json 2>/dev/null |
            grep -q "\"$(msp_id "$org")\": true" && continue
        ordered 60 "approval by $org" admin "$org" lifecycle chaincode approveformyorg "${common[@]}" --package-id "$pkgid"
    done
    local peers=()
    for org in $ORGS; do peers+=(--peerAddresses "127.0.0.1:$(peer_port "$org")" --tlsRootCertFiles "$(peer_ca "$org")"); done
    ordered 60 commit admin bureau lifecycle chaincode commit "${common[@]}" "${peers[@]}"
}

ordered() { # ordered SECONDS WHAT COMMAND... : a transaction, retried while the orderers have
    # no Raft leader yet (right after a start they elect one within seconds)
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

write_env() { # the hub is the Bureau's client; it reaches the City peer's gateway too
    local user=$(org_dir bureau)/users/User1@bureau.example.com/msp
    cat "$(peer_ca bureau)" "$(peer_ca city)" >"$VAR/peers-tls-ca.pem"
    cat >"$VAR/hub.env" <<ENV
HUB_LEDGER_ANCHOR=fabric
HUB_FABRIC_PEER=127.0.0.1:$(peer_port bureau),127.0.0.1:$(peer_port city)
HUB_FABRIC_CHANNEL=$CHANNEL
HUB_FABRIC_CHAINCODE=$CC_NAME
HUB_FABRIC_MSP_ID=BureauMSP
HUB_FABRIC_TLS_CA=$VAR/peers-tls-ca.pem
HUB_FABRIC_CERT=$(ls "$user"/signcerts/*.pem)
HUB_FABRIC_KEY=$(ls "$user"/keystore/*)
ENV
}

timed() { # timed WHAT COMMAND... : run, and report how long it took
    local what=$1 start=$SECONDS
    shift
    "$@"
    log "$(printf '%-22s %3ss' "$what" $((SECONDS - start)))"
}

start_orderers() {
    local n
    for n in $ORDERERS; do start_orderer "$n"; done
    for n in $ORDERERS; do wait_orderer "$n"; done
}

start_peers() {
    local org
    for org in $ORGS; do start_peer "$org"; done
    for org in $ORGS; do wait_peer "$org"; done
}

up() {
    local total=$SECONDS n org
    timed build build_fabric
    mkdir -p "$VAR/logs" "$VAR/pids"
    timed material make_material
    timed "3 orderers" start_orderers
    for n in $ORDERERS; do join_orderer "$n"; done
    timed "Raft leader" wait_leader
    timed "2 peers" start_peers
    for org in $ORGS; do join_peer "$org"; done
    timed chaincode deploy_chaincode
    write_env
    log "up in $((SECONDS - total))s (orderer$(raft_leader) leads); settings in var/fabric/hub.env"
    cat "$VAR/hub.env"
}

down() {
    local n org
    stop_bg chaincode
    for org in $ORGS; do stop_bg "peer-$org"; done
    for n in $ORDERERS; do stop_bg "orderer$n"; done
}

status() {
    local n rc=0
    for n in orderer1 orderer2 orderer3 peer-bureau peer-city chaincode; do
        if pid_alive $n; then echo "$n: running (pid $(cat "$VAR/pids/$n.pid"))"; else
            echo "$n: stopped"
            rc=1
        fi
    done
    return $rc
}

peers_named() { # peers_named [ORG]: ORG (checked by the caller), or every organisation
    if [ -n "${1:-}" ]; then echo "$1"; else echo "$ORGS"; fi
}

case ${1:-} in
build) build_fabric ;;
up) up ;;
down) down ;;
restart) # restart orderers and peers (the chaincode server keeps running), as after a crash
    for org in $ORGS; do stop_bg "peer-$org"; done
    for n in $ORDERERS; do stop_bg "orderer$n"; done
    start_orderers
    wait_leader
    start_peers
    ;;
leader) raft_leader || die "no orderer leads the channel's Raft now" ;;
stop-orderer) # a fault: orderer N stops (the others keep a Raft majority)
    check_orderer "${2:-}"
    stop_bg "orderer$2"
    ;;
start-orderer)
    check_orderer "${2:-}"
    start_orderer "$2"
    wait_orderer "$2"
    wait_leader
    ;;
stop-peer) # a fault: ORG's peer (or both) away, the orderers still up
    [ -z "${2:-}" ] || org_index "$2" >/dev/null
    for org in $(peers_named "${2:-}"); do stop_bg "peer-$org"; done
    ;;
start-peer)
    [ -z "${2:-}" ] || org_index "$2" >/dev/null
    for org in $(peers_named "${2:-}"); do start_peer "$org"; done
    for org in $(peers_named "${2:-}"); do wait_peer "$org"; done
    ;;
clean)
    down
    rm -rf "$VAR"
    ;;
status) status ;;
*)
    echo "usage: $0 up|down|restart|status|clean|build|leader|stop-orderer N|start-orderer N|stop-peer [ORG]|start-peer [ORG]" >&2
    exit 2
    ;;
esac
