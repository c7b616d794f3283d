#!/usr/bin/env bash
# Runs the scripted call sequences in scripts/upstream-scenarios/ on upstream example apps built
# by scripts/check-upstream.sh. Each scenario names, on its first line (`# module: <crate>`), the
# crate whose module it starts on; `upgrade` steps name later versions' modules relative to the
# work directory (`../<crate>/app/res/<module>.wasm`).
#
# Usage: scripts/run-upstream-scenarios.sh <work directory of check-upstream.sh> [scenario.yml ...]
#   default: every scenario under scripts/upstream-scenarios/.
# Prints one line per scenario (ok, FAIL with the failing calls, or skipped when a module it
# needs was not built) and exits 1 if any failed.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
if [ $# -lt 1 ] || [ ! -d "$1" ]; then
    echo "usage: $0 <work directory of scripts/check-upstream.sh> [scenario.yml ...]" >&2
    exit 2
fi
work=$(cd "$1" && pwd)
shift
source "$root/scripts/env.sh"
tool="$CARGO_TARGET_DIR/debug/cargo-calimero"
if [ ! -x "$tool" ]; then
    (cd "$root" && cargo build -q -p cargo-calimero) || exit 1
fi
if [ $# -gt 0 ]; then
    scenarios=("$@")
else
    mapfile -t scenarios < <(find "$root/scripts/upstream-scenarios" -name '*.yml' | sort)
fi
mkdir -p "$work/scenarios"
passed=0 failed=0 skipped=0
for scenario in "${scenarios[@]}"; do
    name=$(basename "$scenario")
    crate=$(sed -n '1s/^# module: //p' "$scenario")
    module=$(ls "$work/$crate"/app/res/*.wasm 2>/dev/null | head -1)
    missing=""
    [ -n "$module" ] || missing="$crate"
    for upgrade in $(sed -n 's/^- upgrade: \.\.\///p' "$scenario"); do
        [ -f "$work/$upgrade" ] || missing="$missing ${upgrade%%/*}"
    done
    if [ -n "$missing" ]; then
        printf '%-36s skipped: not built:%s\n' "$name" " $missing"
        skipped=$((skipped + 1))
        continue
    fi
    cp "$scenario" "$work/scenarios/$name"
    if output=$("$tool" calimero test --module "$module" --scenario "$work/scenarios/$name" 2>&1); then
        printf '%-36s ok   %s\n' "$name" "$(echo "$output" | sed -n 's/.*(\([0-9]* calls[^)]*\)).*/\1/p' | head -1)"
        passed=$((passed + 1))
    else
        printf '%-36s FAIL\n%s\n' "$name" "$output"
        failed=$((failed + 1))
    fi
done
echo "scenarios: $passed as expected, $failed failed, $skipped skipped (work: $work)"
[ "$failed" -eq 0 ]
