//! Compiled modules, cached in memory (bounded, least recently used first out) and on disk as
//! serialized artifacts, so that a restarted node does not recompile.

use std::collections::{HashMap, VecDeque};
use std::fs;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};
use wasmer::sys::{CompilerConfig, Cranelift, EngineBuilder, NativeEngineExt};

use crate::errors::FunctionCallError;
use crate::limits::Limits;
use crate::metering::GasMetering;
use crate::tunables::LimitingTunables;
use crate::{CompiledModule, check_module};

/// SHA-256 of the module bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ModuleId(pub [u8; 32]);

impl ModuleId {
    /// The id of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self(Sha256::digest(bytes).into())
    }

    fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Bumped whenever the compiled form changes (engine version, middleware, tunables) or the file
/// around it does.
const ARTIFACT_VERSION: &str = "wasmer-7.1.0-cranelift-gas-v3";

/// Ends every artifact file, after the artifact: `crc32 (u32 LE) ‖ artifact length (u64 LE) ‖
/// TRAILER_MAGIC`. The checksum guards against torn and corrupted files, not against someone
/// who can write the cache directory (they could replace the node's binary as well); CRC-32 is
/// hardware-assisted, so checking an 11 MB artifact costs about a millisecond where SHA-256 cost
/// ten, on every start of a build tool that loads one.
const TRAILER_MAGIC: &[u8; 4] = b"CMA2";
const TRAILER_LEN: usize = 16;

fn trailer(artifact: &[u8]) -> [u8; TRAILER_LEN] {
    let mut out = [0u8; TRAILER_LEN];
    out[..4].copy_from_slice(&crc32fast::hash(artifact).to_le_bytes());
    out[4..12].copy_from_slice(&(artifact.len() as u64).to_le_bytes());
    out[12..].copy_from_slice(TRAILER_MAGIC);
    out
}

/// The artifact's length if `file` is an artifact followed by its intact [`trailer`].
fn checked_artifact(file: &[u8]) -> Option<usize> {
    let at = file.len().checked_sub(TRAILER_LEN)?;
    let (artifact, end) = file.split_at(at);
    let length = u64::from_le_bytes(end[4..12].try_into().ok()?);
    (end[12..] == TRAILER_MAGIC[..]
        && length == artifact.len() as u64
        && end[..4] == crc32fast::hash(artifact).to_le_bytes())
    .then_some(artifact.len())
}

/// Modules in memory, and their ids from least to most recently used.
type Lru = (HashMap<ModuleId, Arc<CompiledModule>>, VecDeque<ModuleId>);

/// The module cache.
pub struct ModuleCache {
    capacity: usize,
    dir: Option<PathBuf>,
    limits: Limits,
    memory: Mutex<Lru>,
    compiling: Mutex<()>,
}

fn engine(limits: &Limits, compiler: bool) -> wasmer::Engine {
    let mut engine: wasmer::Engine = if compiler {
        let mut cranelift = Cranelift::default();
        // One metering middleware per compilation: it records the module it instruments.
        cranelift.push_middleware(Arc::new(GasMetering::new(limits.max_gas)));
        EngineBuilder::new(cranelift).into()
    } else {
        wasmer::Engine::headless()
    };
    engine.set_tunables(LimitingTunables::new(
        limits.max_memory_pages,
        limits.max_stack_size,
    ));
    engine
}

impl ModuleCache {
    /// A cache holding up to `capacity` modules in memory, and every module in `dir` if given.
    pub fn new(capacity: usize, dir: Option<PathBuf>, limits: Limits) -> Self {
        Self {
            capacity: capacity.max(1),
            dir,
            limits,
            memory: Mutex::new((HashMap::new(), VecDeque::new())),
            compiling: Mutex::new(()),
        }
    }

    /// True if `id` is in the memory cache.
    pub fn in_memory(&self, id: &ModuleId) -> bool {
        self.memory
            .lock()
            .map(|m| m.0.contains_key(id))
            .unwrap_or(false)
    }

    fn remember(&self, id: ModuleId, module: Arc<CompiledModule>) {
        let Ok(mut guard) = self.memory.lock() else {
            return;
        };
        let (map, order) = &mut *guard;
        order.retain(|other| *other != id);
        order.push_back(id);
        map.insert(id, module);
        while map.len() > self.capacity {
            if let Some(oldest) = order.pop_front() {
                map.remove(&oldest);
            }
        }
    }

    fn cached(&self, id: &ModuleId) -> Option<Arc<CompiledModule>> {
        let mut guard = self.memory.lock().ok()?;
        let (map, order) = &mut *guard;
        let module = map.get(id)?.clone();
        order.retain(|other| other != id);
        order.push_back(*id);
        Some(module)
    }

    fn artifact_path(&self, id: &ModuleId) -> Option<PathBuf> {
        self.dir
            .as_ref()
            .map(|dir| dir.join(format!("{}.{ARTIFACT_VERSION}.bin", id.hex())))
    }

    fn load_artifact(&self, id: &ModuleId) -> Option<CompiledModule> {
        let path = self.artifact_path(id)?;
        let file = fs::File::open(&path).ok()?;
        // Mapped, not read: wasmer copies the machine code out and keeps reading its metadata
        // in place, so the file's pages are shared with the page cache instead of copied twice.
        // SAFETY: artifact files are only ever replaced by renaming a complete file over them,
        // never written in place, so the mapping's contents do not change under us.
        let map = unsafe { memmap2::Mmap::map(&file) }.ok()?;
        let Some(artifact_len) = checked_artifact(&map) else {
            // Torn or corrupt: recompiled (and rewritten) by the caller.
            let _ = fs::remove_file(&path);
            return None;
        };
        let bytes = bytes::Bytes::from_owner(map).slice(..artifact_len);
        let engine = engine(&self.limits, false);
        // SAFETY: the artifact was produced by this node's own `serialize` for the same wasmer
        // version and target (both are in the file name), its checksum matched, and wasmer
        // validates the layout of its metadata.
        let module = unsafe { wasmer::Module::deserialize(&engine, bytes) }.ok()?;
        let exports = check_module(&module).ok()?;
        Some(CompiledModule {
            engine,
            module,
            exports,
            image: Default::default(),
        })
    }

    fn store_artifact(&self, id: &ModuleId, module: &wasmer::Module) {
        let (Some(path), Ok(artifact)) = (self.artifact_path(id), module.serialize()) else {
            return;
        };
        let mut bytes = artifact.to_vec();
        bytes.extend_from_slice(&trailer(&artifact));
        if let Some(dir) = path.parent() {
            let _ = fs::create_dir_all(dir);
        }
        let temporary = path.with_extension(format!("{}.tmp", std::process::id()));
        if fs::write(&temporary, &bytes).is_ok() {
            let _ = fs::rename(&temporary, &path);
        }
    }

    /// The compiled module `id`: from memory, from disk, or compiled from `bytes()`.
    pub fn get_or_compile(
        &self,
        id: ModuleId,
        bytes: impl FnOnce() -> Option<Vec<u8>>,
    ) -> Result<Arc<CompiledModule>, FunctionCallError> {
        if let Some(module) = self.cached(&id) {
            return Ok(module);
        }
        // One compilation at a time: compiling is CPU-heavy, and a second caller waiting here
        // then finds the module cached.
        let _compiling = self.compiling.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(module) = self.cached(&id) {
            return Ok(module);
        }
        if let Some(module) = self.load_artifact(&id) {
            let module = Arc::new(module);
            self.remember(id, module.clone());
            return Ok(module);
        }
        let bytes = bytes().ok_or_else(|| FunctionCallError::CompilationError {
            message: "the module's bytes are not available on this node".into(),
        })?;
        if bytes.len() as u64 > self.limits.max_module_size {
            return Err(FunctionCallError::ModuleSizeLimitExceeded {
                size: bytes.len() as u64,
                limit: self.limits.max_module_size,
            });
        }
        if !bytes.starts_with(b"\0asm") {
            return Err(FunctionCallError::CompilationError {
                message: "not a WebAssembly module (it does not start with `\\0asm`)".into(),
            });
        }
        let engine = engine(&self.limits, true);
        let module = wasmer::Module::new(&engine, &bytes).map_err(|e| {
            FunctionCallError::CompilationError {
                message: e.to_string(),
            }
        })?;
        let exports = check_module(&module)?;
        self.store_artifact(&id, &module);
        let module = Arc::new(CompiledModule {
            engine,
            module,
            exports,
            image: Default::default(),
        });
        self.remember(id, module.clone());
        Ok(module)
    }
}
