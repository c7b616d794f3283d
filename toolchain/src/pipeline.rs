//! The whole build: detect the language, then run the steps and write `res/`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use calimero_wasm_abi::{PARTS_SECTION, SECTION};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::report::Reporter;
use crate::{abi, compile, optimize, validate};

/// What the user asked for.
#[derive(Clone, Debug, Default)]
pub struct BuildOptions {
    /// The app's Cargo.toml (default: the one in the current directory).
    pub manifest_path: Option<PathBuf>,
    /// Where to write the module and `abi.json` (default: `<crate>/res`).
    pub out_dir: Option<PathBuf>,
    /// A faster, larger debug-style build.
    pub dev: bool,
    /// Skip wasm-opt.
    pub no_opt: bool,
}

/// What the build produced.
#[derive(Clone, Debug)]
pub struct BuildOutput {
    pub module: PathBuf,
    pub abi: PathBuf,
    pub size_before: usize,
    pub size_after: usize,
    pub sha256: String,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Which pipeline a directory needs.
fn detect(dir: &Path) -> &'static str {
    if dir.join("Cargo.toml").exists() {
        "rust"
    } else if dir.join("package.json").exists() || dir.join("src/index.ts").exists() {
        "ts"
    } else {
        "none"
    }
}

/// Builds an app; reports each step as it finishes.
pub fn build(options: &BuildOptions, reporter: &Reporter) -> anyhow::Result<BuildOutput> {
    let manifest = match &options.manifest_path {
        Some(path) => path.clone(),
        None => {
            let dir = std::env::current_dir()?;
            match detect(&dir) {
                "rust" => dir.join("Cargo.toml"),
                "ts" => bail!(
                    "{} is a TypeScript app; TypeScript builds are not available in this toolchain yet",
                    dir.display()
                ),
                _ => bail!(
                    "no app here: {} has no Cargo.toml (Rust) or package.json (TypeScript); pass --manifest-path",
                    dir.display()
                ),
            }
        }
    };
    let started = Instant::now();
    let krate = compile::locate(&manifest)?;
    reporter.note(&format!(
        "building {} ({})",
        krate.package,
        krate.manifest_path.display()
    ));

    let step = Instant::now();
    let raw_path = compile::build(&krate, options.dev)?;
    let raw =
        std::fs::read(&raw_path).with_context(|| format!("reading {}", raw_path.display()))?;
    reporter.step(
        "compile",
        step.elapsed(),
        &format!("{} bytes, {}", raw.len(), compile::TARGET),
    );

    let step = Instant::now();
    let manifest = abi::extract(&raw)?;
    let methods = manifest["methods"].as_array().map_or(0, Vec::len);
    let events = manifest["events"].as_array().map_or(0, Vec::len);
    reporter.step(
        "abi",
        step.elapsed(),
        &format!("{methods} methods, {events} events"),
    );

    let step = Instant::now();
    let optimized = if options.no_opt {
        reporter.step("optimize", step.elapsed(), "skipped (--no-opt)");
        raw.clone()
    } else {
        let _spinner = reporter.start("wasm-opt -Oz");
        let optimized = optimize::optimize(&raw)?;
        drop(_spinner);
        reporter.step(
            "optimize",
            step.elapsed(),
            &format!("{} -> {} bytes (wasm-opt -Oz)", raw.len(), optimized.len()),
        );
        optimized
    };

    let step = Instant::now();
    let drop = |name: &str| {
        matches!(
            name,
            PARTS_SECTION | SECTION | "name" | "producers" | "target_features"
        )
    };
    let mut module =
        calimero_wasm_abi::remove_custom_sections(&optimized, drop).map_err(anyhow::Error::msg)?;
    module.extend(calimero_wasm_abi::custom_section(
        SECTION,
        manifest.to_string().as_bytes(),
    ));
    reporter.step(
        "embed",
        step.elapsed(),
        &format!("custom section {SECTION}"),
    );

    let step = Instant::now();
    validate::validate(&module, &manifest)?;
    reporter.step(
        "validate",
        step.elapsed(),
        "imports and exports follow the host ABI",
    );

    let out_dir = options
        .out_dir
        .clone()
        .unwrap_or_else(|| krate.crate_dir.join("res"));
    std::fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let module_path = out_dir.join(format!("{}.wasm", krate.lib_name));
    let abi_path = out_dir.join("abi.json");
    std::fs::write(&module_path, &module)
        .with_context(|| format!("writing {}", module_path.display()))?;
    std::fs::write(&abi_path, serde_json::to_string_pretty(&manifest)? + "\n")
        .with_context(|| format!("writing {}", abi_path.display()))?;
    let sha256 = hex(&Sha256::digest(&module));
    let output = BuildOutput {
        module: module_path,
        abi: abi_path,
        size_before: raw.len(),
        size_after: module.len(),
        sha256,
    };
    if reporter.is_json() {
        reporter.json(json!({
            "reason": "build-finished", "module": output.module, "abi": output.abi,
            "size_before": output.size_before, "size_after": output.size_after,
            "sha256": output.sha256, "seconds": started.elapsed().as_secs_f64(),
        }));
    } else {
        eprintln!(
            "built {} in {:.1}s: {} bytes (before optimisation {}), sha256 {}",
            output.module.display(),
            started.elapsed().as_secs_f64(),
            output.size_after,
            output.size_before,
            output.sha256
        );
    }
    Ok(output)
}
