//! Entity ids, their derivations, and the storage keys they map to (`STORAGE.md` §1).

use std::fmt;

use borsh::{BorshDeserialize, BorshSerialize};
use sha2::{Digest, Sha256};

/// SHA-256 over the concatenation of `parts`.
pub fn hash(parts: &[&[u8]]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// A 32-byte entity id. Borsh-encodes as the raw 32 bytes.
#[derive(
    Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize,
)]
pub struct Id([u8; 32]);

impl Id {
    /// The id of the app's root state entry, a child of the context root.
    pub const ROOT_ENTRY: Id = Id([0x76; 32]);

    /// Wraps raw bytes.
    pub const fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The raw bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The id of a map entry or set element: `H(parent ‖ "__calimero_entry__" ‖ key)`.
    pub fn entry(parent: Id, key: &[u8]) -> Self {
        Self(hash(&[&parent.0, b"__calimero_entry__", key]))
    }

    /// The id of a collection field: `H([parent ‖] "__calimero_collection__" ‖ field)`.
    pub fn collection(parent: Option<Id>, field: &str) -> Self {
        match parent {
            Some(parent) => Self(hash(&[
                &parent.0,
                b"__calimero_collection__",
                field.as_bytes(),
            ])),
            None => Self(hash(&[b"__calimero_collection__", field.as_bytes()])),
        }
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in &self.0[..6] {
            write!(f, "{byte:02x}")?;
        }
        f.write_str("…")
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in &self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

/// What a storage key holds for an entity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key {
    /// The Borsh `EntityIndex` record.
    Index(Id),
    /// The entity's Borsh data.
    Entry(Id),
    /// Per-entity sync bookkeeping (reserved).
    SyncState(Id),
}

impl Key {
    /// The 32-byte key the host stores: `H(tag ‖ id)`.
    pub fn to_bytes(self) -> [u8; 32] {
        let (tag, id) = match self {
            Key::Index(id) => (0u8, id),
            Key::Entry(id) => (1u8, id),
            Key::SyncState(id) => (2u8, id),
        };
        hash(&[&[tag], id.as_bytes()])
    }
}
