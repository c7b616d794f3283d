//! Applications, contexts and executions: the node's logic, independent of any transport.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use borsh::BorshDeserialize;
use calimero_runtime::{FunctionCallError, Identity, Limits, ModuleId, Outcome, Runtime, Storage};
use calimero_store::{Batch, Column, Store};
use ed25519_dalek::{Signer, SigningKey};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::ids;
use crate::records::{
    ApplicationRecord, ContextRecord, DELTA_DOMAIN, DeltaRecord, EventRecord, module_key, scoped,
};

/// Why a client request failed; serialized as `{"type": ..., "data": ...}`.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("context {0} not found")]
    ContextNotFound(String),
    #[error("application {0} is not installed")]
    ApplicationNotInstalled(String),
    #[error("{0}")]
    ParseError(String),
    #[error("{0}")]
    FunctionCall(FunctionCallError),
    #[error("{0}")]
    Conflict(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl NodeError {
    /// The JSON error object clients receive.
    pub fn to_json(&self) -> Value {
        match self {
            NodeError::ContextNotFound(id) => {
                json!({"type": "ContextNotFound", "data": {"contextId": id}})
            }
            NodeError::ApplicationNotInstalled(id) => {
                json!({"type": "ApplicationNotInstalled", "data": {"applicationId": id}})
            }
            NodeError::ParseError(message) => json!({"type": "ParseError", "data": message}),
            NodeError::FunctionCall(error) => serde_json::to_value(error)
                .unwrap_or_else(|e| json!({"type": "InternalError", "data": e.to_string()})),
            NodeError::Conflict(message) => json!({"type": "Conflict", "data": message}),
            NodeError::Internal(message) => json!({"type": "InternalError", "data": message}),
        }
    }
}

impl From<calimero_store::StoreError> for NodeError {
    fn from(error: calimero_store::StoreError) -> Self {
        NodeError::Internal(error.to_string())
    }
}

fn decode<T: BorshDeserialize>(bytes: &[u8], what: &str) -> Result<T, NodeError> {
    T::try_from_slice(bytes).map_err(|e| NodeError::Internal(format!("corrupt {what}: {e}")))
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// What a successful execution returns to the client.
#[derive(Debug, Serialize)]
pub struct Execution {
    pub output: Value,
    #[serde(skip)]
    pub logs: Vec<String>,
    #[serde(skip)]
    pub events: Vec<EventRecord>,
    #[serde(skip)]
    pub root_hash: Option<[u8; 32]>,
}

/// A summary of an application, as the admin API lists it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationInfo {
    pub id: String,
    pub size: u64,
    pub source: String,
    pub installed_at_ms: u64,
    pub methods: Vec<String>,
}

/// A summary of a context.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContextInfo {
    pub id: String,
    pub application_id: String,
    pub root_hash: String,
    pub dag_heads: Vec<String>,
    pub member_public_key: String,
    pub created_at_ms: u64,
}

/// A context's state as one call reads it.
struct ContextStorage {
    store: Arc<Store>,
    context: [u8; 32],
}

impl Storage for ContextStorage {
    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        // Only 32-byte keys are ever stored (HOST-ABI §5).
        if key.len() != 32 {
            return None;
        }
        self.store
            .get(Column::State, &scoped(&self.context, key))
            .ok()
            .flatten()
    }

    fn get_private(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.store
            .get(Column::PrivateState, &scoped(&self.context, key))
            .ok()
            .flatten()
    }
}

/// The node: its store, its runtime, and a lock per context.
pub struct Node {
    store: Arc<Store>,
    runtime: Runtime,
    locks: Mutex<HashMap<[u8; 32], Arc<RwLock<()>>>>,
    read_only: Mutex<HashMap<[u8; 32], Arc<HashSet<String>>>>,
    /// Member signing keys by context: deriving one costs a scalar multiplication.
    signers: Mutex<HashMap<[u8; 32], Arc<SigningKey>>>,
}

impl Node {
    /// Opens the node's store at `data` and caches compiled modules under `compiled`.
    pub fn open(data: &Path, compiled: &Path, limits: Limits) -> Result<Self, NodeError> {
        let store = Store::open(data)?;
        Ok(Self {
            store: Arc::new(store),
            runtime: Runtime::new(limits, Some(compiled.to_path_buf())),
            locks: Mutex::new(HashMap::new()),
            read_only: Mutex::new(HashMap::new()),
            signers: Mutex::new(HashMap::new()),
        })
    }

    /// Flushes the store (clean shutdown).
    pub fn flush(&self) -> Result<(), NodeError> {
        Ok(self.store.flush()?)
    }

    fn lock(&self, context: &[u8; 32]) -> Arc<RwLock<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
        locks.entry(*context).or_default().clone()
    }

    // ---- applications ----

    /// Validates, compiles and stores a module; returns its id (SHA-256 of the bytes).
    pub fn install_application(&self, bytes: &[u8], source: &str) -> Result<String, NodeError> {
        let (id, _) = self
            .runtime
            .prepare(bytes)
            .map_err(NodeError::FunctionCall)?;
        let abi = calimero_wasm_abi::read_manifest(bytes)
            .ok()
            .flatten()
            .map(|m| m.to_string());
        let record = ApplicationRecord {
            size: bytes.len() as u64,
            source: source.to_owned(),
            installed_at_ms: now_ms(),
            abi,
        };
        let mut batch = Batch::new();
        batch.put(
            Column::Applications,
            id.0.to_vec(),
            borsh::to_vec(&record).unwrap_or_default(),
        );
        batch.put(Column::Applications, module_key(&id.0), bytes.to_vec());
        self.store.commit(batch)?;
        Ok(ids::encode(&id.0))
    }

    fn application(&self, id: &[u8; 32]) -> Result<ApplicationRecord, NodeError> {
        match self.store.get(Column::Applications, id)? {
            Some(bytes) => decode(&bytes, "application record"),
            None => Err(NodeError::ApplicationNotInstalled(ids::encode(id))),
        }
    }

    fn info(&self, id: [u8; 32], record: &ApplicationRecord) -> ApplicationInfo {
        let methods = record
            .abi
            .as_deref()
            .and_then(|abi| serde_json::from_str::<Value>(abi).ok())
            .and_then(|abi| abi["methods"].as_array().cloned())
            .map(|methods| {
                methods
                    .iter()
                    .filter_map(|m| m["name"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        ApplicationInfo {
            id: ids::encode(&id),
            size: record.size,
            source: record.source.clone(),
            installed_at_ms: record.installed_at_ms,
            methods,
        }
    }

    /// Every installed application.
    pub fn applications(&self) -> Result<Vec<ApplicationInfo>, NodeError> {
        let mut apps = Vec::new();
        for (key, value) in self.store.scan(Column::Applications, &[])? {
            if let Ok(id) = <[u8; 32]>::try_from(key.as_slice()) {
                apps.push(self.info(id, &decode(&value, "application record")?));
            }
        }
        Ok(apps)
    }

    /// One application.
    pub fn get_application(&self, id: &[u8; 32]) -> Result<ApplicationInfo, NodeError> {
        Ok(self.info(*id, &self.application(id)?))
    }

    /// The ABI manifest of an application (`null` if it carries none).
    pub fn application_abi(&self, id: &[u8; 32]) -> Result<Value, NodeError> {
        let record = self.application(id)?;
        Ok(record
            .abi
            .as_deref()
            .and_then(|abi| serde_json::from_str(abi).ok())
            .unwrap_or(Value::Null))
    }

    /// Uninstalls an application that no context uses.
    pub fn delete_application(&self, id: &[u8; 32]) -> Result<(), NodeError> {
        self.application(id)?;
        let users: Vec<String> = self
            .contexts()?
            .into_iter()
            .filter(|c| c.application_id == ids::encode(id))
            .map(|c| c.id)
            .collect();
        if !users.is_empty() {
            return Err(NodeError::Conflict(format!(
                "application {} is used by context(s) {}; delete those first",
                ids::encode(id),
                users.join(", ")
            )));
        }
        let mut batch = Batch::new();
        batch.delete(Column::Applications, id.to_vec());
        batch.delete(Column::Applications, module_key(id));
        self.store.commit(batch)?;
        Ok(())
    }

    fn module(&self, id: &[u8; 32]) -> Result<Arc<calimero_runtime::CompiledModule>, NodeError> {
        self.runtime
            .module(ModuleId(*id), || {
                self.store
                    .get(Column::Applications, &module_key(id))
                    .ok()
                    .flatten()
            })
            .map_err(NodeError::FunctionCall)
    }

    fn read_only_methods(&self, id: &[u8; 32]) -> Result<Arc<HashSet<String>>, NodeError> {
        if let Some(set) = self
            .read_only
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
        {
            return Ok(set.clone());
        }
        let abi = self.application_abi(id)?;
        let set: HashSet<String> = abi["methods"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|m| m["intent"] == "read_only")
            .filter_map(|m| m["name"].as_str().map(str::to_owned))
            .collect();
        let set = Arc::new(set);
        self.read_only
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(*id, set.clone());
        Ok(set)
    }

    // ---- contexts ----

    fn context(&self, id: &[u8; 32]) -> Result<ContextRecord, NodeError> {
        match self.store.get(Column::Meta, id)? {
            Some(bytes) => decode(&bytes, "context record"),
            None => Err(NodeError::ContextNotFound(ids::encode(id))),
        }
    }

    fn context_info(id: [u8; 32], record: &ContextRecord) -> ContextInfo {
        ContextInfo {
            id: ids::encode(&id),
            application_id: ids::encode(&record.application),
            root_hash: ids::encode(&record.root_hash),
            dag_heads: record.heads.iter().map(ids::encode).collect(),
            member_public_key: ids::encode(&record.member),
            created_at_ms: record.created_at_ms,
        }
    }

    /// Creates a context of `application`, running `init` with `params`; returns
    /// `(context id, member public key)`.
    pub fn create_context(
        &self,
        application: &[u8; 32],
        params: Vec<u8>,
    ) -> Result<(String, String), NodeError> {
        self.application(application)?;
        let module = self.module(application)?;
        let context_key = SigningKey::generate(&mut rand::rngs::OsRng);
        let member_key = SigningKey::generate(&mut rand::rngs::OsRng);
        let context = context_key.verifying_key().to_bytes();
        let member = member_key.verifying_key().to_bytes();
        let identity = Identity {
            context_id: context,
            account_id: member,
            device_id: member,
            xcall_origin: None,
        };
        let storage = Arc::new(ContextStorage {
            store: self.store.clone(),
            context,
        });
        let outcome = self.runtime.run(&module, "init", params, identity, storage);
        if let Err(error) = &outcome.returns {
            return Err(NodeError::FunctionCall(error.clone()));
        }
        if outcome.root_hash.is_none() {
            return Err(NodeError::ParseError(
                "the application's `init` returned without committing any state; is it an app built \
                 with #[app::init]?"
                    .into(),
            ));
        }
        let mut record = ContextRecord {
            application: *application,
            root_hash: [0; 32],
            heads: Vec::new(),
            member,
            created_at_ms: now_ms(),
        };
        let mut batch = Batch::new();
        batch.put(
            Column::Identities,
            scoped(&context, &member),
            member_key.to_bytes().to_vec(),
        );
        self.stage_commit(&mut batch, &context, &mut record, &member_key, &outcome);
        self.store.commit(batch)?;
        Ok((ids::encode(&context), ids::encode(&member)))
    }

    /// Adds the outcome's writes, its delta, and the updated context record to `batch`.
    fn stage_commit(
        &self,
        batch: &mut Batch,
        context: &[u8; 32],
        record: &mut ContextRecord,
        signer: &SigningKey,
        outcome: &Outcome,
    ) {
        for (key, value) in &outcome.writes {
            if key.len() != 32 {
                continue;
            }
            match value {
                Some(value) => batch.put(Column::State, scoped(context, key), value.clone()),
                None => batch.delete(Column::State, scoped(context, key)),
            }
        }
        for (key, value) in &outcome.private_writes {
            match value {
                Some(value) => batch.put(Column::PrivateState, scoped(context, key), value.clone()),
                None => batch.delete(Column::PrivateState, scoped(context, key)),
            }
        }
        let root = outcome.root_hash.unwrap_or(record.root_hash);
        if !outcome.artifact.is_empty() {
            let parents = if record.heads.is_empty() {
                vec![[0u8; 32]]
            } else {
                record.heads.clone()
            };
            let mut hasher = Sha256::new();
            for parent in &parents {
                hasher.update(parent);
            }
            hasher.update(&outcome.artifact);
            let id: [u8; 32] = hasher.finalize().into();
            let mut delta = DeltaRecord {
                context_id: *context,
                id,
                parents,
                author: record.member,
                hlc: now_ns(),
                artifact: outcome.artifact.clone(),
                root_hash: root,
                events: outcome
                    .events
                    .iter()
                    .map(|e| EventRecord {
                        kind: e.kind.clone(),
                        data: e.data.clone(),
                        handler: e.handler.clone(),
                    })
                    .collect(),
                signature: [0; 64],
            };
            let mut signed = DELTA_DOMAIN.to_vec();
            signed.extend(borsh::to_vec(&delta).unwrap_or_default());
            signed.truncate(signed.len() - 64);
            delta.signature = signer.sign(&signed).to_bytes();
            batch.put(
                Column::Deltas,
                scoped(context, &id),
                borsh::to_vec(&delta).unwrap_or_default(),
            );
            record.heads = vec![id];
        }
        record.root_hash = root;
        batch.put(
            Column::Meta,
            context.to_vec(),
            borsh::to_vec(record).unwrap_or_default(),
        );
    }

    /// Every context on this node.
    pub fn contexts(&self) -> Result<Vec<ContextInfo>, NodeError> {
        let mut contexts = Vec::new();
        for (key, value) in self.store.scan(Column::Meta, &[])? {
            if let Ok(id) = <[u8; 32]>::try_from(key.as_slice()) {
                contexts.push(Self::context_info(id, &decode(&value, "context record")?));
            }
        }
        Ok(contexts)
    }

    /// One context.
    pub fn get_context(&self, id: &[u8; 32]) -> Result<ContextInfo, NodeError> {
        Ok(Self::context_info(*id, &self.context(id)?))
    }

    /// Deletes a context with its state, deltas and identities.
    pub fn delete_context(&self, id: &[u8; 32]) -> Result<(), NodeError> {
        let lock = self.lock(id);
        let _guard = lock.write().unwrap_or_else(|e| e.into_inner());
        self.context(id)?;
        let mut batch = Batch::new();
        batch.delete(Column::Meta, id.to_vec());
        for column in [
            Column::State,
            Column::PrivateState,
            Column::Deltas,
            Column::Identities,
        ] {
            for (key, _) in self.store.scan(column, id)? {
                batch.delete(column, key);
            }
        }
        self.store.commit(batch)?;
        self.signers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
        Ok(())
    }

    /// Runs `method` in `context` with JSON `args`, as this node's member.
    pub fn execute(
        &self,
        context: &[u8; 32],
        method: &str,
        args: Vec<u8>,
    ) -> Result<Execution, NodeError> {
        calimero_runtime::validate_method_name(method, self.runtime.limits())
            .map_err(|e| NodeError::FunctionCall(FunctionCallError::MethodResolutionError(e)))?;
        let probe = self.context(context)?;
        let read_only = self.read_only_methods(&probe.application)?.contains(method);
        let lock = self.lock(context);
        let (_read, _write);
        if read_only {
            _read = lock.read().unwrap_or_else(|e| e.into_inner());
        } else {
            _write = lock.write().unwrap_or_else(|e| e.into_inner());
        }
        // Re-read under the lock: a concurrent writer may have moved the heads.
        let mut record = self.context(context)?;
        let module = self.module(&record.application)?;
        let identity = Identity {
            context_id: *context,
            account_id: record.member,
            device_id: record.member,
            xcall_origin: None,
        };
        let storage = Arc::new(ContextStorage {
            store: self.store.clone(),
            context: *context,
        });
        let outcome = self.runtime.run(&module, method, args, identity, storage);

        if outcome.should_persist() {
            if read_only {
                tracing::warn!(
                    method,
                    "a read-only method committed; its writes are discarded"
                );
            } else {
                let signer = self.member_key(context, &record.member)?;
                let mut batch = Batch::new();
                self.stage_commit(&mut batch, context, &mut record, &signer, &outcome);
                self.store.commit(batch)?;
            }
        }
        let events = outcome
            .events
            .iter()
            .map(|e| EventRecord {
                kind: e.kind.clone(),
                data: e.data.clone(),
                handler: e.handler.clone(),
            })
            .collect();
        let output = match outcome.returns {
            Err(error) => return Err(NodeError::FunctionCall(error)),
            Ok(None) => Value::Null,
            Ok(Some(bytes)) => serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned())),
        };
        Ok(Execution {
            output,
            logs: outcome.logs,
            events,
            root_hash: outcome.root_hash,
        })
    }

    fn member_key(
        &self,
        context: &[u8; 32],
        member: &[u8; 32],
    ) -> Result<Arc<SigningKey>, NodeError> {
        if let Some(key) = self
            .signers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(context)
        {
            return Ok(key.clone());
        }
        let secret = self
            .store
            .get(Column::Identities, &scoped(context, member))?
            .ok_or_else(|| {
                NodeError::Internal("this node holds no identity for the context".into())
            })?;
        let secret: [u8; 32] = secret
            .try_into()
            .map_err(|_| NodeError::Internal("corrupt identity record".into()))?;
        let key = Arc::new(SigningKey::from_bytes(&secret));
        self.signers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(*context, key.clone());
        Ok(key)
    }

    /// `sync_status` for a context.
    pub fn sync_status(&self, context: &[u8; 32]) -> Result<Value, NodeError> {
        let record = self.context(context)?;
        Ok(json!({
            "contextId": ids::encode(context),
            "isInitialized": record.root_hash != [0; 32],
            "syncState": "Synced",
            "rootHash": ids::encode(&record.root_hash),
        }))
    }

    /// Recomputes a context's state root from its stored entities and compares it with the root
    /// the node recorded: `(recorded, recomputed)`. Used to check for torn state.
    pub fn verify_root(&self, context: &[u8; 32]) -> Result<([u8; 32], [u8; 32]), NodeError> {
        let record = self.context(context)?;
        let mut state = HashMap::new();
        for (key, value) in self.store.scan(Column::State, context)? {
            state.insert(key[32..].to_vec(), value);
        }
        let recomputed = crate::verify::recompute_root(context, &state).map_err(|e| {
            NodeError::Internal(format!(
                "state of {} is inconsistent: {e}",
                ids::encode(context)
            ))
        })?;
        Ok((record.root_hash, recomputed))
    }
}
