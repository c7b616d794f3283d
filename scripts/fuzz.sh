#!/usr/bin/env bash
# Coverage-guided fuzzing of every target with libFuzzer, on the stable toolchain.
#
#   bash scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     (default: 600 s, all targets)
#
# Targets are the functions in fuzz/src/lib.rs. Each run starts from fuzz/corpus/<target>/ and
# adds the inputs that reached new code to it; a crash is written to fuzz/artifacts/<target>/ and
# makes this script exit non-zero. Add a fixed crash to fuzz/regressions/<target>/ so that the
# test suite replays it. Instrumentation is plain SanitizerCoverage (`-C passes=sancov-module`),
# which stable rustc supports; no sanitizer runtime, so no nightly toolchain is needed.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

seconds="${1:-600}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(host_calls storage_artifact abi_manifest wire_messages ts_frontend)
fi

host="$(rustc -vV | sed -n 's/^host: //p')"
target_dir="$CARGO_TARGET_DIR/fuzz"

# The TypeScript engine is built once by the normal build; the instrumented build reuses it
# (instrumentation flags must not reach its nested wasm32 build).
engine="$(ls -t "$CARGO_TARGET_DIR"/*/build/cargo-calimero-*/out/calimero_js_engine.wasm 2>/dev/null | head -1 || true)"
if [ -z "$engine" ]; then
    echo "==> building the TypeScript engine once (cargo build -p cargo-calimero)"
    cargo build -q -p cargo-calimero
    engine="$(ls -t "$CARGO_TARGET_DIR"/*/build/cargo-calimero-*/out/calimero_js_engine.wasm | head -1)"
fi
export CALIMERO_JS_ENGINE="$engine"

echo "==> building the fuzz targets with coverage instrumentation ($target_dir)"
RUSTFLAGS="--cfg fuzzing -C passes=sancov-module -C llvm-args=-sanitizer-coverage-level=4 \
-C llvm-args=-sanitizer-coverage-inline-8bit-counters -C llvm-args=-sanitizer-coverage-pc-table \
-C llvm-args=-sanitizer-coverage-trace-compares -C debug-assertions -C overflow-checks" \
    cargo build --release --manifest-path fuzz/libfuzzer/Cargo.toml \
    --target "$host" --target-dir "$target_dir" --bins

status=0
for target in "${targets[@]}"; do
    corpus="fuzz/corpus/$target"
    artifacts="fuzz/artifacts/$target"
    mkdir -p "$corpus" "$artifacts"
    before=$(ls "$corpus" | wc -l)
    echo "==> $target: ${seconds}s from $before corpus inputs"
    log="$target_dir/$target.log"
    if "$target_dir/$host/release/$target" "$corpus" fuzz/regressions/"$target" \
        -max_total_time="$seconds" -rss_limit_mb=4096 -max_len=65536 -timeout=20 \
        -artifact_prefix="$artifacts/" -print_final_stats=1 >"$log" 2>&1; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
        cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
        # Keep the smallest set of inputs that covers the same code (what gets committed).
        minimized="$target_dir/$target.min"
        rm -rf "$minimized" && mkdir -p "$minimized"
        "$target_dir/$host/release/$target" -merge=1 -max_len=65536 -timeout=20 \
            "$minimized" "$corpus" >"$log.merge" 2>&1
        rm -rf "$corpus" && mv "$minimized" "$corpus"
        echo "    clean: $runs runs, $cov, corpus $before -> $(ls "$corpus" | wc -l) (minimized)"
    else
        echo "    FAILED: see $log and $artifacts/"
        tail -20 "$log"
        status=1
    fi
done
exit $status
