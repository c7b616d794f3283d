#!/usr/bin/env bash
# Runs the getting-started pages as a reader would, so they cannot rot: every ```sh block of a
# page, in order, as one bash script (set -euo pipefail) in a fresh temporary directory, with
# this checkout's `cargo calimero`, `merod` and `meroctl` first on the PATH and CALIMERO set to
# the checkout. Blocks fenced otherwise (```text, ```console, ```ts, …) are shown, not run.
# Fails, printing the page's output, if any command fails; stops whatever a page left running.
#
#   bash scripts/check-docs.sh                 # both getting-started pages
#   bash scripts/check-docs.sh docs/page.md    # the pages given
#   CHECK_DOCS_SHOW=1 bash scripts/check-docs.sh   # also print what passing pages printed
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
source scripts/env.sh

pages=("$@")
[ "${#pages[@]}" -gt 0 ] || pages=(docs/getting-started-rust.md docs/getting-started-ts.md)

cargo build -q -p cargo-calimero -p calimero-cli
bin="$CARGO_TARGET_DIR/debug"

failed=0
for page in "${pages[@]}"; do
    [ -f "$page" ] || { echo "no such page: $page" >&2; exit 2; }
    work=$(mktemp -d)
    script=$(mktemp)
    {
        echo 'set -euo pipefail'
        awk '/^```sh[[:space:]]*$/ { on = 1; next }
             /^```/                { if (on) { on = 0; print "" } next }
             on                    { print }' "$page"
    } >"$script"
    blocks=$(grep -c '^```sh[[:space:]]*$' "$page" || true)
    printf '==> %s: %s command blocks in %s\n' "$page" "$blocks" "$work"
    started=$(date +%s)
    # Its own process group, so everything the page started can be stopped afterwards.
    set -m
    (cd "$work" && exec env PATH="$bin:$PATH" CALIMERO="$repo" bash "$script") >"$work.log" 2>&1 &
    pid=$!
    set +m
    if wait "$pid"; then status=0; else status=$?; fi
    kill -TERM -- "-$pid" 2>/dev/null || true
    if [ "$status" -eq 0 ]; then
        printf '    ok in %ss\n' "$(($(date +%s) - started))"
        [ "${CHECK_DOCS_SHOW:-0}" = 0 ] || sed 's/^/    | /' "$work.log"
    else
        printf '    FAILED (exit %s); its output:\n' "$status"
        sed 's/^/    | /' "$work.log"
        failed=1
    fi
    rm -rf "$work" "$work.log" "$script"
done
exit "$failed"
