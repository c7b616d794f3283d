//! The QuickJS engine every TypeScript module carries is built reproducibly: two checkouts of one
//! commit, in directories of different names and lengths, give byte-identical engines, and
//! neither an engine nor a TypeScript module names a directory of the machine that built it.

mod common;

use std::path::Path;
use std::process::Command;

// The exact command `build.rs` runs.
include!("../engine_build.rs");

/// A copy of this checkout's tracked files (as they are in the working tree) at `to`.
fn copy_checkout(to: &Path) {
    let root = calimero_tests::workspace_root();
    let listed = Command::new("git")
        .args(["ls-files", "-z"])
        .current_dir(&root)
        .output()
        .expect("git runs");
    assert!(listed.status.success(), "git ls-files failed");
    for file in listed.stdout.split(|b| *b == 0).filter(|f| !f.is_empty()) {
        let relative = Path::new(std::str::from_utf8(file).unwrap());
        let (from, into) = (root.join(relative), to.join(relative));
        if !from.is_file() {
            continue; // deleted in the working tree
        }
        std::fs::create_dir_all(into.parent().unwrap()).unwrap();
        let same = std::fs::read(&into).ok() == std::fs::read(&from).ok();
        if !same {
            std::fs::copy(&from, &into).unwrap();
        }
    }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    !needle.is_empty()
        && haystack
            .windows(needle.len())
            .any(|w| w == needle.as_bytes())
}

#[test]
fn two_checkouts_build_the_same_engine_and_no_module_names_the_build_machine() {
    // Fixed places under the target directory, so a second run rebuilds only what changed.
    let base = calimero_tests::target_dir().join("reproducible-engine");
    let shim = base.join("wasi-sdk");
    let status = Command::new("bash")
        .arg(calimero_tests::workspace_root().join("scripts/wasi-sdk-shim.sh"))
        .arg(&shim)
        .status()
        .unwrap();
    assert!(status.success());

    let mut engines = Vec::new();
    let checkouts = [
        base.join("a"),
        base.join("a-checkout-with-a-much-longer-name"),
    ];
    for (i, checkout) in checkouts.iter().enumerate() {
        copy_checkout(checkout);
        let target = base.join(format!("target-{i}"));
        let output = engine_build_command(checkout, &target, &shim)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "building the engine in {}:\n{}",
            checkout.display(),
            common::text(&output)
        );
        let engine =
            std::fs::read(target.join("wasm32-wasip1/release/calimero_js_engine.wasm")).unwrap();
        for path in [checkout.clone(), target.clone(), cargo_home()] {
            let shown = path.display().to_string();
            assert!(!contains(&engine, &shown), "the engine names {shown}");
        }
        engines.push(engine);
    }
    assert!(
        engines[0] == engines[1],
        "the engines differ in {} of {} bytes",
        engines[0]
            .iter()
            .zip(&engines[1])
            .filter(|(a, b)| a != b)
            .count(),
        engines[0].len().max(engines[1].len())
    );

    // And a module this toolchain builds names none of its own directories.
    let module = common::build_repo_ts("kv-store-ts");
    let home = std::env::var("HOME").unwrap_or_default();
    for path in [
        calimero_tests::workspace_root().display().to_string(),
        calimero_tests::target_dir().display().to_string(),
        cargo_home().display().to_string(),
        format!("{home}/"),
    ] {
        assert!(!contains(&module, &path), "kv-store-ts names {path}");
    }
}
