#!/usr/bin/env bash
# Set-up, then every check CI runs: formatting, lints, and the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh

say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

say "cargo fmt --check"
cargo fmt --all -- --check
say "cargo clippy"
cargo clippy --workspace --all-targets -q -- -D warnings
if [ -x sdk-js/sdk/node_modules/.bin/tsc ]; then
    say "tsc: the TypeScript apps type-check against @calimero/sdk's declarations"
    for app in apps/*-ts templates/ts; do
        if [ -f "$app/tsconfig.json" ]; then
            sdk-js/sdk/node_modules/.bin/tsc -p "$app/tsconfig.json"
        fi
    done
fi
say "cargo test"
cargo test --workspace
say "cargo test: calimero-sdk's \`tracing\` feature (off in the workspace build)"
cargo clippy -p calimero-sdk --features tracing --all-targets -q -- -D warnings
cargo test -p calimero-sdk --features tracing --test log_tracing
