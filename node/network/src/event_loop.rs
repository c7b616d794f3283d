//! The task owning the swarm: it executes [`Command`]s, turns swarm events
//! into [`NetworkEvent`]s, answers inbound requests from the node's
//! [`Reply`]s and re-dials remembered addresses.

use std::collections::{HashMap, HashSet, VecDeque};
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use libp2p::core::transport::ListenerId;
use libp2p::gossipsub::{
    self, AllowAllSubscriptionFilter, IdentTopic, IdentityTransform, MaxCountSubscriptionFilter,
    MessageAuthenticity, PublishError, ValidationMode,
};
use libp2p::multiaddr::Protocol;
use libp2p::request_response::{
    self, InboundFailure, OutboundFailure, OutboundRequestId, ProtocolSupport, ResponseChannel,
};
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::{ConnectionId, DialError, NetworkBehaviour, Swarm, SwarmEvent};
use libp2p::{Multiaddr, identify, mdns, noise, ping, tcp, yamux};
use rand::Rng;
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, oneshot};
use tokio::time::MissedTickBehavior;

use crate::codec::{SYNC_PROTOCOL, SyncCodec};
use crate::{
    COMMAND_CHANNEL_CAPACITY, Command, EVENT_CHANNEL_CAPACITY, IDENTIFY_PROTOCOL_VERSION,
    NetworkConfig, NetworkError, NetworkEvent, NetworkHandle, NetworkStats, PeerId, PeerInfo,
    REDIAL_INTERVAL, Reply, keypair,
};

/// Connections stay open this long without any stream, so a context's peers
/// stay connected between syncs.
const IDLE_CONNECTION_TIMEOUT: Duration = Duration::from_secs(3600);
/// Gossipsub heartbeat: short, so meshes of a few peers form quickly.
const HEARTBEAT_INTERVAL: Duration = Duration::from_millis(500);
/// Room for the gossipsub envelope (source, sequence number, topic, signature)
/// on top of [`NetworkConfig::max_gossip_size`] in `max_transmit_size`.
const GOSSIP_ENVELOPE_ALLOWANCE: usize = 4096;
/// Topics a peer may be subscribed to before gossipsub ignores its
/// subscriptions (gossipsub 0.50's default filter allows only 100).
const MAX_SUBSCRIBED_TOPICS: usize = 10_000;
/// Connection and subscription events kept, beyond the event channel, while
/// the node is slow; past this they are dropped and counted.
const BACKLOG_LIMIT: usize = 8192;
/// Listen addresses remembered per peer (from identify and mDNS).
const MAX_ADDRESSES_PER_PEER: usize = 8;
/// How long [`Command::Shutdown`] waits for connections to close gracefully.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

#[derive(NetworkBehaviour)]
struct Behaviour {
    identify: identify::Behaviour,
    ping: ping::Behaviour,
    gossipsub: gossipsub::Behaviour<
        IdentityTransform,
        MaxCountSubscriptionFilter<AllowAllSubscriptionFilter>,
    >,
    sync: request_response::Behaviour<SyncCodec>,
    mdns: Toggle<mdns::tokio::Behaviour>,
}

fn setup_error(error: impl std::fmt::Display) -> NetworkError {
    NetworkError::Setup(error.to_string())
}

fn build_behaviour(
    keypair: &libp2p::identity::Keypair,
    config: &NetworkConfig,
    malformed_requests: Arc<AtomicU64>,
) -> Result<Behaviour, NetworkError> {
    let local_peer_id = keypair.public().to_peer_id();

    let identify = identify::Behaviour::new(
        identify::Config::new(IDENTIFY_PROTOCOL_VERSION.to_owned(), keypair.public())
            .with_agent_version(format!("calimero-node/{}", env!("CARGO_PKG_VERSION"))),
    );

    let gossipsub_config = gossipsub::ConfigBuilder::default()
        // The default first heartbeat comes only after 5 s.
        .heartbeat_initial_delay(HEARTBEAT_INTERVAL)
        .heartbeat_interval(HEARTBEAT_INTERVAL)
        .validation_mode(ValidationMode::Strict)
        // The publisher is part of the id: one publisher's copies are deduplicated, while the
        // same bytes re-published by another peer (a replay) reach the node, which counts it.
        .message_id_fn(|message| {
            let mut hasher = Sha256::new();
            if let Some(source) = &message.source {
                hasher.update(source.to_bytes());
            }
            hasher.update(&message.data);
            gossipsub::MessageId::from(hasher.finalize().to_vec())
        })
        .max_transmit_size(
            config
                .max_gossip_size
                .saturating_add(GOSSIP_ENVELOPE_ALLOWANCE),
        )
        .build()
        .map_err(setup_error)?;
    let gossipsub = gossipsub::Behaviour::new_with_subscription_filter(
        MessageAuthenticity::Signed(keypair.clone()),
        gossipsub_config,
        MaxCountSubscriptionFilter {
            filter: AllowAllSubscriptionFilter {},
            max_subscribed_topics: MAX_SUBSCRIBED_TOPICS,
            max_subscriptions_per_request: MAX_SUBSCRIBED_TOPICS,
        },
    )
    .map_err(setup_error)?;

    let sync = request_response::Behaviour::with_codec(
        SyncCodec::new(
            config.max_request_size,
            config.max_response_size,
            malformed_requests,
        ),
        [(SYNC_PROTOCOL, ProtocolSupport::Full)],
        request_response::Config::default().with_request_timeout(config.request_timeout),
    );

    let mdns = if config.mdns {
        Some(
            mdns::tokio::Behaviour::new(mdns::Config::default(), local_peer_id)
                .map_err(setup_error)?,
        )
    } else {
        None
    };

    Ok(Behaviour {
        identify,
        ping: ping::Behaviour::new(ping::Config::new()),
        gossipsub,
        sync,
        mdns: Toggle::from(mdns),
    })
}

fn parse_address(address: &str) -> Result<Multiaddr, NetworkError> {
    address.parse().map_err(
        |error: libp2p::multiaddr::Error| NetworkError::InvalidAddress {
            address: address.to_owned(),
            reason: error.to_string(),
        },
    )
}

/// Splits a trailing `/p2p/<peer id>` off `address`.
fn split_peer(mut address: Multiaddr) -> (Multiaddr, Option<libp2p::PeerId>) {
    match address.iter().last() {
        Some(Protocol::P2p(peer)) => {
            let _ = address.pop();
            (address, Some(peer))
        }
        _ => (address, None),
    }
}

/// libp2p-tcp sets `SO_REUSEPORT` on its listening sockets, so binding a
/// port another process (e.g. a second node) already listens on succeeds and
/// the kernel splits incoming connections between the two. Binding the port
/// once without it first turns that into an error.
fn ensure_port_free(address: &Multiaddr) -> Result<(), NetworkError> {
    let mut ip = None;
    let mut port = None;
    for protocol in address.iter() {
        match protocol {
            Protocol::Ip4(v4) => ip = Some(std::net::IpAddr::V4(v4)),
            Protocol::Ip6(v6) => ip = Some(std::net::IpAddr::V6(v6)),
            Protocol::Tcp(p) => port = Some(p),
            _ => {}
        }
    }
    match (ip, port) {
        (Some(ip), Some(port)) if port != 0 => std::net::TcpListener::bind((ip, port))
            .map(drop)
            .map_err(|error| NetworkError::Listen {
                address: address.to_string(),
                reason: error.to_string(),
            }),
        _ => Ok(()),
    }
}

pub(crate) fn start(
    config: NetworkConfig,
) -> Result<(NetworkHandle, mpsc::Receiver<NetworkEvent>), NetworkError> {
    let runtime = tokio::runtime::Handle::try_current().map_err(|_| NetworkError::NoRuntime)?;
    if config.gossip_drop_percent > 100 {
        return Err(NetworkError::InvalidConfig(format!(
            "gossip_drop_percent is {}, it must be between 0 and 100",
            config.gossip_drop_percent
        )));
    }
    let listen = config
        .listen
        .iter()
        .map(|address| parse_address(address))
        .collect::<Result<Vec<_>, _>>()?;
    let mut boot_nodes = Vec::with_capacity(config.boot_nodes.len());
    for address in &config.boot_nodes {
        match split_peer(parse_address(address)?) {
            (address, Some(peer)) => boot_nodes.push((address, peer)),
            (_, None) => {
                return Err(NetworkError::InvalidAddress {
                    address: address.clone(),
                    reason: "a boot node address must end with /p2p/<peer id>".to_owned(),
                });
            }
        }
    }

    let keypair = keypair(config.secret_key);
    let local_peer_id = keypair.public().to_peer_id();
    let malformed_requests = Arc::new(AtomicU64::new(0));
    let behaviour = build_behaviour(&keypair, &config, malformed_requests.clone())?;

    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(setup_error)?
        .with_behaviour(|_| behaviour)
        .map_err(setup_error)?
        .with_swarm_config(|c| c.with_idle_connection_timeout(IDLE_CONNECTION_TIMEOUT))
        .build();

    let mut unreported_listeners = HashSet::new();
    for address in listen {
        ensure_port_free(&address)?;
        let listener = swarm
            .listen_on(address.clone())
            .map_err(|error| NetworkError::Listen {
                address: address.to_string(),
                reason: error.to_string(),
            })?;
        let _ = unreported_listeners.insert(listener);
    }

    let (command_sender, commands) = mpsc::channel(COMMAND_CHANNEL_CAPACITY);
    let (events, event_receiver) = mpsc::channel(EVENT_CHANNEL_CAPACITY);
    let mut event_loop = EventLoop {
        swarm,
        local_peer_id,
        commands,
        events,
        backlog: VecDeque::new(),
        settings: Settings {
            max_gossip_size: config.max_gossip_size,
            max_request_size: config.max_request_size,
            max_response_size: config.max_response_size,
            request_timeout: config.request_timeout,
            gossip_drop_percent: config.gossip_drop_percent,
        },
        stats: NetworkStats::default(),
        malformed_requests,
        pending_requests: HashMap::new(),
        pending_replies: FuturesUnordered::new(),
        pending_dials: HashMap::new(),
        targets: Vec::new(),
        address_book: HashMap::new(),
        connections: HashMap::new(),
        unreported_listeners,
        listen_waiters: Vec::new(),
    };
    for (address, peer) in boot_nodes {
        if peer == local_peer_id {
            tracing::warn!(%address, "ignoring a boot node with this node's own peer id");
            continue;
        }
        let _ = event_loop.remember(address, Some(peer), false);
    }
    tracing::info!(peer_id = %local_peer_id, "network starting");
    drop(runtime.spawn(event_loop.run()));

    Ok((
        NetworkHandle::new(PeerId::from_libp2p(&local_peer_id), command_sender),
        event_receiver,
    ))
}

struct Settings {
    max_gossip_size: usize,
    max_request_size: usize,
    max_response_size: usize,
    request_timeout: Duration,
    gossip_drop_percent: u8,
}

/// An address re-dialed every [`REDIAL_INTERVAL`] while its peer is not
/// connected: a boot node, a [`Command::Dial`]ed address or an mDNS discovery.
struct RedialTarget {
    /// Without the `/p2p` suffix.
    address: Multiaddr,
    /// Known from the address or learned on the first connection.
    peer: Option<libp2p::PeerId>,
    /// An attempt under way to an address whose peer is not known yet.
    dialing: Option<ConnectionId>,
    /// Forgotten again when mDNS expires it.
    from_mdns: bool,
}

type ReplyFuture = BoxFuture<'static, (libp2p::PeerId, ResponseChannel<Vec<u8>>, Option<Vec<u8>>)>;
type RequestReply = oneshot::Sender<Result<Vec<u8>, NetworkError>>;
type DialReply = oneshot::Sender<Result<(), NetworkError>>;

struct EventLoop {
    swarm: Swarm<Behaviour>,
    local_peer_id: libp2p::PeerId,
    commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<NetworkEvent>,
    /// Connection and subscription events waiting for room in `events`.
    backlog: VecDeque<NetworkEvent>,
    settings: Settings,
    stats: NetworkStats,
    malformed_requests: Arc<AtomicU64>,
    pending_requests: HashMap<OutboundRequestId, (PeerId, RequestReply)>,
    /// Inbound requests waiting for the node's [`Reply`].
    pending_replies: FuturesUnordered<ReplyFuture>,
    /// [`Command::Dial`]s waiting for their attempt's outcome.
    pending_dials: HashMap<ConnectionId, (String, DialReply)>,
    targets: Vec<RedialTarget>,
    /// Listen addresses peers announced (identify) or mDNS found; kept for
    /// connected peers and re-dial targets.
    address_book: HashMap<libp2p::PeerId, Vec<Multiaddr>>,
    /// Remote address of each open connection, per peer.
    connections: HashMap<libp2p::PeerId, HashMap<ConnectionId, Multiaddr>>,
    /// Listeners that have not reported an address yet.
    unreported_listeners: HashSet<ListenerId>,
    listen_waiters: Vec<oneshot::Sender<Vec<String>>>,
}

impl EventLoop {
    async fn run(mut self) {
        let mut redial = tokio::time::interval(REDIAL_INTERVAL);
        redial.set_missed_tick_behavior(MissedTickBehavior::Delay);
        // A second sender, so that waiting for room does not borrow `self`.
        let events = self.events.clone();

        let shutdown = loop {
            tokio::select! {
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                command = self.commands.recv() => match command {
                    Some(Command::Shutdown { reply }) => break Some(reply),
                    Some(command) => self.on_command(command),
                    // Every handle was dropped.
                    None => break None,
                },
                Some((peer, channel, response)) = self.pending_replies.next(),
                    if !self.pending_replies.is_empty() =>
                {
                    self.on_reply(peer, channel, response);
                }
                permit = events.reserve(), if !self.backlog.is_empty() => match permit {
                    Ok(permit) => {
                        if let Some(event) = self.backlog.pop_front() {
                            permit.send(event);
                        }
                    }
                    // The node dropped its receiver.
                    Err(_) => self.backlog.clear(),
                },
                _ = redial.tick() => self.redial(),
            }
        };

        tracing::info!(peer_id = %self.local_peer_id, "network stopping");
        // Refuse further commands at once, so that a handle sees `is_stopped`
        // once `shutdown` returns; close the event channel only after the
        // swarm is gone, so that its end means the listeners are closed.
        let EventLoop {
            mut swarm,
            commands,
            events: sender,
            pending_requests,
            pending_dials,
            listen_waiters,
            ..
        } = self;
        drop((commands, pending_requests, pending_dials, listen_waiters));
        let peers: Vec<_> = swarm.connected_peers().copied().collect();
        for peer in peers {
            let _ = swarm.disconnect_peer_id(peer);
        }
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, async {
            while swarm.network_info().num_peers() > 0 {
                let _ = swarm.select_next_some().await;
            }
        })
        .await;
        // Dropping the swarm closes the listeners and aborts what is left.
        drop(swarm);
        drop((sender, events));
        if let Some(reply) = shutdown {
            let _ = reply.send(());
        }
    }

    /// Sends an event the node may miss (gossip, requests): dropped when the
    /// channel is full. Returns whether it was queued.
    fn emit_droppable(&mut self, event: NetworkEvent) -> bool {
        self.backlog.is_empty() && self.events.try_send(event).is_ok()
    }

    /// Sends a connection or subscription event, keeping it in the backlog
    /// while the channel is full.
    fn emit(&mut self, event: NetworkEvent) {
        if self.events.is_closed() {
            return;
        }
        if self.backlog.is_empty() {
            if let Err(mpsc::error::TrySendError::Full(event)) = self.events.try_send(event) {
                self.backlog.push_back(event);
            }
        } else if self.backlog.len() < BACKLOG_LIMIT {
            self.backlog.push_back(event);
        } else {
            self.stats.events_dropped += 1;
            tracing::warn!(?event, "event channel and backlog full: dropping event");
        }
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Subscribe { topic, reply } => {
                let result = self
                    .swarm
                    .behaviour_mut()
                    .gossipsub
                    .subscribe(&IdentTopic::new(&topic))
                    .map(|_| tracing::debug!(%topic, "subscribed"))
                    .map_err(|error| NetworkError::Subscription {
                        reason: error.to_string(),
                        topic,
                    });
                let _ = reply.send(result);
            }
            Command::Unsubscribe { topic, reply } => {
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .gossipsub
                    .unsubscribe(&IdentTopic::new(&topic));
                tracing::debug!(%topic, "unsubscribed");
                let _ = reply.send(Ok(()));
            }
            Command::Publish { topic, data } => self.publish(topic, data),
            Command::Request { peer, data, reply } => self.request(peer, data, reply),
            Command::Dial { address, reply } => self.dial(address, reply),
            Command::Peers { reply } => {
                let mut peers: Vec<_> = self
                    .swarm
                    .connected_peers()
                    .map(|peer| PeerInfo {
                        peer_id: PeerId::from_libp2p(peer),
                        addresses: self.peer_addresses(peer),
                    })
                    .collect();
                peers.sort_by(|a, b| a.peer_id.cmp(&b.peer_id));
                let _ = reply.send(peers);
            }
            Command::TopicPeers { topic, reply } => {
                let hash = IdentTopic::new(topic).hash();
                let mut peers: Vec<_> = self
                    .swarm
                    .behaviour()
                    .gossipsub
                    .all_peers()
                    .filter(|(peer, topics)| {
                        topics.contains(&&hash) && self.swarm.is_connected(peer)
                    })
                    .map(|(peer, _)| PeerId::from_libp2p(peer))
                    .collect();
                peers.sort();
                let _ = reply.send(peers);
            }
            Command::ListenAddresses { reply } => {
                if self.unreported_listeners.is_empty() {
                    let _ = reply.send(self.listen_addresses());
                } else {
                    self.listen_waiters.push(reply);
                }
            }
            Command::Stats { reply } => {
                let mut stats = self.stats;
                stats.malformed_requests = self.malformed_requests.load(Ordering::Relaxed);
                let _ = reply.send(stats);
            }
            // Handled by `run`.
            Command::Shutdown { reply } => {
                let _ = reply.send(());
            }
        }
    }

    fn listen_addresses(&self) -> Vec<String> {
        self.swarm
            .listeners()
            .map(|address| {
                address
                    .clone()
                    .with(Protocol::P2p(self.local_peer_id))
                    .to_string()
            })
            .collect()
    }

    fn answer_listen_waiters(&mut self) {
        if self.unreported_listeners.is_empty() && !self.listen_waiters.is_empty() {
            let addresses = self.listen_addresses();
            for waiter in self.listen_waiters.drain(..) {
                let _ = waiter.send(addresses.clone());
            }
        }
    }

    /// What [`PeerInfo::addresses`] shows for a connected peer.
    fn peer_addresses(&self, peer: &libp2p::PeerId) -> Vec<String> {
        match self.address_book.get(peer) {
            Some(addresses) if !addresses.is_empty() => {
                addresses.iter().map(ToString::to_string).collect()
            }
            _ => {
                let mut addresses: Vec<_> = self
                    .connections
                    .get(peer)
                    .into_iter()
                    .flat_map(|connections| connections.values())
                    .map(ToString::to_string)
                    .collect();
                addresses.sort();
                addresses.dedup();
                addresses
            }
        }
    }

    /// Every address worth dialing `peer` at: re-dial targets first.
    fn dial_addresses(&self, peer: &libp2p::PeerId) -> Vec<Multiaddr> {
        let mut addresses: Vec<Multiaddr> = self
            .targets
            .iter()
            .filter(|target| target.peer.as_ref() == Some(peer))
            .map(|target| target.address.clone())
            .collect();
        for address in self.address_book.get(peer).into_iter().flatten() {
            if !addresses.contains(address) {
                addresses.push(address.clone());
            }
        }
        addresses
    }

    fn publish(&mut self, topic: String, data: Vec<u8>) {
        if data.len() > self.settings.max_gossip_size {
            self.stats.gossip_publish_failed += 1;
            tracing::warn!(
                %topic,
                size = data.len(),
                max = self.settings.max_gossip_size,
                "not publishing a gossip message above max_gossip_size"
            );
            return;
        }
        let size = data.len();
        match self
            .swarm
            .behaviour_mut()
            .gossipsub
            .publish(IdentTopic::new(&topic), data)
        {
            Ok(id) => {
                self.stats.gossip_published += 1;
                self.stats.bytes_sent += size as u64;
                tracing::debug!(%topic, %id, size, "published");
            }
            Err(PublishError::NoPeersSubscribedToTopic) => {
                self.stats.gossip_publish_no_peers += 1;
                tracing::debug!(%topic, "no connected peer subscribed to the topic: not published");
            }
            Err(PublishError::Duplicate) => {
                self.stats.gossip_publish_failed += 1;
                tracing::debug!(%topic, "identical data was published recently: not published again");
            }
            Err(error) => {
                self.stats.gossip_publish_failed += 1;
                tracing::warn!(%topic, %error, "publishing failed");
            }
        }
    }

    fn request(&mut self, peer: PeerId, data: Vec<u8>, reply: RequestReply) {
        if data.len() > self.settings.max_request_size {
            let _ = reply.send(Err(NetworkError::RequestTooLarge {
                size: data.len(),
                max: self.settings.max_request_size,
            }));
            return;
        }
        let peer_id = peer.to_libp2p();
        if peer_id == self.local_peer_id {
            let _ = reply.send(Err(NetworkError::RequestFailed {
                peer,
                reason: "that is this node itself".to_owned(),
            }));
            return;
        }
        let size = data.len();
        let addresses = self.dial_addresses(&peer_id);
        let id = self
            .swarm
            .behaviour_mut()
            .sync
            .send_request_with_addresses(&peer_id, data, addresses);
        self.stats.requests_sent += 1;
        self.stats.bytes_sent += size as u64;
        tracing::debug!(%peer, %id, size, "request sent");
        let _ = self.pending_requests.insert(id, (peer, reply));
    }

    /// Adds a re-dial target (or updates the one with the same address) and
    /// returns its index.
    fn remember(
        &mut self,
        address: Multiaddr,
        peer: Option<libp2p::PeerId>,
        from_mdns: bool,
    ) -> usize {
        if let Some(index) = self
            .targets
            .iter()
            .position(|target| target.address == address)
        {
            let target = &mut self.targets[index];
            if peer.is_some() {
                target.peer = peer;
            }
            target.from_mdns &= from_mdns;
            index
        } else {
            self.targets.push(RedialTarget {
                address,
                peer,
                dialing: None,
                from_mdns,
            });
            self.targets.len() - 1
        }
    }

    fn dial(&mut self, address: String, reply: DialReply) {
        let (multiaddr, peer) = match parse_address(&address) {
            Ok(multiaddr) => split_peer(multiaddr),
            Err(error) => {
                let _ = reply.send(Err(error));
                return;
            }
        };
        if peer == Some(self.local_peer_id) {
            let _ = reply.send(Err(NetworkError::DialFailed {
                target: address,
                reason: "that is this node's own peer id".to_owned(),
            }));
            return;
        }
        let index = self.remember(multiaddr.clone(), peer, false);
        let opts = match peer {
            Some(peer) if self.swarm.is_connected(&peer) => {
                let _ = reply.send(Ok(()));
                return;
            }
            Some(peer) => DialOpts::peer_id(peer)
                .addresses(vec![multiaddr])
                .condition(PeerCondition::Disconnected)
                .build(),
            None => DialOpts::unknown_peer_id().address(multiaddr).build(),
        };
        let connection = opts.connection_id();
        match self.swarm.dial(opts) {
            Ok(()) => {
                tracing::debug!(%address, "dialing");
                if peer.is_none() {
                    self.targets[index].dialing = Some(connection);
                }
                let _ = self.pending_dials.insert(connection, (address, reply));
            }
            Err(DialError::DialPeerConditionFalse(_)) => {
                let _ = reply.send(Ok(()));
            }
            Err(error) => {
                let _ = reply.send(Err(NetworkError::DialFailed {
                    target: address,
                    reason: error.to_string(),
                }));
            }
        }
    }

    /// Dials every re-dial target whose peer is not connected (nor being
    /// dialed).
    fn redial(&mut self) {
        for index in 0..self.targets.len() {
            let target = &self.targets[index];
            let opts = match target.peer {
                Some(peer) if self.swarm.is_connected(&peer) => continue,
                Some(peer) => DialOpts::peer_id(peer)
                    .addresses(self.dial_addresses(&peer))
                    .condition(PeerCondition::DisconnectedAndNotDialing)
                    .build(),
                None if target.dialing.is_some() => continue,
                None => DialOpts::unknown_peer_id()
                    .address(target.address.clone())
                    .build(),
            };
            let connection = opts.connection_id();
            let address = target.address.clone();
            let peer = target.peer;
            match self.swarm.dial(opts) {
                Ok(()) => {
                    tracing::debug!(%address, ?peer, "re-dialing");
                    if peer.is_none() {
                        self.targets[index].dialing = Some(connection);
                    }
                }
                Err(DialError::DialPeerConditionFalse(_)) => {}
                Err(error) => tracing::debug!(%address, %error, "re-dial refused"),
            }
        }
    }

    fn add_addresses(&mut self, peer: libp2p::PeerId, addresses: Vec<Multiaddr>, replace: bool) {
        let book = self.address_book.entry(peer).or_default();
        if replace {
            book.clear();
        }
        for address in addresses {
            let (address, _) = split_peer(address);
            if book.len() < MAX_ADDRESSES_PER_PEER && !book.contains(&address) {
                book.push(address);
            }
        }
    }

    fn on_reply(
        &mut self,
        peer: libp2p::PeerId,
        channel: ResponseChannel<Vec<u8>>,
        response: Option<Vec<u8>>,
    ) {
        match response {
            Some(data) if data.len() <= self.settings.max_response_size => {
                let size = data.len();
                match self.swarm.behaviour_mut().sync.send_response(channel, data) {
                    Ok(()) => self.stats.bytes_sent += size as u64,
                    Err(_) => {
                        self.stats.requests_unanswered += 1;
                        tracing::debug!(%peer, "asker gone before the response was ready");
                    }
                }
            }
            Some(data) => {
                self.stats.requests_unanswered += 1;
                tracing::warn!(
                    %peer,
                    size = data.len(),
                    max = self.settings.max_response_size,
                    "not sending a response above max_response_size"
                );
            }
            None => {
                self.stats.requests_unanswered += 1;
                tracing::debug!(%peer, "request left unanswered (reply dropped or timed out)");
            }
        }
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(event)) => self.on_gossipsub(event),
            SwarmEvent::Behaviour(BehaviourEvent::Sync(event)) => self.on_sync(event),
            SwarmEvent::Behaviour(BehaviourEvent::Identify(event)) => self.on_identify(event),
            SwarmEvent::Behaviour(BehaviourEvent::Mdns(event)) => self.on_mdns(event),
            SwarmEvent::Behaviour(BehaviourEvent::Ping(event)) => {
                if let Err(error) = event.result {
                    tracing::debug!(peer = %event.peer, %error, "ping failed");
                }
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                endpoint,
                num_established,
                ..
            } => {
                let _ = self
                    .connections
                    .entry(peer_id)
                    .or_default()
                    .insert(connection_id, endpoint.get_remote_address().clone());
                if let Some((_, reply)) = self.pending_dials.remove(&connection_id) {
                    let _ = reply.send(Ok(()));
                }
                for target in &mut self.targets {
                    if target.dialing == Some(connection_id) {
                        target.dialing = None;
                        target.peer = Some(peer_id);
                    }
                }
                if num_established.get() == 1 {
                    tracing::debug!(peer = %peer_id, address = %endpoint.get_remote_address(), "peer connected");
                    self.emit(NetworkEvent::PeerConnected {
                        peer: PeerId::from_libp2p(&peer_id),
                    });
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                connection_id,
                num_established,
                cause,
                ..
            } => {
                if let Some(connections) = self.connections.get_mut(&peer_id) {
                    let _ = connections.remove(&connection_id);
                    if connections.is_empty() {
                        let _ = self.connections.remove(&peer_id);
                    }
                }
                if num_established == 0 {
                    tracing::debug!(peer = %peer_id, cause = ?cause, "peer disconnected");
                    if !self
                        .targets
                        .iter()
                        .any(|target| target.peer == Some(peer_id))
                    {
                        let _ = self.address_book.remove(&peer_id);
                    }
                    self.emit(NetworkEvent::PeerDisconnected {
                        peer: PeerId::from_libp2p(&peer_id),
                    });
                }
            }
            SwarmEvent::OutgoingConnectionError {
                connection_id,
                peer_id,
                error,
            } => {
                tracing::debug!(peer = ?peer_id, %error, "outgoing connection failed");
                for target in &mut self.targets {
                    if target.dialing == Some(connection_id) {
                        target.dialing = None;
                    }
                }
                if let Some((target, reply)) = self.pending_dials.remove(&connection_id) {
                    let _ = reply.send(Err(NetworkError::DialFailed {
                        target,
                        reason: error.to_string(),
                    }));
                }
            }
            SwarmEvent::IncomingConnectionError {
                send_back_addr,
                error,
                ..
            } => {
                tracing::warn!(from = %send_back_addr, %error, "incoming connection failed (not a compatible peer?)");
            }
            SwarmEvent::NewListenAddr {
                listener_id,
                address,
            } => {
                tracing::info!(address = %address.clone().with(Protocol::P2p(self.local_peer_id)), "listening");
                let _ = self.unreported_listeners.remove(&listener_id);
                self.answer_listen_waiters();
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => {
                tracing::debug!(%address, "no longer listening on address");
            }
            SwarmEvent::ListenerClosed {
                listener_id,
                addresses,
                reason,
            } => {
                match reason {
                    Ok(()) => tracing::debug!(?addresses, "listener closed"),
                    Err(error) => tracing::warn!(?addresses, %error, "listener failed"),
                }
                let _ = self.unreported_listeners.remove(&listener_id);
                self.answer_listen_waiters();
            }
            SwarmEvent::ListenerError { error, .. } => {
                tracing::warn!(%error, "listener error");
            }
            _ => {}
        }
    }

    fn on_gossipsub(&mut self, event: gossipsub::Event) {
        match event {
            gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            } => {
                self.stats.gossip_received += 1;
                self.stats.bytes_received += message.data.len() as u64;
                let Some(source) = message.source else {
                    // Strict validation refuses unsigned messages before this.
                    tracing::warn!(from = %propagation_source, "dropping an unsigned gossip message");
                    return;
                };
                let drop_percent = self.settings.gossip_drop_percent;
                if drop_percent > 0 && rand::thread_rng().gen_range(0..100u8) < drop_percent {
                    self.stats.gossip_dropped_test_switch += 1;
                    tracing::debug!(%message_id, "gossip dropped by the test switch");
                    return;
                }
                let event = NetworkEvent::Gossip {
                    topic: message.topic.into_string(),
                    source: PeerId::from_libp2p(&source),
                    data: message.data,
                };
                if !self.emit_droppable(event) {
                    self.stats.gossip_dropped_queue_full += 1;
                    tracing::debug!(%message_id, "event channel full: gossip dropped");
                }
            }
            gossipsub::Event::Subscribed { peer_id, topic } => {
                tracing::debug!(peer = %peer_id, %topic, "peer subscribed");
                self.emit(NetworkEvent::Subscribed {
                    peer: PeerId::from_libp2p(&peer_id),
                    topic: topic.into_string(),
                });
            }
            gossipsub::Event::Unsubscribed { peer_id, topic } => {
                tracing::debug!(peer = %peer_id, %topic, "peer unsubscribed");
            }
            gossipsub::Event::GossipsubNotSupported { peer_id } => {
                tracing::debug!(peer = %peer_id, "peer does not support gossipsub");
            }
            gossipsub::Event::SlowPeer {
                peer_id,
                failed_messages,
            } => {
                tracing::warn!(peer = %peer_id, ?failed_messages, "peer too slow to take gossip");
            }
        }
    }

    fn on_sync(&mut self, event: request_response::Event<Vec<u8>, Vec<u8>>) {
        match event {
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Request {
                        request_id,
                        request,
                        channel,
                    },
                ..
            } => {
                self.stats.requests_received += 1;
                self.stats.bytes_received += request.len() as u64;
                tracing::debug!(%peer, %request_id, size = request.len(), "request received");
                let (sender, receiver) = oneshot::channel();
                let event = NetworkEvent::Request {
                    peer: PeerId::from_libp2p(&peer),
                    data: request,
                    reply: Reply::new(sender),
                };
                if self.emit_droppable(event) {
                    let timeout = self.settings.request_timeout;
                    self.pending_replies.push(Box::pin(async move {
                        let response = tokio::time::timeout(timeout, receiver)
                            .await
                            .ok()
                            .and_then(Result::ok);
                        (peer, channel, response)
                    }));
                } else {
                    // Dropping `channel` tells the asker at once.
                    self.stats.requests_dropped_queue_full += 1;
                    tracing::debug!(%peer, %request_id, "event channel full: request dropped");
                }
            }
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => {
                self.stats.bytes_received += response.len() as u64;
                tracing::debug!(%peer, %request_id, size = response.len(), "response received");
                if let Some((_, reply)) = self.pending_requests.remove(&request_id) {
                    let _ = reply.send(Ok(response));
                }
            }
            request_response::Event::OutboundFailure {
                peer: remote,
                request_id,
                error,
                ..
            } => {
                self.stats.requests_failed += 1;
                tracing::debug!(peer = %remote, %request_id, %error, "request failed");
                if let Some((peer, reply)) = self.pending_requests.remove(&request_id) {
                    let error = match error {
                        OutboundFailure::DialFailure => NetworkError::DialFailed {
                            target: peer.to_string(),
                            reason: "no reachable address (not connected, and dialing failed or no address is known)".to_owned(),
                        },
                        OutboundFailure::Timeout => NetworkError::Timeout {
                            peer,
                            timeout: self.settings.request_timeout,
                        },
                        OutboundFailure::ConnectionClosed => NetworkError::ConnectionClosed { peer },
                        OutboundFailure::UnsupportedProtocols => {
                            NetworkError::UnsupportedProtocol { peer }
                        }
                        OutboundFailure::Io(error) => match error.kind() {
                            // The responder closed the stream without a response.
                            io::ErrorKind::UnexpectedEof => NetworkError::NoResponse { peer },
                            // Our codec refused the response.
                            io::ErrorKind::InvalidData => NetworkError::BadResponse { peer },
                            _ => NetworkError::RequestFailed {
                                peer,
                                reason: error.to_string(),
                            },
                        },
                    };
                    let _ = reply.send(Err(error));
                }
            }
            request_response::Event::InboundFailure {
                peer,
                request_id,
                error,
                ..
            } => match error {
                InboundFailure::Io(error) => {
                    tracing::debug!(%peer, %request_id, %error, "sending a response failed");
                }
                error => tracing::debug!(%peer, %request_id, %error, "inbound request failed"),
            },
            request_response::Event::ResponseSent {
                peer, request_id, ..
            } => {
                self.stats.requests_served += 1;
                tracing::debug!(%peer, %request_id, "response sent");
            }
        }
    }

    fn on_identify(&mut self, event: identify::Event) {
        match event {
            identify::Event::Received { peer_id, info, .. } => {
                if info.protocol_version != IDENTIFY_PROTOCOL_VERSION {
                    tracing::debug!(
                        peer = %peer_id,
                        version = %info.protocol_version,
                        "peer announces another protocol version"
                    );
                }
                tracing::debug!(peer = %peer_id, addresses = ?info.listen_addrs, "identified peer");
                self.add_addresses(peer_id, info.listen_addrs, true);
            }
            identify::Event::Error { peer_id, error, .. } => {
                tracing::debug!(peer = %peer_id, %error, "identify failed");
            }
            identify::Event::Sent { .. } | identify::Event::Pushed { .. } => {}
        }
    }

    fn on_mdns(&mut self, event: mdns::Event) {
        match event {
            mdns::Event::Discovered(found) => {
                for (peer, address) in found {
                    if peer == self.local_peer_id {
                        continue;
                    }
                    tracing::debug!(%peer, %address, "discovered by mDNS");
                    let (address, _) = split_peer(address);
                    self.add_addresses(peer, vec![address.clone()], false);
                    let _ = self.remember(address, Some(peer), true);
                }
                self.redial();
            }
            mdns::Event::Expired(expired) => {
                for (peer, address) in expired {
                    let (address, _) = split_peer(address);
                    self.targets.retain(|target| {
                        !(target.from_mdns
                            && target.peer == Some(peer)
                            && target.address == address)
                    });
                }
            }
        }
    }
}
