//! A set read in order: range, prefix, first/last and paging.
//!
//! A `SortedSet` stores exactly what an [`UnorderedSet`] stores and merges the same way (add
//! wins); only its collection entity's type differs. Ordered reads load the elements and sort
//! them by `T`'s [`Ord`] (O(n log n)); order is never replicated.

use std::borrow::Borrow;
use std::io;
use std::ops::RangeBounds;

use borsh::{BorshDeserialize, BorshSerialize};

use super::StorageKey;
use super::unordered_set::UnorderedSet;
use crate::entities::CrdtType;
use crate::error::StoreError;
use crate::merge::Mergeable;

/// A set whose reads come in order (`T: Ord`). It merges as [`UnorderedSet`].
pub struct SortedSet<T> {
    inner: UnorderedSet<T>,
}

impl<T> SortedSet<T>
where
    T: BorshSerialize + BorshDeserialize + StorageKey + Ord,
{
    /// A new, detached set.
    pub fn new() -> Self {
        Self {
            inner: UnorderedSet::new(),
        }
    }

    fn crdt_type() -> CrdtType {
        CrdtType::SortedSet {
            element_type: std::any::type_name::<T>().to_owned(),
        }
    }

    /// Adds `value`; false if it was present.
    pub fn insert(&mut self, value: T) -> Result<bool, StoreError> {
        self.inner.insert(value)
    }

    /// True if `value` is present.
    pub fn contains<Q>(&self, value: &Q) -> Result<bool, StoreError>
    where
        T: Borrow<Q>,
        Q: StorageKey + ?Sized,
    {
        self.inner.contains(value)
    }

    /// Removes `value`; false if it was absent.
    pub fn remove<Q>(&mut self, value: &Q) -> Result<bool, StoreError>
    where
        T: Borrow<Q>,
        Q: StorageKey + ?Sized,
    {
        self.inner.remove(value)
    }

    /// The number of elements.
    pub fn len(&self) -> Result<usize, StoreError> {
        self.inner.len()
    }

    /// True if there are no elements.
    pub fn is_empty(&self) -> Result<bool, StoreError> {
        self.inner.is_empty()
    }

    /// Removes every element.
    pub fn clear(&mut self) -> Result<(), StoreError> {
        self.inner.clear()
    }

    fn sorted(&self) -> Result<Vec<T>, StoreError> {
        let mut values: Vec<T> = self.inner.iter()?.collect();
        values.sort();
        Ok(values)
    }

    /// Every element, in order.
    pub fn iter(&self) -> Result<impl Iterator<Item = T> + use<T>, StoreError> {
        Ok(self.sorted()?.into_iter())
    }

    /// The elements in `range`, in order.
    pub fn range<R: RangeBounds<T>>(
        &self,
        range: R,
    ) -> Result<impl Iterator<Item = T> + use<T, R>, StoreError> {
        let mut values: Vec<T> = self.inner.iter()?.filter(|v| range.contains(v)).collect();
        values.sort();
        Ok(values.into_iter())
    }

    /// The elements whose bytes start with `prefix`, in order.
    pub fn prefix(&self, prefix: &[u8]) -> Result<impl Iterator<Item = T> + use<T>, StoreError>
    where
        T: AsRef<[u8]>,
    {
        let mut values: Vec<T> = self
            .inner
            .iter()?
            .filter(|v| v.as_ref().starts_with(prefix))
            .collect();
        values.sort();
        Ok(values.into_iter())
    }

    /// At most `limit` elements after skipping `offset`, in order.
    pub fn page(&self, offset: usize, limit: usize) -> Result<Vec<T>, StoreError> {
        Ok(self
            .sorted()?
            .into_iter()
            .skip(offset)
            .take(limit)
            .collect())
    }

    /// The least element.
    pub fn first(&self) -> Result<Option<T>, StoreError> {
        Ok(self.sorted()?.into_iter().next())
    }

    /// The greatest element.
    pub fn last(&self) -> Result<Option<T>, StoreError> {
        Ok(self.sorted()?.pop())
    }
}

impl<T: BorshSerialize + BorshDeserialize + StorageKey + Ord> Default for SortedSet<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Clone for SortedSet<T> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<T> std::fmt::Debug for SortedSet<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SortedSet").field(&self.inner).finish()
    }
}

impl<T: BorshSerialize + BorshDeserialize + StorageKey + Ord> BorshSerialize for SortedSet<T> {
    fn serialize<W: io::Write>(&self, writer: &mut W) -> io::Result<()> {
        self.inner.serialize_as(Self::crdt_type, writer)
    }
}

impl<T: BorshDeserialize + StorageKey> BorshDeserialize for SortedSet<T> {
    fn deserialize_reader<R: io::Read>(reader: &mut R) -> io::Result<Self> {
        Ok(Self {
            inner: UnorderedSet::deserialize_reader(reader)?,
        })
    }
}

impl<T: BorshSerialize + BorshDeserialize + StorageKey + Ord> Mergeable for SortedSet<T> {
    fn merge(&mut self, _other: &Self) -> Result<(), StoreError> {
        Ok(())
    }

    fn attach_field(&self, name: &str) -> Result<(), StoreError> {
        self.inner.attach_field_as(name, Self::crdt_type())
    }
}
