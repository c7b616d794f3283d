#!/usr/bin/env bash
# Set-up, then the main job: build the Rust kv-store app to WebAssembly and its TypeScript twin
# with `cargo calimero build`, check them against the host ABI, run two replicas on the native
# test host until they converge, then run both apps on a real node (merod on an embedded RocksDB)
# driven with meroctl.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh

say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

say "building apps/kv-store for wasm32-unknown-unknown (release)"
cargo build --release --target wasm32-unknown-unknown -p kv-store
module="$CARGO_TARGET_DIR/wasm32-unknown-unknown/release/kv_store.wasm"
printf 'module: %s (%s bytes)\n' "$module" "$(stat -c %s "$module")"

say "building apps/kv-store-ts with cargo calimero (TypeScript -> QuickJS bytecode inside the embedded engine)"
cargo build -q -p cargo-calimero
"$CARGO_TARGET_DIR/debug/cargo-calimero" calimero build --manifest-path apps/kv-store-ts/package.json
ts_module=apps/kv-store-ts/res/kv_store_ts.wasm

say "checking the module against the host ABI (imports, exports, ABI fragments)"
cargo test -q -p calimero-tests --test kv_store_module

say "two replicas of kv-store on the native test host"
cargo run -q -p kv-store --example replicas

say "a real node: merod on an embedded RocksDB, driven with meroctl"
cargo build -q -p calimero-cli
bin="$CARGO_TARGET_DIR/debug"
home=$(mktemp -d)
"$bin/merod" --home "$home" --node demo init --server-port 0 >/dev/null
"$bin/merod" --home "$home" --node demo run >"$home/merod.log" 2>&1 &
merod_pid=$!
trap 'kill "$merod_pid" 2>/dev/null; wait "$merod_pid" 2>/dev/null; rm -rf "$home"' EXIT
for _ in $(seq 1 300); do
    grep -q "listening on" "$home/merod.log" && break
    sleep 0.1
done
url=$(grep -o 'http://[0-9.:]*' "$home/merod.log" | head -n 1)
[ -n "$url" ] || { cat "$home/merod.log"; echo "merod did not start" >&2; exit 1; }
echo "merod listening on $url"
ctl() { "$bin/meroctl" --home "$home" --node demo --api "$url" "$@"; }
app=$(ctl app install --path "$module" | awk '{print $3}')
echo "installed kv-store as application $app"
context=$(ctl context create --application-id "$app" | awk '{print $3}')
echo "created context $context"
ctl call set --context "$context" --args '{"key":"greeting","value":"hello from merod"}' >/dev/null
ctl call set --context "$context" --args '{"key":"language","value":"rust"}' >/dev/null
printf 'get greeting -> '; ctl call get --context "$context" --args '{"key":"greeting"}'
echo 'entries      ->'; ctl call entries --context "$context"

ts_app=$(ctl app install --path "$PWD/$ts_module" | awk '{print $3}')
echo "installed kv-store-ts (the TypeScript twin) as application $ts_app"
ts_context=$(ctl context create --application-id "$ts_app" | awk '{print $3}')
ctl call set --context "$ts_context" --args '{"key":"greeting","value":"hello from TypeScript, café ☕ 東京 🌍"}' >/dev/null
printf 'get greeting (TypeScript) -> '; ctl call get --context "$ts_context" --args '{"key":"greeting"}'
printf 'get_result missing (TypeScript) -> '; ctl call get_result --context "$ts_context" --args '{"key":"missing"}' 2>&1 || true
ctl context ls
kill -TERM "$merod_pid"; wait "$merod_pid" 2>/dev/null || true
echo "merod stopped cleanly; its state is in $home/demo/data (removed on exit)"
