//! The records the node keeps in its store (Borsh), and their keys.

use borsh::{BorshDeserialize, BorshSerialize};
use calimero_wire::{ApplicationId, ContextKey, DeltaEnvelope, DeltaId, Hash, PublicKey};

/// An installed application.
#[derive(Clone, Debug, BorshSerialize, BorshDeserialize)]
pub struct ApplicationRecord {
    pub size: u64,
    pub source: String,
    pub installed_at_ms: u64,
    /// The ABI manifest JSON, if the module carries one.
    pub abi: Option<String>,
}

/// A context: one running instance of an application, as this node holds it.
#[derive(Clone, Debug, BorshSerialize, BorshDeserialize)]
pub struct ContextRecord {
    pub application: ApplicationId,
    /// The state root (any value an app commits, zero included).
    pub root_hash: Hash,
    /// Whether the state exists here: false for a joiner until its first snapshot.
    pub initialized: bool,
    /// Applied deltas without applied children.
    pub heads: Vec<DeltaId>,
    /// This node's member identity in the context.
    pub member: PublicKey,
    /// Every member, sorted: deltas from anyone else are dropped.
    pub members: Vec<PublicKey>,
    /// Seals delta bodies; only members have it.
    pub key: ContextKey,
    /// Addresses of peers to dial for this context (the inviter's, for a joiner).
    pub peers: Vec<String>,
    pub created_at_ms: u64,
}

impl ContextRecord {
    /// Whether the context's state exists on this node.
    pub fn is_initialized(&self) -> bool {
        self.initialized
    }

    /// Whether `key` is a member.
    pub fn is_member(&self, key: &PublicKey) -> bool {
        self.members.binary_search(key).is_ok()
    }

    /// Adds a member, keeping the list sorted; false if it was one already.
    pub fn add_member(&mut self, key: PublicKey) -> bool {
        match self.members.binary_search(&key) {
            Ok(_) => false,
            Err(at) => {
                self.members.insert(at, key);
                true
            }
        }
    }
}

/// An applied delta as stored.
#[derive(Clone, Debug, BorshSerialize, BorshDeserialize)]
pub enum StoredDelta {
    /// Applied from its envelope (authored here, or received).
    Applied(Box<DeltaEnvelope>),
    /// Counted applied because a snapshot that included it was installed; no body here.
    ViaSnapshot,
}

/// The key of a module's bytes in the applications column.
pub fn module_key(application: &ApplicationId) -> Vec<u8> {
    let mut key = application.as_bytes().to_vec();
    key.extend_from_slice(b"/module");
    key
}

/// The key of a context's clock in the meta column: the latest time (Unix ns, `u64` LE) any
/// of its calls was given or any delta applied to it carried. Not 32 bytes, so never taken for
/// a context record.
pub fn clock_key(context: &[u8; 32]) -> Vec<u8> {
    scoped(context, b"/clock")
}

/// `context ‖ suffix`.
pub fn scoped(context: &[u8; 32], suffix: &[u8]) -> Vec<u8> {
    let mut key = context.to_vec();
    key.extend_from_slice(suffix);
    key
}
