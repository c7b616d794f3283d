//! The trait every field of an app's root state implements.

use crate::error::StoreError;

/// A value with a CRDT merge. Every field of an `#[app::state]` struct must be one.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a CRDT, so it cannot be a field of the app state",
    label = "not a CRDT",
    note = "wrap a single value in `LwwRegister<{Self}>`, or use a collection: `UnorderedMap`, \
            `UnorderedSet`, `Vector` or `Counter`"
)]
pub trait Mergeable {
    /// Folds `other` (a concurrent version of the same value) into `self`.
    fn merge(&mut self, other: &Self) -> Result<(), StoreError>;

    /// Attaches a top-level state field called `name`; collections bind to their derived id.
    fn attach_field(&self, _name: &str) -> Result<(), StoreError> {
        Ok(())
    }
}
