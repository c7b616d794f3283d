//! Upstream's re-keying hooks, for source compatibility.
//!
//! Upstream gives a nested collection a random id when it is made and re-keys it under its parent
//! entry when the entry is stored, so a record holding collections implements [`RekeyTarget`].
//! Here a collection gets its id from its parent when it is stored (see the storage docs: the id
//! is derived from the entry and the collection's position in the value), on every replica, so
//! there is nothing to re-key: an upstream `RekeyTarget` impl compiles and is never needed.

use crate::address::Id;

/// Re-keys the collections of a value stored under `parent_id` (upstream's hook; nothing calls
/// it here, since ids are already derived from the parent).
pub trait RekeyTarget {
    fn rekey_relative_to(&mut self, parent_id: Id);
}

/// The id upstream gives a field's collection under `parent`: the same derivation as a
/// collection field's id here, `H(parent ‖ "__calimero_collection__" ‖ field)`.
pub fn field_child_id(parent: Id, field: &str) -> Id {
    Id::collection(Some(parent), field)
}

/// Upstream's `rekey_field_if_supported!(&mut field, id)`: evaluates both (so the code
/// type-checks as upstream's does) and does nothing else, since a collection's id is derived
/// from its parent when it is stored.
#[macro_export]
macro_rules! rekey_field_if_supported {
    ($field:expr, $id:expr $(,)?) => {{
        let _ = ($field, $id);
    }};
}

/// Makes a plain struct (no CRDT fields) a last-writer-wins value ordered by one of its fields:
/// `impl_atomic_lww_leaf!(FileRecord, uploaded_at)` merges two versions by keeping the one whose
/// `uploaded_at` is greater (the current one on a tie). The type must be `Clone`.
#[macro_export]
macro_rules! impl_atomic_lww_leaf {
    ($ty:ty, $field:ident $(,)?) => {
        impl $crate::Mergeable for $ty {
            fn merge(&mut self, other: &Self) -> ::core::result::Result<(), $crate::StoreError> {
                if other.$field > self.$field {
                    *self = ::core::clone::Clone::clone(other);
                }
                ::core::result::Result::Ok(())
            }
        }
    };
}
