#!/usr/bin/env bash
# Set-up, then the node benchmark rows (BENCHMARKS.md B3, B5, B11) on release builds.
# Extra arguments go to calimero-bench (see `calimero-bench --help`), e.g. --rows b3 --json out.json
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh

cargo build -q --profile app-release --target wasm32-unknown-unknown -p kv-store
cargo build -q --release -p calimero-cli --bin calimero-bench
module="$CARGO_TARGET_DIR/wasm32-unknown-unknown/app-release/kv_store.wasm"
"$CARGO_TARGET_DIR/release/calimero-bench" --module "$module" "$@"
