//! Index records and metadata, with the Borsh layouts of `STORAGE.md` §1.

use std::collections::BTreeMap;

use borsh::{BorshDeserialize, BorshSerialize};

use crate::address::Id;

/// Signature over a user- or shared-storage write.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct SignatureData {
    pub signature: [u8; 64],
    pub nonce: u64,
    pub signer: Option<[u8; 32]>,
}

/// Who may write an entity. This crate applies `Public`, `User` (only the owner writes) and
/// `SharedMember` (only the writers of the writer-set version `anchor` names); a frozen element
/// is public with a frozen `crdt_type`. `Shared` is kept for the layout and not used.
#[derive(Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum StorageType {
    #[default]
    Public,
    User {
        owner: [u8; 32],
        signature_data: Option<SignatureData>,
    },
    Frozen,
    Shared {
        #[borsh(deserialize_with = "crate::btree::read_map")]
        writers: BTreeMap<[u8; 32], u8>,
        signature_data: Option<SignatureData>,
    },
    SharedMember {
        anchor: Id,
        signature_data: Option<SignatureData>,
    },
}

/// The CRDT an entity belongs to (Borsh tags 0–13, declaration order).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum CrdtType {
    LwwRegister {
        inner_type: String,
    },
    GCounter,
    PnCounter,
    Rga,
    UnorderedMap {
        key_type: String,
        value_type: String,
    },
    SortedMap {
        key_type: String,
        value_type: String,
    },
    UnorderedSet {
        element_type: String,
    },
    SortedSet {
        element_type: String,
    },
    Vector {
        element_type: String,
    },
    UserStorage,
    FrozenStorage,
    SharedStorage,
    Custom(String),
    RotationLog,
}

/// The `crdt_type` of one device's slot inside a counter; merged by maximum.
pub const COUNTER_SLOT: &str = "counter_slot";

/// The `crdt_type` of an element of a `FrozenStorage`: its value must hash to its key, and it is
/// never changed or deleted.
pub const FROZEN: &str = "frozen_value";

/// The `crdt_type` of an element of a `UserStorage`: its key is an account, and it and
/// everything under it are owned by that account (`StorageType::User`), written by no one else.
pub const USER_SLOT: &str = "user_value";

/// The `crdt_type` of a version of a `SharedStorage`'s writer set. Versions are never changed or
/// deleted; the current one is the one with the greatest stamp.
pub const WRITER_SET: &str = "writer_set";

/// The `crdt_type` of a `SharedStorage`'s value. It and everything under it are written only by
/// the writers of a version of the writer set, named in their metadata
/// (`StorageType::SharedMember { anchor }`).
pub const SHARED_VALUE: &str = "shared_value";

/// One version of a shared storage's writer set: the data of a [`WRITER_SET`] element (before
/// its element id).
#[derive(Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct WriterSet {
    /// The HLC stamp of the rotation that made it, `(time, id)`; `(0, 0)` for the first set.
    pub stamp: (u64, u128),
    #[borsh(deserialize_with = "crate::btree::read_set")]
    pub writers: std::collections::BTreeSet<[u8; 32]>,
    /// No later version may be made.
    pub frozen: bool,
}

/// Per-entity metadata. Not part of any hash.
#[derive(Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Metadata {
    /// Unix ns of creation.
    pub created_at: u64,
    /// Unix ns of the last write: the LWW key.
    pub updated_at: u64,
    pub storage_type: StorageType,
    pub crdt_type: Option<CrdtType>,
    pub field_name: Option<String>,
    pub schema_version: Option<u32>,
}

/// A parent's view of one child.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct ChildInfo {
    pub id: Id,
    /// The child's `full_hash`.
    pub merkle_hash: [u8; 32],
    pub metadata: Metadata,
}

/// The index record stored under `Key::Index(id)`.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct EntityIndex {
    pub id: Id,
    pub parent_id: Option<Id>,
    /// Live children, sorted by `(created_at, id)`.
    pub children: Option<Vec<ChildInfo>>,
    /// `H(own_hash ‖ children's merkle hashes in ascending id order)`.
    pub full_hash: [u8; 32],
    /// `H(data)`.
    pub own_hash: [u8; 32],
    pub metadata: Metadata,
    /// Set when the entity is a tombstone.
    pub deleted_at: Option<u64>,
    pub deleted_children: Vec<Id>,
}

impl EntityIndex {
    /// True unless the entity is a tombstone.
    pub fn is_live(&self) -> bool {
        self.deleted_at.is_none()
    }

    /// The live children in storage order.
    pub fn children(&self) -> &[ChildInfo] {
        self.children.as_deref().unwrap_or(&[])
    }
}
