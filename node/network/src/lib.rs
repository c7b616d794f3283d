//! The node's peer-to-peer layer, on libp2p: gossip per topic (one topic per
//! context), the `/calimero/sync/1` request-response protocol, and peer
//! management (boot nodes, re-dialing, identify, optional mDNS).
//!
//! No libp2p type crosses this crate's API: peers are [`PeerId`]s (the base58
//! text of a libp2p peer id), messages and requests are opaque bytes (the node
//! encodes them itself), addresses are multiaddr strings.
//!
//! [`start`] builds the swarm, listens, dials the boot nodes and spawns the
//! event loop on the current tokio runtime. It returns a cloneable
//! [`NetworkHandle`] (commands in, each query answered on a oneshot) and a
//! bounded receiver of [`NetworkEvent`]s (out). The loop never blocks on the
//! node: when the event channel is full, gossip messages and requests are
//! dropped and counted in [`NetworkStats`] (a dropped request's asker gets an
//! error), so the node must drain its receiver promptly and repair by
//! periodic sync.
//!
//! The loop stops, closing its listeners and connections, on
//! [`NetworkHandle::shutdown`] or when every handle has been dropped.
//!
//! Protocols: TCP + Noise + Yamux; identify (`/calimero/id/1`), ping;
//! gossipsub with signed messages, strict validation and message id =
//! SHA-256 of the publisher and the data (one publisher's copies are
//! deduplicated; the same bytes re-published by another peer are not);
//! request-response `/calimero/sync/1`, each message a `u32` big-endian length
//! then that many bytes.

mod codec;
mod event_loop;

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

/// Capacity of the event channel returned by [`start`].
pub const EVENT_CHANNEL_CAPACITY: usize = 1024;
/// Capacity of the command channel behind a [`NetworkHandle`]: the bound on
/// queued [`NetworkHandle::publish`] calls.
pub const COMMAND_CHANNEL_CAPACITY: usize = 1024;
/// How often disconnected boot nodes and [`NetworkHandle::dial`]ed addresses
/// are dialed again.
pub const REDIAL_INTERVAL: Duration = Duration::from_secs(2);
/// The name of the request-response protocol.
pub const SYNC_PROTOCOL: &str = "/calimero/sync/1";
/// The identify protocol version announced to (and expected from) peers.
pub const IDENTIFY_PROTOCOL_VERSION: &str = "/calimero/id/1";

/// A peer's identity: the base58 text of its libp2p peer id, derived from its
/// ed25519 public key. Always holds a valid peer id.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(String);

impl PeerId {
    /// The peer id of the node whose identity is `secret_key` (see
    /// [`NetworkConfig::secret_key`]), without starting a network.
    pub fn from_secret_key(secret_key: [u8; 32]) -> PeerId {
        PeerId::from_libp2p(&keypair(secret_key).public().to_peer_id())
    }

    /// The base58 text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub(crate) fn from_libp2p(peer: &libp2p::PeerId) -> PeerId {
        PeerId(peer.to_base58())
    }

    pub(crate) fn to_libp2p(&self) -> libp2p::PeerId {
        // Every constructor checks that the text parses.
        self.0
            .parse()
            .expect("a PeerId always holds a valid libp2p peer id")
    }
}

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for PeerId {
    type Err = NetworkError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let peer: libp2p::PeerId = text.parse().map_err(|error| NetworkError::InvalidPeerId {
            peer: text.to_owned(),
            reason: format!("{error}"),
        })?;
        Ok(PeerId::from_libp2p(&peer))
    }
}

pub(crate) fn keypair(secret_key: [u8; 32]) -> libp2p::identity::Keypair {
    // `ed25519_from_bytes` fails only on a length other than 32, and zeroizes
    // its (copied) input.
    libp2p::identity::Keypair::ed25519_from_bytes(secret_key)
        .expect("any 32 bytes are an ed25519 secret key")
}

/// How to run the network. Build it with [`NetworkConfig::new`] and adjust
/// the public fields.
#[derive(Clone)]
pub struct NetworkConfig {
    /// The ed25519 secret key bytes: the node's identity (its [`PeerId`]
    /// derives from it). Keep it stable across restarts so peers re-dial the
    /// same identity.
    pub secret_key: [u8; 32],
    /// Multiaddrs to listen on, e.g. `/ip4/0.0.0.0/tcp/2428`; port 0 picks a
    /// free port (see [`NetworkHandle::listen_addresses`]). Default: none.
    pub listen: Vec<String>,
    /// Multiaddrs ending in `/p2p/<peer id>`, dialed at start and re-dialed
    /// every [`REDIAL_INTERVAL`] while disconnected. Default: none.
    pub boot_nodes: Vec<String>,
    /// Discover peers on the local network by multicast DNS and dial them.
    /// Default: off.
    pub mdns: bool,
    /// Largest gossip payload, in bytes. Default 1 MiB.
    pub max_gossip_size: usize,
    /// Largest request payload, in bytes, sent or accepted. Default 1 MiB.
    pub max_request_size: usize,
    /// Largest response payload, in bytes, sent or accepted. Default 16 MiB.
    pub max_response_size: usize,
    /// How long an outbound request waits for its response, and how long an
    /// inbound request waits for the node's [`Reply`]. Default 30 s.
    pub request_timeout: Duration,
    /// TEST SWITCH, leave at 0 in production: the percentage (0-100) of
    /// incoming gossip messages dropped at random before they reach the node,
    /// to exercise repair by sync. Dropped messages are still forwarded to
    /// other peers and are counted in [`NetworkStats::gossip_dropped_test_switch`].
    pub gossip_drop_percent: u8,
}

impl NetworkConfig {
    /// A configuration with identity `secret_key`, no listen address, no boot
    /// node, mDNS off and the default bounds and timeout documented on each
    /// field.
    pub fn new(secret_key: [u8; 32]) -> Self {
        Self {
            secret_key,
            listen: Vec::new(),
            boot_nodes: Vec::new(),
            mdns: false,
            max_gossip_size: 1024 * 1024,
            max_request_size: 1024 * 1024,
            max_response_size: 16 * 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            gossip_drop_percent: 0,
        }
    }

    /// The peer id this configuration's identity has.
    pub fn peer_id(&self) -> PeerId {
        PeerId::from_secret_key(self.secret_key)
    }
}

impl fmt::Debug for NetworkConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NetworkConfig")
            .field("peer_id", &self.peer_id())
            .field("listen", &self.listen)
            .field("boot_nodes", &self.boot_nodes)
            .field("mdns", &self.mdns)
            .field("max_gossip_size", &self.max_gossip_size)
            .field("max_request_size", &self.max_request_size)
            .field("max_response_size", &self.max_response_size)
            .field("request_timeout", &self.request_timeout)
            .field("gossip_drop_percent", &self.gossip_drop_percent)
            .finish_non_exhaustive()
    }
}

/// A connected peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerInfo {
    pub peer_id: PeerId,
    /// The listen addresses the peer announced (identify), or, until it has,
    /// the addresses of our connections to it.
    pub addresses: Vec<String>,
}

/// Counters since start. Byte counts are payload bytes (gossip data, request
/// and response bodies), not wire bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NetworkStats {
    /// Gossip messages received on subscribed topics (including dropped ones).
    pub gossip_received: u64,
    /// Gossip messages dropped by [`NetworkConfig::gossip_drop_percent`].
    pub gossip_dropped_test_switch: u64,
    /// Gossip messages dropped because the event channel was full.
    pub gossip_dropped_queue_full: u64,
    /// Gossip messages published and handed to at least one peer.
    pub gossip_published: u64,
    /// Publishes with no connected peer known to be subscribed to the topic.
    pub gossip_publish_no_peers: u64,
    /// Publishes refused for another reason (too large, duplicate, ...).
    pub gossip_publish_failed: u64,
    /// Well-formed requests received from peers.
    pub requests_received: u64,
    /// Responses written back to the asker.
    pub requests_served: u64,
    /// Requests not answered: the [`Reply`] was dropped, timed out, or its
    /// response was above `max_response_size`.
    pub requests_unanswered: u64,
    /// Requests dropped because the event channel was full.
    pub requests_dropped_queue_full: u64,
    /// Incoming requests refused as oversized, truncated or malformed.
    pub malformed_requests: u64,
    /// Requests this node sent.
    pub requests_sent: u64,
    /// Requests this node sent that failed (timeout, dial failure, ...).
    pub requests_failed: u64,
    /// Connection and subscription events dropped because the node let the
    /// event channel and its overflow backlog fill up.
    pub events_dropped: u64,
    /// Payload bytes sent (published gossip, requests, responses).
    pub bytes_sent: u64,
    /// Payload bytes received (gossip, requests, responses).
    pub bytes_received: u64,
}

/// The answer to one incoming request. [`Reply::send`] answers; dropping it
/// answers nothing and the asker gets [`NetworkError::NoResponse`].
#[derive(Debug)]
pub struct Reply(oneshot::Sender<Vec<u8>>);

impl Reply {
    /// Wraps the sending half of a oneshot: for simulators standing in for
    /// the network.
    pub fn new(sender: oneshot::Sender<Vec<u8>>) -> Self {
        Reply(sender)
    }

    /// Sends the response. Silently does nothing if the asker has gone (the
    /// request timed out or the connection closed).
    pub fn send(self, data: Vec<u8>) {
        let _ = self.0.send(data);
    }

    /// Whether the asker may still receive an answer.
    pub fn is_open(&self) -> bool {
        !self.0.is_closed()
    }
}

/// What the network tells the node.
#[derive(Debug)]
pub enum NetworkEvent {
    /// A gossip message on a subscribed topic. `source` is the signed
    /// publisher (not the peer that forwarded it). A node never receives its
    /// own publications back.
    Gossip {
        topic: String,
        source: PeerId,
        data: Vec<u8>,
    },
    /// A `/calimero/sync/1` request. Answer with `reply.send(bytes)` within
    /// [`NetworkConfig::request_timeout`].
    Request {
        peer: PeerId,
        data: Vec<u8>,
        reply: Reply,
    },
    /// A connected peer announced its subscription to `topic`.
    Subscribed { peer: PeerId, topic: String },
    /// The first connection to `peer` was established.
    PeerConnected { peer: PeerId },
    /// The last connection to `peer` closed.
    PeerDisconnected { peer: PeerId },
}

/// The commands a [`NetworkHandle`] sends to the event loop (public so a
/// simulator can consume them in place of the swarm). Each query carries a
/// oneshot for its reply.
#[derive(Debug)]
pub enum Command {
    Subscribe {
        topic: String,
        reply: oneshot::Sender<Result<(), NetworkError>>,
    },
    Unsubscribe {
        topic: String,
        reply: oneshot::Sender<Result<(), NetworkError>>,
    },
    /// Fire and forget: outcomes are only logged and counted.
    Publish {
        topic: String,
        data: Vec<u8>,
    },
    Request {
        peer: PeerId,
        data: Vec<u8>,
        reply: oneshot::Sender<Result<Vec<u8>, NetworkError>>,
    },
    Dial {
        address: String,
        reply: oneshot::Sender<Result<(), NetworkError>>,
    },
    Peers {
        reply: oneshot::Sender<Vec<PeerInfo>>,
    },
    TopicPeers {
        topic: String,
        reply: oneshot::Sender<Vec<PeerId>>,
    },
    ListenAddresses {
        reply: oneshot::Sender<Vec<String>>,
    },
    Stats {
        reply: oneshot::Sender<NetworkStats>,
    },
    /// Stop the event loop; the reply is sent once listeners and connections
    /// are closed.
    Shutdown {
        reply: oneshot::Sender<()>,
    },
}

/// A cloneable handle on a running network (or on a simulator consuming
/// [`Command`]s).
#[derive(Clone, Debug)]
pub struct NetworkHandle {
    local_peer_id: PeerId,
    commands: mpsc::Sender<Command>,
}

impl NetworkHandle {
    /// A handle sending its commands to `commands`: [`start`] makes one; a
    /// simulator can make its own.
    pub fn new(local_peer_id: PeerId, commands: mpsc::Sender<Command>) -> Self {
        Self {
            local_peer_id,
            commands,
        }
    }

    /// This node's peer id.
    pub fn local_peer_id(&self) -> &PeerId {
        &self.local_peer_id
    }

    /// Whether the event loop has stopped.
    pub fn is_stopped(&self) -> bool {
        self.commands.is_closed()
    }

    async fn query<T>(
        &self,
        command: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, NetworkError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(command(reply))
            .await
            .map_err(|_| NetworkError::Stopped)?;
        answer.await.map_err(|_| NetworkError::Stopped)
    }

    /// Subscribes to gossip on `topic` and announces it to peers. Subscribing
    /// twice is not an error.
    pub async fn subscribe(&self, topic: &str) -> Result<(), NetworkError> {
        let topic = topic.to_owned();
        self.query(|reply| Command::Subscribe { topic, reply })
            .await?
    }

    /// Unsubscribes from `topic`. Unsubscribing from a topic not subscribed
    /// to is not an error.
    pub async fn unsubscribe(&self, topic: &str) -> Result<(), NetworkError> {
        let topic = topic.to_owned();
        self.query(|reply| Command::Unsubscribe { topic, reply })
            .await?
    }

    /// Queues a gossip publish without waiting (callable from sync code, e.g.
    /// on a blocking thread). Errs only if the command queue is full
    /// ([`NetworkError::QueueFull`]) or the network stopped. Publishing while
    /// no connected peer is known to be subscribed sends nothing (logged at
    /// debug, counted in [`NetworkStats::gossip_publish_no_peers`]); so does
    /// republishing identical data within a minute (deduplicated by hash).
    pub fn publish(&self, topic: &str, data: Vec<u8>) -> Result<(), NetworkError> {
        self.commands
            .try_send(Command::Publish {
                topic: topic.to_owned(),
                data,
            })
            .map_err(|error| match error {
                mpsc::error::TrySendError::Full(_) => NetworkError::QueueFull,
                mpsc::error::TrySendError::Closed(_) => NetworkError::Stopped,
            })
    }

    /// Sends a `/calimero/sync/1` request to `peer` (dialing it if needed,
    /// at addresses learned from identify or dialing) and waits for the
    /// response, at most [`NetworkConfig::request_timeout`].
    pub async fn request(&self, peer: &PeerId, data: Vec<u8>) -> Result<Vec<u8>, NetworkError> {
        let peer = peer.clone();
        self.query(|reply| Command::Request { peer, data, reply })
            .await?
    }

    /// Dials `address` (a multiaddr, best with `/p2p/<peer id>`) and waits
    /// for this attempt's outcome. Whatever the outcome, the address is
    /// remembered and re-dialed every [`REDIAL_INTERVAL`] while disconnected,
    /// like a boot node. Already connected to that peer: `Ok` at once.
    pub async fn dial(&self, address: &str) -> Result<(), NetworkError> {
        let address = address.to_owned();
        self.query(|reply| Command::Dial { address, reply }).await?
    }

    /// The connected peers. Empty if the network stopped.
    pub async fn peers(&self) -> Vec<PeerInfo> {
        self.query(|reply| Command::Peers { reply })
            .await
            .unwrap_or_default()
    }

    /// The connected peers known to be subscribed to `topic`. Empty if the
    /// network stopped.
    pub async fn topic_peers(&self, topic: &str) -> Vec<PeerId> {
        let topic = topic.to_owned();
        self.query(|reply| Command::TopicPeers { topic, reply })
            .await
            .unwrap_or_default()
    }

    /// The addresses actually bound (port 0 resolved), each ending in
    /// `/p2p/<local peer id>`: give them to other nodes as boot nodes. Waits
    /// until every listener has reported its addresses. Empty if the network
    /// stopped.
    pub async fn listen_addresses(&self) -> Vec<String> {
        self.query(|reply| Command::ListenAddresses { reply })
            .await
            .unwrap_or_default()
    }

    /// The counters. All zero if the network stopped.
    pub async fn stats(&self) -> NetworkStats {
        self.query(|reply| Command::Stats { reply })
            .await
            .unwrap_or_default()
    }

    /// Stops the event loop, closing listeners and connections, and waits
    /// until it has. Afterwards every command fails with
    /// [`NetworkError::Stopped`]. The loop also stops once every handle is
    /// dropped. Stopping a stopped network does nothing.
    pub async fn shutdown(&self) {
        let _ = self.query(|reply| Command::Shutdown { reply }).await;
    }
}

/// Why a network operation failed.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    #[error("`{address}` is not a usable multiaddr: {reason}")]
    InvalidAddress { address: String, reason: String },
    #[error("`{peer}` is not a peer id ({reason}): expected the base58 text of a libp2p peer id")]
    InvalidPeerId { peer: String, reason: String },
    #[error("invalid network configuration: {0}")]
    InvalidConfig(String),
    #[error(
        "network::start must be called from inside a tokio runtime (e.g. in an async fn run by #[tokio::main])"
    )]
    NoRuntime,
    #[error("could not set up the libp2p transport or behaviours: {0}")]
    Setup(String),
    #[error("cannot listen on `{address}`: {reason}; choose a free port or another interface")]
    Listen { address: String, reason: String },
    #[error("the network has stopped (shut down or failed); restart the node's network")]
    Stopped,
    #[error("the network command queue is full; the network is overloaded, retry later")]
    QueueFull,
    #[error("cannot subscribe to topic `{topic}`: {reason}")]
    Subscription { topic: String, reason: String },
    #[error("could not connect to {target}: {reason}; check that it is running and reachable")]
    DialFailed { target: String, reason: String },
    #[error(
        "request to {peer} timed out after {timeout:?}; the peer may be overloaded or gone, try another peer"
    )]
    Timeout { peer: PeerId, timeout: Duration },
    #[error(
        "the connection to {peer} closed before its response arrived; retry or try another peer"
    )]
    ConnectionClosed { peer: PeerId },
    #[error(
        "{peer} did not answer the request (it dropped it: unknown, refused, overloaded or above its max_request_size); try another peer"
    )]
    NoResponse { peer: PeerId },
    #[error("{peer} does not speak {SYNC_PROTOCOL}; it is not a compatible node")]
    UnsupportedProtocol { peer: PeerId },
    #[error(
        "request of {size} bytes is above max_request_size ({max} bytes); send less per request"
    )]
    RequestTooLarge { size: usize, max: usize },
    #[error(
        "the response from {peer} was malformed or above max_response_size; raise the limit or ask for less"
    )]
    BadResponse { peer: PeerId },
    #[error("request to {peer} failed: {reason}")]
    RequestFailed { peer: PeerId, reason: String },
}

/// Builds the swarm, starts listening, dials the boot nodes and spawns the
/// event loop on the current tokio runtime (so call it from inside one).
///
/// Returns the handle and the event receiver (bounded to
/// [`EVENT_CHANNEL_CAPACITY`]; drain it promptly: see the crate docs). Fails
/// on an unusable configuration or if a listen address cannot be bound.
pub fn start(
    config: NetworkConfig,
) -> Result<(NetworkHandle, mpsc::Receiver<NetworkEvent>), NetworkError> {
    event_loop::start(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_id_round_trips_and_validates() {
        let peer = PeerId::from_secret_key([7; 32]);
        assert!(peer.as_str().starts_with("12D3KooW"));
        assert_eq!(peer.to_string().parse::<PeerId>().unwrap(), peer);
        assert_eq!(PeerId::from_libp2p(&peer.to_libp2p()), peer);
        assert_ne!(PeerId::from_secret_key([8; 32]), peer);
        assert!(matches!(
            "not a peer id".parse::<PeerId>(),
            Err(NetworkError::InvalidPeerId { .. })
        ));
    }

    #[test]
    fn config_defaults() {
        let config = NetworkConfig::new([1; 32]);
        assert_eq!(config.peer_id(), PeerId::from_secret_key([1; 32]));
        assert!(!config.mdns);
        assert_eq!(config.max_gossip_size, 1 << 20);
        assert_eq!(config.max_request_size, 1 << 20);
        assert_eq!(config.max_response_size, 16 << 20);
        assert_eq!(config.request_timeout, Duration::from_secs(30));
        assert_eq!(config.gossip_drop_percent, 0);
        // The secret key never appears in debug output.
        assert!(!format!("{config:?}").contains("secret"));
    }

    #[test]
    fn start_outside_a_runtime_fails() {
        assert!(matches!(
            start(NetworkConfig::new([1; 32])),
            Err(NetworkError::NoRuntime)
        ));
    }

    #[tokio::test]
    async fn handle_on_a_stopped_network() {
        let (commands, receiver) = mpsc::channel(1);
        drop(receiver);
        let handle = NetworkHandle::new(PeerId::from_secret_key([1; 32]), commands);
        assert!(handle.is_stopped());
        assert!(matches!(
            handle.publish("t", vec![1]),
            Err(NetworkError::Stopped)
        ));
        assert!(matches!(
            handle.subscribe("t").await,
            Err(NetworkError::Stopped)
        ));
        assert!(handle.peers().await.is_empty());
        assert_eq!(handle.stats().await, NetworkStats::default());
        handle.shutdown().await;
    }

    #[tokio::test]
    async fn publish_reports_a_full_queue() {
        let (commands, _receiver) = mpsc::channel(1);
        let handle = NetworkHandle::new(PeerId::from_secret_key([1; 32]), commands);
        handle.publish("t", vec![1]).unwrap();
        assert!(matches!(
            handle.publish("t", vec![2]),
            Err(NetworkError::QueueFull)
        ));
    }
}
