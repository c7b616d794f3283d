//! The node as a replica: deltas that arrive from peers (checked, ordered by the DAG, applied
//! through the app's `__calimero_sync_next`), snapshots installed, membership, and the answers
//! this node gives to its peers' sync requests. Everything here is synchronous and
//! transport-free; `sync.rs` drives it from the network.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use calimero_dag::{Offer, Ready};
use calimero_store::{Batch, Column};
use calimero_wire::{
    ApplicationId, ContextId, DeltaBody, DeltaEnvelope, DeltaId, Event, GossipMessage, Hash,
    Invitation, JoinAccepted, MAX_GOSSIP_SIZE, MAX_REQUEST_SIZE, MAX_RESPONSE_SIZE, MemberProof,
    PublicKey, SnapshotPage, SyncRequest, SyncResponse, WireError, encode,
};
use ed25519_dalek::SigningKey;

use crate::metrics::Counter;
use crate::node::{
    ContextState, Entry, MAX_PENDING_DELTAS, Node, NodeError, Notice, decode, delta_id_of_key,
    now_ms, now_ns, parents_of, received_stamp, stage_clock, stage_delta, stage_writes,
    unbound_identity_key,
};
use crate::records::{ContextRecord, StoredDelta, scoped};

/// The most deltas one `Deltas`/`DeltasSince` answer carries.
pub const MAX_DELTAS_PER_PAGE: usize = 2_000;
/// The size of one snapshot page (keys and values).
pub const SNAPSHOT_PAGE_BYTES: usize = 4 * 1024 * 1024;
/// The size of one module chunk.
pub const BLOB_CHUNK: usize = 1024 * 1024;

/// What became of a delta offered to the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// Applied, with this many buffered descendants it unblocked (the delta included).
    Applied(usize),
    /// Waiting for these parents (empty while the context has no state yet).
    Buffered { missing: Vec<DeltaId> },
    /// Already applied or buffered.
    Duplicate,
}

/// Why a delta from a peer was dropped (already counted in the node's metrics).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{reason}")]
pub struct Rejected {
    pub counter: Counter,
    pub reason: String,
}

impl Rejected {
    fn new(counter: Counter, reason: impl Into<String>) -> Self {
        Self {
            counter,
            reason: reason.into(),
        }
    }
}

fn rejected_by_wire(error: WireError) -> Rejected {
    let counter = match error {
        WireError::BadSignature(_) => Counter::DroppedBadSignature,
        WireError::IdMismatch => Counter::DroppedIdMismatch,
        WireError::TooLarge { .. } | WireError::TooManyParents(_) => Counter::DroppedOversized,
        WireError::CannotOpen => Counter::DroppedCannotOpen,
        WireError::Malformed { .. } | WireError::Expired { .. } => Counter::DroppedMalformedGossip,
    };
    Rejected::new(counter, error.to_string())
}

/// The most state deltas applied in one guest call.
const MAX_BATCH_DELTAS: usize = 256;
/// The most artifact bytes applied in one guest call.
const MAX_BATCH_BYTES: usize = 4 * 1024 * 1024;

/// Whether an artifact is a plain `StorageDelta::Actions` (Borsh tag 0, then the action count),
/// the form several artifacts can be concatenated in.
fn batchable(artifact: &[u8]) -> bool {
    artifact.len() >= 5 && artifact[0] == 0
}

/// One `StorageDelta::Actions` holding every action of `artifacts`, in order.
fn concatenate(artifacts: &[&[u8]]) -> Vec<u8> {
    let mut count: u32 = 0;
    let mut body = Vec::with_capacity(artifacts.iter().map(|a| a.len()).sum());
    for artifact in artifacts {
        let mut prefix = [0u8; 4];
        prefix.copy_from_slice(&artifact[1..5]);
        count = count.saturating_add(u32::from_le_bytes(prefix));
        body.extend_from_slice(&artifact[5..]);
    }
    let mut combined = Vec::with_capacity(body.len() + 5);
    combined.push(0);
    combined.extend_from_slice(&count.to_le_bytes());
    combined.extend_from_slice(&body);
    combined
}

/// The heads after applying `id` on `parents`: its parents stop being heads, it becomes one.
pub(crate) fn advance_heads(heads: &mut Vec<DeltaId>, id: DeltaId, parents: &[DeltaId]) {
    heads.retain(|head| !parents.contains(head));
    if !heads.contains(&id) {
        heads.push(id);
    }
    heads.sort_unstable();
}

/// Stores an applied delta and drops it from the pending column.
fn stage_applied(batch: &mut Batch, context: &ContextId, delta: DeltaEnvelope) {
    let key = scoped(context.as_bytes(), delta.id.as_bytes());
    batch.delete(Column::Pending, key.clone());
    batch.put(
        Column::Deltas,
        key,
        encode(&StoredDelta::Applied(Box::new(delta))),
    );
}

/// What applying one delta's artifact gave.
struct AppliedArtifact {
    /// The app applied it (its writes are staged).
    ok: bool,
    /// The state root it committed, if any.
    root: Option<Hash>,
    /// The latest time the call's clock reached.
    clock_ns: u64,
}

/// A snapshot as collected from a peer's pages.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub root_hash: Hash,
    /// The application the state belongs to (`None`: the context's, unchanged).
    pub application: Option<ApplicationId>,
    pub heads: Vec<DeltaId>,
    /// `(key32, value)` state entries.
    pub entries: Vec<(Vec<u8>, Vec<u8>)>,
    pub applied: Vec<DeltaId>,
    pub members: Vec<PublicKey>,
}

impl Node {
    /// Takes a delta from a peer: checks it, drops it with a counted reason, or offers it to the
    /// context's DAG and applies whatever became ready.
    pub fn receive_delta(&self, delta: DeltaEnvelope) -> Result<Received, Rejected> {
        let context = delta.context_id;
        let result = self.check_delta(delta).and_then(|(state, delta)| {
            self.offer_verified(&context, &state, vec![delta])
                .map(|mut received| received.pop().unwrap_or(Received::Duplicate))
                .map_err(|e| Rejected::new(Counter::DeltasApplyFailed, e.to_string()))
        });
        if let Err(rejected) = &result {
            self.metrics.count(rejected.counter);
        }
        result
    }

    /// Offers a page of deltas (parents first, as peers send them) in one pass, so that the
    /// ones ready together are applied together; returns how many were applied.
    pub fn receive_deltas(&self, deltas: Vec<DeltaEnvelope>) -> usize {
        let mut by_context: BTreeMap<ContextId, (Arc<ContextState>, Vec<DeltaEnvelope>)> =
            BTreeMap::new();
        for delta in deltas {
            let context = delta.context_id;
            match self.check_delta(delta) {
                Ok((state, delta)) => by_context
                    .entry(context)
                    .or_insert_with(|| (state, Vec::new()))
                    .1
                    .push(delta),
                Err(rejected) => {
                    self.metrics.count(rejected.counter);
                    tracing::debug!(%rejected, "a synced delta was dropped");
                }
            }
        }
        let mut applied = 0;
        for (context, (state, deltas)) in by_context {
            match self.offer_verified(&context, &state, deltas) {
                Ok(received) => {
                    applied += received
                        .iter()
                        .map(|r| match r {
                            Received::Applied(n) => *n,
                            _ => 0,
                        })
                        .sum::<usize>();
                }
                Err(error) => {
                    self.metrics.count(Counter::DeltasApplyFailed);
                    tracing::warn!(%context, %error, "synced deltas could not be applied");
                }
            }
        }
        applied
    }

    /// What anyone can check, then membership and the context key: a delta that passes is
    /// from a member and opens.
    fn check_delta(
        &self,
        delta: DeltaEnvelope,
    ) -> Result<(Arc<ContextState>, DeltaEnvelope), Rejected> {
        delta.verify().map_err(rejected_by_wire)?;
        let context = delta.context_id;
        let record = match self.context(&context) {
            Ok(record) => record,
            Err(NodeError::ContextNotFound(_)) => {
                return Err(Rejected::new(
                    Counter::DroppedUnknownContext,
                    format!("delta for context {context}, which this node does not hold"),
                ));
            }
            Err(error) => {
                return Err(Rejected::new(Counter::DeltasApplyFailed, error.to_string()));
            }
        };
        if !record.is_member(&delta.author) {
            return Err(Rejected::new(
                Counter::DroppedNonMember,
                format!(
                    "delta {} is signed by {}, who is not a member of {context}",
                    delta.id, delta.author
                ),
            ));
        }
        // Only members can open the body; a body that does not open is not from a member.
        delta.open(&record.key).map_err(rejected_by_wire)?;
        let state = self
            .context_state(&context)
            .map_err(|e| Rejected::new(Counter::DeltasApplyFailed, e.to_string()))?;
        Ok((state, delta))
    }

    /// Offers checked deltas to the DAG under the context's write lock, persists the ones that
    /// must wait, and applies every one that became ready; then, with the lock released, runs
    /// the event handlers the applied deltas asked for.
    pub(crate) fn offer_verified(
        &self,
        context: &ContextId,
        state: &Arc<ContextState>,
        deltas: Vec<DeltaEnvelope>,
    ) -> Result<Vec<Received>, NodeError> {
        let received = self.offer_under_lock(context, state, deltas);
        self.run_handlers();
        received
    }

    fn offer_under_lock(
        &self,
        context: &ContextId,
        state: &Arc<ContextState>,
        deltas: Vec<DeltaEnvelope>,
    ) -> Result<Vec<Received>, NodeError> {
        let _guard = state.lock.write().unwrap_or_else(|e| e.into_inner());
        let mut record = self.context(context)?;
        let mut received = Vec::with_capacity(deltas.len());
        let mut waiting = Batch::new();
        let mut ready_all = Vec::new();
        for delta in deltas {
            let key = scoped(context.as_bytes(), delta.id.as_bytes());
            if !record.is_initialized() {
                received.push(self.keep_until_state(state, key, &delta, &mut waiting)?);
                continue;
            }
            let offer = state
                .dag()
                .offer(delta.id, delta.parents.clone(), delta.clone());
            match offer {
                Offer::Duplicate => {
                    self.metrics.count(Counter::DuplicateDeltas);
                    received.push(Received::Duplicate);
                }
                Offer::Buffered { missing, evicted } => {
                    waiting.put(Column::Pending, key, encode(&delta));
                    if let Some(evicted) = evicted {
                        waiting.delete(
                            Column::Pending,
                            scoped(context.as_bytes(), evicted.as_bytes()),
                        );
                        self.metrics.count(Counter::DeltasEvicted);
                    }
                    self.metrics.count(Counter::DeltasBuffered);
                    received.push(Received::Buffered { missing });
                }
                Offer::Ready(ready) => {
                    received.push(Received::Applied(ready.len()));
                    ready_all.extend(ready);
                }
            }
        }
        if !waiting.is_empty() {
            self.store.commit(waiting)?;
        }
        self.apply_ready(context, &mut record, ready_all)?;
        Ok(received)
    }

    /// Keeps a delta for a context that has no state yet, until its snapshot arrives.
    fn keep_until_state(
        &self,
        state: &ContextState,
        key: Vec<u8>,
        delta: &DeltaEnvelope,
        batch: &mut Batch,
    ) -> Result<Received, NodeError> {
        use std::sync::atomic::Ordering;
        if self.store.get(Column::Pending, &key)?.is_some() {
            self.metrics.count(Counter::DuplicateDeltas);
            return Ok(Received::Duplicate);
        }
        if state.waiting_for_state.load(Ordering::SeqCst) >= MAX_PENDING_DELTAS {
            // The snapshot will cover them; the periodic sync fetches anything newer.
            self.metrics.count(Counter::DeltasEvicted);
            return Ok(Received::Buffered {
                missing: Vec::new(),
            });
        }
        state.waiting_for_state.fetch_add(1, Ordering::SeqCst);
        batch.put(Column::Pending, key, encode(delta));
        self.metrics.count(Counter::DeltasBuffered);
        Ok(Received::Buffered {
            missing: Vec::new(),
        })
    }

    /// Applies deltas the DAG released, in causal order. Consecutive state deltas are applied
    /// in one guest call (their actions concatenated, which applies them in the same order as
    /// one call each) and one write batch; membership deltas and anything the batched call
    /// refuses go one by one. Each write batch records the heads as of its last delta, so a
    /// crash between batches leaves heads that match the deltas stored. The caller holds the
    /// write lock.
    fn apply_ready(
        &self,
        context: &ContextId,
        record: &mut ContextRecord,
        ready: Vec<Ready<DeltaId, DeltaEnvelope>>,
    ) -> Result<(), NodeError> {
        if ready.is_empty() {
            return Ok(());
        }
        match self.apply_released(context, record, ready) {
            Err(NodeError::ClockDrift(delta)) => {
                // The DAG marked the released deltas applied; only some were. Reload it from
                // what the store holds: the rest are asked for again by the next sync.
                self.metrics.count(Counter::DeltasDeferredClockDrift);
                tracing::warn!(%context, %delta, "a delta is stamped more than 5 s ahead of this node's clock; deferred");
                *record = self.context(context)?;
                let dag = self.load_dag(context, record)?;
                *self.context_state(context)?.dag() = dag;
                Ok(())
            }
            Err(NodeError::MissingApplication { delta, application }) => {
                // As above: the upgrade and what follows it wait until the application is here.
                self.metrics
                    .count(Counter::DeltasDeferredMissingApplication);
                self.want_application(*context, application);
                tracing::warn!(%context, %delta, %application, "a delta upgrades the context to an application not installed here; deferred until it is");
                *record = self.context(context)?;
                let dag = self.load_dag(context, record)?;
                *self.context_state(context)?.dag() = dag;
                Ok(())
            }
            other => other,
        }
    }

    fn apply_released(
        &self,
        context: &ContextId,
        record: &mut ContextRecord,
        ready: Vec<Ready<DeltaId, DeltaEnvelope>>,
    ) -> Result<(), NodeError> {
        let mut run: Vec<(DeltaEnvelope, Vec<u8>, Vec<Event>)> = Vec::new();
        let mut run_bytes = 0;
        for Ready { payload: delta, .. } in ready {
            // A run is one author's: the storage layer checks ownership against one writer.
            let same_author = run
                .first()
                .is_none_or(|(first, _, _)| first.author == delta.author);
            match delta.open(&record.key) {
                Ok(DeltaBody::State { artifact, events })
                    if batchable(&artifact)
                        && same_author
                        && run.len() < MAX_BATCH_DELTAS
                        && run_bytes + artifact.len() <= MAX_BATCH_BYTES =>
                {
                    run_bytes += artifact.len();
                    run.push((delta, artifact, events));
                }
                body => {
                    self.apply_run(context, record, std::mem::take(&mut run))?;
                    run_bytes = 0;
                    match body {
                        Ok(DeltaBody::State { artifact, events }) if batchable(&artifact) => {
                            run_bytes = artifact.len();
                            run.push((delta, artifact, events));
                        }
                        body => self.apply_one(context, record, delta, body)?,
                    }
                }
            }
        }
        self.apply_run(context, record, run)
    }

    /// Applies `artifact`, made by `author`, through the app.
    fn run_sync_next(
        &self,
        context: &ContextId,
        record: &ContextRecord,
        author: PublicKey,
        artifact: Vec<u8>,
    ) -> Result<calimero_runtime::Outcome, NodeError> {
        self.run_as_member(context, record, Entry::ApplyArtifact { author }, artifact)
    }

    /// Applies consecutive state deltas in one guest call and one write batch.
    fn apply_run(
        &self,
        context: &ContextId,
        record: &mut ContextRecord,
        run: Vec<(DeltaEnvelope, Vec<u8>, Vec<Event>)>,
    ) -> Result<(), NodeError> {
        match run.len() {
            0 => return Ok(()),
            1 => {
                let Some((delta, artifact, events)) = run.into_iter().next() else {
                    return Ok(());
                };
                let body = Ok(DeltaBody::State { artifact, events });
                return self.apply_one(context, record, delta, body);
            }
            _ => {}
        }
        let artifacts: Vec<&[u8]> = run.iter().map(|(_, a, _)| a.as_slice()).collect();
        let author = run[0].0.author;
        let outcome = self.run_sync_next(context, record, author, concatenate(&artifacts))?;
        if !outcome.should_persist() {
            // Find the delta that fails, and record the others, one by one.
            for (delta, artifact, events) in run {
                let body = Ok(DeltaBody::State { artifact, events });
                self.apply_one(context, record, delta, body)?;
            }
            return Ok(());
        }
        let mut batch = Batch::new();
        stage_writes(&mut batch, context, &outcome);
        if let Some(root) = outcome.root_hash {
            record.root_hash = Hash::new(root);
        }
        let count = run.len() as u64;
        // The HLC receive rule, kept across calls: later writes here come after these deltas.
        let newest = run
            .iter()
            .map(|(delta, _, _)| received_stamp(delta.hlc))
            .max()
            .unwrap_or(0);
        stage_clock(&mut batch, context, outcome.clock_ns.max(newest));
        let mut changes = Vec::with_capacity(run.len());
        for (delta, _, events) in run {
            advance_heads(&mut record.heads, delta.id, &delta.parents);
            stage_applied(&mut batch, context, delta);
            changes.push(events);
        }
        batch.put(Column::Meta, context.as_bytes().to_vec(), encode(&*record));
        self.store.commit(batch)?;
        // One mutation per delta; the batch only knows the root after the last of them.
        for events in changes {
            self.queue_handlers(context, &events);
            self.feed.publish(*context, record.root_hash, events);
        }
        self.metrics.add(Counter::DeltasApplied, count);
        Ok(())
    }

    /// Applies `delta`'s `artifact` with `runs_on`'s application, as the delta's author, staging
    /// its writes into `batch`. A delta the app refuses is counted and reported as not applied:
    /// every replica runs the same code on the same artifact, so it fails everywhere and is
    /// recorded, not retried. Clock drift is local and temporary: an error, not recorded.
    fn apply_artifact(
        &self,
        context: &ContextId,
        runs_on: &ContextRecord,
        delta: &DeltaEnvelope,
        artifact: Vec<u8>,
        batch: &mut Batch,
    ) -> Result<AppliedArtifact, NodeError> {
        let outcome = self.run_sync_next(context, runs_on, delta.author, artifact)?;
        if is_clock_drift(&outcome) {
            return Err(NodeError::ClockDrift(delta.id));
        }
        let ok = outcome.should_persist();
        if ok {
            stage_writes(batch, context, &outcome);
        } else {
            self.metrics.count(Counter::DeltasApplyFailed);
            tracing::warn!(%context, delta = %delta.id, error = ?outcome.returns, "the app could not apply a delta");
        }
        Ok(AppliedArtifact {
            ok,
            root: outcome.root_hash.map(Hash::new),
            clock_ns: outcome.clock_ns,
        })
    }

    /// Applies one delta whose body was opened as `body`, in its own write batch.
    fn apply_one(
        &self,
        context: &ContextId,
        record: &mut ContextRecord,
        delta: DeltaEnvelope,
        body: Result<DeltaBody, WireError>,
    ) -> Result<(), NodeError> {
        let id = delta.id;
        let mut batch = Batch::new();
        let mut clock = self.clock_floor(context)?.max(received_stamp(delta.hlc));
        let mut changed = None;
        match body {
            Ok(DeltaBody::State { artifact, events }) => {
                let applied = self.apply_artifact(context, record, &delta, artifact, &mut batch)?;
                clock = clock.max(applied.clock_ns);
                if applied.ok {
                    record.root_hash = applied.root.unwrap_or(record.root_hash);
                    changed = Some(events);
                }
            }
            Ok(DeltaBody::Upgrade {
                application,
                artifact,
                events,
            }) => {
                if self.application(&application).is_err() {
                    return Err(NodeError::MissingApplication {
                        delta: id,
                        application,
                    });
                }
                let mut upgraded = record.clone();
                upgraded.application = application;
                if !artifact.is_empty() {
                    let applied =
                        self.apply_artifact(context, &upgraded, &delta, artifact, &mut batch)?;
                    clock = clock.max(applied.clock_ns);
                    if applied.ok {
                        record.root_hash = applied.root.unwrap_or(record.root_hash);
                        changed = Some(events);
                    }
                }
                tracing::info!(%context, from = %record.application, to = %application, "context upgraded by a peer");
                record.application = application;
            }
            Ok(DeltaBody::AddMember { member, invitation }) => {
                match admits(record, &invitation, &member, delta.hlc / 1_000_000) {
                    Ok(()) => {
                        record.add_member(member);
                    }
                    Err(reason) => {
                        self.metrics.count(Counter::DroppedNonMember);
                        tracing::warn!(%context, delta = %id, %reason, "a membership delta admits no one");
                    }
                }
            }
            Err(error) => {
                self.metrics.count(Counter::DroppedCannotOpen);
                tracing::warn!(%context, delta = %id, %error, "a released delta does not open");
            }
        }
        advance_heads(&mut record.heads, id, &delta.parents);
        stage_applied(&mut batch, context, delta);
        stage_clock(&mut batch, context, clock);
        batch.put(Column::Meta, context.as_bytes().to_vec(), encode(&*record));
        self.store.commit(batch)?;
        self.metrics.count(Counter::DeltasApplied);
        if let Some(events) = changed {
            self.queue_handlers(context, &events);
            self.feed.publish(*context, record.root_hash, events);
        }
        Ok(())
    }

    /// The current heads and root of a context.
    pub fn heads(&self, context: &ContextId) -> Result<(Hash, Vec<DeltaId>), NodeError> {
        let state = self.context_state(context)?;
        let _guard = state.lock.read().unwrap_or_else(|e| e.into_inner());
        let record = self.context(context)?;
        Ok((record.root_hash, record.heads))
    }

    /// Whether the context's state exists on this node (false until a joiner's first snapshot).
    pub fn is_initialized(&self, context: &ContextId) -> Result<bool, NodeError> {
        Ok(self.context(context)?.is_initialized())
    }

    /// Whether every one of `ids` is applied here.
    pub fn knows_all(&self, context: &ContextId, ids: &[DeltaId]) -> Result<bool, NodeError> {
        Ok(self.context_state(context)?.dag().contains_all(ids))
    }

    /// A membership proof for a request this node sends about `context` from network
    /// identity `peer`.
    pub fn member_proof(&self, context: &ContextId, peer: &str) -> Result<MemberProof, NodeError> {
        let record = self.context(context)?;
        let key = self.member_key(context, &record.member)?;
        Ok(MemberProof::sign(&key, context, peer))
    }

    /// Replaces a context's state with a snapshot taken from a peer, after checking that the
    /// entries hash to the claimed root and that nothing this node has would be lost.
    pub fn install_snapshot(
        &self,
        context: &ContextId,
        snapshot: Snapshot,
    ) -> Result<(), NodeError> {
        let entries: HashMap<Vec<u8>, Vec<u8>> = snapshot.entries.into_iter().collect();
        let recomputed =
            crate::verify::recompute_root(context.as_bytes(), &entries).map_err(|e| {
                NodeError::Network(format!("the snapshot's state is inconsistent: {e}"))
            })?;
        if Hash::new(recomputed) != snapshot.root_hash {
            return Err(NodeError::Network(format!(
                "the snapshot's entries hash to {}, not to the root {} it claims",
                Hash::new(recomputed),
                snapshot.root_hash
            )));
        }
        let state = self.context_state(context)?;
        let _guard = state.lock.write().unwrap_or_else(|e| e.into_inner());
        let mut record = self.context(context)?;
        let mut covered: std::collections::HashSet<DeltaId> =
            snapshot.applied.iter().copied().collect();
        covered.extend(snapshot.heads.iter().copied());
        if record.is_initialized() && !record.heads.iter().all(|h| covered.contains(h)) {
            return Err(NodeError::Conflict(
                "this node has deltas the snapshot does not include; syncing deltas instead".into(),
            ));
        }
        let mut batch = Batch::new();
        for (key, _) in self.store.scan(Column::State, context.as_bytes())? {
            if !entries.contains_key(&key[32..]) {
                batch.delete(Column::State, key);
            }
        }
        for (key, value) in &entries {
            batch.put(
                Column::State,
                scoped(context.as_bytes(), key),
                value.clone(),
            );
        }
        let known: std::collections::HashSet<Vec<u8>> = self
            .store
            .scan(Column::Deltas, context.as_bytes())?
            .into_iter()
            .map(|(key, _)| key)
            .collect();
        for id in &covered {
            let key = scoped(context.as_bytes(), id.as_bytes());
            if !known.contains(&key) {
                batch.put(Column::Deltas, key, encode(&StoredDelta::ViaSnapshot));
            }
        }
        if let Some(application) = snapshot.application
            && application != record.application
        {
            // The peer's context was upgraded after this node last applied its deltas.
            if self.application(&application).is_err() {
                self.want_application(*context, application);
                return Err(NodeError::Conflict(format!(
                    "the snapshot's state belongs to application {application} (the context was \
                     upgraded), which is not installed here; install it and sync again"
                )));
            }
            record.application = application;
        }
        record.root_hash = snapshot.root_hash;
        record.initialized = true;
        record.heads = snapshot.heads.clone();
        for member in snapshot.members {
            record.add_member(member);
        }
        batch.put(Column::Meta, context.as_bytes().to_vec(), encode(&record));
        self.store.commit(batch)?;
        self.metrics.count(Counter::SnapshotsInstalled);

        state
            .waiting_for_state
            .store(0, std::sync::atomic::Ordering::SeqCst);
        let released = state.dag().install_snapshot(covered, snapshot.heads);
        self.apply_ready(context, &mut record, released)?;
        // Deltas that arrived while the context had no state wait in the pending column only.
        let mut waiting = Vec::new();
        for (_, value) in self.store.scan(Column::Pending, context.as_bytes())? {
            let delta: DeltaEnvelope = decode(&value, "pending delta")?;
            let dag = state.dag();
            if !dag.is_pending(&delta.id) && !dag.is_applied(&delta.id) {
                waiting.push(delta);
            } else if dag.is_applied(&delta.id) {
                drop(dag);
                let mut batch = Batch::new();
                batch.delete(
                    Column::Pending,
                    scoped(context.as_bytes(), delta.id.as_bytes()),
                );
                self.store.commit(batch)?;
            }
        }
        drop(_guard);
        self.offer_verified(context, &state, waiting)?;
        Ok(())
    }

    /// Adds a context this node joined: its record and identity, with no state until the first
    /// snapshot. The caller makes sure the application is installed.
    pub fn add_joined_context(
        &self,
        accepted: &JoinAccepted,
        member_key: &SigningKey,
        peers: Vec<String>,
    ) -> Result<(), NodeError> {
        let context = accepted.membership.context_id;
        if self.context(&context).is_ok() {
            return Err(NodeError::Conflict(format!(
                "this node already holds context {context}"
            )));
        }
        let member = calimero_wire::public_key(member_key);
        let mut record = ContextRecord {
            application: accepted.application_id,
            root_hash: Hash::ZERO,
            initialized: false,
            heads: Vec::new(),
            member,
            members: Vec::new(),
            key: accepted.context_key.clone(),
            peers,
            created_at_ms: now_ms(),
        };
        for member in &accepted.members {
            record.add_member(*member);
        }
        record.add_member(member);
        let mut batch = Batch::new();
        batch.put(
            Column::Identities,
            scoped(context.as_bytes(), member.as_bytes()),
            member_key.to_bytes().to_vec(),
        );
        // An identity made for this invitation is now bound to the context.
        batch.delete(Column::Identities, unbound_identity_key(&member));
        batch.put(Column::Meta, context.as_bytes().to_vec(), encode(&record));
        batch.put(
            Column::Pending,
            scoped(context.as_bytes(), accepted.membership.id.as_bytes()),
            encode(&accepted.membership),
        );
        self.commit_context(&accepted.application_id, batch)?;
        self.notify(Notice::ContextAdded(context));
        Ok(())
    }

    /// Signs an invitation to `context` as this node's member.
    pub fn invite(
        &self,
        context: &ContextId,
        invitee: Option<PublicKey>,
        valid_for_ms: u64,
        addresses: Vec<String>,
    ) -> Result<Invitation, NodeError> {
        let record = self.context(context)?;
        if !record.is_initialized() {
            return Err(NodeError::Uninitialized(*context));
        }
        let key = self.member_key(context, &record.member)?;
        Ok(Invitation::create(
            *context,
            record.application,
            &key,
            invitee,
            now_ms().saturating_add(valid_for_ms),
            addresses,
        ))
    }

    /// Answers a peer's sync request; `peer` is the network identity it came from.
    pub fn answer(&self, request: SyncRequest, peer: &str) -> SyncResponse {
        let response = self.answer_checked(request, peer);
        match &response {
            Ok(SyncResponse::Refused { .. }) | Err(_) => {
                self.metrics.count(Counter::RefusedRequests);
            }
            Ok(_) => self.metrics.count(Counter::RequestsServed),
        }
        response.unwrap_or_else(|reason| SyncResponse::Refused { reason })
    }

    fn answer_checked(&self, request: SyncRequest, peer: &str) -> Result<SyncResponse, String> {
        let context = *request.context_id();
        let record = self
            .context(&context)
            .map_err(|_| format!("this node does not hold context {context}"))?;
        let proof = match &request {
            SyncRequest::Join {
                invitation,
                member,
                proof,
            } => {
                return self
                    .accept_join(&context, invitation, member, proof, peer)
                    .map_err(|e| e.to_string());
            }
            SyncRequest::Heads { proof, .. }
            | SyncRequest::Deltas { proof, .. }
            | SyncRequest::DeltasSince { proof, .. }
            | SyncRequest::Snapshot { proof, .. }
            | SyncRequest::Blob { proof, .. } => proof,
        };
        if !record.is_member(&proof.member) {
            return Err(format!(
                "{} is not a member of context {context}",
                proof.member
            ));
        }
        proof.verify(&context, peer).map_err(|e| e.to_string())?;
        if !record.is_initialized() {
            return Err(format!("this node has no state for {context} yet"));
        }
        let state = self.context_state(&context).map_err(|e| e.to_string())?;
        match request {
            SyncRequest::Heads { .. } => Ok(SyncResponse::Heads {
                root_hash: record.root_hash,
                heads: record.heads,
            }),
            SyncRequest::Deltas { ids, .. } => {
                let deltas = self
                    .stored_deltas(&context, ids.iter().take(MAX_DELTAS_PER_PAGE))
                    .map_err(|e| e.to_string())?;
                Ok(SyncResponse::Deltas {
                    deltas,
                    remaining: 0,
                    asker_behind: false,
                })
            }
            SyncRequest::DeltasSince {
                known_heads, limit, ..
            } => {
                let _guard = state.lock.read().unwrap_or_else(|e| e.into_inner());
                let limit = (limit as usize).clamp(1, MAX_DELTAS_PER_PAGE);
                let (ids, total, asker_behind) = {
                    let dag = state.dag();
                    let (ids, total) = dag.since(&known_heads, limit);
                    (ids, total, dag.contains_all(&known_heads))
                };
                let deltas = self
                    .stored_deltas(&context, ids.iter())
                    .map_err(|e| e.to_string())?;
                Ok(SyncResponse::Deltas {
                    remaining: (total - deltas.len().min(total)) as u64,
                    deltas,
                    asker_behind,
                })
            }
            SyncRequest::Snapshot { cursor, .. } => {
                let _guard = state.lock.read().unwrap_or_else(|e| e.into_inner());
                let start = cursor.map(|c| scoped(context.as_bytes(), &c));
                let (entries, next) = self
                    .store
                    .scan_page(
                        Column::State,
                        context.as_bytes(),
                        start.as_deref(),
                        SNAPSHOT_PAGE_BYTES,
                    )
                    .map_err(|e| e.to_string())?;
                let entries = entries
                    .into_iter()
                    .map(|(key, value)| (key[32..].to_vec(), value))
                    .collect();
                let next = next.map(|key| key[32..].to_vec());
                let (applied, members) = if next.is_none() {
                    self.metrics.count(Counter::SnapshotsServed);
                    (state.dag().applied_ids(), record.members)
                } else {
                    (Vec::new(), Vec::new())
                };
                Ok(SyncResponse::Snapshot(SnapshotPage {
                    root_hash: record.root_hash,
                    application: record.application,
                    heads: record.heads,
                    entries,
                    next,
                    applied,
                    members,
                }))
            }
            SyncRequest::Blob {
                application_id,
                offset,
                ..
            } => {
                if application_id != record.application {
                    return Err(format!(
                        "context {context} runs application {}, not {application_id}",
                        record.application
                    ));
                }
                let bytes = self
                    .module_bytes(&application_id)
                    .map_err(|e| e.to_string())?;
                let start = usize::try_from(offset)
                    .unwrap_or(usize::MAX)
                    .min(bytes.len());
                let end = (start + BLOB_CHUNK).min(bytes.len());
                Ok(SyncResponse::Blob {
                    total: bytes.len() as u64,
                    chunk: bytes[start..end].to_vec(),
                })
            }
            SyncRequest::Join { .. } => unreachable!("answered above"),
        }
    }

    /// Applied deltas by id, skipping those this node only knows through a snapshot, up to the
    /// response size bound.
    fn stored_deltas<'a>(
        &self,
        context: &ContextId,
        ids: impl Iterator<Item = &'a DeltaId>,
    ) -> Result<Vec<DeltaEnvelope>, NodeError> {
        let mut deltas = Vec::new();
        let mut size = 0;
        for id in ids {
            let key = scoped(context.as_bytes(), id.as_bytes());
            if let Some(bytes) = self.store.get(Column::Deltas, &key)?
                && let StoredDelta::Applied(delta) = decode(&bytes, "stored delta")?
            {
                size += bytes.len();
                if size > MAX_RESPONSE_SIZE / 2 {
                    break;
                }
                deltas.push(*delta);
            }
        }
        Ok(deltas)
    }

    /// Admits a joiner: checks the invitation and the joiner's proof, then authors and publishes
    /// the membership delta and hands the joiner what it needs (the context key included; this
    /// answer travels only over the encrypted connection between the two nodes).
    fn accept_join(
        &self,
        context: &ContextId,
        invitation: &Invitation,
        member: &PublicKey,
        proof: &calimero_wire::Signature,
        peer: &str,
    ) -> Result<SyncResponse, NodeError> {
        let refuse = |reason: String| Ok(SyncResponse::Refused { reason });
        if let Err(error) = SyncRequest::verify_join(invitation, member, proof, peer) {
            return refuse(format!("the join request's proof is invalid: {error}"));
        }
        let state = self.context_state(context)?;
        let _guard = state.lock.write().unwrap_or_else(|e| e.into_inner());
        let mut record = self.context(context)?;
        if let Err(reason) = admits(&record, invitation, member, now_ms()) {
            return refuse(reason);
        }
        let key = self.member_key(context, &record.member)?;
        let body = DeltaBody::AddMember {
            member: *member,
            invitation: Box::new(invitation.clone()),
        };
        record.add_member(*member);
        let mut batch = Batch::new();
        let parents = parents_of(&state.dag().heads());
        let delta = stage_delta(
            &mut batch,
            context,
            &mut record,
            parents,
            &key,
            now_ns(),
            &body,
        );
        batch.put(Column::Meta, context.as_bytes().to_vec(), encode(&record));
        self.store.commit(batch)?;
        state.dag().record_applied(delta.id, delta.parents.clone());
        self.metrics.count(Counter::DeltasAuthored);
        self.metrics.count(Counter::JoinsAccepted);
        self.publish(context, &GossipMessage::Delta(delta.clone()));
        tracing::info!(%context, %member, "a new member joined");
        Ok(SyncResponse::Joined(Box::new(JoinAccepted {
            application_id: record.application,
            context_key: record.key.clone(),
            members: record.members.clone(),
            membership: delta,
        })))
    }

    /// Application module chunks are checked against this id when they arrive.
    pub fn install_fetched_application(
        &self,
        expected: &ApplicationId,
        bytes: &[u8],
        source: &str,
    ) -> Result<(), NodeError> {
        let actual = calimero_wire::application_id(bytes);
        if actual != *expected {
            return Err(NodeError::Network(format!(
                "the module received hashes to {actual}, not to application {expected}"
            )));
        }
        self.install_application(bytes, source)?;
        Ok(())
    }

    /// Every context id on this node with its record's peers (for the network to dial).
    pub fn context_peers(&self) -> Result<BTreeMap<ContextId, Vec<String>>, NodeError> {
        Ok(self
            .context_records()?
            .into_iter()
            .map(|(id, record)| (id, record.peers))
            .collect())
    }

    /// The applied deltas a peer at `known_heads` lacks, parents first (at most `limit`), and
    /// how many it lacks in all; what a `DeltasSince` request gets, without the membership check.
    pub fn deltas_since(
        &self,
        context: &ContextId,
        known_heads: &[DeltaId],
        limit: usize,
    ) -> Result<(Vec<DeltaEnvelope>, usize), NodeError> {
        let state = self.context_state(context)?;
        let _guard = state.lock.read().unwrap_or_else(|e| e.into_inner());
        let (ids, total) = state.dag().since(known_heads, limit);
        let mut deltas = Vec::with_capacity(ids.len());
        for id in &ids {
            let key = scoped(context.as_bytes(), id.as_bytes());
            if let Some(bytes) = self.store.get(Column::Deltas, &key)?
                && let StoredDelta::Applied(delta) = decode(&bytes, "stored delta")?
            {
                deltas.push(*delta);
            }
        }
        Ok((deltas, total))
    }

    /// Takes a gossip message that arrived on `topic` from network identity `peer`; returns the
    /// context to sync with that peer, if the message shows this node lacks something.
    pub fn receive_gossip(&self, topic: &str, data: &[u8], peer: &str) -> Option<ContextId> {
        let message: GossipMessage = match calimero_wire::decode(data, MAX_GOSSIP_SIZE, "gossip") {
            Ok(message) => message,
            Err(error) => {
                self.metrics.count(match error {
                    WireError::TooLarge { .. } => Counter::DroppedOversized,
                    _ => Counter::DroppedMalformedGossip,
                });
                tracing::warn!(%peer, %error, "dropped malformed gossip");
                return None;
            }
        };
        match message {
            GossipMessage::Delta(delta) => {
                let context = delta.context_id;
                if topic != calimero_wire::topic(&context) {
                    self.metrics.count(Counter::DroppedMalformedGossip);
                    tracing::warn!(%peer, %topic, "dropped a delta published on another context's topic");
                    return None;
                }
                match self.receive_delta(delta) {
                    Ok(Received::Buffered { .. }) => Some(context),
                    Ok(_) => None,
                    Err(rejected) => {
                        tracing::warn!(%peer, %context, %rejected, "dropped a delta");
                        None
                    }
                }
            }
            GossipMessage::Heartbeat {
                context_id,
                root_hash,
                heads,
                ..
            } => {
                let (root, _) = self.heads(&context_id).ok()?;
                let behind = root != root_hash && !self.knows_all(&context_id, &heads).ok()?;
                behind.then_some(context_id)
            }
        }
    }

    /// Answers an encoded sync request from network identity `peer`; `None` (no answer) for
    /// bytes that do not decode.
    pub fn answer_bytes(&self, data: &[u8], peer: &str) -> Option<Vec<u8>> {
        let request: SyncRequest =
            match calimero_wire::decode(data, MAX_REQUEST_SIZE, "a sync request") {
                Ok(request) => request,
                Err(error) => {
                    self.metrics.count(Counter::DroppedMalformedRequest);
                    tracing::warn!(%peer, %error, "dropped a malformed sync request");
                    return None;
                }
            };
        let response = self.answer(request, peer);
        if let SyncResponse::Refused { reason } = &response {
            tracing::warn!(%peer, %reason, "refused a sync request");
        }
        Some(encode(&response))
    }

    /// The delta ids stored for a context (applied), for tests and diagnostics.
    pub fn applied_delta_ids(&self, context: &ContextId) -> Result<Vec<DeltaId>, NodeError> {
        self.store
            .scan(Column::Deltas, context.as_bytes())?
            .iter()
            .map(|(key, _)| delta_id_of_key(key))
            .collect()
    }
}

/// Whether `invitation` admits `member` into the context of `record` at time `at_ms`.
fn admits(
    record: &ContextRecord,
    invitation: &Invitation,
    member: &PublicKey,
    at_ms: u64,
) -> Result<(), String> {
    invitation
        .verify(at_ms)
        .map_err(|e| format!("the invitation is not valid: {e}"))?;
    if !record.is_member(&invitation.inviter) {
        return Err(format!(
            "the invitation is signed by {}, who is not a member",
            invitation.inviter
        ));
    }
    if invitation.application_id != record.application {
        return Err("the invitation names another application".into());
    }
    if let Some(invitee) = invitation.invitee
        && invitee != *member
    {
        return Err(format!("the invitation is for {invitee}, not for {member}"));
    }
    Ok(())
}

/// Whether an apply failed because a stamp in the delta is more than 5 s ahead of the local clock
/// (the storage crate's `ClockDrift` error, which Rust and TypeScript apps report with the same
/// text): a local, temporary condition, unlike every other apply failure.
fn is_clock_drift(outcome: &calimero_runtime::Outcome) -> bool {
    matches!(&outcome.returns, Err(error)
        if error.to_string().contains("remote timestamp is more than 5 s ahead of the local clock"))
}
