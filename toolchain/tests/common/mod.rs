//! Helpers the toolchain's integration tests share.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// Builds a TypeScript app with `PATH` pointing at an empty directory: nothing but the
/// toolchain's own binary takes part.
pub fn build_ts(app: &Path, out: &Path) -> Output {
    build_ts_with(app, out, &[])
}

/// [`build_ts`] with more arguments for `cargo calimero build`.
pub fn build_ts_with(app: &Path, out: &Path, args: &[&str]) -> Output {
    build_ts_in(app, out, args, &shared_cache())
}

/// The cache directory the toolchain tests share (engines, compiled artifacts, builds).
pub fn shared_cache() -> std::path::PathBuf {
    calimero_tests::target_dir().join("calimero-cache")
}

/// [`build_ts_with`] with its own cache directory.
pub fn build_ts_in(app: &Path, out: &Path, args: &[&str], cache: &Path) -> Output {
    let empty = out.join("empty-path");
    std::fs::create_dir_all(&empty).unwrap();
    Command::new(env!("CARGO_BIN_EXE_cargo-calimero"))
        .args(["calimero", "build", "--manifest-path"])
        .arg(app.join("package.json"))
        .arg("--out")
        .arg(out)
        .args(args)
        .env_clear()
        .env("PATH", &empty)
        .env("HOME", std::env::var_os("HOME").unwrap_or_default())
        .env("CALIMERO_CACHE_DIR", cache)
        .output()
        .expect("cargo-calimero runs")
}

/// Stdout and stderr of a finished command.
pub fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A throwaway TypeScript app with `source` as its entry.
pub fn app_with(source: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("src")).unwrap();
    std::fs::write(dir.path().join("package.json"), r#"{"name": "broken-app"}"#).unwrap();
    std::fs::write(dir.path().join("src/index.ts"), source).unwrap();
    dir
}

/// The module `cargo calimero build` makes of the TypeScript app in `apps/<name>` (built into a
/// temporary directory, so the checkout is left as it was).
pub fn build_repo_ts(name: &str) -> Vec<u8> {
    let out = tempfile::tempdir().unwrap();
    let app = calimero_tests::workspace_root().join("apps").join(name);
    let built = build_ts(&app, out.path());
    assert!(built.status.success(), "{}", text(&built));
    std::fs::read(out.path().join(format!("{}.wasm", name.replace('-', "_")))).unwrap()
}
