//! The reference node: installed applications, contexts, executions that persist atomically
//! with their signed deltas, and the HTTP surface clients use.
//!
//! - [`node`]: the logic, transport-free ([`Node`]).
//! - [`server`]: JSON-RPC and the admin API over axum.
//! - [`config`]: the node's home and `config.toml`.
//! - [`verify`]: recomputing a context's root from stored state.

pub mod config;
pub mod ids;
pub mod node;
pub mod records;
pub mod server;
pub mod verify;

pub use node::{Node, NodeError};
