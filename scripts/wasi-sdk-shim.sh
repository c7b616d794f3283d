#!/usr/bin/env bash
# Assembles a directory shaped like a WASI SDK out of Debian's clang-16 and wasi-libc, so that
# QuickJS's C code builds for wasm32-wasip1 offline (rquickjs-sys reads it through $WASI_SDK).
# Usage: scripts/wasi-sdk-shim.sh <dir>    (idempotent)
set -euo pipefail
dir=${1:?usage: wasi-sdk-shim.sh <dir>}
mkdir -p "$dir/bin" "$dir/share/wasi-sysroot/include" "$dir/share/wasi-sysroot/lib"

# clang-16 only knows the target as `wasm32-wasi`; cc-rs asks for `wasm32-wasip1`.
cat >"$dir/bin/clang" <<'WRAPPER'
#!/usr/bin/env bash
args=()
for arg in "$@"; do
    case "$arg" in
        --target=wasm32-wasip1) args+=("--target=wasm32-wasi") ;;
        wasm32-wasip1) args+=("wasm32-wasi") ;;
        *) args+=("$arg") ;;
    esac
done
exec /usr/bin/clang-16 "${args[@]}"
WRAPPER
chmod +x "$dir/bin/clang"
ln -sf /usr/bin/llvm-ar-16 "$dir/bin/ar"
ln -sf /usr/bin/llvm-ar-16 "$dir/bin/llvm-ar"
ln -sf /usr/bin/llvm-ranlib-16 "$dir/bin/ranlib"
ln -sf /usr/bin/wasm-ld-16 "$dir/bin/wasm-ld"
# The sysroot layout clang expects, under both spellings of the target.
for triple in wasm32-wasi wasm32-wasip1; do
    ln -sfn /usr/include/wasm32-wasi "$dir/share/wasi-sysroot/include/$triple"
    ln -sfn /usr/lib/wasm32-wasi "$dir/share/wasi-sysroot/lib/$triple"
done
