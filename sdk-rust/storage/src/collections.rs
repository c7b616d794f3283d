//! CRDT collections. Each collection is a handle (its 32-byte id) to an entity under which the
//! elements live; handles are created detached and bound when put into their parent.
//!
//! A detached collection can be used like an attached one: what is written into it is kept in
//! memory, in order, and written to storage as its elements once the collection is bound (when
//! its parent is saved, or when it becomes a state field), as if it had been written after.
//!
//! Elements are not direct children of the collection: they are sharded into two levels of
//! *bucket* entities, by the high then the low nibble of the element id's first byte. A write
//! then rewrites and rehashes about 16 + 16 + n/256 sibling records instead of all n, so a write
//! costs the same at ten entries and at a hundred thousand. Bucket ids are derived, so replicas
//! create the same ones, and they are ordinary entities for merging, deletion and hashing.

pub mod counter;
pub mod crdt_meta;
pub mod frozen;
pub mod lww_register;
pub mod permissioned;
pub mod raw;
pub mod rekey;
pub mod rga;
pub mod shared;
pub mod sorted_map;
pub mod sorted_set;
pub mod unordered_map;
pub mod unordered_set;
pub mod user;
pub mod vector;

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::io;
use std::rc::Rc;

use borsh::{BorshDeserialize, BorshSerialize};

pub use crate::merge::Mergeable;
/// `#[derive(Mergeable)]`: see [`Mergeable`] and the `calimero_sdk::app` docs.
pub use calimero_sdk_macros::Mergeable;
pub use counter::{Counter, GCounter, PNCounter};
pub use frozen::{FrozenStorage, FrozenValue};
pub use lww_register::LwwRegister;
pub use permissioned::{AccessControl, Ownable, PermissionedStorage};
pub use rga::ReplicatedGrowableArray;
pub use shared::{SharedMut, SharedStorage};
pub use sorted_map::SortedMap;
pub use sorted_set::SortedSet;
pub use unordered_map::{Entry, OccupiedEntry, UnorderedMap, VacantEntry, ValueMut};
pub use unordered_set::UnorderedSet;
pub use user::{UserKey, UserStorage, UserValue};
pub use vector::Vector;

use crate::address::{Id, hash};
use crate::entities::{ChildInfo, CrdtType};
use crate::error::StoreError;
use crate::store::{self, EntityKind};

/// The bytes a key contributes to an entry id (`H(collection ‖ "__calimero_entry__" ‖ bytes)`).
///
/// A key type of the app's own needs only `AsRef<[u8]>` when it keys a collection that is a
/// field of the `#[app::state]` struct (or nested in one): the state macro implements this trait
/// for it from those bytes. Elsewhere (inside a record), implement it by hand.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot key a collection",
    label = "not a collection key",
    note = "keys are strings, byte strings, byte arrays, integers, booleans, the SDK's id types,             or a type of your own with `AsRef<[u8]>` used as a key in the `#[app::state]` struct             (elsewhere implement `StorageKey` for it)"
)]
pub trait StorageKey {
    /// Strings give their UTF-8, byte strings themselves, integers their little-endian bytes.
    fn key_bytes(&self) -> Cow<'_, [u8]>;
}

impl StorageKey for str {
    fn key_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(self.as_bytes())
    }
}
impl StorageKey for String {
    fn key_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(self.as_bytes())
    }
}
impl StorageKey for [u8] {
    fn key_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(self)
    }
}
impl StorageKey for Vec<u8> {
    fn key_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(self)
    }
}
impl<const N: usize> StorageKey for [u8; N] {
    fn key_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(self)
    }
}
impl StorageKey for bool {
    fn key_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Owned(vec![u8::from(*self)])
    }
}
impl StorageKey for Id {
    fn key_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(self.as_bytes())
    }
}
impl<T: StorageKey + ?Sized> StorageKey for &T {
    fn key_bytes(&self) -> Cow<'_, [u8]> {
        (**self).key_bytes()
    }
}
macro_rules! int_keys {
    ($($t:ty),*) => {$(
        impl StorageKey for $t {
            fn key_bytes(&self) -> Cow<'_, [u8]> {
                Cow::Owned(self.to_le_bytes().to_vec())
            }
        }
    )*};
}
int_keys!(u8, u16, u32, u64, u128, i8, i16, i32, i64, i128);

thread_local! {
    /// Set while a private (node-local) value is encoded or decoded: see [`private_encoding`].
    static PRIVATE: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` with collections encoded inline: a collection writes its elements into the value
/// instead of its id, and reads them back from it, staying detached. Private state
/// (`#[app::private]`) is stored this way, as one node-local value that never reaches the
/// replicated store.
pub fn private_encoding<R>(f: impl FnOnce() -> R) -> R {
    let previous = PRIVATE.with(|p| p.replace(true));
    let result = f();
    PRIVATE.with(|p| p.set(previous));
    result
}

fn encoding_inline() -> bool {
    PRIVATE.with(Cell::get)
}

/// The error of a collection of the replicated state encoded into private state.
fn bound_in_private() -> io::Error {
    io::Error::other(
        "a collection of the replicated app state cannot be stored in private state; make a new \
         one (`new()`) in the private value",
    )
}

/// Writes `items` as `u32 count ‖ items` (a detached collection's inline form).
fn write_inline<T, W: io::Write>(
    handle: &Handle,
    items: &Keyed<T>,
    write: impl Fn(&T, &mut W) -> io::Result<()>,
    writer: &mut W,
) -> io::Result<()> {
    if handle.get().is_some() {
        return Err(bound_in_private());
    }
    let count = u32::try_from(items.len()).map_err(io::Error::other)?;
    count.serialize(writer)?;
    for (_, item) in items {
        write(item, writer)?;
    }
    Ok(())
}

/// Encodes a collection: in private state, inline with the items it holds; otherwise as its id,
/// a detached one being first bound under the parent being saved, with the writes `staged`
/// returns for it.
fn serialize_collection<T, W: io::Write>(
    handle: &Handle,
    items: &Staging<T>,
    write_item: impl Fn(&T, &mut W) -> io::Result<()>,
    crdt_type: impl FnOnce() -> CrdtType,
    staged: impl FnOnce(Id) -> Result<Vec<Staged>, StoreError>,
    writer: &mut W,
) -> io::Result<()> {
    if encoding_inline() {
        return write_inline(handle, &items.items(), write_item, writer);
    }
    handle.serialize(crdt_type, staged, writer)
}

/// Decodes a collection encoded by [`serialize_collection`]: its handle, and in private state
/// the items it held, each keyed by `key`.
fn deserialize_collection<T, R: io::Read>(
    reader: &mut R,
    read_item: impl Fn(&mut R) -> io::Result<T>,
    key: impl Fn(&T) -> Vec<u8>,
) -> io::Result<(Handle, Staging<T>)> {
    if encoding_inline() {
        return Ok((Handle::default(), read_inline(reader, read_item, key)?));
    }
    Ok((Handle::deserialize(reader)?, Staging::default()))
}

/// Reads `u32 count ‖ items` into a staging area, each keyed by `key`.
fn read_inline<T, R: io::Read>(
    reader: &mut R,
    read: impl Fn(&mut R) -> io::Result<T>,
    key: impl Fn(&T) -> Vec<u8>,
) -> io::Result<Staging<T>> {
    let count = u32::deserialize_reader(reader)?;
    let staging = Staging::default();
    for _ in 0..count {
        let item = read(reader)?;
        let bytes = key(&item);
        staging.items_mut().push((bytes, item));
    }
    Ok(staging)
}

/// The id of a collection, possibly not yet bound.
#[derive(Clone, Debug, Default)]
struct Handle {
    id: Cell<Option<Id>>,
}

impl Handle {
    fn bound(id: Id) -> Self {
        Self {
            id: Cell::new(Some(id)),
        }
    }

    fn id(&self) -> Result<Id, StoreError> {
        self.id.get().ok_or(StoreError::Detached)
    }

    /// The id, or `None` while detached.
    fn get(&self) -> Option<Id> {
        self.id.get()
    }

    /// Binds a top-level state field, creates its entity under the context root, then writes
    /// what `staged` returns for it (the elements written while it was detached).
    fn attach_field(
        &self,
        name: &str,
        crdt_type: CrdtType,
        staged: impl FnOnce(Id) -> Result<Vec<Staged>, StoreError>,
    ) -> Result<(), StoreError> {
        if self.id.get().is_some() {
            return Ok(());
        }
        let id = Id::collection(None, name);
        self.id.set(Some(id));
        // A new collection under a name a previous version of the state used (a migration that
        // dropped the field, or replaced it with `new`): it starts empty, not with the old
        // collection's elements.
        if store::data(id)?.is_some() {
            clear_children(id)?;
        }
        let kind = EntityKind {
            crdt_type: Some(crdt_type),
            field_name: Some(name.to_owned()),
        };
        store::save(id, Some(store::root_id()), id.as_bytes().to_vec(), kind)?;
        replay(id, staged(id)?)
    }

    /// Writes the id; a detached collection is first bound under the parent being saved, and
    /// what `staged` returns for it is written once its entity is created.
    fn serialize<W: io::Write>(
        &self,
        crdt_type: impl FnOnce() -> CrdtType,
        staged: impl FnOnce(Id) -> Result<Vec<Staged>, StoreError>,
        writer: &mut W,
    ) -> io::Result<()> {
        let id = match self.id.get() {
            Some(id) => id,
            None => {
                let id = store::bind_in_scope(crdt_type()).ok_or_else(|| {
                    io::Error::new(io::ErrorKind::NotConnected, "collection is detached")
                })?;
                self.id.set(Some(id));
                let writes = staged(id).map_err(|error| match error {
                    StoreError::Detached => {
                        io::Error::new(io::ErrorKind::NotConnected, "collection is detached")
                    }
                    error => io::Error::other(error.to_string()),
                })?;
                store::stage(id, writes);
                id
            }
        };
        id.serialize(writer)
    }

    fn deserialize<R: io::Read>(reader: &mut R) -> io::Result<Self> {
        Ok(Self::bound(Id::deserialize_reader(reader)?))
    }
}

/// A write made into a collection while it was detached, to be done once it is bound.
pub(crate) enum Staged {
    /// An element with its encoded data (value ‖ element id), its record tag and the
    /// collections its value carries (bound under the element).
    Element {
        id: Id,
        data: Vec<u8>,
        record: Option<&'static str>,
        bound: store::BoundCollections,
    },
    /// This device's increments (or decrements) of a counter.
    Count { negative: bool, by: u64 },
}

/// Does the writes staged for `collection` (whose entity exists now), in order.
pub(crate) fn replay(collection: Id, writes: Vec<Staged>) -> Result<(), StoreError> {
    for write in writes {
        match write {
            Staged::Element {
                id,
                data,
                record,
                bound,
            } => write_element(collection, id, data, record, bound)?,
            Staged::Count { negative, by } => counter::bump(collection, negative, by)?,
        }
    }
    Ok(())
}

/// The elements of a detached collection, in insertion order, each with its key's bytes (empty
/// for vector elements). Clones of one detached collection share it.
struct Staging<T>(Rc<RefCell<Keyed<T>>>);

/// Values with their keys' bytes, in insertion order.
type Keyed<T> = Vec<(Vec<u8>, T)>;

impl<T> Default for Staging<T> {
    fn default() -> Self {
        Self(Rc::default())
    }
}

impl<T> Clone for Staging<T> {
    fn clone(&self) -> Self {
        Self(Rc::clone(&self.0))
    }
}

impl<T> Staging<T> {
    fn items(&self) -> std::cell::Ref<'_, Keyed<T>> {
        self.0.borrow()
    }

    fn items_mut(&self) -> std::cell::RefMut<'_, Keyed<T>> {
        self.0.borrow_mut()
    }

    fn position(&self, key: &[u8]) -> Option<usize> {
        self.items().iter().position(|(k, _)| k == key)
    }

    fn len(&self) -> usize {
        self.items().len()
    }

    /// Empties it, returning what it held.
    fn take(&self) -> Keyed<T> {
        std::mem::take(&mut self.items_mut())
    }
}

/// A copy of a value held by a detached collection (through its encoding). Detached
/// collections inside it are copied with their elements (a change to the copy does not reach the
/// original: change it in place with `get_mut`).
fn copy<T: BorshSerialize + BorshDeserialize>(
    value: &T,
    what: &'static str,
) -> Result<T, StoreError> {
    private_encoding(|| {
        let bytes = borsh::to_vec(value).map_err(|source| StoreError::Encode { what, source })?;
        T::try_from_slice(&bytes).map_err(|source| StoreError::Decode { what, source })
    })
}

/// Encodes a value staged in a collection that is being bound to `collection`, as element `id`.
fn stage_value<T: BorshSerialize + ?Sized>(
    id: Id,
    value: &T,
    record: Option<&'static str>,
) -> Result<Staged, StoreError> {
    let (data, bound) = store::serialize_attached(id, &(value, id))?;
    Ok(Staged::Element {
        id,
        data,
        record,
        bound,
    })
}

/// Reads the data of an element and decodes its value (everything before the element id).
fn load_value<T: BorshDeserialize>(id: Id, what: &'static str) -> Result<Option<T>, StoreError> {
    let Some(data) = store::data(id)? else {
        return Ok(None);
    };
    let value = store::split_element(id, &data)?;
    T::try_from_slice(value)
        .map(Some)
        .map_err(|source| StoreError::Decode { what, source })
}

fn bucket_id(parent: Id, nibble: u8) -> Id {
    Id::new(hash(&[
        parent.as_bytes(),
        b"__calimero_bucket__",
        &[nibble],
    ]))
}

/// Makes sure bucket `id` under `parent` is a live entity.
fn ensure_bucket(id: Id, parent: Id) -> Result<(), StoreError> {
    if store::index(id)?.is_some_and(|i| i.is_live()) {
        return Ok(());
    }
    let kind = EntityKind {
        crdt_type: Some(CrdtType::Custom(store::BUCKET.to_owned())),
        field_name: None,
    };
    store::save(id, Some(parent), id.as_bytes().to_vec(), kind)
}

/// The bucket element `element` of `collection` lives in, created if needed.
fn element_parent(collection: Id, element: Id) -> Result<Id, StoreError> {
    let first = element.as_bytes()[0];
    let upper = bucket_id(collection, first >> 4);
    ensure_bucket(upper, collection)?;
    let lower = bucket_id(upper, first & 0x0f);
    ensure_bucket(lower, upper)?;
    Ok(lower)
}

/// The live elements of a collection, in creation order (then id).
fn elements(collection: Id) -> Result<Vec<ChildInfo>, StoreError> {
    let mut elements = std::collections::BTreeMap::new();
    for upper in store::children(collection)? {
        for lower in store::children(upper.id)? {
            for child in store::children(lower.id)? {
                elements.insert((child.metadata.created_at, child.id), child);
            }
        }
    }
    Ok(elements.into_values().collect())
}

/// The number of live elements of a collection.
fn count(collection: Id) -> Result<usize, StoreError> {
    let mut count = 0;
    for upper in store::children(collection)? {
        for lower in store::children(upper.id)? {
            count += store::index(lower.id)?.map_or(0, |i| i.children().len());
        }
    }
    Ok(count)
}

/// Writes `value ‖ element id` as element `id` of `collection`, tagged as `record` if the value
/// is one (see [`Mergeable::RECORD`](crate::Mergeable::RECORD)), then creates any collection the
/// value carried that was not attached yet.
fn save_value<T: BorshSerialize + ?Sized>(
    collection: Id,
    id: Id,
    value: &T,
    record: Option<&'static str>,
) -> Result<(), StoreError> {
    let (bytes, bound) = store::serialize_attached(id, &(value, id))?;
    write_element(collection, id, bytes, record, bound)
}

/// Writes encoded element `id` of `collection`, then creates the collections in `bound`.
fn write_element(
    collection: Id,
    id: Id,
    data: Vec<u8>,
    record: Option<&str>,
    bound: store::BoundCollections,
) -> Result<(), StoreError> {
    let parent = element_parent(collection, id)?;
    let kind = EntityKind {
        crdt_type: record.map(|name| CrdtType::Custom(name.to_owned())),
        field_name: None,
    };
    store::save(id, Some(parent), data, kind)?;
    store::create_bound(id, bound)
}

/// Deletes every element of a collection.
fn clear_children(collection: Id) -> Result<(), StoreError> {
    for child in elements(collection)? {
        store::delete(child.id)?;
    }
    Ok(())
}
