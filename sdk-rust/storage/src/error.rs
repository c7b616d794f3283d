//! The storage crate's error type.

use crate::address::Id;

/// Everything that can go wrong in storage.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot decode {what}: {source}")]
    Decode {
        what: &'static str,
        source: std::io::Error,
    },
    #[error("cannot encode {what}: {source}")]
    Encode {
        what: &'static str,
        source: std::io::Error,
    },
    #[error(
        "a collection that is not in the app state yet (detached) cannot be encoded on its own: \
         put it into its parent (a state field or a collection entry) first"
    )]
    Detached,
    #[error("the app state is already initialized")]
    AlreadyInitialized,
    #[error("the app state is not initialized: create the context (which runs `init`) first")]
    Uninitialized,
    #[error("entity {0} is unknown: deltas must be applied in causal order")]
    UnknownParent(Id),
    #[error("an action tries to delete the context root or the app state entry")]
    ProtectedEntity,
    #[error("entity {id} cannot change: {reason}")]
    Frozen { id: Id, reason: &'static str },
    #[error(
        "entity {id} belongs to account {owner}; only its owner may change it (the writer is {writer})"
    )]
    NotOwner { id: Id, owner: Hex32, writer: Hex32 },
    #[error(
        "entity {id} is written only by its shared storage's writers, and {writer} is not one of them"
    )]
    NotWriter { id: Id, writer: Hex32 },
    #[error("account {caller} may not change {what}")]
    NotOwnerOf { what: &'static str, caller: Hex32 },
    #[error("only account {owner} may set its own value (the caller is {writer})")]
    ForeignUser { owner: Hex32, writer: Hex32 },
    #[error("entity {id} is refused: {reason}")]
    Misplaced { id: Id, reason: &'static str },
    #[error("remote timestamp is more than 5 s ahead of the local clock")]
    ClockDrift,
    #[error("entity {id} is corrupt: {reason}")]
    Corrupt { id: Id, reason: String },
    #[error("the app's merge of {what} failed: {message}")]
    Merge { what: String, message: String },
    #[error("index {index} is out of bounds for a vector of length {len}")]
    IndexOutOfBounds { index: usize, len: usize },
}

/// A 32-byte account, shown in hex.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Hex32(pub [u8; 32]);

impl std::fmt::Display for Hex32 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl std::fmt::Debug for Hex32 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}
