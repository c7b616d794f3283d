//! Helpers for the cross-crate tests: building app modules and checking them against the
//! host ABI contract (`HOST-ABI.md` §3–§4).

use std::path::{Path, PathBuf};
use std::process::Command;

pub use calimero_wasm_abi::module::{ModuleSurface, check_host_abi, inspect};

pub mod node;

/// The repository root: found at run time from the running test's package directory (cargo
/// sets `CARGO_MANIFEST_DIR` for test processes), so that a test binary reused from a shared
/// target directory by a checkout elsewhere still looks at the checkout that runs it.
pub fn workspace_root() -> PathBuf {
    let runtime = std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from);
    if let Some(dir) = runtime
        && let Some(root) = dir.ancestors().find(|d| d.join("Cargo.lock").is_file())
    {
        return root.to_path_buf();
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The build directory: `$CARGO_TARGET_DIR`, else `target/` at the repository root.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// `merod` from this workspace's build, next to the running test's directory (a full `cargo test`
/// builds it with the node's tests).
pub fn merod() -> PathBuf {
    let exe = std::env::current_exe().expect("the test knows its path");
    let path = exe
        .parent()
        .and_then(Path::parent)
        .expect("tests run from target/<profile>/deps")
        .join("merod");
    assert!(
        path.exists(),
        "{} is missing: build it with `cargo build -p calimero-cli`",
        path.display()
    );
    path
}

/// Builds `package` with `cargo build --release --target wasm32-unknown-unknown` into a target
/// directory of its own (so it never waits on the running test's build lock) and returns the
/// module bytes.
pub fn build_app(package: &str) -> Vec<u8> {
    let target_dir = target_dir().join("wasm-apps");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(workspace_root())
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-unknown-unknown",
            "-p",
            package,
        ])
        .arg("--target-dir")
        .arg(&target_dir)
        .env_remove("RUSTFLAGS")
        .status()
        .expect("cargo runs");
    assert!(
        status.success(),
        "building {package} for wasm32-unknown-unknown failed"
    );
    let file = target_dir
        .join("wasm32-unknown-unknown/release")
        .join(format!("{}.wasm", package.replace('-', "_")));
    std::fs::read(&file).unwrap_or_else(|e| panic!("reading {}: {e}", file.display()))
}
