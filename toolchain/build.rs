//! Builds the QuickJS engine (`sdk-js/engine`, wasm32-wasip1) so that it ships inside the
//! binary. The C parts compile with Debian's clang-16 and wasi-libc through a WASI-SDK-shaped
//! directory of links (`scripts/wasi-sdk-shim.sh`); `scripts/setup.sh` installs both.
//! The engine gets a target directory of its own, so this nested build never waits on the
//! outer build's lock.

use std::path::{Path, PathBuf};
use std::process::Command;

include!("engine_build.rs");

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir.parent().unwrap().to_path_buf();
    for watched in [
        "sdk-js/engine/src",
        "sdk-js/engine/Cargo.toml",
        "sdk-js/engine/Cargo.lock",
        "sdk-rust/storage/src",
        "sdk-rust/storage/Cargo.toml",
        "sdk-rust/sys/src",
        "macros/src",
        "scripts/wasi-sdk-shim.sh",
        "toolchain/engine_build.rs",
        "scripts/rustc-remap.sh",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    println!("cargo:rerun-if-env-changed=CALIMERO_JS_ENGINE");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("calimero_js_engine.wasm");

    // A prebuilt engine (for packagers) skips the nested build.
    if let Some(prebuilt) = std::env::var_os("CALIMERO_JS_ENGINE") {
        std::fs::copy(&prebuilt, &out).expect("copying $CALIMERO_JS_ENGINE");
        return;
    }

    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("js-engine");
    let shim = target_dir.join("wasi-sdk");
    run(
        Command::new("bash")
            .arg(root.join("scripts/wasi-sdk-shim.sh"))
            .arg(&shim),
        "assembling the WASI SDK shim (needs clang-16, lld-16 and wasi-libc: run scripts/setup.sh)",
    );
    let mut build = engine_build_command(&root, &target_dir, &shim);
    run(&mut build, "building the QuickJS engine for wasm32-wasip1");
    let built = target_dir.join("wasm32-wasip1/release/calimero_js_engine.wasm");
    copy(&built, &out);
}

fn run(command: &mut Command, what: &str) {
    let status = command
        .status()
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    assert!(status.success(), "{what} failed ({status})");
}

fn copy(from: &Path, to: &Path) {
    std::fs::copy(from, to)
        .unwrap_or_else(|e| panic!("copying {} to {}: {e}", from.display(), to.display()));
}
