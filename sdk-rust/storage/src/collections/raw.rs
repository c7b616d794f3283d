//! The collections at the level of bytes, for hosts of dynamically typed code (the JavaScript
//! engine). Each function is what the typed collections do, with the value already encoded:
//! an element written here is the same entity, with the same bytes, as the typed collection
//! writes for the value whose Borsh encoding was passed in.
//!
//! The caller encodes values, derives element ids with [`Id::entry`] (map keys, set elements)
//! or [`random_id`] (vector elements), and lists the collections a value carries that were not
//! attached yet, with the ids the typed code would give them ([`Id::collection`] of the element
//! and `"0"`, `"1"`, … in encoding order).

use super::{Handle, clear_children, write_element};
use crate::address::Id;
use crate::entities::CrdtType;
use crate::error::StoreError;
use crate::hlc::HybridTimestamp;
use crate::store::{self, BoundCollections};

pub use crate::store::random_id;

/// Binds a top-level state field: the collection entity under the context root.
pub fn attach_field(name: &str, crdt_type: CrdtType) -> Result<Id, StoreError> {
    let handle = Handle::default();
    handle.attach_field(name, crdt_type, |_| Ok(Vec::new()))?;
    handle.id()
}

/// The value bytes of a live element (its data without the trailing element id).
pub fn value(id: Id) -> Result<Option<Vec<u8>>, StoreError> {
    let Some(data) = store::data(id)? else {
        return Ok(None);
    };
    Ok(Some(store::split_element(id, &data)?.to_vec()))
}

/// True if element `id` is live.
pub fn contains(id: Id) -> Result<bool, StoreError> {
    Ok(store::index(id)?.is_some_and(|i| i.is_live()))
}

/// Writes `value ‖ id` as element `id` of `collection`, tagged as record `record` if the value
/// is one (see [`Mergeable::RECORD`](crate::Mergeable::RECORD)), then creates the collections
/// in `bound` under it.
pub fn save(
    collection: Id,
    id: Id,
    value: &[u8],
    bound: BoundCollections,
    record: Option<&str>,
) -> Result<(), StoreError> {
    let mut data = Vec::with_capacity(value.len() + 32);
    data.extend_from_slice(value);
    data.extend_from_slice(id.as_bytes());
    write_element(collection, id, data, record, bound)
}

/// Deletes element `id`; false if it was not live.
pub fn remove(id: Id) -> Result<bool, StoreError> {
    store::delete(id)
}

/// The ids of the live elements of `collection`, in creation order.
pub fn elements(collection: Id) -> Result<Vec<Id>, StoreError> {
    Ok(super::elements(collection)?
        .into_iter()
        .map(|c| c.id)
        .collect())
}

/// The number of live elements of `collection`.
pub fn len(collection: Id) -> Result<usize, StoreError> {
    super::count(collection)
}

/// Deletes every element of `collection`.
pub fn clear(collection: Id) -> Result<(), StoreError> {
    clear_children(collection)
}

/// Adds `by` to this device's increments (or decrements) of counter `id`.
pub fn counter_add(id: Id, negative: bool, by: u64) -> Result<(), StoreError> {
    super::counter::bump(id, negative, by)
}

/// The sums of every device's increments and decrements of counter `id`.
pub fn counter_totals(id: Id) -> Result<(u128, u128), StoreError> {
    super::counter::totals(id)
}

/// The stamp and device of a register write now, after the register's previous stamp (if any),
/// as `LwwRegister` encodes them: the `HybridTimestamp` (24 bytes) then the 32-byte device id.
pub fn register_stamp(previous: Option<HybridTimestamp>) -> Vec<u8> {
    let mut stamp = store::timestamp();
    if let Some(previous) = previous
        && stamp <= previous
    {
        stamp = previous.successor(stamp.id);
    }
    let mut bytes = borsh::to_vec(&stamp).unwrap_or_default();
    bytes.extend_from_slice(&store::device_id());
    bytes
}
