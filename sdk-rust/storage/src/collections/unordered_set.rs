//! A set with one child entity per element, the element id derived from its bytes.

use std::borrow::Borrow;
use std::io;
use std::marker::PhantomData;

use borsh::{BorshDeserialize, BorshSerialize};

use super::{Handle, StorageKey, clear_children, load_value, save_value};
use crate::address::Id;
use crate::entities::CrdtType;
use crate::error::StoreError;
use crate::merge::Mergeable;
use crate::store;

/// An add-wins set.
pub struct UnorderedSet<T> {
    handle: Handle,
    _types: PhantomData<fn() -> T>,
}

impl<T> UnorderedSet<T>
where
    T: BorshSerialize + BorshDeserialize + StorageKey,
{
    /// A new, detached set.
    pub fn new() -> Self {
        Self {
            handle: Handle::default(),
            _types: PhantomData,
        }
    }

    fn crdt_type() -> CrdtType {
        CrdtType::UnorderedSet {
            element_type: std::any::type_name::<T>().to_owned(),
        }
    }

    fn element_id<Q: StorageKey + ?Sized>(&self, value: &Q) -> Result<Id, StoreError> {
        Ok(Id::entry(self.handle.id()?, &value.key_bytes()))
    }

    /// Adds `value`; false if it was present.
    pub fn insert(&mut self, value: T) -> Result<bool, StoreError> {
        let id = self.element_id(&value)?;
        if store::index(id)?.is_some_and(|i| i.is_live()) {
            return Ok(false);
        }
        save_value(self.handle.id()?, id, &value, None)?;
        Ok(true)
    }

    /// True if `value` is present.
    pub fn contains<Q>(&self, value: &Q) -> Result<bool, StoreError>
    where
        T: Borrow<Q>,
        Q: StorageKey + ?Sized,
    {
        Ok(store::index(self.element_id(value)?)?.is_some_and(|i| i.is_live()))
    }

    /// Removes `value`; false if it was absent.
    pub fn remove<Q>(&mut self, value: &Q) -> Result<bool, StoreError>
    where
        T: Borrow<Q>,
        Q: StorageKey + ?Sized,
    {
        store::delete(self.element_id(value)?)
    }

    /// Every element, in insertion order.
    pub fn iter(&self) -> Result<impl Iterator<Item = T> + use<T>, StoreError> {
        let mut values = Vec::new();
        for child in super::elements(self.handle.id()?)? {
            if let Some(value) = load_value(child.id, "a set element")? {
                values.push(value);
            }
        }
        Ok(values.into_iter())
    }

    /// The number of elements.
    pub fn len(&self) -> Result<usize, StoreError> {
        super::count(self.handle.id()?)
    }

    /// True if there are no elements.
    pub fn is_empty(&self) -> Result<bool, StoreError> {
        Ok(self.len()? == 0)
    }

    /// Removes every element.
    pub fn clear(&mut self) -> Result<(), StoreError> {
        clear_children(self.handle.id()?)
    }
}

impl<T: BorshSerialize + BorshDeserialize + StorageKey> Default for UnorderedSet<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Clone for UnorderedSet<T> {
    fn clone(&self) -> Self {
        Self {
            handle: self.handle.clone(),
            _types: PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for UnorderedSet<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("UnorderedSet")
            .field(&self.handle.id.get())
            .finish()
    }
}

impl<T: BorshSerialize + BorshDeserialize + StorageKey> BorshSerialize for UnorderedSet<T> {
    fn serialize<W: io::Write>(&self, writer: &mut W) -> io::Result<()> {
        self.handle.serialize(Self::crdt_type, writer)
    }
}

impl<T> BorshDeserialize for UnorderedSet<T> {
    fn deserialize_reader<R: io::Read>(reader: &mut R) -> io::Result<Self> {
        Ok(Self {
            handle: Handle::deserialize(reader)?,
            _types: PhantomData,
        })
    }
}

impl<T: BorshSerialize + BorshDeserialize + StorageKey> Mergeable for UnorderedSet<T> {
    fn merge(&mut self, _other: &Self) -> Result<(), StoreError> {
        Ok(())
    }

    fn attach_field(&self, name: &str) -> Result<(), StoreError> {
        self.handle.attach_field(name, Self::crdt_type())
    }
}
