//! Content-addressed, immutable storage: each value is stored under the SHA-256 of its Borsh
//! encoding, once.
//!
//! A `FrozenStorage<T>` is a map from `[u8; 32]` hashes to values whose elements are tagged
//! frozen. Inserting the same value twice, on one replica or concurrently on several, gives the
//! same key and the same bytes, so merging is set union and the first write is the only one.
//! The storage layer enforces it for every writer, a remote peer included: a frozen element
//! whose value does not hash to its key is refused, and a frozen element cannot be deleted.

use std::io;

use borsh::{BorshDeserialize, BorshSerialize};

use super::unordered_map::UnorderedMap;
use crate::address::hash;
use crate::entities::{CrdtType, FROZEN};
use crate::error::StoreError;
use crate::merge::Mergeable;

/// A value held by a [`FrozenStorage`]: encoded as the value itself, never merged (two versions
/// of one key are the same bytes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrozenValue<T>(pub T);

impl<T: BorshSerialize> BorshSerialize for FrozenValue<T> {
    fn serialize<W: io::Write>(&self, writer: &mut W) -> io::Result<()> {
        self.0.serialize(writer)
    }
}

impl<T: BorshDeserialize> BorshDeserialize for FrozenValue<T> {
    fn deserialize_reader<R: io::Read>(reader: &mut R) -> io::Result<Self> {
        Ok(Self(T::deserialize_reader(reader)?))
    }
}

#[diagnostic::do_not_recommend]
impl<T> Mergeable for FrozenValue<T> {
    /// Elements are tagged frozen, which is what the storage layer checks.
    const RECORD: Option<&'static str> = Some(FROZEN);

    fn merge(&mut self, _other: &Self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// Immutable values addressed by the SHA-256 of their Borsh encoding.
pub struct FrozenStorage<T> {
    inner: UnorderedMap<[u8; 32], FrozenValue<T>>,
}

impl<T: BorshSerialize + BorshDeserialize> FrozenStorage<T> {
    /// A new, detached store.
    pub fn new() -> Self {
        Self {
            inner: UnorderedMap::new(),
        }
    }

    fn crdt_type() -> CrdtType {
        CrdtType::FrozenStorage
    }

    /// The key `value` is (or would be) stored under: SHA-256 of its Borsh encoding.
    pub fn key_of(value: &T) -> Result<[u8; 32], StoreError> {
        let bytes = borsh::to_vec(value).map_err(|source| StoreError::Encode {
            what: "a frozen value",
            source,
        })?;
        Ok(hash(&[&bytes]))
    }

    /// Stores `value` unless it is already there; returns its key.
    pub fn insert(&mut self, value: T) -> Result<[u8; 32], StoreError> {
        let key = Self::key_of(&value)?;
        if !self.inner.contains(&key)? {
            self.inner.insert(key, FrozenValue(value))?;
        }
        Ok(key)
    }

    /// The value stored under `key`.
    pub fn get(&self, key: &[u8; 32]) -> Result<Option<T>, StoreError> {
        Ok(self.inner.get(key)?.map(|value| value.0))
    }

    /// True if a value is stored under `key`.
    pub fn contains(&self, key: &[u8; 32]) -> Result<bool, StoreError> {
        self.inner.contains(key)
    }

    /// Every `(key, value)`, in the order they were first stored.
    pub fn entries(&self) -> Result<impl Iterator<Item = ([u8; 32], T)> + use<T>, StoreError> {
        Ok(self.inner.entries()?.map(|(key, value)| (key, value.0)))
    }

    /// The number of values.
    pub fn len(&self) -> Result<usize, StoreError> {
        self.inner.len()
    }

    /// True if nothing is stored.
    pub fn is_empty(&self) -> Result<bool, StoreError> {
        self.inner.is_empty()
    }
}

impl<T: BorshSerialize + BorshDeserialize> Default for FrozenStorage<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Clone for FrozenStorage<T> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<T> std::fmt::Debug for FrozenStorage<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("FrozenStorage").field(&self.inner).finish()
    }
}

impl<T: BorshSerialize + BorshDeserialize> BorshSerialize for FrozenStorage<T> {
    fn serialize<W: io::Write>(&self, writer: &mut W) -> io::Result<()> {
        self.inner.serialize_as(Self::crdt_type, writer)
    }
}

impl<T: BorshDeserialize> BorshDeserialize for FrozenStorage<T> {
    fn deserialize_reader<R: io::Read>(reader: &mut R) -> io::Result<Self> {
        Ok(Self {
            inner: UnorderedMap::deserialize_reader(reader)?,
        })
    }
}

impl<T: BorshSerialize + BorshDeserialize> Mergeable for FrozenStorage<T> {
    fn merge(&mut self, _other: &Self) -> Result<(), StoreError> {
        Ok(())
    }

    fn attach_field(&self, name: &str) -> Result<(), StoreError> {
        self.inner.attach_field_as(name, Self::crdt_type())
    }
}
