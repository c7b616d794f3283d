#!/usr/bin/env bash
# Builds upstream Calimero's example apps with this project's SDK and `cargo calimero build`,
# changing nothing but dependency declarations: each app is copied as it is into a workspace of
# its own whose manifest defines the keys upstream's workspace gives its apps (`version`,
# `authors`, …, `thiserror`, `hex`, …) and points `calimero-sdk` / `calimero-storage` at
# `sdk-rust/`. Prints one line per app (ok, or the first compiler error) and a summary.
#
# Usage: scripts/check-upstream.sh <checkout of calimero-network/core> [app-dir ...]
#   app-dir is relative to the checkout, e.g. apps/kv-store; default: every crate under apps/.
# Logs and the copies stay in $CALIMERO_UPSTREAM_WORK (default: a new temporary directory).
# Needs network access to crates.io for dependencies the project does not already use.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
if [ $# -lt 1 ] || [ ! -d "$1/apps" ]; then
    echo "usage: $0 <checkout of calimero-network/core> [apps/<name> ...]" >&2
    exit 2
fi
upstream=$(cd "$1" && pwd)
shift
source "$root/scripts/env.sh"
tool="$CARGO_TARGET_DIR/debug/cargo-calimero"
if [ ! -x "$tool" ]; then
    (cd "$root" && cargo build -q -p cargo-calimero) || exit 1
fi
work=${CALIMERO_UPSTREAM_WORK:-$(mktemp -d)}
mkdir -p "$work"

if [ $# -gt 0 ]; then
    apps=("$@")
else
    mapfile -t apps < <(cd "$upstream" && find apps -name Cargo.toml -not -path '*/target/*' \
        -printf '%h\n' | sort)
fi

ok=0
failed=0
for app in "${apps[@]}"; do
    name=$(basename "$app")
    space="$work/$name"
    rm -rf "$space"
    mkdir -p "$space/app"
    cp -r "$upstream/$app/." "$space/app/"
    rm -rf "$space/app/res" "$space/app/target"
    cat >"$space/Cargo.toml" <<EOF
[workspace]
resolver = "2"
members = ["app"]

[workspace.package]
version = "0.1.0"
authors = ["upstream example"]
edition = "2021"
repository = "https://example.invalid/upstream-example"
license = "MIT OR Apache-2.0"

[workspace.dependencies]
calimero-sdk = { path = "$root/sdk-rust/sdk" }
calimero-storage = { path = "$root/sdk-rust/storage" }
borsh = "1"
bs58 = "0.5"
hex = "0.4"
serde = "1"
serde_json = "1"
serial_test = "3"
sha2 = "0.10"
thiserror = "1"
tracing = "0.1"
EOF
    log="$work/$name.log"
    if "$tool" calimero build --manifest-path "$space/app/Cargo.toml" >"$log" 2>&1; then
        ok=$((ok + 1))
        printf '%-45s ok   %s\n' "$app" "$(grep -o '[0-9]* bytes' "$log" | head -1)"
    else
        failed=$((failed + 1))
        reason=$(grep -m1 -E '^(error|  error)' "$log" | cut -c1-110)
        printf '%-45s FAIL %s\n' "$app" "${reason:-see $log}"
    fi
done
echo "built $ok of $((ok + failed)); logs in $work"
