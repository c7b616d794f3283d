//! Upstream's home of the merge error type: here a merge fails with a [`StoreError`], so a
//! hand-written `Mergeable::merge` written against upstream (`Result<(), MergeError>`) compiles
//! unchanged.

pub use crate::error::StoreError;

/// The error a `Mergeable::merge` returns.
pub type MergeError = StoreError;
