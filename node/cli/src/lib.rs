//! The command-line tools: `merod` runs a node, `meroctl` operates one over its HTTP API.

pub mod bench;
mod bench_sync;
pub mod home;
pub mod meroctl;
pub mod merod;
