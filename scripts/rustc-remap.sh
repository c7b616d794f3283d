#!/usr/bin/env bash
# rustc wrapper for the QuickJS engine's build (toolchain/engine_build.rs), which makes the engine
# independent of the checkout's directory:
# - it adds one --remap-path-prefix per line of $CALIMERO_REMAP ("from=to"), so no path of the
#   build machine reaches the module (in RUSTFLAGS they would change every crate's hash);
# - it replaces cargo's `-C metadata` of crates under $CALIMERO_ROOT (the storage crate and its
#   siblings live outside the engine's workspace, so cargo hashes their absolute paths, which
#   would change symbol hashes and the engine's layout) with a hash of what the compilation is:
#   the crate, its source path relative to the checkout, target, edition, cfgs and dependencies.
rustc=$1
shift
args=("$@")
root=${CALIMERO_ROOT:-}
if [ -n "$root" ]; then
    source_file="" metadata_at=-1 identity=()
    for i in "${!args[@]}"; do
        arg=${args[$i]}
        case "$arg" in
            *.rs) [ -z "$source_file" ] && source_file=$arg ;;
            metadata=*) [ "$i" -gt 0 ] && [ "${args[$((i - 1))]}" = "-C" ] && metadata_at=$i ;;
        esac
        case "$arg" in
            --crate-name | --crate-type | --edition | --target | --cfg | --extern)
                next=${args[$((i + 1))]:-}
                identity+=("$arg" "${next%%=*}") ;;
        esac
    done
    # Workspace members get paths relative to the directory cargo runs rustc in.
    [ -z "$source_file" ] || [[ "$source_file" == /* ]] || source_file="$PWD/$source_file"
    if [ "$metadata_at" -ge 0 ] && [[ "$source_file" == "$root"/* ]]; then
        identity+=("${source_file#"$root"/}")
        args[metadata_at]="metadata=$(printf '%s\n' "${identity[@]}" | sha256sum | cut -c1-16)"
    fi
fi
flags=()
while IFS= read -r pair; do
    [ -n "$pair" ] && flags+=("--remap-path-prefix=$pair")
done <<<"${CALIMERO_REMAP:-}"
exec "$rustc" "${args[@]}" "${flags[@]}"
