//! Step 1: compile a Rust app crate to `wasm32-unknown-unknown`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, anyhow, bail};
use serde_json::Value;

/// The wasm target app modules are built for.
pub const TARGET: &str = "wasm32-unknown-unknown";
/// The cargo profile the toolchain defines on the command line (never in the user's files).
pub const PROFILE: &str = "calimero-app";

/// The crate being built.
#[derive(Clone, Debug)]
pub struct RustCrate {
    pub manifest_path: PathBuf,
    pub package: String,
    /// The library target's name (the module is `<lib_name>.wasm`).
    pub lib_name: String,
    pub crate_dir: PathBuf,
    pub workspace_root: PathBuf,
    pub target_dir: PathBuf,
}

/// Reads the crate at `manifest_path` with `cargo metadata` and checks it is a `cdylib`.
pub fn locate(manifest_path: &Path) -> anyhow::Result<RustCrate> {
    let manifest_path = manifest_path
        .canonicalize()
        .with_context(|| format!("no Cargo.toml at {}", manifest_path.display()))?;
    let output = Command::new(cargo())
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--manifest-path",
        ])
        .arg(&manifest_path)
        .stderr(Stdio::inherit())
        .output()
        .context("running `cargo metadata`")?;
    if !output.status.success() {
        bail!("`cargo metadata` failed for {}", manifest_path.display());
    }
    let metadata: Value =
        serde_json::from_slice(&output.stdout).context("reading `cargo metadata`")?;
    let package = metadata["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["manifest_path"].as_str().map(Path::new) == Some(manifest_path.as_path()))
        .ok_or_else(|| {
            anyhow!(
                "{} is not a package (a workspace root?); pass the app's own Cargo.toml",
                manifest_path.display()
            )
        })?;
    let name = package["name"].as_str().unwrap_or_default().to_owned();
    let lib = package["targets"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|t| {
            t["kind"]
                .as_array()
                .is_some_and(|k| k.iter().any(|k| k == "cdylib" || k == "lib" || k == "rlib"))
        });
    let is_cdylib = lib.is_some_and(|t| {
        t["crate_types"]
            .as_array()
            .is_some_and(|k| k.iter().any(|k| k == "cdylib"))
    });
    if !is_cdylib {
        bail!(
            "`{name}` is not a cdylib, so it cannot become an app module; add this to {}:\n\n[lib]\ncrate-type = [\"cdylib\", \"rlib\"]\n",
            manifest_path.display()
        );
    }
    let lib_name = lib
        .and_then(|t| t["name"].as_str())
        .unwrap_or(&name)
        .replace('-', "_");
    Ok(RustCrate {
        crate_dir: manifest_path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default(),
        manifest_path,
        package: name,
        lib_name,
        workspace_root: metadata["workspace_root"]
            .as_str()
            .map(PathBuf::from)
            .unwrap_or_default(),
        target_dir: metadata["target_directory"]
            .as_str()
            .map(PathBuf::from)
            .unwrap_or_default(),
    })
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// Fails with the fix if the wasm target's standard library is not installed.
pub fn check_target() -> anyhow::Result<()> {
    let output = Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()
        .context("running rustc")?;
    let sysroot = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    if !Path::new(&sysroot)
        .join("lib/rustlib")
        .join(TARGET)
        .exists()
    {
        bail!(
            "the Rust target {TARGET} is not installed; install it with:\n\n    rustup target add {TARGET}\n"
        );
    }
    Ok(())
}

/// The size-tuned profile, as `--config` arguments.
fn profile_config(dev: bool) -> Vec<String> {
    let p = format!("profile.{PROFILE}");
    let mut config = vec![format!("{p}.inherits=\"release\"")];
    if dev {
        config.extend([format!("{p}.opt-level=1"), format!("{p}.debug=false")]);
    } else {
        config.extend([
            format!("{p}.opt-level=\"z\""),
            format!("{p}.lto=true"),
            format!("{p}.codegen-units=1"),
            format!("{p}.strip=\"symbols\""),
            format!("{p}.debug=false"),
        ]);
    }
    config.extend([
        format!("{p}.panic=\"abort\""),
        format!("{p}.incremental=false"),
        format!("{p}.overflow-checks=true"),
    ]);
    config
}

/// Flags that make the module independent of where things live on this machine.
fn rustflags(krate: &RustCrate) -> String {
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .unwrap_or_default();
    let mut flags = Vec::new();
    // The SDK may be a path dependency next to the app: remap its parent as well.
    let sdk_root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    for (from, to) in [
        (krate.target_dir.clone(), "/target"),
        (cargo_home, "/cargo"),
        (krate.workspace_root.clone(), "/app"),
        (sdk_root, "/calimero"),
    ] {
        if !from.as_os_str().is_empty() {
            flags.push(format!("--remap-path-prefix={}={to}", from.display()));
        }
    }
    flags.join("\x1f")
}

/// Runs cargo; compile errors reach the user's terminal untouched. Returns the raw module.
pub fn build(krate: &RustCrate, dev: bool) -> anyhow::Result<PathBuf> {
    check_target()?;
    let mut command = Command::new(cargo());
    command
        .arg("build")
        .arg("--lib")
        .args(["--target", TARGET, "--profile", PROFILE]);
    command
        .arg("--manifest-path")
        .arg(&krate.manifest_path)
        .args(["-p", &krate.package]);
    for config in profile_config(dev) {
        command.arg("--config").arg(config);
    }
    // Ambient flags would make the module depend on the machine: use exactly ours.
    command
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .env_remove(format!(
            "CARGO_TARGET_{}_RUSTFLAGS",
            TARGET.to_uppercase().replace('-', "_")
        ))
        .env("CARGO_ENCODED_RUSTFLAGS", rustflags(krate))
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit());
    let status = command.status().context("running cargo")?;
    if !status.success() {
        bail!("cargo build failed (its errors are above)");
    }
    let module = krate
        .target_dir
        .join(TARGET)
        .join(PROFILE)
        .join(format!("{}.wasm", krate.lib_name));
    if !module.exists() {
        bail!("cargo succeeded but {} is missing", module.display());
    }
    Ok(module)
}
