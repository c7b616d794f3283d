// How the QuickJS engine (`sdk-js/engine`, wasm32-wasip1) is built: shared by `build.rs` and the
// reproducibility test (`include!`d by both), so the test checks the command the tool uses.
//
// The build is made independent of where things live: Rust paths of the checkout, the cargo
// home and the target directory are remapped (`--remap-path-prefix`, added by
// `scripts/rustc-remap.sh`), and so are the C compiler's (`-ffile-prefix-map`, for QuickJS's
// `__FILE__`s), so that two checkouts of one commit give the same engine bytes and no shipped
// module names a directory of the build machine.

/// The cargo home: `$CARGO_HOME`, or `~/.cargo`.
fn cargo_home() -> std::path::PathBuf {
    std::env::var_os("CARGO_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".cargo")))
        .unwrap_or_default()
}

/// The `cargo build` of the engine in checkout `root`, into `target_dir`, with the C compiler
/// from the WASI-SDK-shaped directory `shim` (made by `scripts/wasi-sdk-shim.sh`).
fn engine_build_command(
    root: &std::path::Path,
    target_dir: &std::path::Path,
    shim: &std::path::Path,
) -> std::process::Command {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = std::process::Command::new(cargo);
    build
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip1",
            "--manifest-path",
        ])
        .arg(root.join("sdk-js/engine/Cargo.toml"))
        .env("CARGO_TARGET_DIR", target_dir)
        .env("WASI_SDK", shim);
    // The outer build's flags and wrappers are for the host, not for the engine.
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_MAKEFLAGS",
        "CARGO_PRIMARY_PACKAGE",
        "TARGET",
        "HOST",
        "PROFILE",
        "OPT_LEVEL",
        "DEBUG",
        "CFLAGS",
        "CFLAGS_wasm32_wasip1",
        "TARGET_CFLAGS",
    ] {
        build.env_remove(var);
    }
    for (key, _) in std::env::vars() {
        if key.starts_with("CARGO_CFG_")
            || key.starts_with("CARGO_FEATURE_")
            || key.starts_with("CARGO_PKG_")
            || key.starts_with("DEP_")
        {
            build.env_remove(key);
        }
    }
    build.env_remove("OUT_DIR").env_remove("CARGO_MANIFEST_DIR");

    let mut prefixes = vec![
        (target_dir.to_path_buf(), "/target"),
        (cargo_home(), "/cargo"),
        (root.to_path_buf(), "/calimero"),
    ];
    prefixes.retain(|(from, _)| !from.as_os_str().is_empty());
    // Through a rustc wrapper, not RUSTFLAGS: cargo folds RUSTFLAGS into every crate's metadata
    // hash, which would carry the checkout's path into symbol hashes and the engine's layout.
    let rust: Vec<String> = prefixes
        .iter()
        .map(|(from, to)| format!("{}={to}", from.display()))
        .collect();
    let c: Vec<String> = prefixes
        .iter()
        .map(|(from, to)| format!("-ffile-prefix-map={}={to}", from.display()))
        .collect();
    // Cargo does not see what the wrapper does, so a RUSTFLAGS entry that changes with the
    // wrapper's text (a remap of a prefix no path has) makes a new wrapper rebuild everything.
    let wrapper = root.join("scripts/rustc-remap.sh");
    let text = std::fs::read(&wrapper).unwrap_or_default();
    let version = text.iter().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    });
    build
        .env(
            "CARGO_ENCODED_RUSTFLAGS",
            format!("--remap-path-prefix=/calimero-engine-wrapper={version:016x}"),
        )
        .env("RUSTC_WRAPPER", &wrapper)
        .env("CALIMERO_REMAP", rust.join("\n"))
        .env("CALIMERO_ROOT", root)
        .env("CFLAGS_wasm32_wasip1", c.join(" "));
    build
}
