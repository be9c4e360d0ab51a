#!/usr/bin/env bash
# Separate hosts on one machine: puts each member of a testnet in a network namespace of its
# own, with its own address on a private bridge, so that a cut or a lost host is a real
# network cut (packets dropped on the way), not a process kill or a block list.
#
#   vigia testnet init --dir DIR --members 5 --first-address 10.77.0.10
#   sudo testnet/netns.sh up DIR          # bridge, namespaces, nodes; then `vigia testnet up`
#   vigia testnet verify --dir DIR        # or status, kill; every API answers on the bridge
#   sudo testnet/netns.sh cut DIR AR BR   # AR and BR on one side, everyone else on the other
#   sudo testnet/netns.sh heal DIR
#   sudo testnet/netns.sh start DIR AR    # restart a killed member in its namespace
#   sudo testnet/netns.sh down DIR        # nodes, namespaces, veths and bridge, all gone
#
# See testnet/README.md for the layout and why it is built this way. Runs as root; touches
# only the bridge vgbr0, namespaces named vg-CODE, veths named vgh-CODE/vgn-CODE and the
# private network 10.77.0.0/24, which is never routed anywhere: namespaces get no default
# route and the host forwards nothing.
set -euo pipefail

readonly BRIDGE=vgbr0
readonly NETWORK_PREFIX=10.77.0
readonly HOST_ADDRESS=10.77.0.1
readonly PREFIX_LENGTH=24
readonly NAMESPACE_PREFIX=vg-
# How long a started node may take to exec, as `vigia testnet` allows.
readonly EXEC_WAIT_TENTHS=50
# How long `start` waits for a restarted member to be connected and publishing.
readonly READY_WAIT_SECONDS=60

usage() {
    sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

die() {
    echo "netns.sh: $*" >&2
    exit 1
}

# The vigia binary: $VIGIA, else `vigia` on PATH, else this checkout's release or debug build.
find_vigia() {
    if [ -n "${VIGIA:-}" ]; then
        echo "$VIGIA"
        return
    fi
    if command -v vigia >/dev/null 2>&1; then
        command -v vigia
        return
    fi
    local repo
    repo=$(cd "$(dirname "$0")/.." && pwd)
    for build in release debug; do
        if [ -x "$repo/target/$build/vigia" ]; then
            echo "$repo/target/$build/vigia"
            return
        fi
    done
    die "no vigia binary: set VIGIA, or build it with \`cargo build --release -p vigia-tools\`"
}

require_root() {
    [ "$(id -u)" -eq 0 ] || die "run as root: it creates network namespaces and a bridge"
}

# Prints "CODE ADDRESS" for each member of the testnet in $1, from its manifest.
members() {
    local manifest="$1/testnet.toml"
    [ -f "$manifest" ] || die "$1 is not a testnet (no testnet.toml)"
    awk '
        /^\[\[members\]\]/ { if (code != "") print code, address; code = ""; address = "" }
        /^code *=/ { gsub(/[" ]/, "", $3); code = $3 }
        /^address *=/ { gsub(/[" ]/, "", $3); address = $3 }
        END { if (code != "") print code, address }
    ' FS=' ' "$manifest"
}

# Fails unless $2 is a member of the testnet in $1.
require_member() {
    local list
    list=$(members "$1")
    grep -q "^$2 " <<<"$list" || die "$2 is not a member of the testnet in $1"
}

# Fails unless every member has an address of its own in the private network.
check_addresses() {
    local code address
    while read -r code address; do
        case "$address" in
            "$NETWORK_PREFIX".*) ;;
            *) die "$code has no address in $NETWORK_PREFIX.0/$PREFIX_LENGTH; create the \
testnet with \`vigia testnet init ... --first-address $NETWORK_PREFIX.10\`" ;;
        esac
        local last=${address##*.}
        if [ "$last" -le 1 ] || [ "$last" -ge 255 ]; then
            die "$code's address $address is reserved (network, bridge or broadcast)"
        fi
    done < <(members "$1")
}

namespace() { echo "$NAMESPACE_PREFIX$1"; }

# Whether the node of $2 in testnet $1 runs: the process in node.pid names its config.
node_running() {
    local pid_file="$1/$2/node.pid" config pid
    config=$(realpath "$1/$2/node.toml")
    [ -f "$pid_file" ] || return 1
    pid=$(cat "$pid_file")
    [ -r "/proc/$pid/cmdline" ] || return 1
    tr '\0' '\n' <"/proc/$pid/cmdline" | grep -qxF -- "$config"
}

# Starts the node of member $2 of testnet $1 inside its namespace, detached in a session of
# its own, and records its pid where `vigia testnet` looks for it.
start_node() {
    local dir=$1 code=$2 vigia=$3
    if node_running "$dir" "$code"; then
        echo "  $code already running"
        return
    fi
    local config
    config=$(realpath "$dir/$code/node.toml")
    # `ip netns exec` and `setsid` both exec in place here (no fork), so $! is the node.
    VIGIA_LOG_FORMAT=text setsid ip netns exec "$(namespace "$code")" \
        "$vigia" node run --config "$config" \
        </dev/null >>"$dir/$code/node.log" 2>&1 &
    echo "$!" >"$dir/$code/node.pid"
    local tenths=0
    until node_running "$dir" "$code"; do
        tenths=$((tenths + 1))
        [ "$tenths" -le "$EXEC_WAIT_TENTHS" ] || die "the node of $code did not start; see $dir/$code/node.log"
        sleep 0.1
    done
    echo "  $code started in namespace $(namespace "$code")"
}

create_network() {
    local dir=$1 code address
    ip link add "$BRIDGE" type bridge
    ip addr add "$HOST_ADDRESS/$PREFIX_LENGTH" dev "$BRIDGE"
    ip link set "$BRIDGE" up
    while read -r code address; do
        local ns
        ns=$(namespace "$code")
        ip netns add "$ns"
        ip link add "vgh-$code" type veth peer name "vgn-$code"
        ip link set "vgn-$code" netns "$ns"
        ip -n "$ns" link set lo up
        ip -n "$ns" addr add "$address/$PREFIX_LENGTH" dev "vgn-$code"
        ip -n "$ns" link set "vgn-$code" up
        ip link set "vgh-$code" master "$BRIDGE"
        ip link set "vgh-$code" up
        echo "  $code: namespace $ns, address $address"
    done < <(members "$dir")
}

cmd_up() {
    local dir=$1 vigia code address
    require_root
    check_addresses "$dir"
    vigia=$(find_vigia)
    ! ip link show "$BRIDGE" >/dev/null 2>&1 ||
        die "bridge $BRIDGE exists already: \`netns.sh down DIR\` the testnet that runs first"
    [ -z "$(ip route show "$NETWORK_PREFIX.0/$PREFIX_LENGTH")" ] ||
        die "$NETWORK_PREFIX.0/$PREFIX_LENGTH is already routed on this host; not touching it"
    # A half-built network is taken down again rather than left behind.
    UP_DIR=$dir
    trap 'echo "netns.sh: up failed; removing what it created" >&2; cmd_down "$UP_DIR" >/dev/null 2>&1' EXIT
    echo "== network $NETWORK_PREFIX.0/$PREFIX_LENGTH on bridge $BRIDGE"
    create_network "$dir"
    echo "== nodes"
    while read -r code address; do
        start_node "$dir" "$code" "$vigia"
    done < <(members "$dir")
    # The nodes run already, so `up` only waits for them to connect and loads directories.
    "$vigia" testnet up --dir "$dir"
    trap - EXIT
}

# Cuts the listed members off from all the others, both ways: each side gets a blackhole
# route to every address of the other, so packets are dropped as on a broken link while
# the bridge address, and so every API, stays reachable from the host.
cmd_cut() {
    local dir=$1
    shift
    [ "$#" -gt 0 ] || die "cut needs at least one member: netns.sh cut DIR CODE..."
    require_root
    local -A side=()
    local code address
    for code in "$@"; do
        code=${code^^}
        require_member "$dir" "$code"
        side[$code]=1
    done
    local -a inside=() outside=()
    while read -r code address; do
        if [ -n "${side[$code]:-}" ]; then
            inside+=("$code $address")
        else
            outside+=("$code $address")
        fi
    done < <(members "$dir")
    local in out
    for in in "${inside[@]}"; do
        for out in "${outside[@]}"; do
            ip -n "$(namespace "${in% *}")" route replace blackhole "${out#* }/32"
            ip -n "$(namespace "${out% *}")" route replace blackhole "${in#* }/32"
        done
    done
    echo "cut: ${inside[*]% *} | ${outside[*]% *}"
}

cmd_heal() {
    local dir=$1 code address
    require_root
    while read -r code address; do
        ip -n "$(namespace "$code")" route flush type blackhole 2>/dev/null || true
    done < <(members "$dir")
    echo "healed: every namespace reaches every other"
}

# Waits until member $2's node reports itself publishing (connected, own feed confirmed).
wait_ready() {
    local dir=$1 code=$2 vigia=$3 waited=0
    until "$vigia" testnet status --dir "$dir" --json |
        awk -v code="$code" '
            /"member":/ { mine = index($0, "\"" code "\"") > 0 }
            mine && /"ready": true/ { found = 1 }
            END { exit !found }'; do
        waited=$((waited + 1))
        [ "$waited" -le "$READY_WAIT_SECONDS" ] ||
            die "$code is not publishing after ${READY_WAIT_SECONDS}s; see $dir/$code/node.log"
        sleep 1
    done
    echo "$code is connected and publishing"
}

cmd_start() {
    local dir=$1 code=${2^^} vigia
    require_root
    require_member "$dir" "$code"
    [ -e "/run/netns/$(namespace "$code")" ] ||
        die "no namespace $(namespace "$code"): \`netns.sh up DIR\` first"
    vigia=$(find_vigia)
    start_node "$dir" "$code" "$vigia"
    wait_ready "$dir" "$code" "$vigia"
}

# Stops the nodes, then removes namespaces, veths and bridge. Safe to run more than once,
# and after a failed `up`.
cmd_down() {
    local dir=$1 code ns
    require_root
    if [ -f "$dir/testnet.toml" ]; then
        "$(find_vigia)" testnet down --dir "$dir" || true
    fi
    # Every namespace this script creates, the testnet's and any a lost DIR left behind.
    for ns in $(ip netns list | awk '{print $1}' | grep -E "^$NAMESPACE_PREFIX[A-Z]{2}$" || true); do
        local pids
        pids=$(ip netns pids "$ns" 2>/dev/null || true)
        if [ -n "$pids" ]; then
            echo "  killing what still runs in $ns: $pids"
            # shellcheck disable=SC2086 # one pid per word
            kill -KILL $pids 2>/dev/null || true
        fi
        ip netns del "$ns"
        code=${ns#"$NAMESPACE_PREFIX"}
        # Deleting the namespace deletes its veth end, and with it the host end.
        ip link del "vgh-$code" 2>/dev/null || true
    done
    ip link del "$BRIDGE" 2>/dev/null || true
    echo "network removed: no namespace, veth or bridge of netns.sh is left"
}

main() {
    [ "$#" -ge 2 ] || usage
    local command=$1 dir
    dir=$(realpath -m "$2")
    shift 2
    case "$command" in
        up) cmd_up "$dir" ;;
        cut) cmd_cut "$dir" "$@" ;;
        heal) cmd_heal "$dir" ;;
        start) [ "$#" -eq 1 ] || usage; cmd_start "$dir" "$1" ;;
        down) cmd_down "$dir" ;;
        *) usage ;;
    esac
}

main "$@"
