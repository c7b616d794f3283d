//! CRDT state storage for Calimero apps.
//!
//! All CRDT and Merkle logic of an app runs here, inside the app module: the node only sees
//! 32-byte keys and values, a state root and an opaque artifact. The same crate is compiled into
//! Rust apps and linked into the QuickJS engine, so twins in both languages write the same bytes.
//!
//! - [`address`]: ids and their derivations, storage keys.
//! - [`entities`]: index records and metadata (Borsh layouts of `STORAGE.md` §1).
//! - [`hlc`]: the hybrid logical clock.
//! - [`action`]: actions and the delta artifact.
//! - [`store`]: the per-execution engine, merge rules and Merkle recomputation.
//! - [`collections`]: `UnorderedMap`, `UnorderedSet`, `Vector`, `Counter`, `LwwRegister`.
//! - [`root`]: the app's root state: init, load, commit, and applying a peer's delta.
//! - `testing` (native targets): `converge_app`, a convergence check of an app state across
//!   in-process replicas.

pub mod action;
pub mod address;
pub mod btree;
pub mod collections;
pub mod entities;
pub mod env;
pub mod error;
pub mod hlc;
pub mod ids;
pub mod merge;
pub mod root;
pub mod store;

pub use address::Id;
pub use error::StoreError;
pub use merge::Mergeable;
pub use root::AppState;

#[cfg(not(target_arch = "wasm32"))]
pub use calimero_sys::host as test_host;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;
