//! The 32-byte identities apps name: accounts, member keys, contexts and blobs. They live in
//! the storage crate (its collections hand them out); see [`calimero_storage::ids`].

pub use calimero_storage::ids::{AccountId, BlobId, ContextId, IdParseError, PublicKey};
