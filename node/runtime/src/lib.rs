//! Runs Calimero app modules: wasmer with Cranelift, the host ABI of `HOST-ABI.md`, deterministic
//! gas metering, a hard memory cap, and a compiled-module cache in memory and on disk.
//!
//! The runtime knows nothing about contexts, deltas or networking: it takes a module, a method,
//! the input bytes, the identities the app sees and a read view of storage, and returns an
//! [`Outcome`] with the result, logs, events and the staged writes. The caller persists the
//! writes only if the call returned Ok and committed.

mod cache;
mod deadline;
mod errors;
mod host;
mod image;
mod limits;
mod metering;
mod tunables;

use std::collections::{BTreeMap, HashMap};
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use wasmer::{AsStoreMut, ExternType, FunctionEnv, Instance, Store};

pub use cache::{ModuleCache, ModuleId};
pub use errors::{FunctionCallError, HostError, Location, MethodResolutionError, PanicContext};
pub use limits::Limits;

use deadline::{GasCell, Watchdog};
use host::HostState;

/// Gas the host charges for its own work, on top of one unit per wasm operator. Every host
/// function costs [`HOST_CALL`](gas::HOST_CALL) plus [`PER_BYTE`](gas::PER_BYTE) for each byte
/// it copies between guest memory and the host, charged before the copy.
pub mod gas {
    /// Any host function call.
    pub const HOST_CALL: u64 = 100;
    /// Each byte copied into or out of guest memory or a register.
    pub const PER_BYTE: u64 = 1;
    /// A read of committed storage (a RocksDB lookup), on top of the bytes.
    pub const STORAGE_ACCESS: u64 = 2_000;
    /// Each byte `random_bytes` draws, on top of the copy.
    pub const PER_RANDOM_BYTE: u64 = 4;
    /// An Ed25519 signature check (about 50 µs), on top of hashing the message.
    pub const ED25519_VERIFY: u64 = 50_000;
    /// Each byte of a message hashed for a signature check.
    pub const PER_HASHED_BYTE: u64 = 4;
}

/// Committed storage could not be read; the call is aborted (never read as "absent").
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct StorageError(pub String);

/// Committed storage as one call sees it (the runtime stages its own writes on top).
pub trait Storage: Send + Sync {
    /// The committed value of a state key.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError>;
    /// The committed value of a node-local private key.
    fn get_private(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError>;
    /// The context's clock: the latest time (Unix ns) any call was given or any applied delta
    /// carried. `time_now` reports at least [`CLOCK_TICK_NS`] after it, so a wall clock set
    /// back cannot stamp a write before one the context already made or saw. 0 if unknown.
    fn clock_floor(&self) -> Result<u64, StorageError> {
        Ok(0)
    }
}

/// How far after the context's clock `time_now` reports, at least: 16 µs, just over one tick
/// of the apps' hybrid logical clock (whose NTP64 time keeps its low 16 bits, about 15.3 µs,
/// for a counter), so a new call's stamps are in a later tick than every earlier stamp.
pub const CLOCK_TICK_NS: u64 = 16_000;

/// The export the node calls to apply a delta's artifact (`HOST-ABI.md` §4).
pub const SYNC_NEXT: &str = "__calimero_sync_next";
/// The export the runtime calls before every method to register merge functions.
const REGISTER_MERGE: &str = "__calimero_register_merge";
/// Exports starting with this are the node's, never callable as methods.
const RESERVED_PREFIX: &str = "__calimero_";

/// An event the app emitted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub kind: String,
    pub data: Vec<u8>,
    pub handler: Option<String>,
}

/// A cross-context call the app asked for, run by the node after commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XCall {
    pub context_id: [u8; 32],
    pub function: String,
    pub params: Vec<u8>,
}

/// Who runs the call, as the app sees it.
#[derive(Clone, Copy, Debug)]
pub struct Identity {
    pub context_id: [u8; 32],
    pub account_id: [u8; 32],
    pub device_id: [u8; 32],
    pub xcall_origin: Option<[u8; 32]>,
}

/// Everything one call produced.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// `Ok(None)` if the method never called `value_return`.
    pub returns: Result<Option<Vec<u8>>, FunctionCallError>,
    pub logs: Vec<String>,
    pub events: Vec<Event>,
    pub xcalls: Vec<XCall>,
    /// Set if the call committed.
    pub root_hash: Option<[u8; 32]>,
    pub artifact: Vec<u8>,
    /// Staged state writes (`None` = remove), to persist only if the call succeeded.
    pub writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    pub private_writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    pub gas_used: u64,
    /// The context's clock after the call: the greater of [`Storage::clock_floor`] and the
    /// latest time `time_now` reported. The node keeps it for the context's next calls.
    pub clock_ns: u64,
}

impl Outcome {
    /// True if the writes should be persisted: Ok and committed.
    pub fn should_persist(&self) -> bool {
        self.returns.is_ok() && self.root_hash.is_some()
    }

    fn failed(error: FunctionCallError) -> Self {
        Self {
            returns: Err(error),
            logs: Vec::new(),
            events: Vec::new(),
            xcalls: Vec::new(),
            root_hash: None,
            artifact: Vec::new(),
            writes: BTreeMap::new(),
            private_writes: BTreeMap::new(),
            gas_used: 0,
            clock_ns: 0,
        }
    }
}

/// An instance's linear memory and exported globals after a call: what a build tool writes back
/// into a module to pre-initialise it (see [`Runtime::run_for_image`]).
#[derive(Clone, Debug, PartialEq)]
pub struct InstanceImage {
    pub memory: Vec<u8>,
    /// Every global the module exports, by export name (the runtime's own gas globals left out).
    pub globals: Vec<(String, GlobalValue)>,
}

/// The value of a global.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum GlobalValue {
    I32(i32),
    I64(i64),
    F32(f32),
    F64(f64),
}

/// Checks a method name a client may call: 1–256 bytes of `[A-Za-z0-9_]`, not reserved.
pub fn validate_method_name(name: &str, limits: &Limits) -> Result<(), MethodResolutionError> {
    if name.starts_with(RESERVED_PREFIX) {
        return Err(MethodResolutionError::ReservedMethod {
            name: name.to_owned(),
        });
    }
    validate_export_name(name, limits)
}

fn validate_export_name(name: &str, limits: &Limits) -> Result<(), MethodResolutionError> {
    if name.is_empty() {
        return Err(MethodResolutionError::EmptyMethodName);
    }
    if name.len() as u64 > limits.max_method_name_length {
        return Err(MethodResolutionError::MethodNameTooLong {
            length: name.len() as u64,
            limit: limits.max_method_name_length,
        });
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(MethodResolutionError::InvalidMethodNameCharacter {
            name: name.to_owned(),
        });
    }
    Ok(())
}

/// A module compiled for this node, ready to instantiate.
pub struct CompiledModule {
    engine: wasmer::Engine,
    module: wasmer::Module,
    exports: HashMap<String, bool>,
    /// Its initial memory as a copy-on-write image, once an instance has recorded it.
    image: image::ImageSlot,
}

impl CompiledModule {
    /// Whether new instances map their initial memory from a recorded image instead of copying
    /// the data segments (after the first instance, for modules with at least 64 KiB of data).
    pub fn maps_initial_memory(&self) -> bool {
        self.image.image().is_some()
    }

    /// How many instance memories of this module were cleaned and reused by later instances
    /// instead of being unmapped and mapped again.
    pub fn reused_memories(&self) -> u64 {
        self.image.image().map_or(0, |image| image.reused())
    }

    /// The names of the exported functions that are app methods (`() -> ()`).
    pub fn methods(&self) -> impl Iterator<Item = &str> {
        self.exports
            .iter()
            .filter(|(_, method)| **method)
            .map(|(name, _)| name.as_str())
    }

    /// Whether the module exports `name` as a function.
    pub fn exports_function(&self, name: &str) -> bool {
        self.exports.contains_key(name)
    }
}

fn same_types(actual: &[wasmer::Type], expected: &[calimero_wasm_abi::host::ValType]) -> bool {
    use calimero_wasm_abi::host::ValType;
    actual.len() == expected.len()
        && actual.iter().zip(expected).all(|(a, e)| {
            matches!(
                (a, e),
                (wasmer::Type::I32, ValType::I32) | (wasmer::Type::I64, ValType::I64)
            )
        })
}

/// Checks the exports and imports of a compiled module against the host ABI.
fn check_module(module: &wasmer::Module) -> Result<HashMap<String, bool>, FunctionCallError> {
    let mut unknown = Vec::new();
    for import in module.imports() {
        let known = match import.ty() {
            ExternType::Function(ty) => {
                import.module() == "env"
                    && calimero_wasm_abi::host::find(import.name()).is_some_and(|known| {
                        same_types(ty.params(), known.params)
                            && same_types(ty.results(), known.results)
                    })
            }
            ExternType::Memory(_) => {
                return Err(FunctionCallError::ModuleValidationError {
                    message: format!(
                        "the module imports a memory ({}.{}); it must define and export its own",
                        import.module(),
                        import.name()
                    ),
                });
            }
            _ => false,
        };
        if !known {
            unknown.push(format!(
                "{}.{} ({:?})",
                import.module(),
                import.name(),
                import.ty()
            ));
        }
    }
    if !unknown.is_empty() {
        return Err(FunctionCallError::LinkError {
            message: format!(
                "unknown import{}: {}; this node provides the `env` functions of the host ABI",
                if unknown.len() == 1 { "" } else { "s" },
                unknown.join(", ")
            ),
        });
    }
    let mut exports = HashMap::new();
    let mut has_memory = false;
    for export in module.exports() {
        match export.ty() {
            ExternType::Memory(_) if export.name() == "memory" => has_memory = true,
            ExternType::Function(ty) => {
                if export.name() == "_start" || export.name() == "_initialize" {
                    return Err(FunctionCallError::ModuleValidationError {
                        message: format!(
                            "the module exports `{}`: WASI commands and reactors are refused; build \
                             the app as a library (crate-type cdylib)",
                            export.name()
                        ),
                    });
                }
                let method = ty.params().is_empty() && ty.results().is_empty();
                exports.insert(export.name().to_owned(), method);
            }
            _ => {}
        }
    }
    if !has_memory {
        return Err(FunctionCallError::ModuleValidationError {
            message: "the module does not export its memory as `memory`".into(),
        });
    }
    Ok(exports)
}

/// A fixed clock and random source for the next calls (for comparing two modules call by
/// call, e.g. `cargo calimero compat`): `time_now` reports `time_ns` (still after the
/// context's clock) and `random_bytes` draws from a generator seeded with `seed`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Determinism {
    pub time_ns: u64,
    pub seed: u64,
}

/// Compiles and runs app modules.
pub struct Runtime {
    limits: Limits,
    cache: ModuleCache,
    watchdog: Watchdog,
    /// Added to the wall clock apps read (`time_now`): zero except in tests and simulations of
    /// skewed clocks.
    clock_skew_ns: std::sync::atomic::AtomicI64,
    /// A fixed clock and random source, if set (see [`Runtime::set_determinism`]).
    determinism: std::sync::Mutex<Option<Determinism>>,
}

/// The memory and exported globals of `instance` (gas metering's own globals left out).
fn take_image(store: &mut Store, instance: &Instance, memory: &wasmer::Memory) -> InstanceImage {
    let memory = memory.view(store).copy_to_vec().unwrap_or_default();
    let mut globals = Vec::new();
    for (name, export) in instance.exports.iter() {
        let wasmer::Extern::Global(global) = export else {
            continue;
        };
        if name == metering::REMAINING {
            continue;
        }
        let value = match global.get(store) {
            wasmer::Value::I32(v) => GlobalValue::I32(v),
            wasmer::Value::I64(v) => GlobalValue::I64(v),
            wasmer::Value::F32(v) => GlobalValue::F32(v),
            wasmer::Value::F64(v) => GlobalValue::F64(v),
            _ => continue,
        };
        globals.push((name.clone(), value));
    }
    InstanceImage { memory, globals }
}

/// The remaining-gas global of a metered instance, as a cell the host and watchdog share.
fn gas_cell(store: &mut Store, instance: &Instance) -> Option<GasCell> {
    use wasmer::sys::vm::VMExtern;
    let global = instance.exports.get_extern(metering::REMAINING)?;
    // Only the `sys` backend is compiled in, so the conversion cannot fail.
    let VMExtern::Global(handle) = global.to_vm_extern().into_sys() else {
        return None;
    };
    let wasmer::StoreObjects::Sys(objects) = store.objects_mut();
    let definition = handle.get(objects).vmglobal();
    // SAFETY: the definition of an `i64` global starts with its value, 16-byte aligned, and is
    // boxed by the store, which outlives every use of the cell (see `deadline::GasCell`).
    Some(unsafe { GasCell::new(NonNull::new(definition.as_ptr().cast::<u64>())?) })
}

impl Runtime {
    /// A runtime with `limits`, caching compiled modules in memory and, if given, in `cache_dir`.
    pub fn new(limits: Limits, cache_dir: Option<std::path::PathBuf>) -> Self {
        let cache = ModuleCache::new(64, cache_dir, limits.clone());
        Self {
            limits,
            cache,
            watchdog: Watchdog::start(),
            clock_skew_ns: std::sync::atomic::AtomicI64::new(0),
            determinism: std::sync::Mutex::new(None),
        }
    }

    /// Skews the clock apps read by `ns` (tests and simulations of peers with wrong clocks).
    pub fn skew_clock(&self, ns: i64) {
        self.clock_skew_ns.store(ns, Ordering::Relaxed);
    }

    /// Makes the next calls see a fixed time and a seeded random source (`None`: the wall
    /// clock and the system's randomness again).
    pub fn set_determinism(&self, determinism: Option<Determinism>) {
        *self.determinism.lock().unwrap_or_else(|e| e.into_inner()) = determinism;
    }

    /// The limits calls run under.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Compiles (or fetches from cache) the module with id `id` and bytes `bytes`.
    pub fn module(
        &self,
        id: ModuleId,
        bytes: impl FnOnce() -> Option<Vec<u8>>,
    ) -> Result<Arc<CompiledModule>, FunctionCallError> {
        self.cache.get_or_compile(id, bytes)
    }

    /// Validates and compiles module bytes (used at install time).
    pub fn prepare(
        &self,
        bytes: &[u8],
    ) -> Result<(ModuleId, Arc<CompiledModule>), FunctionCallError> {
        let id = ModuleId::of(bytes);
        let module = self.cache.get_or_compile(id, || Some(bytes.to_vec()))?;
        Ok((id, module))
    }

    /// Whether a compiled artifact for `id` is cached in memory.
    pub fn is_cached_in_memory(&self, id: &ModuleId) -> bool {
        self.cache.in_memory(id)
    }

    /// Runs `method` of `module` with `input`; reserved exports are refused.
    pub fn run(
        &self,
        module: &CompiledModule,
        method: &str,
        input: Vec<u8>,
        identity: Identity,
        storage: Arc<dyn Storage>,
    ) -> Outcome {
        if let Err(error) = validate_method_name(method, &self.limits) {
            return Outcome::failed(FunctionCallError::MethodResolutionError(error));
        }
        self.run_export(module, method, input, identity, storage)
    }

    /// Applies a delta's `artifact` through the module's [`SYNC_NEXT`] export.
    pub fn apply_artifact(
        &self,
        module: &CompiledModule,
        artifact: Vec<u8>,
        identity: Identity,
        storage: Arc<dyn Storage>,
    ) -> Outcome {
        self.run_export(module, SYNC_NEXT, artifact, identity, storage)
    }

    /// Runs `export` like [`Runtime::run`] (any export name, reserved ones included) and, if it
    /// returned without a trap, also takes the instance's memory and exported globals. For build
    /// tools that pre-initialise a module, never for app calls.
    pub fn run_for_image(
        &self,
        module: &CompiledModule,
        export: &str,
        input: Vec<u8>,
        identity: Identity,
        storage: Arc<dyn Storage>,
    ) -> (Outcome, Option<InstanceImage>) {
        let mut image = None;
        let outcome = self.run_inner(module, export, input, identity, storage, Some(&mut image));
        (outcome, image)
    }

    fn run_export(
        &self,
        module: &CompiledModule,
        method: &str,
        input: Vec<u8>,
        identity: Identity,
        storage: Arc<dyn Storage>,
    ) -> Outcome {
        if let Err(error) = validate_export_name(method, &self.limits) {
            return Outcome::failed(FunctionCallError::MethodResolutionError(error));
        }
        self.run_inner(module, method, input, identity, storage, None)
    }

    fn run_inner(
        &self,
        module: &CompiledModule,
        method: &str,
        input: Vec<u8>,
        identity: Identity,
        storage: Arc<dyn Storage>,
        image: Option<&mut Option<InstanceImage>>,
    ) -> Outcome {
        match module.exports.get(method) {
            None => {
                return Outcome::failed(FunctionCallError::MethodResolutionError(
                    MethodResolutionError::MethodNotFound {
                        name: method.to_owned(),
                    },
                ));
            }
            Some(false) => {
                return Outcome::failed(FunctionCallError::MethodResolutionError(
                    MethodResolutionError::InvalidSignature {
                        name: method.to_owned(),
                    },
                ));
            }
            Some(true) => {}
        }

        let clock_floor = match storage.clock_floor() {
            Ok(floor) => floor,
            Err(error) => {
                return Outcome::failed(FunctionCallError::HostError(HostError::StorageError {
                    message: error.0,
                }));
            }
        };
        let mut store = Store::new(module.engine.clone());
        let state = HostState {
            memory: None,
            limits: self.limits.clone(),
            input,
            context_id: identity.context_id,
            account_id: identity.account_id,
            device_id: identity.device_id,
            xcall_origin: identity.xcall_origin,
            storage,
            registers: HashMap::new(),
            registers_size: 0,
            staged: BTreeMap::new(),
            private_staged: BTreeMap::new(),
            writes: 0,
            written_bytes: 0,
            returns: None,
            logs: Vec::new(),
            events: Vec::new(),
            xcalls: Vec::new(),
            commit: None,
            error: None,
            gas: None,
            deadline_passed: Arc::new(AtomicBool::new(false)),
            clock_skew_ns: self.clock_skew_ns.load(Ordering::Relaxed),
            clock_floor,
            clock_last: 0,
            determinism: *self.determinism.lock().unwrap_or_else(|e| e.into_inner()),
            rng: None,
        };
        let env = FunctionEnv::new(&mut store, state);
        let imports = host::imports(&mut store, &env);
        let instance = match module.image.instantiate(|| {
            Instance::new(&mut store, &module.module, &imports).map_err(|e| e.to_string())
        }) {
            Ok(instance) => instance,
            Err(message) => {
                return Outcome::failed(FunctionCallError::LinkError { message });
            }
        };
        let memory = match instance.exports.get_memory("memory") {
            Ok(memory) => memory.clone(),
            Err(_) => return Outcome::failed(FunctionCallError::HostError(HostError::NoMemory)),
        };
        env.as_mut(&mut store).memory = Some(memory.clone());
        let metered = metering::set_remaining(&mut store, &instance, self.limits.max_gas);
        let (true, Some(gas)) = (metered, gas_cell(&mut store, &instance)) else {
            return Outcome::failed(FunctionCallError::ModuleValidationError {
                message: "the module was compiled without gas metering".into(),
            });
        };
        let limit = Duration::from_millis(self.limits.max_call_duration_ms);
        let armed = self.watchdog.arm(gas, limit);
        {
            let state = env.as_mut(&mut store);
            state.gas = Some(gas);
            state.deadline_passed = armed.flag();
        }

        let mut result = Ok(());
        if module.exports.get(REGISTER_MERGE) == Some(&true)
            && let Ok(merge) = instance.exports.get_function(REGISTER_MERGE)
            && merge.call(&mut store, &[]).is_err()
            && !armed.flag().load(Ordering::SeqCst)
        {
            // A failed registration is not fatal (HOST-ABI §4), but nothing it did may reach the
            // method: not its writes, events or logs, nor the gas it burnt.
            env.as_mut(&mut store).discard_staged();
            metering::set_remaining(&mut store, &instance, self.limits.max_gas);
        }
        if let Ok(function) = instance.exports.get_function(method) {
            result = function.call(&mut store, &[]).map(|_| ());
        }
        // Stop watching before anything else: the watchdog must not touch the store after this.
        let deadline_passed = armed.flag().load(Ordering::SeqCst);
        drop(armed);
        if result.is_ok()
            && let Some(image) = image
        {
            *image = Some(take_image(&mut store, &instance, &memory));
        }
        // Negative once the gas ran out (see `metering`): then all of it was used, whether the
        // guest stopped at a check or returned before reaching one.
        let remaining = metering::remaining(&mut store, &instance).unwrap_or(-1);
        let gas_used = match u64::try_from(remaining) {
            Ok(left) => self.limits.max_gas.saturating_sub(left),
            Err(_) => self.limits.max_gas,
        };
        let exhausted =
            remaining < 0 || matches!(env.as_ref(&store).error, Some(HostError::GasExhausted));
        let state = env.as_mut(&mut store);
        let returns = match result {
            Ok(()) if remaining < 0 => Err(FunctionCallError::GasExhausted {
                limit: self.limits.max_gas,
            }),
            Ok(()) => match state.returns.take() {
                None => Ok(None),
                Some(Ok(bytes)) => Ok(Some(bytes)),
                Some(Err(bytes)) => Err(FunctionCallError::ExecutionError(
                    serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                        serde_json::Value::String(String::from_utf8_lossy(&bytes).into_owned())
                    }),
                )),
            },
            Err(_) if deadline_passed => Err(FunctionCallError::DeadlineExceeded {
                limit_ms: self.limits.max_call_duration_ms,
            }),
            Err(_) if exhausted => Err(FunctionCallError::GasExhausted {
                limit: self.limits.max_gas,
            }),
            Err(trap) => match state.error.take() {
                Some(error) => Err(FunctionCallError::HostError(error)),
                None => Err(FunctionCallError::WasmTrap {
                    message: trap.message(),
                }),
            },
        };
        let (root_hash, artifact) = match state.commit.take() {
            Some((root, artifact)) => (Some(root), artifact),
            None => (None, Vec::new()),
        };
        Outcome {
            returns,
            logs: std::mem::take(&mut state.logs),
            events: std::mem::take(&mut state.events),
            xcalls: std::mem::take(&mut state.xcalls),
            root_hash,
            artifact,
            writes: std::mem::take(&mut state.staged),
            private_writes: std::mem::take(&mut state.private_staged),
            gas_used,
            clock_ns: state.clock_floor.max(state.clock_last),
        }
    }
}
