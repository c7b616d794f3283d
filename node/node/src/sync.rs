//! The replication loop: it owns the network's event stream and drives the node's replica logic
//! from it.
//!
//! - Gossip goes to [`Node::receive_gossip`]; a delta that waits for missing parents starts a
//!   sync session with the peer that published it (if it is on the topic, else another peer),
//!   and so does a heartbeat whose root and heads this node does not know.
//! - Requests from peers are answered by [`Node::answer_bytes`] on a blocking thread each.
//! - Every context is synced periodically (jittered, at most one session per context at a time,
//!   exponential back-off after failures) and announces its heads with a heartbeat.
//! - A session ([`crate::session::SyncSession`]): compare heads with one peer; pull the deltas
//!   this node lacks, parents first, a page at a time; when this node has no state, or is
//!   strictly behind by more than the snapshot threshold, take a snapshot instead.
//! - Joining: dial the inviter, send the join request, fetch the module if missing, then the
//!   first session bootstraps the state.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use calimero_network::{NetworkEvent, NetworkHandle, PeerId};
use calimero_wire::{
    ApplicationId, ContextId, GossipMessage, Hash, Invitation, MAX_RESPONSE_SIZE, MemberProof,
    PublicKey, SyncRequest, SyncResponse, decode, encode,
};
use ed25519_dalek::SigningKey;
use rand::Rng;
use rand::seq::SliceRandom;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::metrics::Counter;
use crate::node::{Node, NodeError, Notice, now_ms};
use crate::session::{Step, SyncSession};

/// The largest module fetched from a peer.
pub const MAX_MODULE_SIZE: u64 = 64 * 1024 * 1024;

/// How replication paces itself.
#[derive(Clone, Debug)]
pub struct SyncConfig {
    /// Each context syncs with a random peer this often (±25 % jitter).
    pub interval: Duration,
    /// Each context announces its root and heads this often.
    pub heartbeat: Duration,
    /// A node strictly behind by more deltas than this takes a snapshot instead of the deltas.
    pub snapshot_threshold: u64,
    /// Deltas asked for per request.
    pub page: u32,
    /// The longest wait between two attempts after repeated failures.
    pub max_backoff: Duration,
}

impl Default for SyncConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(10),
            heartbeat: Duration::from_secs(30),
            snapshot_threshold: 512,
            page: 1_000,
            max_backoff: Duration::from_secs(300),
        }
    }
}

/// What one sync session did.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncReport {
    /// The peer synced with; `None` if no peer was reachable on the context's topic.
    pub peer: Option<String>,
    pub applied: usize,
    pub snapshot: bool,
    pub root_hash: Hash,
    pub dag_heads: Vec<calimero_wire::DeltaId>,
}

/// What joining a context did.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JoinReport {
    pub context_id: ContextId,
    pub member_public_key: PublicKey,
    pub application_id: ApplicationId,
    /// The first sync (which brings the state), or why it has not happened yet.
    pub sync: Result<SyncReport, String>,
}

struct Session {
    running: tokio::sync::Mutex<()>,
    again: AtomicBool,
}

struct Schedule {
    next_sync: Instant,
    next_heartbeat: Instant,
    failures: u32,
}

struct Inner {
    node: Arc<Node>,
    network: NetworkHandle,
    config: SyncConfig,
    sessions: Mutex<HashMap<ContextId, Arc<Session>>>,
    schedule: Mutex<HashMap<ContextId, Schedule>>,
}

/// The handle to the replication loop (cheap to clone).
#[derive(Clone)]
pub struct Replicator {
    inner: Arc<Inner>,
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, NodeError> + Send + 'static,
) -> Result<T, NodeError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| NodeError::Internal(format!("a node task crashed: {e}")))?
}

fn jittered(base: Duration) -> Duration {
    let factor = rand::thread_rng().gen_range(0.75..1.25);
    base.mul_f64(factor)
}

fn context_of_topic(topic: &str) -> Option<ContextId> {
    topic.strip_prefix("calimero/context/")?.parse().ok()
}

impl Replicator {
    /// Starts the loop on the current tokio runtime. `events` is the network's event stream;
    /// `notices` is what [`Node::attach_network`] returned.
    pub fn start(
        node: Arc<Node>,
        network: NetworkHandle,
        events: mpsc::Receiver<NetworkEvent>,
        notices: mpsc::UnboundedReceiver<Notice>,
        config: SyncConfig,
    ) -> Self {
        let replicator = Self {
            inner: Arc::new(Inner {
                node,
                network,
                config,
                sessions: Mutex::new(HashMap::new()),
                schedule: Mutex::new(HashMap::new()),
            }),
        };
        tokio::spawn(replicator.clone().run(events, notices));
        replicator
    }

    /// Starts `node`'s network with `network` and the replication loop over it (on the current
    /// tokio runtime).
    pub fn connect(
        node: Arc<Node>,
        network: calimero_network::NetworkConfig,
        config: SyncConfig,
    ) -> Result<Self, NodeError> {
        let (handle, events) = calimero_network::start(network)
            .map_err(|e| NodeError::Network(format!("cannot start the network: {e}")))?;
        let notices = node.attach_network(handle.clone());
        Ok(Self::start(node, handle, events, notices, config))
    }

    /// The network handle.
    pub fn network(&self) -> &NetworkHandle {
        &self.inner.network
    }

    async fn run(
        self,
        mut events: mpsc::Receiver<NetworkEvent>,
        mut notices: mpsc::UnboundedReceiver<Notice>,
    ) {
        let node = self.inner.node.clone();
        match blocking(move || node.context_peers()).await {
            Ok(contexts) => {
                for (context, peers) in contexts {
                    self.watch(context, &peers).await;
                }
            }
            Err(error) => tracing::error!(%error, "cannot list contexts for replication"),
        }
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        loop {
            tokio::select! {
                event = events.recv() => match event {
                    Some(event) => self.on_event(event).await,
                    None => break,
                },
                Some(notice) = notices.recv() => match notice {
                    Notice::ContextAdded(context) => {
                        let node = self.inner.node.clone();
                        let peers = blocking(move || Ok(node.context(&context)?.peers)).await.unwrap_or_default();
                        self.watch(context, &peers).await;
                    }
                    Notice::ContextRemoved(context) => self.unwatch(context).await,
                },
                _ = tick.tick() => self.on_tick(),
            }
        }
        tracing::debug!("the network stopped; replication ends");
    }

    async fn watch(&self, context: ContextId, peers: &[String]) {
        if let Err(error) = self
            .inner
            .network
            .subscribe(&calimero_wire::topic(&context))
            .await
        {
            tracing::warn!(%context, %error, "cannot subscribe to the context's topic");
        }
        for address in peers {
            if let Err(error) = self.inner.network.dial(address).await {
                tracing::debug!(%address, %error, "cannot dial a context peer now; will retry");
            }
        }
        let now = Instant::now();
        self.inner
            .schedule
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                context,
                Schedule {
                    next_sync: now + jittered(self.inner.config.interval),
                    next_heartbeat: now + jittered(self.inner.config.heartbeat),
                    failures: 0,
                },
            );
    }

    async fn unwatch(&self, context: ContextId) {
        self.inner
            .schedule
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&context);
        self.inner
            .sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&context);
        let _ = self
            .inner
            .network
            .unsubscribe(&calimero_wire::topic(&context))
            .await;
    }

    fn on_tick(&self) {
        let now = Instant::now();
        let mut due_sync = Vec::new();
        let mut due_heartbeat = Vec::new();
        {
            let mut schedule = self
                .inner
                .schedule
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            for (context, entry) in schedule.iter_mut() {
                if now >= entry.next_sync {
                    due_sync.push(*context);
                    // Pushed further by the session's result; this keeps one in flight.
                    entry.next_sync = now + self.backoff(entry.failures);
                }
                if now >= entry.next_heartbeat {
                    due_heartbeat.push(*context);
                    entry.next_heartbeat = now + jittered(self.inner.config.heartbeat);
                }
            }
        }
        for context in due_sync {
            self.trigger(context, None);
        }
        if !due_heartbeat.is_empty() {
            let node = self.inner.node.clone();
            tokio::task::spawn_blocking(move || {
                for context in due_heartbeat {
                    if node.is_initialized(&context).unwrap_or(false)
                        && let Ok((root_hash, heads)) = node.heads(&context)
                    {
                        node.publish(
                            &context,
                            &GossipMessage::Heartbeat {
                                context_id: context,
                                root_hash,
                                heads,
                                sent_at_ms: now_ms(),
                            },
                        );
                        node.metrics.count(Counter::HeartbeatsSent);
                    }
                }
            });
        }
    }

    fn backoff(&self, failures: u32) -> Duration {
        let base = jittered(self.inner.config.interval);
        if failures == 0 {
            return base;
        }
        base.saturating_mul(1 << failures.min(8))
            .min(self.inner.config.max_backoff)
    }

    async fn on_event(&self, event: NetworkEvent) {
        match event {
            NetworkEvent::Gossip {
                topic,
                source,
                data,
            } => self.on_gossip(topic, source, data).await,
            NetworkEvent::Request { peer, data, reply } => {
                let node = self.inner.node.clone();
                tokio::spawn(async move {
                    let asker = peer.to_string();
                    let answer =
                        tokio::task::spawn_blocking(move || node.answer_bytes(&data, &asker)).await;
                    if let Ok(Some(answer)) = answer {
                        reply.send(answer);
                    }
                });
            }
            NetworkEvent::Subscribed { peer, topic } => {
                if let Some(context) = context_of_topic(&topic)
                    && self.is_watched(&context)
                {
                    self.trigger(context, Some(peer));
                }
            }
            NetworkEvent::PeerConnected { .. } | NetworkEvent::PeerDisconnected { .. } => {}
        }
    }

    fn is_watched(&self, context: &ContextId) -> bool {
        self.inner
            .schedule
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(context)
    }

    async fn on_gossip(&self, topic: String, source: PeerId, data: Vec<u8>) {
        let node = self.inner.node.clone();
        let peer = source.to_string();
        let outcome =
            tokio::task::spawn_blocking(move || node.receive_gossip(&topic, &data, &peer)).await;
        if let Ok(Some(context)) = outcome
            && self.is_watched(&context)
        {
            self.trigger(context, Some(source));
        }
    }

    fn session(&self, context: ContextId) -> Arc<Session> {
        self.inner
            .sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(context)
            .or_insert_with(|| {
                Arc::new(Session {
                    running: tokio::sync::Mutex::new(()),
                    again: AtomicBool::new(false),
                })
            })
            .clone()
    }

    /// Starts a session for `context` unless one is running (which then runs once more).
    fn trigger(&self, context: ContextId, peer: Option<PeerId>) {
        let session = self.session(context);
        let this = self.clone();
        tokio::spawn(async move {
            let Ok(_running) = session.running.try_lock() else {
                session.again.store(true, Ordering::SeqCst);
                return;
            };
            loop {
                let result = this.sync_context(context, peer.clone()).await;
                this.record(context, &result);
                if !session.again.swap(false, Ordering::SeqCst) {
                    break;
                }
            }
        });
    }

    fn record(&self, context: ContextId, result: &Result<SyncReport, NodeError>) {
        let mut schedule = self
            .inner
            .schedule
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let Some(entry) = schedule.get_mut(&context) else {
            return;
        };
        match result {
            Ok(_) => entry.failures = 0,
            Err(error) => {
                entry.failures = entry.failures.saturating_add(1);
                tracing::debug!(%context, %error, failures = entry.failures, "sync failed");
            }
        }
        entry.next_sync = Instant::now() + self.backoff(entry.failures);
    }

    /// Syncs `context` now with a random peer on its topic, waiting for a running session.
    pub async fn sync_now(&self, context: ContextId) -> Result<SyncReport, NodeError> {
        let node = self.inner.node.clone();
        blocking(move || node.context(&context)).await?;
        let session = self.session(context);
        let _running = session.running.lock().await;
        let result = self.sync_context(context, None).await;
        self.record(context, &result);
        result
    }

    async fn sync_context(
        &self,
        context: ContextId,
        peer: Option<PeerId>,
    ) -> Result<SyncReport, NodeError> {
        // The named peer (the sender of a delta or heartbeat) first if it is connected: gossip
        // may have come through another peer; then the others on the topic, in random order.
        let mut candidates = self
            .inner
            .network
            .topic_peers(&calimero_wire::topic(&context))
            .await;
        candidates.shuffle(&mut rand::thread_rng());
        if let Some(peer) = peer
            && let Some(at) = candidates.iter().position(|p| *p == peer)
        {
            let peer = candidates.remove(at);
            candidates.insert(0, peer);
        }
        let node = &self.inner.node;
        let (root_hash, dag_heads) = {
            let node = node.clone();
            blocking(move || node.heads(&context)).await?
        };
        if candidates.is_empty() {
            return Ok(SyncReport {
                peer: None,
                applied: 0,
                snapshot: false,
                root_hash,
                dag_heads,
            });
        }
        node.metrics.count(Counter::SyncSessions);
        let mut last_error = None;
        for peer in candidates {
            match self.sync_with(context, &peer).await {
                Ok(report) => return Ok(report),
                Err(error) => {
                    tracing::debug!(%context, %peer, %error, "sync with a peer failed");
                    last_error = Some(error);
                }
            }
        }
        node.metrics.count(Counter::SyncFailures);
        Err(last_error.unwrap_or_else(|| NodeError::Network("no peer answered".into())))
    }

    /// Sends a request; a `Refused` answer becomes an error.
    async fn request(
        &self,
        peer: &PeerId,
        request: &SyncRequest,
    ) -> Result<SyncResponse, NodeError> {
        match self.exchange(peer, request).await? {
            SyncResponse::Refused { reason } => {
                Err(NodeError::Network(format!("peer {peer} refused: {reason}")))
            }
            response => Ok(response),
        }
    }

    /// Sends a request and decodes the answer, whatever it is.
    async fn exchange(
        &self,
        peer: &PeerId,
        request: &SyncRequest,
    ) -> Result<SyncResponse, NodeError> {
        let bytes = self
            .inner
            .network
            .request(peer, encode(request))
            .await
            .map_err(|e| NodeError::Network(format!("peer {peer}: {e}")))?;
        decode(&bytes, MAX_RESPONSE_SIZE, "a sync response")
            .map_err(|e| NodeError::Network(format!("peer {peer}: {e}")))
    }

    async fn sync_with(&self, context: ContextId, peer: &PeerId) -> Result<SyncReport, NodeError> {
        let node = self.inner.node.clone();
        let local = self.inner.network.local_peer_id().to_string();
        let config = self.inner.config.clone();
        let asked = peer.to_string();
        let (mut session, mut step) =
            blocking(move || Ok(SyncSession::start(&node, context, &asked, &local, &config)))
                .await?;
        loop {
            match step {
                Step::Done(report) => return Ok(report),
                Step::Failed(error) => return Err(error),
                Step::Send(request) => {
                    let response = self.exchange(peer, &request).await?;
                    let node = self.inner.node.clone();
                    (session, step) = blocking(move || {
                        let step = session.on_response(&node, response);
                        Ok((session, step))
                    })
                    .await?;
                }
            }
        }
    }

    async fn ensure_application(
        &self,
        context: ContextId,
        application: ApplicationId,
        peer: &PeerId,
        proof: &MemberProof,
    ) -> Result<(), NodeError> {
        let node = self.inner.node.clone();
        if blocking(move || node.has_application(&application)).await? {
            return Ok(());
        }
        let mut bytes = Vec::new();
        loop {
            let request = SyncRequest::Blob {
                context_id: context,
                proof: proof.clone(),
                application_id: application,
                offset: bytes.len() as u64,
            };
            let SyncResponse::Blob { total, chunk } = self.request(peer, &request).await? else {
                return Err(NodeError::Network(format!(
                    "peer {peer} answered Blob with something else"
                )));
            };
            if total > MAX_MODULE_SIZE {
                return Err(NodeError::Network(format!(
                    "peer {peer} offers a {total}-byte module; the limit is {MAX_MODULE_SIZE}"
                )));
            }
            if chunk.is_empty() && (bytes.len() as u64) < total {
                return Err(NodeError::Network(format!(
                    "peer {peer} stopped sending the module at byte {}",
                    bytes.len()
                )));
            }
            bytes.extend_from_slice(&chunk);
            if bytes.len() as u64 >= total {
                break;
            }
        }
        let node = self.inner.node.clone();
        let source = format!("peer {peer}");
        blocking(move || node.install_fetched_application(&application, &bytes, &source)).await
    }

    /// Signs an invitation to `context` that carries this node's addresses.
    pub async fn invite(
        &self,
        context: ContextId,
        invitee: Option<PublicKey>,
        valid_for: Duration,
    ) -> Result<Invitation, NodeError> {
        let addresses = self.inner.network.listen_addresses().await;
        let node = self.inner.node.clone();
        let valid_for_ms = u64::try_from(valid_for.as_millis()).unwrap_or(u64::MAX);
        blocking(move || node.invite(&context, invitee, valid_for_ms, addresses)).await
    }

    /// Joins a context with an invitation's text, then bootstraps its state from the inviter.
    pub async fn join(&self, text: &str) -> Result<JoinReport, NodeError> {
        let invitation =
            Invitation::from_text(text).map_err(|e| NodeError::ParseError(e.to_string()))?;
        invitation
            .verify(now_ms())
            .map_err(|e| NodeError::ParseError(format!("the invitation cannot be used: {e}")))?;
        let context = invitation.context_id;
        {
            let node = self.inner.node.clone();
            if blocking(move || Ok(node.context(&context).is_ok())).await? {
                return Err(NodeError::Conflict(format!(
                    "this node is already a member of context {context}"
                )));
            }
        }
        let peers: Vec<PeerId> = invitation
            .addresses
            .iter()
            .filter_map(|address| address.rsplit_once("/p2p/")?.1.parse().ok())
            .collect();
        if peers.is_empty() {
            return Err(NodeError::ParseError(
                "the invitation carries no peer address to reach the inviter; ask for a new one \
                 from a running node"
                    .into(),
            ));
        }
        for address in &invitation.addresses {
            if let Err(error) = self.inner.network.dial(address).await {
                tracing::debug!(%address, %error, "cannot dial the inviter at this address");
            }
        }
        let member_key = match invitation.invitee {
            None => SigningKey::generate(&mut rand::rngs::OsRng),
            Some(invitee) => {
                let node = self.inner.node.clone();
                blocking(move || node.unbound_identity(&invitee))
                    .await?
                    .ok_or_else(|| {
                        NodeError::Conflict(format!(
                            "the invitation is for {invitee}, an identity this node does not hold; \
                             create one here with `meroctl identity new` and ask for an invitation \
                             naming it (or for an open invitation)"
                        ))
                    })?
            }
        };
        let local = self.inner.network.local_peer_id().to_string();
        let request = SyncRequest::join(invitation.clone(), &member_key, &local);
        let deadline = Instant::now() + Duration::from_secs(20);
        let (peer, accepted) = 'found: loop {
            let mut last_error = None;
            for peer in &peers {
                match self.exchange(peer, &request).await {
                    Ok(SyncResponse::Joined(accepted)) => break 'found (peer.clone(), accepted),
                    Ok(SyncResponse::Refused { reason }) => {
                        return Err(NodeError::Conflict(format!(
                            "the inviter's node refused the join: {reason}"
                        )));
                    }
                    Ok(_) => {
                        last_error = Some(NodeError::Network(format!(
                            "peer {peer} answered the join with something else"
                        )));
                    }
                    Err(error) => last_error = Some(error),
                }
            }
            if Instant::now() > deadline {
                let reason = last_error.map_or_else(String::new, |e| e.to_string());
                return Err(NodeError::Network(format!(
                    "could not reach the inviter at {}: {reason}",
                    invitation.addresses.join(", ")
                )));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let proof = MemberProof::sign(&member_key, &context, &local);
        self.ensure_application(context, accepted.application_id, &peer, &proof)
            .await?;
        let member = calimero_wire::public_key(&member_key);
        let application_id = accepted.application_id;
        {
            let node = self.inner.node.clone();
            let addresses = invitation.addresses.clone();
            blocking(move || node.add_joined_context(&accepted, &member_key, addresses)).await?;
        }
        let session = self.session(context);
        let sync = {
            let _running = session.running.lock().await;
            self.sync_with(context, &peer).await
        };
        Ok(JoinReport {
            context_id: context,
            member_public_key: member,
            application_id,
            sync: sync.map_err(|e| e.to_string()),
        })
    }

    /// The connected peers.
    pub async fn peers(&self) -> Value {
        let peers = self.inner.network.peers().await;
        json!({
            "count": peers.len(),
            "peers": peers
                .iter()
                .map(|p| json!({"peerId": p.peer_id.to_string(), "addresses": p.addresses}))
                .collect::<Vec<_>>(),
        })
    }

    /// The node's network identity, addresses, peers and counters.
    pub async fn status(&self) -> Value {
        let network = &self.inner.network;
        let addresses = network.listen_addresses().await;
        let peers = network.peers().await.len();
        let stats = network.stats().await;
        json!({
            "peerId": network.local_peer_id().to_string(),
            "listenAddresses": addresses,
            "peers": peers,
            "network": {
                "gossipReceived": stats.gossip_received,
                "gossipDroppedTestSwitch": stats.gossip_dropped_test_switch,
                "gossipDroppedQueueFull": stats.gossip_dropped_queue_full,
                "gossipPublished": stats.gossip_published,
                "gossipPublishNoPeers": stats.gossip_publish_no_peers,
                "gossipPublishFailed": stats.gossip_publish_failed,
                "requestsReceived": stats.requests_received,
                "requestsServed": stats.requests_served,
                "requestsUnanswered": stats.requests_unanswered,
                "requestsDroppedQueueFull": stats.requests_dropped_queue_full,
                "malformedRequests": stats.malformed_requests,
                "requestsSent": stats.requests_sent,
                "requestsFailed": stats.requests_failed,
                "eventsDropped": stats.events_dropped,
                "bytesSent": stats.bytes_sent,
                "bytesReceived": stats.bytes_received,
            },
            "counters": self.inner.node.metrics.snapshot(),
        })
    }
}
