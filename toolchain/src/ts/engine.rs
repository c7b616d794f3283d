//! The engine inside this binary, and the steps that run it: preparing it once (WASI imports
//! served by its own helpers, wasm-opt), compiling an app's bundle to bytecode with it under
//! wasmer (step 4: the bytecode always matches the engine that will run it), and linking an app
//! into it with walrus (step 5).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, anyhow, bail};
use calimero_runtime::{
    FunctionCallError, HostError, Identity, Limits, Outcome, Runtime, Storage, StorageError,
};
use sha2::{Digest, Sha256};
use walrus::{DataKind, ExportItem, FunctionBuilder, ImportKind, Module};

/// The engine as built for wasm32-wasip1 (by `build.rs`).
pub const ENGINE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/calimero_js_engine.wasm"));

const APP_MODULE: &str = "calimero_app";
/// Engine exports an app must not show.
const ENGINE_EXPORTS: &[&str] = &[
    "calimero_js_eval",
    "calimero_js_compile",
    "calimero_js_run",
    "calimero_js_dispatch",
];

/// Where prepared engines and compiled artifacts are kept between builds:
/// `$CALIMERO_CACHE_DIR`, else `$XDG_CACHE_HOME/calimero`, else `~/.cache/calimero`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CALIMERO_CACHE_DIR") {
        return PathBuf::from(dir);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("calimero")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The engine with its WASI imports replaced, optimised when `optimize` (cached on disk: the
/// optimisation takes seconds and only changes when the engine does).
pub fn prepared(optimize: bool) -> anyhow::Result<Vec<u8>> {
    let key = hex(&Sha256::digest(ENGINE)[..12]);
    let dir = cache_dir().join("engine");
    let path = dir.join(format!(
        "{key}-{}.wasm",
        if optimize { "opt" } else { "raw" }
    ));
    if let Ok(bytes) = std::fs::read(&path)
        && bytes.starts_with(b"\0asm")
    {
        return Ok(bytes);
    }
    let mut module = crate::wasi::replace_wasi_imports(ENGINE)?;
    if optimize {
        module = crate::optimize::optimize(&module)?;
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let temporary = dir.join(format!("{key}.{}.tmp", std::process::id()));
    std::fs::write(&temporary, &module)?;
    std::fs::rename(&temporary, &path)?;
    Ok(module)
}

/// Links an app into a prepared engine: the payload becomes a passive data segment served by the
/// `calimero_app` imports, each of `methods` an export calling the dispatcher with its index.
/// Without `methods` (the bare engine the build compiles with), the tool exports stay.
pub fn link(engine: &[u8], payload: &[u8], methods: Option<&[String]>) -> anyhow::Result<Vec<u8>> {
    let mut module = Module::from_buffer(engine).context("reading the engine")?;
    let memory = module
        .memories
        .iter()
        .next()
        .map(|m| m.id())
        .ok_or_else(|| anyhow!("the engine has no memory"))?;
    let segment = module.data.add(DataKind::Passive, payload.to_vec());
    let imports: Vec<(String, walrus::FunctionId)> = module
        .imports
        .iter()
        .filter(|i| i.module == APP_MODULE)
        .filter_map(|i| match i.kind {
            ImportKind::Function(f) => Some((i.name.clone(), f)),
            _ => None,
        })
        .collect();
    let length = i32::try_from(payload.len()).context("the app payload is over 2 GiB")?;
    for (name, function) in imports {
        match name.as_str() {
            "payload_len" => module.replace_imported_func(function, |(body, _)| {
                body.i32_const(length);
            }),
            "payload_copy" => module.replace_imported_func(function, |(body, arguments)| {
                body.local_get(arguments[0])
                    .i32_const(0)
                    .i32_const(length)
                    .memory_init(memory, segment);
            }),
            other => bail!(
                "the engine imports {APP_MODULE}.{other}, which this toolchain does not provide"
            ),
        }
        .map_err(|e| anyhow!("linking {APP_MODULE}.{name}: {e}"))?;
    }
    if let Some(methods) = methods {
        let dispatch = module
            .exports
            .get_func("calimero_js_dispatch")
            .map_err(|_| anyhow!("the engine has no calimero_js_dispatch"))?;
        let doomed: Vec<walrus::ExportId> = module
            .exports
            .iter()
            .filter(|e| {
                ENGINE_EXPORTS.contains(&e.name.as_str())
                    && matches!(e.item, ExportItem::Function(_))
            })
            .map(|e| e.id())
            .collect();
        for export in doomed {
            module.exports.delete(export);
        }
        for (index, name) in methods.iter().enumerate() {
            if module.exports.iter().any(|e| &e.name == name) {
                bail!("the app method `{name}` clashes with an export of the engine; rename it");
            }
            let mut builder = FunctionBuilder::new(&mut module.types, &[], &[]);
            builder
                .func_body()
                .i32_const(i32::try_from(index).unwrap_or(i32::MAX))
                .call(dispatch);
            let function = builder.finish(Vec::new(), &mut module.funcs);
            module.exports.add(name, function);
        }
        // The tools' code (compiler, eval) is now unreachable: drop it.
        walrus::passes::gc::run(&mut module);
    }
    Ok(module.emit_wasm())
}

struct NoState;

impl Storage for NoState {
    fn get(&self, _key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(None)
    }
    fn get_private(&self, _key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(None)
    }
}

/// Runs `export` of a bare-linked engine (a build tool, not an app) under wasmer with `input`,
/// no state and a zero identity; compiled machine code is cached on disk.
pub fn run_tool(engine: &[u8], export: &str, input: &[u8]) -> anyhow::Result<Outcome> {
    let limits = Limits {
        max_module_size: 64 << 20,
        // A build step, not an app call: a large bundle may take longer than a method may.
        max_call_duration_ms: 600_000,
        ..Limits::default()
    };
    let runtime = Runtime::new(limits, Some(cache_dir().join("wasmer")));
    let (_, module) = runtime
        .prepare(engine)
        .map_err(|e| anyhow!("loading the engine into wasmer: {e}"))?;
    let identity = Identity {
        context_id: [0; 32],
        account_id: [0; 32],
        device_id: [0; 32],
        xcall_origin: None,
    };
    Ok(runtime.run(&module, export, input.to_vec(), identity, Arc::new(NoState)))
}

/// Compiles a bundle to QuickJS bytecode by running `calimero_js_compile` of `engine` (a bare
/// link of the prepared engine).
pub fn compile(engine: &[u8], bundle: &str) -> anyhow::Result<Vec<u8>> {
    let outcome = run_tool(engine, "calimero_js_compile", bundle.as_bytes())?;
    match outcome.returns {
        Ok(Some(bytecode)) if !bytecode.is_empty() => Ok(bytecode),
        Ok(_) => bail!("the engine returned no bytecode"),
        Err(FunctionCallError::HostError(HostError::Panic { message, .. })) => {
            bail!("the engine could not compile the bundle: {message}")
        }
        Err(error) => bail!("the engine could not compile the bundle: {error}"),
    }
}

/// `"CJS1" ‖ u32 LE bytecode length ‖ bytecode ‖ line table`.
pub fn payload(bytecode: &[u8], lines: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + bytecode.len() + lines.len());
    out.extend_from_slice(b"CJS1");
    out.extend_from_slice(&(bytecode.len() as u32).to_le_bytes());
    out.extend_from_slice(bytecode);
    out.extend_from_slice(lines.as_bytes());
    out
}
