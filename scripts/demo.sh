#!/usr/bin/env bash
# Set-up, then the main job: build the kv-store app in Rust and its TypeScript twin with
# `cargo calimero build`, start three local merod nodes on embedded RocksDB, join them into one
# context through invitations, write on every node and watch the roots converge; stop a node,
# write while it is down, restart it and watch it catch up. Exits 0 when everything converged.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh

say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

say "building cargo-calimero, merod and meroctl"
cargo build -q -p cargo-calimero -p calimero-cli
bin="$CARGO_TARGET_DIR/debug"

say "cargo calimero build: apps/kv-store (Rust)"
"$bin/cargo-calimero" calimero build --manifest-path apps/kv-store/Cargo.toml
module="$PWD/apps/kv-store/res/kv_store.wasm"

say "cargo calimero build: apps/kv-store-ts (TypeScript -> QuickJS bytecode inside the embedded engine)"
"$bin/cargo-calimero" calimero build --manifest-path apps/kv-store-ts/package.json
ts_module="$PWD/apps/kv-store-ts/res/kv_store_ts.wasm"

home=$(mktemp -d)
pids=()
declare -A pid_of url_of
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$home"
}
trap cleanup EXIT

start() { # start <node>: runs merod in the background and waits until it serves
    local node=$1
    "$bin/merod" --home "$home" --node "$node" run >"$home/$node.log" 2>&1 &
    pid_of[$node]=$!
    pids+=("$!")
    for _ in $(seq 1 300); do
        grep -q "listening on" "$home/$node.log" && break
        sleep 0.1
    done
    url_of[$node]=$(grep -o 'http://[0-9.:]*' "$home/$node.log" | head -n 1)
    [ -n "${url_of[$node]}" ] || { cat "$home/$node.log"; echo "merod $node did not start" >&2; exit 1; }
    echo "$node: $(grep -o 'peer id [^ ]*' "$home/$node.log") on ${url_of[$node]}"
}
stop() { # stop <node>: SIGTERM and wait for a clean exit
    kill -TERM "${pid_of[$1]}"
    wait "${pid_of[$1]}" 2>/dev/null || true
    echo "$1: stopped"
}
ctl() { local node=$1; shift; "$bin/meroctl" --home "$home" --node "$node" --api "${url_of[$node]}" "$@"; }
root() { ctl "$1" --output-format json context get "$context" | grep -o '"rootHash": *"[^"]*"' | cut -d'"' -f4; }
wait_converged() { # wait_converged <node>...: until every node reports the same root
    for _ in $(seq 1 300); do
        local roots=()
        for node in "$@"; do roots+=("$(root "$node")"); done
        if [ -n "${roots[0]}" ] && [ "$(printf '%s\n' "${roots[@]}" | sort -u | wc -l)" -eq 1 ]; then
            for node in "$@"; do echo "  $node root ${roots[0]}"; done
            return 0
        fi
        sleep 0.1
    done
    echo "the nodes did not converge:" >&2
    for node in "$@"; do echo "  $node root $(root "$node")" >&2; done
    return 1
}

say "three nodes on loopback (HTTP and swarm ports picked at start, RocksDB under $home)"
for node in n1 n2 n3; do
    "$bin/merod" --home "$home" --node "$node" init --server-port 0 --swarm-host 127.0.0.1 --swarm-port 0 \
        --sync-interval-ms 1000 --heartbeat-ms 1000 >/dev/null
    start "$node"
done

say "n1 installs kv-store and creates a context; n2 and n3 join with invitations"
app=$(ctl n1 app install --path "$module" | awk '{print $3}')
echo "application $app"
context=$(ctl n1 context create --application-id "$app" | awk '{print $3}')
echo "context $context"
for node in n2 n3; do
    invitation=$(ctl n1 context invite "$context")
    echo "invitation for $node: ${invitation:0:48}..."
    ctl "$node" context join "$invitation"
done
echo "members:"; ctl n1 context members "$context" | sed 's/^/  /'

say "every node writes; the deltas travel by gossip"
ctl n1 call set --context "$context" --args '{"key":"greeting","value":"hello from n1"}' >/dev/null
ctl n2 call set --context "$context" --args '{"key":"language","value":"rust, from n2"}' >/dev/null
ctl n3 call set --context "$context" --args '{"key":"weather","value":"sunny at n3"}' >/dev/null
ctl n3 call set --context "$context" --args '{"key":"greeting","value":"hello from n3 (written last)"}' >/dev/null
wait_converged n1 n2 n3
for node in n1 n2 n3; do echo "$node entries: $(ctl "$node" call entries --context "$context" | tr -d '\n' | sed 's/  */ /g')"; done

say "n3 stops; n1 and n2 keep writing"
stop n3
ctl n1 call set --context "$context" --args '{"key":"missed-1","value":"written while n3 was down"}' >/dev/null
ctl n2 call set --context "$context" --args '{"key":"missed-2","value":"also while n3 was down"}' >/dev/null
ctl n1 call remove --context "$context" --args '{"key":"weather"}' >/dev/null
wait_converged n1 n2

say "n3 restarts and catches up"
start n3
wait_converged n1 n2 n3
for node in n1 n2 n3; do echo "$node entries: $(ctl "$node" call entries --context "$context" | tr -d '\n' | sed 's/  */ /g')"; done
echo "n3 status:"; ctl n3 node status | sed 's/^/  /' | head -n 4

say "the TypeScript twin runs on the same node software"
ts_app=$(ctl n1 app install --path "$ts_module" | awk '{print $3}')
ts_context=$(ctl n1 context create --application-id "$ts_app" | awk '{print $3}')
ctl n1 call set --context "$ts_context" --args '{"key":"greeting","value":"hello from TypeScript, café ☕ 東京 🌍"}' >/dev/null
printf 'get greeting (TypeScript) -> '; ctl n1 call get --context "$ts_context" --args '{"key":"greeting"}'

say "done: three nodes converged, a stopped node caught up"
