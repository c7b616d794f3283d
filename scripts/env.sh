# Sourced by the scripts: a persistent build directory outside the clone, so repeated runs
# (and CI on the same machine) reuse the build. Override CARGO_TARGET_DIR to put it elsewhere.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/calimero/target}"
# Ambient RUSTFLAGS would make app modules depend on the machine; the project sets its own.
unset RUSTFLAGS
