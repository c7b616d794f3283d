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
    #[error("entity {id} is frozen (content-addressed): {reason}")]
    Frozen { id: Id, reason: &'static str },
    #[error("remote timestamp is more than 5 s ahead of the local clock")]
    ClockDrift,
    #[error("entity {id} is corrupt: {reason}")]
    Corrupt { id: Id, reason: String },
    #[error("the app's merge of {what} failed: {message}")]
    Merge { what: String, message: String },
    #[error("index {index} is out of bounds for a vector of length {len}")]
    IndexOutOfBounds { index: usize, len: usize },
}
