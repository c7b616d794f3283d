//! A map read in key order: range, prefix, first/last and paging.
//!
//! A `SortedMap` stores exactly what an [`UnorderedMap`] stores (one entity per entry, its id
//! derived from the key), so it merges the same way: concurrent writes to one key keep the
//! later write, a removal wins over the writes it saw. Only its collection entity's type
//! differs. Order is not stored: every ordered read loads the entries and sorts them by `K`'s
//! [`Ord`], so it costs O(n log n) whatever the range. Nothing order-related is replicated, so
//! replicas cannot disagree on it.

use std::borrow::Borrow;
use std::io;
use std::ops::RangeBounds;

use borsh::{BorshDeserialize, BorshSerialize};

use super::StorageKey;
use super::unordered_map::{Entry, UnorderedMap, ValueMut};
use crate::entities::CrdtType;
use crate::error::StoreError;
use crate::merge::Mergeable;

/// A map whose reads come in key order (`K: Ord`). It merges as [`UnorderedMap`].
pub struct SortedMap<K, V> {
    inner: UnorderedMap<K, V>,
}

impl<K, V> SortedMap<K, V>
where
    K: BorshSerialize + BorshDeserialize + StorageKey + Ord,
    V: BorshSerialize + BorshDeserialize + Mergeable,
{
    /// A new, detached map; it is attached when put into the state or another collection.
    pub fn new() -> Self {
        Self {
            inner: UnorderedMap::new(),
        }
    }

    fn crdt_type() -> CrdtType {
        CrdtType::SortedMap {
            key_type: std::any::type_name::<K>().to_owned(),
            value_type: std::any::type_name::<V>().to_owned(),
        }
    }

    /// Inserts or replaces; returns the previous value.
    pub fn insert(&mut self, key: K, value: V) -> Result<Option<V>, StoreError> {
        self.inner.insert(key, value)
    }

    /// The value under `key`.
    pub fn get<Q>(&self, key: &Q) -> Result<Option<V>, StoreError>
    where
        K: Borrow<Q>,
        Q: StorageKey + ?Sized,
    {
        self.inner.get(key)
    }

    /// A guard over the value under `key` that writes it back when dropped.
    pub fn get_mut<Q>(&mut self, key: &Q) -> Result<Option<ValueMut<'_, K, V>>, StoreError>
    where
        K: Borrow<Q>,
        Q: StorageKey + ?Sized,
    {
        self.inner.get_mut(key)
    }

    /// True if `key` is present.
    pub fn contains<Q>(&self, key: &Q) -> Result<bool, StoreError>
    where
        K: Borrow<Q>,
        Q: StorageKey + ?Sized,
    {
        self.inner.contains(key)
    }

    /// Removes `key`; returns its value.
    pub fn remove<Q>(&mut self, key: &Q) -> Result<Option<V>, StoreError>
    where
        K: Borrow<Q>,
        Q: StorageKey + ?Sized,
    {
        self.inner.remove(key)
    }

    /// The entry for `key`, as [`UnorderedMap::entry`].
    pub fn entry(&mut self, key: K) -> Result<Entry<'_, K, V>, StoreError> {
        self.inner.entry(key)
    }

    /// The number of entries.
    pub fn len(&self) -> Result<usize, StoreError> {
        self.inner.len()
    }

    /// True if there are no entries.
    pub fn is_empty(&self) -> Result<bool, StoreError> {
        self.inner.is_empty()
    }

    /// Removes every entry.
    pub fn clear(&mut self) -> Result<(), StoreError> {
        self.inner.clear()
    }

    fn sorted(&self) -> Result<Vec<(K, V)>, StoreError> {
        let mut entries: Vec<(K, V)> = self.inner.entries()?.collect();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(entries)
    }

    /// Every entry, in key order.
    pub fn entries(&self) -> Result<impl Iterator<Item = (K, V)> + use<K, V>, StoreError> {
        Ok(self.sorted()?.into_iter())
    }

    /// Every key, in order.
    pub fn keys(&self) -> Result<impl Iterator<Item = K> + use<K, V>, StoreError> {
        Ok(self.sorted()?.into_iter().map(|(k, _)| k))
    }

    /// Every value, in key order.
    pub fn values(&self) -> Result<impl Iterator<Item = V> + use<K, V>, StoreError> {
        Ok(self.sorted()?.into_iter().map(|(_, v)| v))
    }

    /// The entries whose keys are in `range` (`"b".to_owned().."m".to_owned()`, `..=k`, `..`),
    /// in key order.
    pub fn range<R: RangeBounds<K>>(
        &self,
        range: R,
    ) -> Result<impl Iterator<Item = (K, V)> + use<K, V, R>, StoreError> {
        let mut entries: Vec<(K, V)> = self
            .inner
            .entries()?
            .filter(|(k, _)| range.contains(k))
            .collect();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(entries.into_iter())
    }

    /// The entries whose keys' bytes start with `prefix`, in key order.
    pub fn prefix(
        &self,
        prefix: &[u8],
    ) -> Result<impl Iterator<Item = (K, V)> + use<K, V>, StoreError>
    where
        K: AsRef<[u8]>,
    {
        let mut entries: Vec<(K, V)> = self
            .inner
            .entries()?
            .filter(|(k, _)| k.as_ref().starts_with(prefix))
            .collect();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(entries.into_iter())
    }

    /// At most `limit` entries after skipping `offset`, in key order.
    pub fn page(&self, offset: usize, limit: usize) -> Result<Vec<(K, V)>, StoreError> {
        Ok(self
            .sorted()?
            .into_iter()
            .skip(offset)
            .take(limit)
            .collect())
    }

    /// The entry with the least key.
    pub fn first(&self) -> Result<Option<(K, V)>, StoreError> {
        Ok(self.sorted()?.into_iter().next())
    }

    /// The entry with the greatest key.
    pub fn last(&self) -> Result<Option<(K, V)>, StoreError> {
        Ok(self.sorted()?.pop())
    }
}

impl<K, V> Default for SortedMap<K, V>
where
    K: BorshSerialize + BorshDeserialize + StorageKey + Ord,
    V: BorshSerialize + BorshDeserialize + Mergeable,
{
    fn default() -> Self {
        Self::new()
    }
}

impl<K, V> Clone for SortedMap<K, V> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<K, V> std::fmt::Debug for SortedMap<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SortedMap").field(&self.inner).finish()
    }
}

impl<K, V> BorshSerialize for SortedMap<K, V>
where
    K: BorshSerialize + BorshDeserialize + StorageKey + Ord,
    V: BorshSerialize + BorshDeserialize + Mergeable,
{
    fn serialize<W: io::Write>(&self, writer: &mut W) -> io::Result<()> {
        self.inner.serialize_as(Self::crdt_type, writer)
    }
}

impl<K, V> BorshDeserialize for SortedMap<K, V>
where
    K: BorshDeserialize + StorageKey,
    V: BorshDeserialize,
{
    fn deserialize_reader<R: io::Read>(reader: &mut R) -> io::Result<Self> {
        Ok(Self {
            inner: UnorderedMap::deserialize_reader(reader)?,
        })
    }
}

impl<K, V> Mergeable for SortedMap<K, V>
where
    K: BorshSerialize + BorshDeserialize + StorageKey + Ord,
    V: BorshSerialize + BorshDeserialize + Mergeable,
{
    fn merge(&mut self, _other: &Self) -> Result<(), StoreError> {
        // Entries merge one by one as entities, as in an unordered map.
        Ok(())
    }

    fn attach_field(&self, name: &str) -> Result<(), StoreError> {
        self.inner.attach_field_as(name, Self::crdt_type())
    }

    fn register_merges() {
        UnorderedMap::<K, V>::register_merges();
    }
}
