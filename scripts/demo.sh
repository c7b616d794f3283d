#!/usr/bin/env bash
# Set-up, then the main job: build the Rust kv-store app to WebAssembly, check it against the
# host ABI, and run two replicas of it on the native test host until they converge.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh

say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

say "building apps/kv-store for wasm32-unknown-unknown (release)"
cargo build --release --target wasm32-unknown-unknown -p kv-store
module="$CARGO_TARGET_DIR/wasm32-unknown-unknown/release/kv_store.wasm"
printf 'module: %s (%s bytes)\n' "$module" "$(stat -c %s "$module")"

say "checking the module against the host ABI (imports, exports, ABI fragments)"
cargo test -q -p calimero-tests --test kv_store_module

say "two replicas of kv-store on the native test host"
cargo run -q -p kv-store --example replicas
