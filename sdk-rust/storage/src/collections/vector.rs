//! A list whose elements are child entities with random ids, ordered by creation.

use std::io;
use std::marker::PhantomData;

use borsh::{BorshDeserialize, BorshSerialize};

use super::{Handle, clear_children, load_value, save_value};
use crate::address::Id;
use crate::entities::CrdtType;
use crate::error::StoreError;
use crate::merge::{Mergeable, merge_encoded, register_element};
use crate::store;

/// A grow-and-update list. Concurrent pushes both survive, ordered by creation time then id;
/// an update of one index is last-writer-wins.
pub struct Vector<T> {
    handle: Handle,
    _types: PhantomData<fn() -> T>,
}

impl<T: BorshSerialize + BorshDeserialize + Mergeable> Vector<T> {
    /// A new, detached vector.
    pub fn new() -> Self {
        Self {
            handle: Handle::default(),
            _types: PhantomData,
        }
    }

    fn crdt_type() -> CrdtType {
        CrdtType::Vector {
            element_type: std::any::type_name::<T>().to_owned(),
        }
    }

    /// Appends `value`.
    pub fn push(&mut self, value: T) -> Result<(), StoreError> {
        save_value(self.handle.id()?, store::random_id(), &value, T::RECORD)
    }

    /// The element at `index`.
    pub fn get(&self, index: usize) -> Result<Option<T>, StoreError> {
        match super::elements(self.handle.id()?)?.get(index) {
            Some(child) => load_value(child.id, "a vector element"),
            None => Ok(None),
        }
    }

    /// Replaces the element at `index`; returns the old one.
    pub fn update(&mut self, index: usize, value: T) -> Result<T, StoreError> {
        let collection = self.handle.id()?;
        let children = super::elements(collection)?;
        let Some(child) = children.get(index) else {
            return Err(StoreError::IndexOutOfBounds {
                index,
                len: children.len(),
            });
        };
        let old =
            load_value(child.id, "a vector element")?.ok_or(StoreError::IndexOutOfBounds {
                index,
                len: children.len(),
            })?;
        save_value(collection, child.id, &value, T::RECORD)?;
        Ok(old)
    }

    /// Removes and returns the last element.
    pub fn pop(&mut self) -> Result<Option<T>, StoreError> {
        let Some(last) = super::elements(self.handle.id()?)?.pop() else {
            return Ok(None);
        };
        let value = load_value(last.id, "a vector element")?;
        store::delete(last.id)?;
        Ok(value)
    }

    /// Every element, in order.
    pub fn iter(&self) -> Result<impl Iterator<Item = T> + use<T>, StoreError> {
        let mut values = Vec::new();
        for child in super::elements(self.handle.id()?)? {
            if let Some(value) = load_value(child.id, "a vector element")? {
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

impl<T: BorshSerialize + BorshDeserialize + Mergeable> Default for Vector<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Clone for Vector<T> {
    fn clone(&self) -> Self {
        Self {
            handle: self.handle.clone(),
            _types: PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for Vector<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Vector")
            .field(&self.handle.id.get())
            .finish()
    }
}

impl<T: BorshSerialize + BorshDeserialize + Mergeable> BorshSerialize for Vector<T> {
    fn serialize<W: io::Write>(&self, writer: &mut W) -> io::Result<()> {
        self.handle.serialize(Self::crdt_type, writer)
    }
}

impl<T> BorshDeserialize for Vector<T> {
    fn deserialize_reader<R: io::Read>(reader: &mut R) -> io::Result<Self> {
        Ok(Self {
            handle: Handle::deserialize(reader)?,
            _types: PhantomData,
        })
    }
}

impl<T: BorshSerialize + BorshDeserialize + Mergeable> Mergeable for Vector<T> {
    fn merge(&mut self, _other: &Self) -> Result<(), StoreError> {
        Ok(())
    }

    fn attach_field(&self, name: &str) -> Result<(), StoreError> {
        self.handle.attach_field(name, Self::crdt_type())
    }

    fn register_merges() {
        register_element::<T>(std::any::type_name::<Self>(), merge_element::<T>);
    }
}

/// Merges two versions of an element that is a record: `(value, element id)`.
fn merge_element<T>(mine: &[u8], theirs: &[u8]) -> Result<Option<Vec<u8>>, StoreError>
where
    T: BorshSerialize + BorshDeserialize + Mergeable,
{
    merge_encoded::<(T, Id)>(mine, theirs, |mine, theirs| mine.0.merge(&theirs.0))
}
