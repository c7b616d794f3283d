//! A map with one child entity per entry, the entry id derived from the key.

use std::borrow::Borrow;
use std::io;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};

use borsh::{BorshDeserialize, BorshSerialize};

use super::{Handle, StorageKey, clear_children, save_value};
use crate::address::Id;
use crate::entities::CrdtType;
use crate::error::StoreError;
use crate::merge::{Mergeable, merge_encoded, register_element};
use crate::store;

/// An add-wins map. Concurrent writes to one key keep the later write; a removal is a
/// tombstone that wins over writes it saw.
pub struct UnorderedMap<K, V> {
    handle: Handle,
    _types: PhantomData<fn() -> (K, V)>,
}

impl<K, V> UnorderedMap<K, V>
where
    K: BorshSerialize + BorshDeserialize + StorageKey,
    V: BorshSerialize + BorshDeserialize + Mergeable,
{
    /// A new, detached map; it is attached when put into the state or another collection.
    pub fn new() -> Self {
        Self {
            handle: Handle::default(),
            _types: PhantomData,
        }
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
        Ok(Self::load(self.entry_id(key)?)?.map(|(_, v)| v))
    }

    /// A guard over the value under `key` that writes it back when dropped.
    pub fn get_mut<Q>(&mut self, key: &Q) -> Result<Option<ValueMut<'_, K, V>>, StoreError>
    where
        K: Borrow<Q>,
        Q: StorageKey + ?Sized,
    {
        let id = self.entry_id(key)?;
        let map = self.handle.id()?;
        Ok(Self::load(id)?.map(|(key, value)| ValueMut {
            map,
            id,
            key,
            value,
            record: V::RECORD,
            _map: PhantomData,
        }))
    }

    /// True if `key` is present.
    pub fn contains<Q>(&self, key: &Q) -> Result<bool, StoreError>
    where
        K: Borrow<Q>,
        Q: StorageKey + ?Sized,
    {
        Ok(store::index(self.entry_id(key)?)?.is_some_and(|i| i.is_live()))
    }

    /// Removes `key`; returns its value.
    pub fn remove<Q>(&mut self, key: &Q) -> Result<Option<V>, StoreError>
    where
        K: Borrow<Q>,
        Q: StorageKey + ?Sized,
    {
        let id = self.entry_id(key)?;
        let previous = Self::load(id)?.map(|(_, v)| v);
        if previous.is_some() {
            store::delete(id)?;
        }
        Ok(previous)
    }

    /// Every entry, in insertion order.
    pub fn entries(&self) -> Result<impl Iterator<Item = (K, V)> + use<K, V>, StoreError> {
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
        super::count(self.handle.id()?)
    }

    /// True if there are no entries.
    pub fn is_empty(&self) -> Result<bool, StoreError> {
        Ok(self.len()? == 0)
    }

    /// Removes every entry.
    pub fn clear(&mut self) -> Result<(), StoreError> {
        clear_children(self.handle.id()?)
    }

    /// The entry for `key`, for in-place insertion.
    pub fn entry(&mut self, key: K) -> Result<Entry<'_, K, V>, StoreError> {
        let id = self.entry_id(&key)?;
        let existing = Self::load(id)?;
        Ok(Entry {
            map: self,
            id,
            key,
            existing,
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
        self.handle.serialize(Self::crdt_type, writer)
    }
}

impl<K, V> BorshDeserialize for UnorderedMap<K, V> {
    fn deserialize_reader<R: io::Read>(reader: &mut R) -> io::Result<Self> {
        Ok(Self {
            handle: Handle::deserialize(reader)?,
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
        self.handle.attach_field(name, Self::crdt_type())
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
    map: Id,
    id: Id,
    key: K,
    value: V,
    record: Option<&'static str>,
    _map: PhantomData<&'a mut ()>,
}

impl<K: BorshSerialize, V: BorshSerialize> Deref for ValueMut<'_, K, V> {
    type Target = V;
    fn deref(&self) -> &V {
        &self.value
    }
}

impl<K: BorshSerialize, V: BorshSerialize> DerefMut for ValueMut<'_, K, V> {
    fn deref_mut(&mut self) -> &mut V {
        &mut self.value
    }
}

impl<K: BorshSerialize, V: BorshSerialize> Drop for ValueMut<'_, K, V> {
    fn drop(&mut self) {
        if let Err(error) = save_value(self.map, self.id, &(&self.key, &self.value), self.record) {
            panic!("failed to write back a map entry: {error}");
        }
    }
}

/// A map entry that may or may not exist.
pub struct Entry<'a, K, V>
where
    K: BorshSerialize + BorshDeserialize + StorageKey,
    V: BorshSerialize + BorshDeserialize,
{
    map: &'a mut UnorderedMap<K, V>,
    id: Id,
    key: K,
    existing: Option<(K, V)>,
}

impl<'a, K, V> Entry<'a, K, V>
where
    K: BorshSerialize + BorshDeserialize + StorageKey,
    V: BorshSerialize + BorshDeserialize + Mergeable,
{
    /// True if the key was present.
    pub fn is_occupied(&self) -> bool {
        self.existing.is_some()
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
        let map = self.map.handle.id()?;
        let value = match self.existing {
            Some((_, value)) => value,
            None => {
                let value = make();
                save_value(map, self.id, &(&self.key, &value), V::RECORD)?;
                value
            }
        };
        Ok(ValueMut {
            map,
            id: self.id,
            key: self.key,
            value,
            record: V::RECORD,
            _map: PhantomData,
        })
    }

    /// The existing value, or `V::default()` inserted.
    pub fn or_default(self) -> Result<ValueMut<'a, K, V>, StoreError>
    where
        V: Default,
    {
        self.or_insert_with(V::default)
    }
}
