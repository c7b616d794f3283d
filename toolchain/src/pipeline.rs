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
    /// TypeScript: do not pre-initialise the app; every call sets it up (the same behaviour,
    /// slower calls, a smaller module).
    pub no_snapshot: bool,
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
        Some(path) if path.file_name().is_some_and(|n| n == "package.json") => {
            let dir = path
                .parent()
                .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
            return build_ts(&dir, options, reporter);
        }
        Some(path) => path.clone(),
        None => {
            let dir = std::env::current_dir()?;
            match detect(&dir) {
                "rust" => dir.join("Cargo.toml"),
                "ts" => return build_ts(&dir, options, reporter),
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
    let module = embed_abi(&optimized, &manifest)?;
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
    finish(
        &out_dir,
        &krate.lib_name,
        &module,
        &manifest,
        raw.len(),
        started,
        reporter,
    )
}

/// Drops build-only sections (ABI fragments, names, producers, features) and embeds `manifest`
/// as the one `calimero_abi_v1` section.
fn embed_abi(module: &[u8], manifest: &serde_json::Value) -> anyhow::Result<Vec<u8>> {
    let drop = |name: &str| {
        matches!(
            name,
            PARTS_SECTION | SECTION | "name" | "producers" | "target_features"
        )
    };
    let mut module =
        calimero_wasm_abi::remove_custom_sections(module, drop).map_err(anyhow::Error::msg)?;
    module.extend(calimero_wasm_abi::custom_section(
        SECTION,
        manifest.to_string().as_bytes(),
    ));
    Ok(module)
}

/// Writes the module and `abi.json` and reports the result.
fn finish(
    out_dir: &Path,
    name: &str,
    module: &[u8],
    manifest: &serde_json::Value,
    size_before: usize,
    started: Instant,
    reporter: &Reporter,
) -> anyhow::Result<BuildOutput> {
    std::fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let module_path = out_dir.join(format!("{name}.wasm"));
    let abi_path = out_dir.join("abi.json");
    std::fs::write(&module_path, module)
        .with_context(|| format!("writing {}", module_path.display()))?;
    std::fs::write(&abi_path, serde_json::to_string_pretty(manifest)? + "\n")
        .with_context(|| format!("writing {}", abi_path.display()))?;
    let sha256 = hex(&Sha256::digest(module));
    let output = BuildOutput {
        module: module_path,
        abi: abi_path,
        size_before,
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

/// What a TypeScript module is made from, hashed: the bundle and its line table, the ABI, the
/// engine, the options that change the bytes, and this toolchain binary (its size and time, so a
/// rebuilt tool never reuses what an older one made).
fn build_key(
    bundle: &crate::ts::bundle::Bundle,
    manifest: &serde_json::Value,
    options: &BuildOptions,
) -> String {
    let mut hash = Sha256::new();
    let tool = std::env::current_exe()
        .and_then(std::fs::metadata)
        .map(|m| {
            let time = m
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            format!("{}:{time}", m.len())
        })
        .unwrap_or_default();
    for part in [
        env!("CARGO_PKG_VERSION"),
        &tool,
        &crate::ts::engine::engine_key(),
        if options.no_opt { "raw" } else { "opt" },
        if options.no_snapshot {
            "plain"
        } else {
            "snapshot"
        },
        &bundle.code,
        &bundle.lines,
        &manifest.to_string(),
    ] {
        hash.update((part.len() as u64).to_le_bytes());
        hash.update(part.as_bytes());
    }
    hex(&hash.finalize()[..16])
}

/// Modules the TypeScript build cache keeps (each about 1.4 MB): an edit-build loop adds one per
/// build, so the least recently used go beyond this.
pub const KEPT_BUILDS: usize = 32;

/// Removes all but the `keep` most recently used modules (by modification time: a cache hit
/// touches its module) from the build cache `dir`. Failures are ignored: it is only a cache.
fn prune_builds(dir: &Path, keep: usize) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut modules: Vec<(std::time::SystemTime, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "wasm"))
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    if modules.len() <= keep {
        return;
    }
    modules.sort();
    for (_, path) in &modules[..modules.len() - keep] {
        let _ = std::fs::remove_file(path);
    }
}

/// The TypeScript pipeline (`TOOLCHAIN.md` §3): parse and link the modules, extract the ABI,
/// compile the bundle to bytecode with the embedded engine, link it into the engine, embed the
/// ABI, validate. Nothing runs outside this process: no node, no clang, no download.
fn build_ts(
    dir: &Path,
    options: &BuildOptions,
    reporter: &Reporter,
) -> anyhow::Result<BuildOutput> {
    let started = Instant::now();
    let dir = dir
        .canonicalize()
        .with_context(|| format!("{} does not exist", dir.display()))?;
    let package: serde_json::Value = match std::fs::read_to_string(dir.join("package.json")) {
        Ok(text) => serde_json::from_str(&text)
            .with_context(|| format!("{} is not valid JSON", dir.join("package.json").display()))?,
        Err(_) => serde_json::Value::Null,
    };
    let name = package["name"]
        .as_str()
        .map(|n| n.rsplit('/').next().unwrap_or(n).to_owned())
        .or_else(|| dir.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "app".into());
    let lib_name: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    // Type names recorded in storage metadata are the Rust twin's `std::any::type_name`s, which
    // start with its crate name: by default this package's name, or `"calimero": {"crate": …}`.
    let crate_name = match &package["calimero"]["crate"] {
        serde_json::Value::Null => lib_name.clone(),
        serde_json::Value::String(name)
            if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
        {
            name.clone()
        }
        other => bail!(
            "package.json: \"calimero\": {{\"crate\": …}} is the Rust twin's crate name (letters, digits, _), not {other}"
        ),
    };
    let entry = package["calimero"]["entry"]
        .as_str()
        .unwrap_or("src/index.ts");
    let entry = dir.join(entry);
    if !entry.is_file() {
        bail!(
            "{} not found: a TypeScript app's entry is src/index.ts (or \"calimero\": {{\"entry\": ...}} in package.json)",
            entry.display()
        );
    }
    reporter.note(&format!(
        "building {name} (TypeScript, {})",
        entry.display()
    ));

    let step = Instant::now();
    let (bundle, manifest) =
        crate::ts::bundle::bundle(&dir, &entry, &crate_name, crate::ts::extract::extract)?;
    reporter.step(
        "bundle",
        step.elapsed(),
        &format!(
            "{} app modules + SDK, {} bytes of JavaScript",
            bundle.app_files.len(),
            bundle.code.len()
        ),
    );
    let methods: Vec<String> = manifest["methods"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["name"].as_str().map(str::to_owned))
        .collect();
    let events = manifest["events"].as_array().map_or(0, Vec::len);
    reporter.step(
        "abi",
        Default::default(),
        &format!("{} methods, {events} events", methods.len()),
    );

    // The whole result, by the content of everything it comes from: the bundle (app and SDK
    // sources), the ABI, the engine, the options and this binary.
    let out_dir = options.out_dir.clone().unwrap_or_else(|| dir.join("res"));
    let key = build_key(&bundle, &manifest, options);
    let cache_name = format!("{key}.wasm");
    let cache = crate::ts::engine::cache_dir()
        .join("ts-builds")
        .join(&cache_name);
    if let Ok(module) = std::fs::read(&cache)
        && module.starts_with(b"\0asm")
    {
        // Used now: the last to go when the cache is pruned.
        if let Ok(file) = std::fs::File::options().write(true).open(&cache) {
            let _ = file.set_modified(std::time::SystemTime::now());
        }
        reporter.step(
            "cached",
            Default::default(),
            "the same sources, engine, options and toolchain as an earlier build: module reused",
        );
        return finish(
            &out_dir,
            &lib_name,
            &module,
            &manifest,
            module.len(),
            started,
            reporter,
        );
    }

    let step = Instant::now();
    let spinner = reporter.start("preparing the engine");
    let engine = crate::ts::engine::prepared(!options.no_opt)?;
    drop(spinner);
    reporter.step(
        "engine",
        step.elapsed(),
        &format!(
            "{} bytes{}",
            engine.len(),
            if options.no_opt {
                ""
            } else {
                " (wasm-opt -Oz, cached)"
            }
        ),
    );

    let step = Instant::now();
    let bare = crate::ts::engine::bare(&engine, !options.no_opt)?;
    let tool = crate::ts::engine::Tool::load(&bare)?;
    let bytecode = tool.compile(&bundle.code)?;
    reporter.step(
        "bytecode",
        step.elapsed(),
        &format!("{} bytes of QuickJS bytecode", bytecode.len()),
    );

    let payload = crate::ts::engine::payload(&bytecode, &bundle.lines);
    let image = if options.no_snapshot {
        reporter.step("snapshot", Default::default(), "skipped (--no-snapshot)");
        None
    } else {
        let step = Instant::now();
        let image = tool
            .snapshot(&payload)
            .context("pre-initialising the app (its top level runs once, at build time)")?;
        let data = image.memory.iter().filter(|b| **b != 0).count();
        reporter.step(
            "snapshot",
            step.elapsed(),
            &format!(
                "app set up at build time: {} KiB of memory, {} KiB of it non-zero",
                image.memory.len() / 1024,
                data / 1024
            ),
        );
        Some(image)
    };

    let step = Instant::now();
    let template =
        crate::ts::engine::template(&engine, !options.no_opt, image.is_some().then_some(&tool))?;
    let linked = match &image {
        Some(image) => crate::ts::splice::link(&template, &[], &methods, Some(image))?,
        None => crate::ts::splice::link(&template, &payload, &methods, None)?,
    };
    let module = embed_abi(&linked, &manifest)?;
    reporter.step(
        "link",
        step.elapsed(),
        &format!("{} method exports, custom section {SECTION}", methods.len()),
    );

    let step = Instant::now();
    // The engine's own code is the template's, validated once when the template was made.
    let trusted = crate::ts::splice::template_bodies(&template)?;
    validate::validate_trusting(&module, &manifest, trusted)?;
    reporter.step(
        "validate",
        step.elapsed(),
        "imports and exports follow the host ABI",
    );
    crate::ts::engine::cached("ts-builds", &cache_name, || Ok(module.clone()))?;
    prune_builds(
        &crate::ts::engine::cache_dir().join("ts-builds"),
        KEPT_BUILDS,
    );
    finish(
        &out_dir,
        &lib_name,
        &module,
        &manifest,
        engine.len() + payload.len(),
        started,
        reporter,
    )
}
