//! The engine inside this binary, and the steps that run it: preparing it once (WASI imports
//! served by its own helpers, wasm-opt), compiling an app's bundle to bytecode with it under
//! wasmer (step 4: the bytecode always matches the engine that will run it), pre-initialising
//! the app (step 6: the engine sets the app up under wasmer and its memory becomes the module's
//! initial memory), and preparing the template an app is linked into (step 5, [`splice`]).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, anyhow, bail};
use calimero_runtime::{
    CompiledModule, FunctionCallError, GlobalValue, HostError, Identity, InstanceImage, Limits,
    Outcome, Runtime, Storage, StorageError,
};
use sha2::{Digest, Sha256};
use walrus::{ConstExpr, DataKind, ExportItem, GlobalKind, ImportKind, Module};

use super::splice;

/// The engine as built for wasm32-wasip1 (by `build.rs`).
pub const ENGINE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/calimero_js_engine.wasm"));

const APP_MODULE: &str = "calimero_app";
/// The engine's build tools: exports an app must not show, and the code only they reach.
const TOOL_EXPORTS: &[&str] = &[
    "calimero_js_eval",
    "calimero_js_compile",
    "calimero_js_run",
    EVAL_SLOT_EXPORT,
    SNAPSHOT_EXPORT,
];

/// The engine export that says which table slot holds QuickJS's compiler entry.
const EVAL_SLOT_EXPORT: &str = "calimero_js_eval_slot";

/// The engine export that sets an app up for the snapshot.
const SNAPSHOT_EXPORT: &str = "calimero_js_snapshot";

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

/// A short hash of the engine inside this binary (names its cached forms).
pub fn engine_key() -> String {
    static KEY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    KEY.get_or_init(|| hex(&Sha256::digest(ENGINE)[..12]))
        .clone()
}

/// `cache_dir()/<dir>/<name>`'s bytes if it holds a module, else `make`'s, then kept there
/// (written to a temporary file and renamed, so concurrent builds never see half a file).
pub fn cached(
    dir: &str,
    name: &str,
    make: impl FnOnce() -> anyhow::Result<Vec<u8>>,
) -> anyhow::Result<Vec<u8>> {
    let dir = cache_dir().join(dir);
    let path = dir.join(name);
    if let Ok(bytes) = std::fs::read(&path)
        && bytes.starts_with(b"\0asm")
    {
        return Ok(bytes);
    }
    let module = make()?;
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let temporary = dir.join(format!("{name}.{}.tmp", std::process::id()));
    std::fs::write(&temporary, &module)
        .with_context(|| format!("writing {}", temporary.display()))?;
    std::fs::rename(&temporary, &path).with_context(|| format!("writing {}", path.display()))?;
    Ok(module)
}

fn flavour(optimize: bool) -> &'static str {
    if optimize { "opt" } else { "raw" }
}

/// The engine with its WASI imports replaced, optimised when `optimize` (cached on disk: the
/// optimisation takes seconds and only changes when the engine does).
pub fn prepared(optimize: bool) -> anyhow::Result<Vec<u8>> {
    let name = format!("{}-{}.wasm", engine_key(), flavour(optimize));
    cached("engine", &name, || {
        let mut module = crate::wasi::replace_wasi_imports(ENGINE)?;
        if optimize {
            module = crate::optimize::optimize(&module)?;
        }
        Ok(module)
    })
}

/// Bumped when what [`link_engine`] makes changes: it names the cached bare engine and templates.
const LINK_FORMAT: u32 = 4;

/// The prepared engine linked with no app, keeping its tool exports: the build's compiler and
/// the code the snapshot runs; cached on disk next to the prepared engine.
pub fn bare(engine: &[u8], optimize: bool) -> anyhow::Result<Vec<u8>> {
    let name = format!(
        "{}-{}-bare-v{LINK_FORMAT}.wasm",
        engine_key(),
        flavour(optimize)
    );
    cached("engine", &name, || link_engine(engine, Link::Bare))
}

/// The prepared engine as every app module has it, for [`splice::link`] to add an app to:
/// cached on disk next to the prepared engine.
///
/// With `lean` (the bare engine loaded, for modules with a snapshot) the template has no
/// JavaScript compiler: an app's context never compiles (see the engine's `disable_eval`), and the
/// snapshot's set-up, the only code that did, ran at build time. The table slot of the compiler's
/// entry then holds a function that traps, and everything only the compiler reached is dropped.
/// A module without a snapshot sets its context up in every call, with scripts of its own, and
/// keeps the compiler.
pub fn template(engine: &[u8], optimize: bool, lean: Option<&Tool>) -> anyhow::Result<Vec<u8>> {
    let name = format!(
        "{}-{}-template{}-v{LINK_FORMAT}.wasm",
        engine_key(),
        flavour(optimize),
        if lean.is_some() { "-lean" } else { "" }
    );
    cached("engine", &name, || {
        let without = match lean {
            Some(tool) => Some(tool.eval_slot()?),
            None => None,
        };
        let template = link_engine(engine, Link::Template { without })?;
        // Validated in full once, here: a build validates only what the link adds to it.
        wasmparser::Validator::new()
            .validate_all(&template)
            .context("the engine template is not a valid module")?;
        Ok(template)
    })
}

/// Serves the engine's `calimero_app` imports from an empty passive data segment whose length
/// is an immutable global (exported as [`splice::PAYLOAD_LEN_EXPORT`]), and exports the engine's
/// mutable globals as `__calimero_global_<i>`, so the snapshot can read them and the linker set
/// them. For [`Link::Bare`], the tool exports (compile, snapshot) stay. For [`Link::Template`],
/// they go and the code only they reach is dropped: the template apps are spliced into.
fn link_engine(engine: &[u8], link: Link) -> anyhow::Result<Vec<u8>> {
    let mut module = Module::from_buffer(engine).context("reading the engine")?;
    let memory = module
        .memories
        .iter()
        .next()
        .map(|m| m.id())
        .ok_or_else(|| anyhow!("the engine has no memory"))?;
    let mutable: Vec<walrus::GlobalId> = module
        .globals
        .iter()
        .filter(|g| g.mutable && matches!(g.kind, GlobalKind::Local(_)))
        .map(|g| g.id())
        .collect();
    for (index, global) in mutable.into_iter().enumerate() {
        module
            .exports
            .add(&format!("{}{index}", splice::GLOBAL_EXPORT), global);
    }
    let segment = module.data.add(DataKind::Passive, Vec::new());
    let length = module.globals.add_local(
        walrus::ValType::I32,
        false,
        false,
        ConstExpr::Value(walrus::ir::Value::I32(0)),
    );
    module.exports.add(splice::PAYLOAD_LEN_EXPORT, length);
    let imports: Vec<(String, walrus::FunctionId)> = module
        .imports
        .iter()
        .filter(|i| i.module == APP_MODULE)
        .filter_map(|i| match i.kind {
            ImportKind::Function(f) => Some((i.name.clone(), f)),
            _ => None,
        })
        .collect();
    for (name, function) in imports {
        match name.as_str() {
            "payload_len" => module.replace_imported_func(function, |(body, _)| {
                body.global_get(length);
            }),
            "payload_copy" => module.replace_imported_func(function, |(body, arguments)| {
                body.local_get(arguments[0])
                    .i32_const(0)
                    .global_get(length)
                    .memory_init(memory, segment);
            }),
            other => bail!(
                "the engine imports {APP_MODULE}.{other}, which this toolchain does not provide"
            ),
        }
        .map_err(|e| anyhow!("linking {APP_MODULE}.{name}: {e}"))?;
    }
    let Link::Template { without } = link else {
        return Ok(module.emit_wasm());
    };
    if module.exports.get_func(splice::DISPATCH_EXPORT).is_err() {
        bail!("the engine has no {}", splice::DISPATCH_EXPORT);
    }
    let doomed: Vec<walrus::ExportId> = module
        .exports
        .iter()
        .filter(|e| {
            TOOL_EXPORTS.contains(&e.name.as_str()) && matches!(e.item, ExportItem::Function(_))
        })
        .map(|e| e.id())
        .collect();
    for export in doomed {
        module.exports.delete(export);
    }
    if let Some(slot) = without {
        trap_table_slot(&mut module, slot)?;
    }
    // The tools' code (compiler, eval, snapshot) is now unreachable: drop it.
    walrus::passes::gc::run(&mut module);
    Ok(module.emit_wasm())
}

/// What [`link_engine`] makes.
#[derive(Clone, Copy)]
enum Link {
    /// The engine with its tool exports, which the build runs.
    Bare,
    /// The engine apps are spliced into; `without` is the table slot of a function to leave out
    /// (see [`template`]).
    Template { without: Option<u32> },
}

/// Points table slot `slot` of the engine's function table at a new function of the same type
/// that traps, so that what only that slot reached can be dropped. The slot keeps its number:
/// function pointers in the snapshot's memory are slot numbers.
fn trap_table_slot(module: &mut Module, slot: u32) -> anyhow::Result<()> {
    let table = module
        .tables
        .main_function_table()
        .ok()
        .flatten()
        .ok_or_else(|| anyhow!("the engine has no function table"))?;
    let mut found = None;
    for element in module.elements.iter() {
        let walrus::ElementKind::Active {
            table: t,
            offset: ConstExpr::Value(walrus::ir::Value::I32(offset)),
        } = element.kind
        else {
            continue;
        };
        let walrus::ElementItems::Functions(functions) = &element.items else {
            continue;
        };
        let Some(index) = slot.checked_sub(offset as u32).map(|i| i as usize) else {
            continue;
        };
        if t == table && index < functions.len() {
            found = Some((element.id(), index, functions[index]));
        }
    }
    let Some((element, index, function)) = found else {
        bail!("the engine's function table has no slot {slot}");
    };
    let ty = module.types.get(module.funcs.get(function).ty());
    let (params, results) = (ty.params().to_vec(), ty.results().to_vec());
    let mut trap = walrus::FunctionBuilder::new(&mut module.types, &params, &results);
    trap.func_body().unreachable();
    let arguments: Vec<walrus::LocalId> = params.iter().map(|t| module.locals.add(*t)).collect();
    let trap = trap.finish(arguments, &mut module.funcs);
    if let walrus::ElementItems::Functions(functions) = &mut module.elements.get_mut(element).items
    {
        functions[index] = trap;
    }
    Ok(())
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

/// The bare-linked engine loaded into wasmer (machine code cached on disk), for the build steps
/// that run it: load it once per build.
pub struct Tool {
    runtime: Runtime,
    module: Arc<CompiledModule>,
    lowest_data: usize,
}

const TOOL_IDENTITY: Identity = Identity {
    context_id: [0; 32],
    account_id: [0; 32],
    device_id: [0; 32],
    xcall_origin: None,
};

impl Tool {
    pub fn load(engine: &[u8]) -> anyhow::Result<Self> {
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
        Ok(Self {
            runtime,
            module,
            lowest_data: lowest_data(engine)?,
        })
    }

    /// Runs `export` (a build tool, not an app method) with `input`, no state and a zero
    /// identity.
    pub fn run(&self, export: &str, input: &[u8]) -> Outcome {
        self.runtime.run(
            &self.module,
            export,
            input.to_vec(),
            TOOL_IDENTITY,
            Arc::new(NoState),
        )
    }

    /// Compiles a bundle to QuickJS bytecode (`calimero_js_compile`).
    pub fn compile(&self, bundle: &str) -> anyhow::Result<Vec<u8>> {
        match self.run("calimero_js_compile", bundle.as_bytes()).returns {
            Ok(Some(bytecode)) if !bytecode.is_empty() => Ok(bytecode),
            Ok(_) => bail!("the engine returned no bytecode"),
            Err(FunctionCallError::HostError(HostError::Panic { message, .. })) => {
                bail!("the engine could not compile the bundle: {message}")
            }
            Err(error) => bail!("the engine could not compile the bundle: {error}"),
        }
    }

    /// The table slot of QuickJS's compiler entry (`calimero_js_eval_slot`).
    pub fn eval_slot(&self) -> anyhow::Result<u32> {
        match self.run(EVAL_SLOT_EXPORT, &[]).returns {
            Ok(Some(bytes)) if bytes.len() == 4 => {
                Ok(u32::from_le_bytes(bytes.try_into().expect("four bytes")))
            }
            Ok(other) => bail!("the engine's {EVAL_SLOT_EXPORT} returned {other:?}"),
            Err(error) => bail!("the engine's {EVAL_SLOT_EXPORT} failed: {error}"),
        }
    }

    /// Pre-initialises an app (step 6): the engine sets the app of `payload` up (SDK loaded,
    /// classes defined, dispatcher ready) and its memory and globals are returned, for [`link`]
    /// to make them the app module's initial state. The app's top level may not use the clock,
    /// randomness, identity, logs or state; doing so is an error naming what it did.
    pub fn snapshot(&self, payload: &[u8]) -> anyhow::Result<InstanceImage> {
        let (outcome, image) = self.runtime.run_for_image(
            &self.module,
            SNAPSHOT_EXPORT,
            payload.to_vec(),
            TOOL_IDENTITY,
            Arc::new(NoState),
        );
        match outcome.returns {
            Ok(_) => {}
            Err(FunctionCallError::HostError(HostError::Panic {
                message, location, ..
            })) => match location {
                Some(at) if at.file != "engine" => {
                    bail!("{}:{}: {message}", at.file, at.line)
                }
                _ => bail!("{message}"),
            },
            Err(error) => bail!("pre-initialising the app failed: {error}"),
        }
        let mut image = image.ok_or_else(|| anyhow!("the engine returned no snapshot"))?;
        clear_stack(self.lowest_data, &mut image);
        Ok(image)
    }
}

/// Runs `export` of a bare-linked engine (see [`Tool::run`]).
pub fn run_tool(engine: &[u8], export: &str, input: &[u8]) -> anyhow::Result<Outcome> {
    Ok(Tool::load(engine)?.run(export, input))
}

/// The lowest address the engine's active data segments write (wasmparser: no full parse).
fn lowest_data(engine: &[u8]) -> anyhow::Result<usize> {
    let mut lowest = usize::MAX;
    for payload in wasmparser::Parser::new(0).parse_all(engine) {
        let wasmparser::Payload::DataSection(reader) = payload.context("reading the engine")?
        else {
            continue;
        };
        for data in reader {
            let wasmparser::DataKind::Active { offset_expr, .. } =
                data.context("reading the engine")?.kind
            else {
                continue;
            };
            if let Some(Ok(wasmparser::Operator::I32Const { value })) =
                offset_expr.get_operators_reader().into_iter().next()
            {
                lowest = lowest.min(value as u32 as usize);
            }
        }
    }
    Ok(lowest)
}

/// Zeroes the dead part of the stack in `image`: below the stack pointer, when the stack sits
/// below all data (the wasm32 layout), what the set-up's calls left there is garbage.
fn clear_stack(lowest_data: usize, image: &mut InstanceImage) {
    // The stack pointer is the first mutable global of a Rust wasm32 module.
    let stack_pointer = image.globals.iter().find_map(|(name, value)| match value {
        GlobalValue::I32(sp) if name == &format!("{}0", splice::GLOBAL_EXPORT) => {
            Some(*sp as u32 as usize)
        }
        _ => None,
    });
    if let Some(sp) = stack_pointer
        && sp <= lowest_data
        && sp <= image.memory.len()
    {
        image.memory[..sp].fill(0);
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
