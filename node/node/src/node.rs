//! Applications, contexts and executions: the node's logic, independent of any transport.
//!
//! The author path lives here ([`Node::execute`]): run the method, and if it committed, persist
//! its writes, its signed delta, the new heads and root in one write batch, then publish the
//! delta. The receive path, snapshots and the answers to peers are in `replica.rs`.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use borsh::BorshDeserialize;
use calimero_dag::Dag;
use calimero_network::NetworkHandle;
use calimero_runtime::{
    FunctionCallError, Identity, Limits, ModuleId, Outcome, Runtime, Storage, StorageError,
};
use calimero_store::{Batch, Column, Store};
use calimero_wire::{
    ApplicationId, ContextId, ContextKey, DeltaBody, DeltaEnvelope, DeltaId, Event, GossipMessage,
    Hash, MAX_PARENTS, MAX_SEALED_SIZE, PublicKey, encode, public_key,
};
use ed25519_dalek::SigningKey;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::metrics::{Counter, Metrics};
use crate::records::{
    ApplicationRecord, ContextRecord, StoredDelta, clock_key, module_key, scoped,
};

/// How many deltas waiting for their parents a context keeps before evicting the oldest.
pub const MAX_PENDING_DELTAS: usize = 10_000;

/// Why a client request failed; serialized as `{"type": ..., "data": ...}`.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("context {0} not found")]
    ContextNotFound(ContextId),
    #[error("application {0} is not installed")]
    ApplicationNotInstalled(ApplicationId),
    #[error(
        "context {0} has no state on this node yet: it is still syncing from its peers; try again \
         shortly, or run `meroctl context sync {0}`"
    )]
    Uninitialized(ContextId),
    #[error("{0}")]
    ParseError(String),
    #[error("{0}")]
    FunctionCall(FunctionCallError),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Network(String),
    #[error(
        "the call's delta would be {size} bytes; deltas are limited to {limit} bytes so that peers \
         can receive them: split the change into smaller calls"
    )]
    DeltaTooLarge { size: usize, limit: usize },
    /// A peer's delta carries a time more than 5 s ahead of this node's clock; it is not applied
    /// now, and a later sync delivers it again.
    #[error("delta {0} is stamped more than 5 s ahead of this node's clock; it will be retried")]
    ClockDrift(DeltaId),
    /// A peer's delta moves the context to an application this node has not installed; it
    /// waits, with everything after it, until the application is installed here.
    #[error(
        "delta {delta} moves the context to application {application}, which is not installed \
         here; install it (`meroctl app install`) and the context catches up at the next sync"
    )]
    MissingApplication {
        delta: DeltaId,
        application: ApplicationId,
    },
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
            NodeError::Uninitialized(id) => json!({
                "type": "Uninitialized",
                "data": {"contextId": id, "message": self.to_string()}
            }),
            NodeError::ParseError(message) => json!({"type": "ParseError", "data": message}),
            NodeError::FunctionCall(error) => serde_json::to_value(error)
                .unwrap_or_else(|e| json!({"type": "InternalError", "data": e.to_string()})),
            NodeError::Conflict(message) => json!({"type": "Conflict", "data": message}),
            NodeError::Network(message) => json!({"type": "NetworkError", "data": message}),
            NodeError::DeltaTooLarge { size, limit } => json!({
                "type": "DeltaTooLarge",
                "data": {"size": size, "limit": limit, "message": self.to_string()}
            }),
            NodeError::ClockDrift(delta) => json!({
                "type": "ClockDrift",
                "data": {"deltaId": delta, "message": self.to_string()}
            }),
            NodeError::MissingApplication { delta, application } => json!({
                "type": "MissingApplication",
                "data": {"deltaId": delta, "applicationId": application, "message": self.to_string()}
            }),
            NodeError::Internal(message) => json!({"type": "InternalError", "data": message}),
        }
    }
}

impl From<calimero_store::StoreError> for NodeError {
    fn from(error: calimero_store::StoreError) -> Self {
        NodeError::Internal(error.to_string())
    }
}

pub(crate) fn decode<T: BorshDeserialize>(bytes: &[u8], what: &str) -> Result<T, NodeError> {
    T::try_from_slice(bytes).map_err(|e| NodeError::Internal(format!("corrupt {what}: {e}")))
}

pub(crate) fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

pub(crate) use calimero_primitives::now_ms;

/// What [`Node::upgrade_context`] did.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Upgrade {
    /// The application the context ran before.
    pub previous: ApplicationId,
    /// The application it runs now.
    pub application: ApplicationId,
    /// The migration that ran, if the new version declares one.
    pub migration: Option<String>,
    pub from_version: u64,
    pub to_version: u64,
    /// The state root after the migration.
    pub root_hash: Hash,
}

/// What a successful execution returns to the client.
#[derive(Debug, Serialize)]
pub struct Execution {
    pub output: Value,
    #[serde(skip)]
    pub logs: Vec<String>,
    /// What became of each `env::xcall` the call made (and those they made), in order.
    #[serde(skip)]
    pub xcalls: Vec<XCallReport>,
    #[serde(skip)]
    pub events: Vec<Event>,
    #[serde(skip)]
    pub root_hash: Option<[u8; 32]>,
}

/// The outcome of one cross-context call (`env::xcall`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XCallReport {
    /// The context that made the call.
    pub from: ContextId,
    /// The context it named.
    pub to: ContextId,
    pub function: String,
    /// How deep in a chain of xcalls it ran (1: made by a client's call).
    pub depth: u32,
    pub outcome: XCallOutcome,
}

/// What the node did with an xcall.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum XCallOutcome {
    /// It ran and committed (or returned an app error: `Ok(false)`).
    Ran { ok: bool },
    /// It was not run, for this reason.
    Denied(String),
}

/// Executions in a chain of xcalls run at depths `0..=MAX_XCALL_DEPTH`; the deepest one's own
/// xcalls are denied.
pub const MAX_XCALL_DEPTH: u32 = 3;

/// Who may reach the methods of an application through xcalls, from its ABI.
#[derive(Debug, Default)]
pub(crate) struct XCallGate {
    /// Method → whether callers must run the same application. Empty: the app marks no method
    /// `#[app::xcall]`, and every method is reachable.
    methods: HashMap<String, bool>,
}

/// A summary of an application, as the admin API lists it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationInfo {
    pub id: ApplicationId,
    pub size: u64,
    pub source: String,
    pub installed_at_ms: u64,
    pub methods: Vec<String>,
}

/// A summary of a context.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContextInfo {
    pub id: ContextId,
    pub application_id: ApplicationId,
    pub root_hash: Hash,
    pub dag_heads: Vec<DeltaId>,
    pub member_public_key: PublicKey,
    pub members: usize,
    pub is_initialized: bool,
    pub created_at_ms: u64,
}

/// What the node tells the replication loop.
#[derive(Debug, Clone)]
pub enum Notice {
    /// A context appeared here (created or joined): subscribe to its topic.
    ContextAdded(ContextId),
    /// A context was deleted here: leave its topic.
    ContextRemoved(ContextId),
}

/// A context's state as one call reads it.
pub(crate) struct ContextStorage {
    pub store: Arc<Store>,
    pub context: ContextId,
}

impl ContextStorage {
    fn read(&self, column: Column, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        self.store
            .get(column, &scoped(self.context.as_bytes(), key))
            .map_err(|error| StorageError(error.to_string()))
    }
}

impl Storage for ContextStorage {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        // Only 32-byte keys are ever stored (HOST-ABI §5): the runtime refuses writes of others.
        if key.len() != 32 {
            return Ok(None);
        }
        self.read(Column::State, key)
    }

    fn get_private(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        self.read(Column::PrivateState, key)
    }

    fn clock_floor(&self) -> Result<u64, StorageError> {
        let stored = self
            .store
            .get(Column::Meta, &clock_key(self.context.as_bytes()))
            .map_err(|error| StorageError(error.to_string()))?;
        Ok(stored
            .and_then(|bytes| <[u8; 8]>::try_from(bytes.as_slice()).ok())
            .map_or(0, u64::from_le_bytes))
    }
}

/// How far ahead of the local clock a delta's stamp may be and still advance the context's
/// clock (the storage crate refuses stamps further ahead inside artifacts).
const MAX_CLOCK_DRIFT_NS: u64 = 5_000_000_000;

/// A received delta's stamp, if it is plausible enough to advance the context's clock: one far
/// in the future (a hostile or broken peer) must not drag every later local stamp with it.
pub(crate) fn received_stamp(hlc: u64) -> u64 {
    if hlc <= now_ns().saturating_add(MAX_CLOCK_DRIFT_NS) {
        hlc
    } else {
        0
    }
}

/// Raises the context's clock to `ns` in `batch` (callers hold the context's exclusive lock and
/// pass at least the clock they started from, so it never goes back).
pub(crate) fn stage_clock(batch: &mut Batch, context: &ContextId, ns: u64) {
    batch.put(
        Column::Meta,
        clock_key(context.as_bytes()),
        ns.to_le_bytes().to_vec(),
    );
}

/// What a call runs: an app method a client named, or the apply path of a delta.
pub(crate) enum Entry<'a> {
    Method(&'a str),
    /// Applies deltas all signed by `author` (checked before): the storage layer sees the author
    /// as the writer, so that user-owned entities accept only their owner's changes.
    ApplyArtifact {
        author: PublicKey,
    },
}

/// A context in memory: the lock that orders its calls and applies, and its DAG.
pub(crate) struct ContextState {
    /// Shared by read-only calls; exclusive for writes, applies and snapshots.
    pub lock: RwLock<()>,
    pub dag: Mutex<Dag<DeltaId, DeltaEnvelope>>,
    /// Deltas kept in the pending column while the context has no state yet (bounded like the
    /// DAG's buffer).
    pub waiting_for_state: std::sync::atomic::AtomicUsize,
}

impl ContextState {
    pub fn dag(&self) -> std::sync::MutexGuard<'_, Dag<DeltaId, DeltaEnvelope>> {
        self.dag.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The node: its store, its runtime, its contexts, and its link to the network.
pub struct Node {
    pub(crate) store: Arc<Store>,
    pub(crate) runtime: Runtime,
    contexts: Mutex<HashMap<ContextId, Arc<ContextState>>>,
    read_only: Mutex<HashMap<ApplicationId, Arc<HashSet<String>>>>,
    /// Member signing keys by context: deriving one costs a scalar multiplication.
    signers: Mutex<HashMap<ContextId, Arc<SigningKey>>>,
    network: OnceLock<NetworkHandle>,
    notices: OnceLock<mpsc::UnboundedSender<Notice>>,
    /// What the node did and what it dropped.
    pub metrics: Metrics,
    /// Held while an application is deleted and while a context of one is committed, so that no
    /// context ever refers to a deleted application.
    applications: Mutex<()>,
    /// Every state change, for subscribers (WebSocket, SSE).
    pub feed: crate::events::Feed,
    /// Handler calls that applied remote deltas asked for, run once the context's lock is free.
    handlers: Mutex<std::collections::VecDeque<(ContextId, String, Vec<u8>)>>,
    /// Applications contexts were upgraded to that are not installed here: the next sync
    /// session of the context fetches the module from its peer first.
    wanted: Mutex<HashMap<ContextId, ApplicationId>>,
}

impl Node {
    /// Opens the node's store at `data` and caches compiled modules under `compiled`.
    pub fn open(data: &Path, compiled: &Path, limits: Limits) -> Result<Self, NodeError> {
        let store = Store::open(data)?;
        Ok(Self {
            store: Arc::new(store),
            runtime: Runtime::new(limits, Some(compiled.to_path_buf())),
            contexts: Mutex::new(HashMap::new()),
            read_only: Mutex::new(HashMap::new()),
            signers: Mutex::new(HashMap::new()),
            network: OnceLock::new(),
            notices: OnceLock::new(),
            metrics: Metrics::default(),
            applications: Mutex::new(()),
            feed: crate::events::Feed::default(),
            handlers: Mutex::new(std::collections::VecDeque::new()),
            wanted: Mutex::new(HashMap::new()),
        })
    }

    /// Notes that `context` was upgraded to `application`, which is not installed here.
    pub(crate) fn want_application(&self, context: ContextId, application: ApplicationId) {
        self.wanted
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(context, application);
    }

    /// The application `context` waits for (an upgrade to it arrived before it was installed
    /// here), if it is still not installed.
    pub fn wanted_application(&self, context: &ContextId) -> Option<ApplicationId> {
        let mut wanted = self.wanted.lock().unwrap_or_else(|e| e.into_inner());
        let application = *wanted.get(context)?;
        if self.has_application(&application).unwrap_or(false) {
            wanted.remove(context);
            return None;
        }
        Some(application)
    }

    /// Connects the node to the network: deltas it authors are published through `network`, and
    /// the returned stream tells the replication loop about contexts that come and go.
    pub fn attach_network(&self, network: NetworkHandle) -> mpsc::UnboundedReceiver<Notice> {
        let (sender, receiver) = mpsc::unbounded_channel();
        let _ = self.network.set(network);
        let _ = self.notices.set(sender);
        receiver
    }

    /// The network handle, once attached.
    pub fn network(&self) -> Option<&NetworkHandle> {
        self.network.get()
    }

    /// Queues the handlers of `events`, emitted by a remote delta this node applied: each runs
    /// the named method with the event's data as its arguments, as an ordinary call.
    pub(crate) fn queue_handlers(&self, context: &ContextId, events: &[Event]) {
        let mut queue = self.handlers.lock().unwrap_or_else(|e| e.into_inner());
        for event in events {
            if let Some(handler) = &event.handler {
                queue.push_back((*context, handler.clone(), event.data.clone()));
            }
        }
    }

    /// Runs the queued handler calls (the caller holds no context lock). A handler that fails
    /// is counted and logged; it changes nothing.
    pub(crate) fn run_handlers(&self) {
        loop {
            let next = self
                .handlers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .pop_front();
            let Some((context, handler, args)) = next else {
                return;
            };
            match self.execute(&context, &handler, args) {
                Ok(_) => self.metrics.count(Counter::HandlersRun),
                Err(error) => {
                    self.metrics.count(Counter::HandlersFailed);
                    tracing::warn!(%context, handler, %error, "an event handler failed");
                }
            }
        }
    }

    pub(crate) fn notify(&self, notice: Notice) {
        if let Some(sender) = self.notices.get() {
            let _ = sender.send(notice);
        }
    }

    /// Publishes `message` on the context's topic (no-op without a network).
    pub(crate) fn publish(&self, context: &ContextId, message: &GossipMessage) {
        if let Some(network) = self.network.get()
            && let Err(error) = network.publish(&calimero_wire::topic(context), encode(message))
        {
            tracing::warn!(%context, %error, "could not queue a gossip message; periodic sync will repair");
        }
    }

    /// Flushes the store (clean shutdown).
    pub fn flush(&self) -> Result<(), NodeError> {
        Ok(self.store.flush()?)
    }

    /// The in-memory state of a context, loading its DAG from the store on first use.
    pub(crate) fn context_state(&self, id: &ContextId) -> Result<Arc<ContextState>, NodeError> {
        let mut contexts = self.contexts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(state) = contexts.get(id) {
            return Ok(state.clone());
        }
        let record = self.context(id)?;
        let dag = self.load_dag(id, &record)?;
        let mut buffered = Vec::new();
        if record.is_initialized() {
            for (_, value) in self.store.scan(Column::Pending, id.as_bytes())? {
                buffered.push(decode::<DeltaEnvelope>(&value, "pending delta")?);
            }
        }
        let waiting = if record.is_initialized() {
            0
        } else {
            self.store.scan(Column::Pending, id.as_bytes())?.len()
        };
        let state = Arc::new(ContextState {
            lock: RwLock::new(()),
            dag: Mutex::new(dag),
            waiting_for_state: std::sync::atomic::AtomicUsize::new(waiting),
        });
        contexts.insert(*id, state.clone());
        drop(contexts);
        // Deltas buffered before a restart go back into the DAG (and apply if now ready).
        if !buffered.is_empty()
            && let Err(error) = self.offer_verified(id, &state, buffered)
        {
            tracing::warn!(context = %id, %error, "buffered deltas could not be re-offered");
        }
        Ok(state)
    }

    /// The DAG of what the store holds as applied for context `id`, with the heads persisted in
    /// its `record` (buffered deltas are not included).
    pub(crate) fn load_dag(
        &self,
        id: &ContextId,
        record: &ContextRecord,
    ) -> Result<Dag<DeltaId, DeltaEnvelope>, NodeError> {
        let mut dag = Dag::new(DeltaId::GENESIS, MAX_PENDING_DELTAS);
        let mut via_snapshot = Vec::new();
        for (key, value) in self.store.scan(Column::Deltas, id.as_bytes())? {
            let delta_id = delta_id_of_key(&key)?;
            match decode::<StoredDelta>(&value, "stored delta")? {
                StoredDelta::Applied(delta) => dag.record_applied(delta.id, delta.parents),
                StoredDelta::ViaSnapshot => via_snapshot.push(delta_id),
            }
        }
        // Sets the heads to exactly what was persisted with the last commit.
        let released = dag.install_snapshot(via_snapshot, record.heads.clone());
        debug_assert!(released.is_empty());
        Ok(dag)
    }

    fn forget_context(&self, id: &ContextId) {
        self.contexts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
        self.signers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
    }

    // ---- applications ----

    /// Validates, compiles and stores a module; returns its id (SHA-256 of the bytes).
    pub fn install_application(
        &self,
        bytes: &[u8],
        source: &str,
    ) -> Result<ApplicationId, NodeError> {
        let (id, _) = self
            .runtime
            .prepare(bytes)
            .map_err(NodeError::FunctionCall)?;
        let id = ApplicationId::new(id.0);
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
            id.as_bytes().to_vec(),
            encode(&record),
        );
        batch.put(Column::Applications, module_key(&id), bytes.to_vec());
        self.store.commit(batch)?;
        Ok(id)
    }

    /// Skews the clock this node's apps read by `ns` (tests and simulations of a peer whose
    /// clock is wrong).
    pub fn skew_clock(&self, ns: i64) {
        self.runtime.skew_clock(ns);
    }

    /// The limits calls run under.
    pub fn limits(&self) -> &Limits {
        self.runtime.limits()
    }

    fn lock_applications(&self) -> std::sync::MutexGuard<'_, ()> {
        self.applications.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Commits `batch`, which adds a context of `application`, if the application is still
    /// installed (it may have been deleted while the context's `init` ran).
    pub(crate) fn commit_context(
        &self,
        application: &ApplicationId,
        batch: Batch,
    ) -> Result<(), NodeError> {
        let _applications = self.lock_applications();
        self.application(application)?;
        self.store.commit(batch)?;
        Ok(())
    }

    pub(crate) fn application(&self, id: &ApplicationId) -> Result<ApplicationRecord, NodeError> {
        match self.store.get(Column::Applications, id.as_bytes())? {
            Some(bytes) => decode(&bytes, "application record"),
            None => Err(NodeError::ApplicationNotInstalled(*id)),
        }
    }

    /// Whether the application's module is installed here.
    pub fn has_application(&self, id: &ApplicationId) -> Result<bool, NodeError> {
        Ok(self
            .store
            .get(Column::Applications, id.as_bytes())?
            .is_some())
    }

    /// The module bytes of an installed application.
    pub(crate) fn module_bytes(&self, id: &ApplicationId) -> Result<Vec<u8>, NodeError> {
        self.store
            .get(Column::Applications, &module_key(id))?
            .ok_or(NodeError::ApplicationNotInstalled(*id))
    }

    fn info(&self, id: ApplicationId, record: &ApplicationRecord) -> ApplicationInfo {
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
            id,
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
                let id = ApplicationId::new(id);
                apps.push(self.info(id, &decode(&value, "application record")?));
            }
        }
        Ok(apps)
    }

    /// One application.
    pub fn get_application(&self, id: &ApplicationId) -> Result<ApplicationInfo, NodeError> {
        Ok(self.info(*id, &self.application(id)?))
    }

    /// The ABI manifest of an application (`null` if it carries none).
    pub fn application_abi(&self, id: &ApplicationId) -> Result<Value, NodeError> {
        let record = self.application(id)?;
        Ok(record
            .abi
            .as_deref()
            .and_then(|abi| serde_json::from_str(abi).ok())
            .unwrap_or(Value::Null))
    }

    /// Uninstalls an application that no context uses.
    pub fn delete_application(&self, id: &ApplicationId) -> Result<(), NodeError> {
        let _applications = self.lock_applications();
        self.application(id)?;
        let users: Vec<String> = self
            .contexts()?
            .into_iter()
            .filter(|c| c.application_id == *id)
            .map(|c| c.id.to_string())
            .collect();
        if !users.is_empty() {
            return Err(NodeError::Conflict(format!(
                "application {id} is used by context(s) {}; delete those first",
                users.join(", ")
            )));
        }
        let mut batch = Batch::new();
        batch.delete(Column::Applications, id.as_bytes().to_vec());
        batch.delete(Column::Applications, module_key(id));
        self.store.commit(batch)?;
        Ok(())
    }

    pub(crate) fn module(
        &self,
        id: &ApplicationId,
    ) -> Result<Arc<calimero_runtime::CompiledModule>, NodeError> {
        self.runtime
            .module(ModuleId(id.to_bytes()), || {
                self.store
                    .get(Column::Applications, &module_key(id))
                    .ok()
                    .flatten()
            })
            .map_err(NodeError::FunctionCall)
    }

    /// Whether `method` of `context`'s application is marked read-only in its ABI.
    pub fn is_read_only(&self, context: &ContextId, method: &str) -> Result<bool, NodeError> {
        let application = self.context(context)?.application;
        Ok(self.read_only_methods(&application)?.contains(method))
    }

    fn read_only_methods(&self, id: &ApplicationId) -> Result<Arc<HashSet<String>>, NodeError> {
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

    fn xcall_gate(&self, id: &ApplicationId) -> Result<XCallGate, NodeError> {
        let abi = self.application_abi(id)?;
        let methods = abi["methods"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|m| m["xcall_callable"] == true)
            .filter_map(|m| {
                let name = m["name"].as_str()?.to_owned();
                Some((name, m["xcall_callers"] == "same_app"))
            })
            .collect();
        Ok(XCallGate { methods })
    }

    // ---- contexts ----

    pub(crate) fn context(&self, id: &ContextId) -> Result<ContextRecord, NodeError> {
        match self.store.get(Column::Meta, id.as_bytes())? {
            Some(bytes) => decode(&bytes, "context record"),
            None => Err(NodeError::ContextNotFound(*id)),
        }
    }

    fn context_info(id: ContextId, record: &ContextRecord) -> ContextInfo {
        ContextInfo {
            id,
            application_id: record.application,
            root_hash: record.root_hash,
            dag_heads: record.heads.clone(),
            member_public_key: record.member,
            members: record.members.len(),
            is_initialized: record.is_initialized(),
            created_at_ms: record.created_at_ms,
        }
    }

    /// Creates a context of `application`, running `init` with `params`; returns
    /// `(context id, member public key)`.
    pub fn create_context(
        &self,
        application: &ApplicationId,
        params: Vec<u8>,
    ) -> Result<(ContextId, PublicKey), NodeError> {
        self.application(application)?;
        let module = self.module(application)?;
        let context_key = SigningKey::generate(&mut rand::rngs::OsRng);
        let member_key = SigningKey::generate(&mut rand::rngs::OsRng);
        let context = ContextId::new(context_key.verifying_key().to_bytes());
        let member = public_key(&member_key);
        let identity = Identity {
            context_id: context.to_bytes(),
            account_id: member.to_bytes(),
            device_id: member.to_bytes(),
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
            root_hash: Hash::ZERO,
            initialized: true,
            heads: Vec::new(),
            member,
            members: vec![member],
            key: ContextKey::generate(),
            peers: Vec::new(),
            created_at_ms: now_ms(),
        };
        let mut batch = Batch::new();
        batch.put(
            Column::Identities,
            scoped(context.as_bytes(), member.as_bytes()),
            member_key.to_bytes().to_vec(),
        );
        // No DAG exists yet for a new context: its first delta has the genesis parent.
        let delta = stage_state_commit(
            &mut batch,
            &context,
            &mut record,
            vec![DeltaId::GENESIS],
            &member_key,
            &outcome,
        );
        self.commit_context(application, batch)?;
        if delta.is_some() {
            self.metrics.count(Counter::DeltasAuthored);
        }
        self.feed
            .publish(context, record.root_hash, wire_events(&outcome));
        self.notify(Notice::ContextAdded(context));
        Ok((context, member))
    }

    /// Every context on this node.
    pub fn contexts(&self) -> Result<Vec<ContextInfo>, NodeError> {
        Ok(self
            .context_records()?
            .into_iter()
            .map(|(id, record)| Self::context_info(id, &record))
            .collect())
    }

    /// Every context record on this node.
    pub(crate) fn context_records(&self) -> Result<Vec<(ContextId, ContextRecord)>, NodeError> {
        let mut contexts = Vec::new();
        for (key, value) in self.store.scan(Column::Meta, &[])? {
            if let Ok(id) = <[u8; 32]>::try_from(key.as_slice()) {
                contexts.push((ContextId::new(id), decode(&value, "context record")?));
            }
        }
        Ok(contexts)
    }

    /// One context.
    pub fn get_context(&self, id: &ContextId) -> Result<ContextInfo, NodeError> {
        Ok(Self::context_info(*id, &self.context(id)?))
    }

    /// The members of a context, sorted.
    pub fn members(&self, id: &ContextId) -> Result<Vec<PublicKey>, NodeError> {
        Ok(self.context(id)?.members)
    }

    /// Deletes a context with its state, deltas and identities.
    pub fn delete_context(&self, id: &ContextId) -> Result<(), NodeError> {
        let state = self.context_state(id)?;
        let _guard = state.lock.write().unwrap_or_else(|e| e.into_inner());
        self.context(id)?;
        let mut batch = Batch::new();
        batch.delete(Column::Meta, id.as_bytes().to_vec());
        batch.delete(Column::Meta, clock_key(id.as_bytes()));
        for column in [
            Column::State,
            Column::PrivateState,
            Column::Deltas,
            Column::Pending,
            Column::Identities,
        ] {
            for (key, _) in self.store.scan(column, id.as_bytes())? {
                batch.delete(column, key);
            }
        }
        self.store.commit(batch)?;
        self.forget_context(id);
        self.notify(Notice::ContextRemoved(*id));
        Ok(())
    }

    /// Runs `method` in `context` with JSON `args`, as this node's member. Then runs the xcalls
    /// the call made (see [`Node::dispatch_xcalls`]); the result does not depend on them.
    pub fn execute(
        &self,
        context: &ContextId,
        method: &str,
        args: Vec<u8>,
    ) -> Result<Execution, NodeError> {
        let (mut execution, xcalls) = self.execute_as(context, method, args, None)?;
        execution.xcalls = self.dispatch_xcalls(context, xcalls, 0);
        Ok(execution)
    }

    /// Runs the xcalls an execution at `depth` made, each as this node's member of the target
    /// context, with `env::xcall_origin()` set to `from`. One is denied if the chain is already
    /// [`MAX_XCALL_DEPTH`] deep, if this node does not hold the target context, if the target
    /// app marks methods `#[app::xcall]` and this is not one, or if the method is
    /// `from_same_app` and `from` runs another application.
    fn dispatch_xcalls(
        &self,
        from: &ContextId,
        xcalls: Vec<calimero_runtime::XCall>,
        depth: u32,
    ) -> Vec<XCallReport> {
        let mut reports = Vec::new();
        for call in xcalls {
            let to = ContextId::new(call.context_id);
            let mut report = XCallReport {
                from: *from,
                to,
                function: call.function.clone(),
                depth: depth + 1,
                outcome: XCallOutcome::Ran { ok: false },
            };
            match self.xcall_permitted(from, &to, &call.function, depth) {
                Err(reason) => {
                    tracing::warn!(%from, %to, function = %call.function, %reason, "xcall denied");
                    report.outcome = XCallOutcome::Denied(reason);
                    reports.push(report);
                }
                Ok(()) => {
                    let result = self.execute_as(&to, &call.function, call.params, Some(*from));
                    match result {
                        Ok((_, onward)) => {
                            report.outcome = XCallOutcome::Ran { ok: true };
                            reports.push(report);
                            reports.extend(self.dispatch_xcalls(&to, onward, depth + 1));
                        }
                        Err(error) => {
                            tracing::warn!(%from, %to, function = %call.function, %error, "xcall failed");
                            reports.push(report);
                        }
                    }
                }
            }
        }
        reports
    }

    fn xcall_permitted(
        &self,
        from: &ContextId,
        to: &ContextId,
        function: &str,
        depth: u32,
    ) -> Result<(), String> {
        if depth >= MAX_XCALL_DEPTH {
            return Err(format!(
                "a chain of xcalls is at most {MAX_XCALL_DEPTH} deep"
            ));
        }
        let target = self
            .context(to)
            .map_err(|_| format!("this node does not hold context {to}"))?;
        if !target.is_initialized() {
            return Err(format!("context {to} has no state on this node yet"));
        }
        let gate = self
            .xcall_gate(&target.application)
            .map_err(|e| e.to_string())?;
        if gate.methods.is_empty() {
            return Ok(());
        }
        match gate.methods.get(function) {
            None => Err(format!(
                "`{function}` is not an #[app::xcall] method of the target app"
            )),
            Some(true) => {
                let source = self.context(from).map_err(|e| e.to_string())?;
                if source.application == target.application {
                    Ok(())
                } else {
                    Err(format!(
                        "`{function}` is #[app::xcall(from_same_app)] and the caller runs another application"
                    ))
                }
            }
            Some(false) => Ok(()),
        }
    }

    /// [`Node::execute`] without running xcalls: the execution and the xcalls it made.
    fn execute_as(
        &self,
        context: &ContextId,
        method: &str,
        args: Vec<u8>,
        origin: Option<ContextId>,
    ) -> Result<(Execution, Vec<calimero_runtime::XCall>), NodeError> {
        calimero_runtime::validate_method_name(method, self.runtime.limits())
            .map_err(|e| NodeError::FunctionCall(FunctionCallError::MethodResolutionError(e)))?;
        let state = self.context_state(context)?;
        let probe = self.context(context)?;
        if !probe.is_initialized() {
            return Err(NodeError::Uninitialized(*context));
        }
        let read_only = self.read_only_methods(&probe.application)?.contains(method);
        let (_read, _write);
        if read_only {
            _read = state.lock.read().unwrap_or_else(|e| e.into_inner());
        } else {
            _write = state.lock.write().unwrap_or_else(|e| e.into_inner());
        }
        // Re-read under the lock: a concurrent writer may have moved the heads.
        let mut record = self.context(context)?;
        let mut outcome = self.run_as_member_from(
            context,
            &record,
            Entry::Method(method),
            args,
            origin.map(|o| o.to_bytes()),
        )?;
        let mut xcalls = std::mem::take(&mut outcome.xcalls);
        if read_only || !outcome.should_persist() {
            // A call whose writes are not kept does not reach other contexts either.
            xcalls.clear();
        }

        if outcome.should_persist() {
            if read_only {
                tracing::warn!(
                    method,
                    "a read-only method committed; its writes are discarded"
                );
            } else {
                if !outcome.artifact.is_empty() {
                    check_sealed_size(&state_body(&outcome))?;
                }
                let signer = self.member_key(context, &record.member)?;
                let mut batch = Batch::new();
                let parents = parents_of(&state.dag().heads());
                let delta = stage_state_commit(
                    &mut batch,
                    context,
                    &mut record,
                    parents,
                    &signer,
                    &outcome,
                );
                self.store.commit(batch)?;
                if let Some(delta) = delta {
                    state.dag().record_applied(delta.id, delta.parents.clone());
                    self.metrics.count(Counter::DeltasAuthored);
                    self.publish(context, &GossipMessage::Delta(delta));
                }
                self.feed
                    .publish(*context, record.root_hash, wire_events(&outcome));
            }
        }
        let events = wire_events(&outcome);
        let output = match outcome.returns {
            Err(error) => return Err(NodeError::FunctionCall(error)),
            Ok(None) => Value::Null,
            Ok(Some(bytes)) => serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned())),
        };
        Ok((
            Execution {
                output,
                logs: outcome.logs,
                xcalls: Vec::new(),
                events,
                root_hash: outcome.root_hash,
            },
            xcalls,
        ))
    }

    /// Moves `context` to `application`, a new version of its app installed here: runs the
    /// migration the new version declares from the context's state version (none if it declares
    /// none and keeps the version), commits what it wrote, switches the context to the new
    /// application, and publishes an `Upgrade` delta so that every member does the same. A
    /// migration that fails (or whose check refuses) changes nothing.
    pub fn upgrade_context(
        &self,
        context: &ContextId,
        application: &ApplicationId,
    ) -> Result<Upgrade, NodeError> {
        let state = self.context_state(context)?;
        let _write = state.lock.write().unwrap_or_else(|e| e.into_inner());
        let mut record = self.context(context)?;
        if !record.is_initialized() {
            return Err(NodeError::Uninitialized(*context));
        }
        if record.application == *application {
            return Err(NodeError::Conflict(format!(
                "context {context} already runs application {application}"
            )));
        }
        let new_abi = self.application_abi(application)?;
        let from = calimero_wasm_abi::state_version(&self.application_abi(&record.application)?);
        let migration = calimero_wasm_abi::migration_from(&new_abi, from).map_err(|reason| {
            NodeError::Conflict(format!(
                "application {application} cannot take over context {context}: {reason}"
            ))
        })?;
        let previous = record.application;
        let mut upgraded = record.clone();
        upgraded.application = *application;
        let outcome = match &migration {
            Some(method) => {
                let outcome =
                    self.run_as_member(context, &upgraded, Entry::Method(method), Vec::new())?;
                if let Err(error) = outcome.returns {
                    return Err(NodeError::FunctionCall(error));
                }
                Some(outcome)
            }
            None => None,
        };
        let body = DeltaBody::Upgrade {
            application: *application,
            artifact: outcome
                .as_ref()
                .map(|o| o.artifact.clone())
                .unwrap_or_default(),
            events: outcome.as_ref().map(wire_events).unwrap_or_default(),
        };
        check_sealed_size(&body)?;
        let signer = self.member_key(context, &record.member)?;
        let mut batch = Batch::new();
        let mut hlc = now_ns();
        if let Some(outcome) = &outcome {
            stage_writes(&mut batch, context, outcome);
            if let Some(root) = outcome.root_hash {
                record.root_hash = Hash::new(root);
            }
            hlc = hlc.max(outcome.clock_ns);
        }
        stage_clock(&mut batch, context, hlc);
        record.application = *application;
        let parents = parents_of(&state.dag().heads());
        let delta = stage_delta(
            &mut batch,
            context,
            &mut record,
            parents,
            &signer,
            hlc,
            &body,
        );
        batch.put(Column::Meta, context.as_bytes().to_vec(), encode(&record));
        self.store.commit(batch)?;
        state.dag().record_applied(delta.id, delta.parents.clone());
        self.metrics.count(Counter::DeltasAuthored);
        self.publish(context, &GossipMessage::Delta(delta));
        if let Some(outcome) = &outcome {
            self.feed
                .publish(*context, record.root_hash, wire_events(outcome));
        }
        tracing::info!(%context, from = %previous, to = %application, ?migration, "context upgraded");
        Ok(Upgrade {
            previous,
            application: *application,
            migration,
            from_version: from,
            to_version: calimero_wasm_abi::state_version(&new_abi),
            root_hash: record.root_hash,
        })
    }

    /// Creates a member identity not yet bound to a context: its public key can be named in an
    /// invitation (`context invite --invitee`), and joining with that invitation uses it.
    pub fn new_identity(&self) -> Result<PublicKey, NodeError> {
        let key = SigningKey::generate(&mut rand::rngs::OsRng);
        let public = public_key(&key);
        let mut batch = Batch::new();
        batch.put(
            Column::Identities,
            unbound_identity_key(&public),
            key.to_bytes().to_vec(),
        );
        self.store.commit(batch)?;
        Ok(public)
    }

    /// The secret key of an identity made by [`Node::new_identity`], if this node holds it.
    pub fn unbound_identity(&self, public: &PublicKey) -> Result<Option<SigningKey>, NodeError> {
        let Some(secret) = self
            .store
            .get(Column::Identities, &unbound_identity_key(public))?
        else {
            return Ok(None);
        };
        let secret: [u8; 32] = secret
            .try_into()
            .map_err(|_| NodeError::Internal("corrupt identity record".into()))?;
        Ok(Some(SigningKey::from_bytes(&secret)))
    }

    /// The context's clock: the latest time its calls were given or its applied deltas carried.
    pub fn clock_floor(&self, context: &ContextId) -> Result<u64, NodeError> {
        let storage = ContextStorage {
            store: self.store.clone(),
            context: *context,
        };
        storage.clock_floor().map_err(|error| {
            NodeError::Internal(format!("cannot read the context's clock: {}", error.0))
        })
    }

    /// Runs `entry` of the context's module with `input`, as this node's member, over the
    /// context's committed state.
    pub(crate) fn run_as_member(
        &self,
        context: &ContextId,
        record: &ContextRecord,
        entry: Entry<'_>,
        input: Vec<u8>,
    ) -> Result<Outcome, NodeError> {
        self.run_as_member_from(context, record, entry, input, None)
    }

    /// [`Node::run_as_member`] for a call made by context `origin`'s xcall.
    fn run_as_member_from(
        &self,
        context: &ContextId,
        record: &ContextRecord,
        entry: Entry<'_>,
        input: Vec<u8>,
        origin: Option<[u8; 32]>,
    ) -> Result<Outcome, NodeError> {
        let module = self.module(&record.application)?;
        let writer = match &entry {
            Entry::Method(_) => record.member,
            Entry::ApplyArtifact { author } => *author,
        };
        let identity = Identity {
            context_id: context.to_bytes(),
            account_id: writer.to_bytes(),
            device_id: record.member.to_bytes(),
            xcall_origin: origin,
        };
        let storage = Arc::new(ContextStorage {
            store: self.store.clone(),
            context: *context,
        });
        Ok(match entry {
            Entry::Method(method) => self.runtime.run(&module, method, input, identity, storage),
            Entry::ApplyArtifact { .. } => self
                .runtime
                .apply_artifact(&module, input, identity, storage),
        })
    }

    /// This node's signing key for its member identity in `context`.
    pub(crate) fn member_key(
        &self,
        context: &ContextId,
        member: &PublicKey,
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
            .get(
                Column::Identities,
                &scoped(context.as_bytes(), member.as_bytes()),
            )?
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
    pub fn sync_status(&self, context: &ContextId) -> Result<Value, NodeError> {
        let record = self.context(context)?;
        let state = self.context_state(context)?;
        let dag = state.dag();
        let sync_state = if !record.is_initialized() {
            "Uninitialized"
        } else if dag.pending_len() > 0 {
            "Syncing"
        } else {
            "Synced"
        };
        Ok(json!({
            "contextId": context,
            "isInitialized": record.is_initialized(),
            "syncState": sync_state,
            "rootHash": record.root_hash,
            "dagHeads": record.heads,
            "appliedDeltas": dag.applied_len(),
            "pendingDeltas": dag.pending_len(),
            "members": record.members.len(),
        }))
    }

    /// Recomputes a context's state root from its stored entities and compares it with the root
    /// the node recorded: `(recorded, recomputed)`. Used to check for torn state.
    pub fn verify_root(&self, context: &ContextId) -> Result<(Hash, Hash), NodeError> {
        let record = self.context(context)?;
        let mut state = HashMap::new();
        for (key, value) in self.store.scan(Column::State, context.as_bytes())? {
            state.insert(key[32..].to_vec(), value);
        }
        let recomputed = crate::verify::recompute_root(context.as_bytes(), &state)
            .map_err(|e| NodeError::Internal(format!("state of {context} is inconsistent: {e}")))?;
        Ok((record.root_hash, Hash::new(recomputed)))
    }
}

/// Where an identity not yet bound to a context is kept.
pub(crate) fn unbound_identity_key(public: &PublicKey) -> Vec<u8> {
    let mut key = b"unbound:".to_vec();
    key.extend_from_slice(public.as_bytes());
    key
}

/// The parents of the next delta: the heads (at most [`MAX_PARENTS`]; any others stay heads
/// and the next delta takes them), or the genesis parent before any delta.
pub(crate) fn parents_of(heads: &[DeltaId]) -> Vec<DeltaId> {
    if heads.is_empty() {
        vec![DeltaId::GENESIS]
    } else {
        heads.iter().take(MAX_PARENTS).copied().collect()
    }
}

/// The delta id in a `context ‖ delta id` key.
pub(crate) fn delta_id_of_key(key: &[u8]) -> Result<DeltaId, NodeError> {
    key.get(32..)
        .and_then(|id| <[u8; 32]>::try_from(id).ok())
        .map(DeltaId::new)
        .ok_or_else(|| NodeError::Internal("corrupt delta key".into()))
}

/// Adds the state writes of `outcome` to `batch`.
pub(crate) fn stage_writes(batch: &mut Batch, context: &ContextId, outcome: &Outcome) {
    // The runtime refuses state keys that are not 32 bytes (HOST-ABI §5) when they are written.
    let writes = outcome
        .writes
        .iter()
        .map(|write| (Column::State, write))
        .chain(
            outcome
                .private_writes
                .iter()
                .map(|w| (Column::PrivateState, w)),
        );
    for (column, (key, value)) in writes {
        let key = scoped(context.as_bytes(), key);
        match value {
            Some(value) => batch.put(column, key, value.clone()),
            None => batch.delete(column, key),
        }
    }
}

/// The events a call emitted, as deltas and subscribers carry them.
fn wire_events(outcome: &Outcome) -> Vec<Event> {
    outcome
        .events
        .iter()
        .map(|e| Event {
            kind: e.kind.clone(),
            data: e.data.clone(),
            handler: e.handler.clone(),
        })
        .collect()
}

/// The body of the delta a committed call makes.
fn state_body(outcome: &Outcome) -> DeltaBody {
    DeltaBody::State {
        artifact: outcome.artifact.clone(),
        events: wire_events(outcome),
    }
}

/// Refuses a body too large to replicate once sealed (nonce, ciphertext, tag).
fn check_sealed_size(body: &DeltaBody) -> Result<(), NodeError> {
    let size = encode(body).len() + 12 + 16;
    if size > MAX_SEALED_SIZE {
        return Err(NodeError::DeltaTooLarge {
            size,
            limit: MAX_SEALED_SIZE,
        });
    }
    Ok(())
}

/// Adds a committed call's writes, its signed delta (if it changed anything), and the updated
/// context record to `batch`; returns the delta.
fn stage_state_commit(
    batch: &mut Batch,
    context: &ContextId,
    record: &mut ContextRecord,
    parents: Vec<DeltaId>,
    signer: &SigningKey,
    outcome: &Outcome,
) -> Option<DeltaEnvelope> {
    stage_writes(batch, context, outcome);
    let root = outcome.root_hash.map_or(record.root_hash, Hash::new);
    record.root_hash = root;
    // The delta's stamp is never before the stamps the call wrote.
    let hlc = now_ns().max(outcome.clock_ns);
    stage_clock(batch, context, hlc);
    let delta = (!outcome.artifact.is_empty()).then(|| {
        stage_delta(
            batch,
            context,
            record,
            parents,
            signer,
            hlc,
            &state_body(outcome),
        )
    });
    batch.put(Column::Meta, context.as_bytes().to_vec(), encode(record));
    delta
}

/// Seals and signs `body` as a new delta on `parents` stamped `hlc`, stores it, and makes it
/// the only head.
pub(crate) fn stage_delta(
    batch: &mut Batch,
    context: &ContextId,
    record: &mut ContextRecord,
    parents: Vec<DeltaId>,
    signer: &SigningKey,
    hlc: u64,
    body: &DeltaBody,
) -> DeltaEnvelope {
    let delta = DeltaEnvelope::create(
        *context,
        parents,
        signer,
        hlc,
        body,
        record.root_hash,
        &record.key,
    );
    batch.put(
        Column::Deltas,
        scoped(context.as_bytes(), delta.id.as_bytes()),
        encode(&StoredDelta::Applied(Box::new(delta.clone()))),
    );
    crate::replica::advance_heads(&mut record.heads, delta.id, &delta.parents);
    delta
}
