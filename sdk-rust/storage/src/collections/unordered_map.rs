//! A map with one child entity per entry, the entry id derived from the key.

use std::borrow::Borrow;
use std::cell::{RefCell, RefMut};
use std::io;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};

use borsh::{BorshDeserialize, BorshSerialize};

use super::{Handle, Staged, Staging, StorageKey, clear_children, copy, save_value, stage_value};
use crate::address::Id;
use crate::entities::CrdtType;
use crate::error::StoreError;
use crate::merge::{Mergeable, merge_encoded, register_element};
use crate::store;

/// An add-wins map. Concurrent writes to one key keep the later write; a removal is a
/// tombstone that wins over writes it saw.
pub struct UnorderedMap<K, V> {
    handle: Handle,
    /// The entries while detached.
    staged: Staging<(K, V)>,
    _types: PhantomData<fn() -> (K, V)>,
}

/// The staged entries of a detached map.
type StagedEntries<K, V> = RefCell<Vec<(Vec<u8>, (K, V))>>;

impl<K, V> UnorderedMap<K, V>
where
    K: BorshSerialize + BorshDeserialize + StorageKey,
    V: BorshSerialize + BorshDeserialize + Mergeable,
{
    /// A new, detached map; it is attached when put into the state or another collection.
    pub fn new() -> Self {
        Self {
            handle: Handle::default(),
            staged: Staging::default(),
            _types: PhantomData,
        }
    }

    /// Encodes the handle as a collection of type `crdt_type` (a sorted map stores as this).
    pub(super) fn serialize_as<W: io::Write>(
        &self,
        crdt_type: impl FnOnce() -> CrdtType,
        writer: &mut W,
    ) -> io::Result<()> {
        super::serialize_collection(
            &self.handle,
            &self.staged,
            |entry, w| entry.serialize(w),
            crdt_type,
            |map| self.staged_writes(map),
            writer,
        )
    }

    /// Binds a top-level field as a collection of type `crdt_type`.
    pub(super) fn attach_field_as(
        &self,
        name: &str,
        crdt_type: CrdtType,
    ) -> Result<(), StoreError> {
        self.handle
            .attach_field(name, crdt_type, |map| self.staged_writes(map))
    }

    /// The staged entries as the writes of the map bound to `map`.
    fn staged_writes(&self, map: Id) -> Result<Vec<Staged>, StoreError> {
        self.staged
            .take()
            .into_iter()
            .map(|(key, entry)| stage_value(Id::entry(map, &key), &entry, V::RECORD))
            .collect()
    }

    fn crdt_type() -> CrdtType {
        CrdtType::UnorderedMap {
            key_type: std::any::type_name::<K>().to_owned(),
            value_type: std::any::type_name::<V>().to_owned(),
        }
    }

    fn entry_id<Q: StorageKey + ?Sized>(&self, key: &Q) -> Result<Id, StoreError> {
        Ok(Id::entry(self.handle.id()?, &key.key_bytes()))
    }

    fn load(id: Id) -> Result<Option<(K, V)>, StoreError> {
        super::load_value(id, "a map entry")
    }

    /// Inserts or replaces; returns the previous value.
    pub fn insert(&mut self, key: K, value: V) -> Result<Option<V>, StoreError> {
        if self.handle.get().is_none() {
            let bytes = key.key_bytes().into_owned();
            let mut staged = self.staged.items_mut();
            return Ok(match staged.iter_mut().find(|(k, _)| *k == bytes) {
                Some((_, entry)) => Some(std::mem::replace(&mut entry.1, value)),
                None => {
                    staged.push((bytes, (key, value)));
                    None
                }
            });
        }
        let id = self.entry_id(&key)?;
        let previous = Self::load(id)?.map(|(_, v)| v);
        save_value(self.handle.id()?, id, &(&key, &value), V::RECORD)?;
        Ok(previous)
    }

    /// The value under `key`.
    pub fn get<Q>(&self, key: &Q) -> Result<Option<V>, StoreError>
    where
        K: Borrow<Q>,
        Q: StorageKey + ?Sized,
    {
        if self.handle.get().is_none() {
            return match self.staged.position(&key.key_bytes()) {
                Some(at) => copy(&self.staged.items()[at].1.1, "a map value").map(Some),
                None => Ok(None),
            };
        }
        Ok(Self::load(self.entry_id(key)?)?.map(|(_, v)| v))
    }

    /// A guard over the value under `key` that writes it back when dropped.
    pub fn get_mut<Q>(&mut self, key: &Q) -> Result<Option<ValueMut<'_, K, V>>, StoreError>
    where
        K: Borrow<Q>,
        Q: StorageKey + ?Sized,
    {
        if self.handle.get().is_none() {
            let at = self.staged.position(&key.key_bytes());
            return Ok(at.map(|at| ValueMut::staged(&self.staged.0, at)));
        }
        let id = self.entry_id(key)?;
        let map = self.handle.id()?;
        Ok(Self::load(id)?.map(|(key, value)| ValueMut::new(map, id, key, value, V::RECORD)))
    }

    /// True if `key` is present.
    pub fn contains<Q>(&self, key: &Q) -> Result<bool, StoreError>
    where
        K: Borrow<Q>,
        Q: StorageKey + ?Sized,
    {
        if self.handle.get().is_none() {
            return Ok(self.staged.position(&key.key_bytes()).is_some());
        }
        Ok(store::index(self.entry_id(key)?)?.is_some_and(|i| i.is_live()))
    }

    /// Removes `key`; returns its value.
    pub fn remove<Q>(&mut self, key: &Q) -> Result<Option<V>, StoreError>
    where
        K: Borrow<Q>,
        Q: StorageKey + ?Sized,
    {
        if self.handle.get().is_none() {
            let at = self.staged.position(&key.key_bytes());
            return Ok(at.map(|at| self.staged.items_mut().remove(at).1.1));
        }
        let id = self.entry_id(key)?;
        let previous = Self::load(id)?.map(|(_, v)| v);
        if previous.is_some() {
            store::delete(id)?;
        }
        Ok(previous)
    }

    /// Every entry, in insertion order.
    pub fn entries(&self) -> Result<impl Iterator<Item = (K, V)> + use<K, V>, StoreError> {
        if self.handle.get().is_none() {
            let staged = self.staged.items();
            let entries = staged
                .iter()
                .map(|(_, entry)| copy(entry, "a map entry"))
                .collect::<Result<Vec<_>, _>>()?;
            return Ok(entries.into_iter());
        }
        let mut entries = Vec::new();
        for child in super::elements(self.handle.id()?)? {
            if let Some(entry) = Self::load(child.id)? {
                entries.push(entry);
            }
        }
        Ok(entries.into_iter())
    }

    /// Every key, in insertion order.
    pub fn keys(&self) -> Result<impl Iterator<Item = K> + use<K, V>, StoreError> {
        Ok(self.entries()?.map(|(k, _)| k))
    }

    /// Every value, in insertion order.
    pub fn values(&self) -> Result<impl Iterator<Item = V> + use<K, V>, StoreError> {
        Ok(self.entries()?.map(|(_, v)| v))
    }

    /// The number of entries.
    pub fn len(&self) -> Result<usize, StoreError> {
        match self.handle.get() {
            Some(map) => super::count(map),
            None => Ok(self.staged.len()),
        }
    }

    /// True if there are no entries.
    pub fn is_empty(&self) -> Result<bool, StoreError> {
        Ok(self.len()? == 0)
    }

    /// Removes every entry.
    pub fn clear(&mut self) -> Result<(), StoreError> {
        match self.handle.get() {
            Some(map) => clear_children(map),
            None => {
                self.staged.take();
                Ok(())
            }
        }
    }

    /// The entry for `key`: [`Entry::Occupied`] with its value, or [`Entry::Vacant`].
    pub fn entry(&mut self, key: K) -> Result<Entry<'_, K, V>, StoreError> {
        let Some(map) = self.handle.get() else {
            return Ok(match self.staged.position(&key.key_bytes()) {
                Some(at) => Entry::Occupied(Box::new(OccupiedEntry {
                    guard: Some(ValueMut::staged(&self.staged.0, at)),
                })),
                None => Entry::Vacant(VacantEntry {
                    map: self,
                    id: None,
                    key,
                }),
            });
        };
        let id = self.entry_id(&key)?;
        Ok(match Self::load(id)? {
            Some((key, value)) => Entry::Occupied(Box::new(OccupiedEntry {
                guard: Some(ValueMut::new(map, id, key, value, V::RECORD)),
            })),
            None => Entry::Vacant(VacantEntry {
                map: self,
                id: Some(id),
                key,
            }),
        })
    }
}

impl<K, V> Default for UnorderedMap<K, V>
where
    K: BorshSerialize + BorshDeserialize + StorageKey,
    V: BorshSerialize + BorshDeserialize + Mergeable,
{
    fn default() -> Self {
        Self::new()
    }
}

impl<K, V> Clone for UnorderedMap<K, V> {
    fn clone(&self) -> Self {
        Self {
            handle: self.handle.clone(),
            staged: self.staged.clone(),
            _types: PhantomData,
        }
    }
}

impl<K, V> std::fmt::Debug for UnorderedMap<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("UnorderedMap")
            .field(&self.handle.id.get())
            .finish()
    }
}

impl<K, V> BorshSerialize for UnorderedMap<K, V>
where
    K: BorshSerialize + BorshDeserialize + StorageKey,
    V: BorshSerialize + BorshDeserialize + Mergeable,
{
    fn serialize<W: io::Write>(&self, writer: &mut W) -> io::Result<()> {
        self.serialize_as(Self::crdt_type, writer)
    }
}

impl<K, V> BorshDeserialize for UnorderedMap<K, V>
where
    K: BorshDeserialize + StorageKey,
    V: BorshDeserialize,
{
    fn deserialize_reader<R: io::Read>(reader: &mut R) -> io::Result<Self> {
        let (handle, staged) =
            super::deserialize_collection(reader, <(K, V)>::deserialize_reader, |entry| {
                entry.0.key_bytes().into_owned()
            })?;
        Ok(Self {
            handle,
            staged,
            _types: PhantomData,
        })
    }
}

impl<K, V> Mergeable for UnorderedMap<K, V>
where
    K: BorshSerialize + BorshDeserialize + StorageKey,
    V: BorshSerialize + BorshDeserialize + Mergeable,
{
    fn merge(&mut self, _other: &Self) -> Result<(), StoreError> {
        // Entries merge one by one as entities; the handles of one field are the same id.
        Ok(())
    }

    fn attach_field(&self, name: &str) -> Result<(), StoreError> {
        self.attach_field_as(name, Self::crdt_type())
    }

    fn register_merges() {
        register_element::<V>(std::any::type_name::<Self>(), merge_entry::<K, V>);
    }
}

/// Merges two versions of an entry whose value is a record: `(key, value, entry id)`.
fn merge_entry<K, V>(mine: &[u8], theirs: &[u8]) -> Result<Option<Vec<u8>>, StoreError>
where
    K: BorshSerialize + BorshDeserialize,
    V: BorshSerialize + BorshDeserialize + Mergeable,
{
    merge_encoded::<(K, V, Id)>(mine, theirs, |mine, theirs| mine.1.merge(&theirs.1))
}

/// A value borrowed from a map; changes are written back when the guard is dropped.
///
/// Dropping panics if the write fails (the call then traps and nothing is persisted).
pub struct ValueMut<'a, K, V>
where
    K: BorshSerialize,
    V: BorshSerialize,
{
    slot: Slot<'a, K, V>,
}

enum Slot<'a, K: BorshSerialize, V: BorshSerialize> {
    /// An entry of an attached map, written back on drop.
    Stored(StoredValue<K, V>),
    /// An entry of a detached map, changed in place.
    Staged {
        entries: &'a StagedEntries<K, V>,
        at: usize,
        entry: RefMut<'a, (Vec<u8>, (K, V))>,
    },
}

/// A stored entry's key and value, written back when dropped unless it was removed.
struct StoredValue<K: BorshSerialize, V: BorshSerialize> {
    map: Id,
    id: Id,
    key: K,
    value: V,
    record: Option<&'static str>,
    /// False once the entry was removed: nothing to write back.
    write_back: bool,
}

impl<'a, K: BorshSerialize, V: BorshSerialize> ValueMut<'a, K, V> {
    /// A guard over entry `id` of collection `map`, written back when dropped.
    fn new(map: Id, id: Id, key: K, value: V, record: Option<&'static str>) -> Self {
        Self {
            slot: Slot::Stored(StoredValue {
                map,
                id,
                key,
                value,
                record,
                write_back: true,
            }),
        }
    }

    /// A guard over staged entry `at` of a detached map.
    fn staged(entries: &'a StagedEntries<K, V>, at: usize) -> Self {
        let entry = RefMut::map(RefCell::borrow_mut(entries), |entries| &mut entries[at]);
        Self {
            slot: Slot::Staged { entries, at, entry },
        }
    }

    fn key(&self) -> &K {
        match &self.slot {
            Slot::Stored(stored) => &stored.key,
            Slot::Staged { entry, .. } => &entry.1.0,
        }
    }
}

impl<K: BorshSerialize, V: BorshSerialize> Deref for ValueMut<'_, K, V> {
    type Target = V;
    fn deref(&self) -> &V {
        match &self.slot {
            Slot::Stored(stored) => &stored.value,
            Slot::Staged { entry, .. } => &entry.1.1,
        }
    }
}

impl<K: BorshSerialize, V: BorshSerialize> DerefMut for ValueMut<'_, K, V> {
    fn deref_mut(&mut self) -> &mut V {
        match &mut self.slot {
            Slot::Stored(stored) => &mut stored.value,
            Slot::Staged { entry, .. } => &mut entry.1.1,
        }
    }
}

impl<K: BorshSerialize, V: BorshSerialize> Drop for StoredValue<K, V> {
    fn drop(&mut self) {
        if !self.write_back {
            return;
        }
        if let Err(error) = save_value(self.map, self.id, &(&self.key, &self.value), self.record) {
            panic!("failed to write back a map entry: {error}");
        }
    }
}

/// A map entry that may or may not exist, as `std::collections::hash_map::Entry`.
#[must_use]
pub enum Entry<'a, K, V>
where
    K: BorshSerialize + BorshDeserialize + StorageKey,
    V: BorshSerialize + BorshDeserialize + Mergeable,
{
    /// The key is present.
    Occupied(Box<OccupiedEntry<'a, K, V>>),
    /// The key is absent.
    Vacant(VacantEntry<'a, K, V>),
}

/// A present entry. Its value is written back when the entry is dropped, so changes through
/// [`OccupiedEntry::get_mut`] or [`OccupiedEntry::insert`] are kept; dropping panics if the
/// write fails (the call then traps and nothing is persisted).
pub struct OccupiedEntry<'a, K, V>
where
    K: BorshSerialize,
    V: BorshSerialize,
{
    /// Taken only by the methods that consume the entry.
    guard: Option<ValueMut<'a, K, V>>,
}

/// An absent entry: the key, and the map to insert it into.
pub struct VacantEntry<'a, K, V>
where
    K: BorshSerialize + BorshDeserialize + StorageKey,
    V: BorshSerialize + BorshDeserialize + Mergeable,
{
    map: &'a mut UnorderedMap<K, V>,
    /// `None` while the map is detached.
    id: Option<Id>,
    key: K,
}

impl<'a, K, V> Entry<'a, K, V>
where
    K: BorshSerialize + BorshDeserialize + StorageKey,
    V: BorshSerialize + BorshDeserialize + Mergeable,
{
    /// True if the key was present.
    pub fn is_occupied(&self) -> bool {
        matches!(self, Entry::Occupied(_))
    }

    /// The existing value, or `default` inserted.
    pub fn or_insert(self, default: V) -> Result<ValueMut<'a, K, V>, StoreError> {
        self.or_insert_with(|| default)
    }

    /// The existing value, or the result of `make` inserted.
    pub fn or_insert_with(
        self,
        make: impl FnOnce() -> V,
    ) -> Result<ValueMut<'a, K, V>, StoreError> {
        match self {
            Entry::Occupied(entry) => Ok(entry.into_guard()),
            Entry::Vacant(entry) => entry.insert(make()),
        }
    }

    /// The existing value, or `V::default()` inserted.
    pub fn or_default(self) -> Result<ValueMut<'a, K, V>, StoreError>
    where
        V: Default,
    {
        self.or_insert_with(V::default)
    }
}

impl<'a, K, V> OccupiedEntry<'a, K, V>
where
    K: BorshSerialize,
    V: BorshSerialize,
{
    fn guard(&self) -> &ValueMut<'a, K, V> {
        self.guard
            .as_ref()
            .expect("an occupied entry keeps its value until consumed")
    }

    // The entry only ever exists boxed (`Entry::Occupied`); taking the box keeps a moved-from box
    // from holding the map's borrow until the end of the caller's scope.
    #[allow(clippy::boxed_local)]
    fn into_guard(mut self: Box<Self>) -> ValueMut<'a, K, V> {
        self.guard
            .take()
            .expect("an occupied entry keeps its value until consumed")
    }

    /// The entry's key.
    pub fn key(&self) -> &K {
        self.guard().key()
    }

    /// The value.
    pub fn get(&self) -> &V {
        self.guard()
    }

    /// The value, to change in place (written back when the entry is dropped).
    pub fn get_mut(&mut self) -> &mut V {
        self.guard
            .as_mut()
            .expect("an occupied entry keeps its value until consumed")
    }

    /// Replaces the value (written back when the entry is dropped); returns the old one.
    pub fn insert(&mut self, value: V) -> V {
        std::mem::replace(self.get_mut(), value)
    }

    /// Removes the entry; returns its value (as changed through this entry).
    #[allow(clippy::boxed_local)] // as `into_guard`: the map can be used again right after
    pub fn remove(mut self: Box<Self>) -> Result<V, StoreError>
    where
        V: BorshDeserialize,
    {
        let guard = self
            .guard
            .take()
            .expect("an occupied entry keeps its value until consumed");
        match guard.slot {
            Slot::Stored(mut stored) => {
                stored.write_back = false;
                store::delete(stored.id)?;
                // The stored value writes back on drop, so it cannot be moved out: copy it.
                copy(&stored.value, "a map value")
            }
            Slot::Staged { entries, at, entry } => {
                drop(entry);
                Ok(RefCell::borrow_mut(entries).remove(at).1.1)
            }
        }
    }
}

impl<'a, K, V> VacantEntry<'a, K, V>
where
    K: BorshSerialize + BorshDeserialize + StorageKey,
    V: BorshSerialize + BorshDeserialize + Mergeable,
{
    /// The key that would be inserted.
    pub fn key(&self) -> &K {
        &self.key
    }

    /// Inserts `value`; returns a guard over it.
    pub fn insert(self, value: V) -> Result<ValueMut<'a, K, V>, StoreError> {
        let Some(id) = self.id else {
            let bytes = self.key.key_bytes().into_owned();
            let staged = &self.map.staged;
            staged.items_mut().push((bytes, (self.key, value)));
            return Ok(ValueMut::staged(&staged.0, staged.len() - 1));
        };
        let map = self.map.handle.id()?;
        save_value(map, id, &(&self.key, &value), V::RECORD)?;
        Ok(ValueMut::new(map, id, self.key, value, V::RECORD))
    }
}
