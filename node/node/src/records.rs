//! The records the node keeps in its store (Borsh), and their keys.

use borsh::{BorshDeserialize, BorshSerialize};

/// An installed application.
#[derive(Clone, Debug, BorshSerialize, BorshDeserialize)]
pub struct ApplicationRecord {
    pub size: u64,
    pub source: String,
    pub installed_at_ms: u64,
    /// The ABI manifest JSON, if the module carries one.
    pub abi: Option<String>,
}

/// A context: one running instance of an application.
#[derive(Clone, Debug, BorshSerialize, BorshDeserialize)]
pub struct ContextRecord {
    pub application: [u8; 32],
    pub root_hash: [u8; 32],
    pub heads: Vec<[u8; 32]>,
    /// This node's member identity in the context.
    pub member: [u8; 32],
    pub created_at_ms: u64,
}

/// An event as stored with its delta.
#[derive(Clone, Debug, BorshSerialize, BorshDeserialize)]
pub struct EventRecord {
    pub kind: String,
    pub data: Vec<u8>,
    pub handler: Option<String>,
}

/// A signed delta (`NODE.md` §3).
#[derive(Clone, Debug, BorshSerialize, BorshDeserialize)]
pub struct DeltaRecord {
    pub context_id: [u8; 32],
    pub id: [u8; 32],
    pub parents: Vec<[u8; 32]>,
    pub author: [u8; 32],
    pub hlc: u64,
    pub artifact: Vec<u8>,
    pub root_hash: [u8; 32],
    pub events: Vec<EventRecord>,
    pub signature: [u8; 64],
}

/// The domain string signatures over deltas start with.
pub const DELTA_DOMAIN: &[u8] = b"calimero/delta/v1";

/// The key of a module's bytes in the applications column.
pub fn module_key(application: &[u8; 32]) -> Vec<u8> {
    let mut key = application.to_vec();
    key.extend_from_slice(b"/module");
    key
}

/// `context ‖ suffix`.
pub fn scoped(context: &[u8; 32], suffix: &[u8]) -> Vec<u8> {
    let mut key = context.to_vec();
    key.extend_from_slice(suffix);
    key
}
