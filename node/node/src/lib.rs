//! The reference node: installed applications, contexts, executions that persist atomically
//! with their signed deltas, and replication with peers. The HTTP surface is `calimero-server`.
//!
//! - [`node`]: the logic of one node, transport-free ([`Node`]): applications, contexts, the
//!   author path of a call.
//! - [`replica`]: the receive path (deltas from peers through the DAG into the app's
//!   `__calimero_sync_next`), snapshots, membership, and the answers given to peers.
//! - [`session`]: one sync session with one peer, as a state machine without I/O.
//! - [`sync`]: the replication loop that drives [`replica`] from the network: gossip,
//!   heartbeats, periodic sync sessions, joins.
//! - [`config`]: the node's home and `config.toml`.
//! - [`verify`]: recomputing a context's root from stored state.
//! - [`metrics`]: the counters `node status` shows.
//! - [`testing`]: several nodes in one process without a network (tests, benchmarks).

pub mod config;
pub mod events;
pub mod ids;
pub mod metrics;
pub mod node;
pub mod records;
pub mod replica;
pub mod session;
pub mod sync;
pub mod testing;
pub mod verify;

pub use node::{MAX_XCALL_DEPTH, Node, NodeError, XCallOutcome, XCallReport};
