#!/usr/bin/env bash
# Installs what building and testing the project needs, and nothing that is already there.
# Safe to run any number of times.
set -euo pipefail

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

if ! command -v cargo >/dev/null 2>&1; then
    echo "cargo is not installed: install Rust (stable) with rustup first" >&2
    exit 1
fi

# Debian packages: RocksDB (linked from the system instead of built from C++ source, see
# .cargo/config.toml), libclang for its bindings, pkg-config; clang-16, LLVM's tools and wasi-libc
# to compile QuickJS for wasm32-wasip1 (scripts/wasi-sdk-shim.sh arranges them like a WASI SDK);
# Chromium, which the web page's test drives headless; curl, which the getting-started pages use.
APT_PACKAGES=(librocksdb-dev libclang-dev pkg-config clang-16 llvm-16 lld-16 wasi-libc chromium curl)
# Node.js and npm, for `npx create-calimero-app` and type-checking TypeScript apps (building them
# needs neither), unless some Node.js is installed already.
command -v npm >/dev/null 2>&1 || APT_PACKAGES+=(nodejs npm)
missing=()
for package in "${APT_PACKAGES[@]}"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
    say "installing Debian packages: ${missing[*]}"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi

if command -v rustup >/dev/null 2>&1; then
    installed_targets=$(rustup target list --installed)
    for target in wasm32-unknown-unknown wasm32-wasip1; do
        if ! grep -qx "$target" <<<"$installed_targets"; then
            say "adding Rust target $target"
            rustup target add "$target"
        fi
    done
    installed_components=$(rustup component list --installed)
    for component in rustfmt clippy; do
        if ! grep -q "^$component" <<<"$installed_components"; then
            say "adding Rust component $component"
            rustup component add "$component"
        fi
    done
else
    echo "rustup not found: make sure the wasm32-unknown-unknown target is installed" >&2
fi

# TypeScript's compiler, to type-check the TypeScript apps against the SDK's declarations
# (building them needs no Node.js at all).
if command -v npm >/dev/null 2>&1; then
    if [ ! -x "$(dirname "$0")/../sdk-js/sdk/node_modules/.bin/tsc" ]; then
        say "installing the TypeScript compiler for type-checking (sdk-js/sdk)"
        npm install --prefix "$(dirname "$0")/../sdk-js/sdk" --no-audit --no-fund --silent
    fi
    # Calimero's published client library, which a test drives against a node (only its RPC and
    # subscription modules, which need axios and ws).
    client_dir="$(dirname "$0")/../tests/js-client"
    if [ ! -d "$client_dir/node_modules/ws" ]; then
        say "installing the client-library test's packages (tests/js-client)"
        npm install --prefix "$client_dir" --no-audit --no-fund --silent
    fi
    if [ ! -f "$client_dir/calimero-client/package.json" ]; then
        say "fetching @calimero-network/calimero-client 1.1.0 (tests/js-client)"
        packed=$(mktemp -d)
        (cd "$packed" && npm pack --silent @calimero-network/calimero-client@1.1.0 >/dev/null)
        mkdir -p "$client_dir/calimero-client"
        tar -xzf "$packed"/calimero-network-calimero-client-1.1.0.tgz -C "$client_dir/calimero-client" \
            --strip-components=1
        rm -rf "$packed"
    fi
else
    echo "npm not found: TypeScript apps will build, but will not be type-checked, and the \
client-library test cannot run" >&2
fi
