//! A list whose elements are child entities with random ids, ordered by creation.

use std::io;
use std::marker::PhantomData;

use borsh::{BorshDeserialize, BorshSerialize};

use super::{Handle, Staged, Staging, clear_children, copy, load_value, save_value, stage_value};
use crate::address::Id;
use crate::entities::CrdtType;
use crate::error::StoreError;
use crate::merge::{Mergeable, merge_encoded, register_element};
use crate::store;

/// A grow-and-update list. Concurrent pushes both survive, ordered by creation time then id;
/// an update of one index is last-writer-wins.
pub struct Vector<T> {
    handle: Handle,
    /// The elements while detached (with empty keys).
    staged: Staging<T>,
    _types: PhantomData<fn() -> T>,
}

impl<T: BorshSerialize + BorshDeserialize + Mergeable> Vector<T> {
    /// A new, detached vector.
    pub fn new() -> Self {
        Self {
            handle: Handle::default(),
            staged: Staging::default(),
            _types: PhantomData,
        }
    }

    /// The staged elements as the writes of the vector once bound (ids are random, as pushed).
    fn staged_writes(&self) -> Result<Vec<Staged>, StoreError> {
        self.staged
            .take()
            .into_iter()
            .map(|(_, value)| stage_value(store::random_id(), &value, T::RECORD))
            .collect()
    }

    /// The staged element at `index`, copied.
    fn staged_get(&self, index: usize) -> Result<Option<T>, StoreError> {
        match self.staged.items().get(index) {
            Some((_, value)) => copy(value, "a vector element").map(Some),
            None => Ok(None),
        }
    }

    fn crdt_type() -> CrdtType {
        CrdtType::Vector {
            element_type: std::any::type_name::<T>().to_owned(),
        }
    }

    /// Appends `value`.
    pub fn push(&mut self, value: T) -> Result<(), StoreError> {
        if self.handle.get().is_none() {
            self.staged.items_mut().push((Vec::new(), value));
            return Ok(());
        }
        save_value(self.handle.id()?, store::random_id(), &value, T::RECORD)
    }

    /// The element at `index`.
    pub fn get(&self, index: usize) -> Result<Option<T>, StoreError> {
        if self.handle.get().is_none() {
            return self.staged_get(index);
        }
        match super::elements(self.handle.id()?)?.get(index) {
            Some(child) => load_value(child.id, "a vector element"),
            None => Ok(None),
        }
    }

    /// Replaces the element at `index`; returns the old one.
    pub fn update(&mut self, index: usize, value: T) -> Result<T, StoreError> {
        if self.handle.get().is_none() {
            let mut staged = self.staged.items_mut();
            let len = staged.len();
            return match staged.get_mut(index) {
                Some((_, slot)) => Ok(std::mem::replace(slot, value)),
                None => Err(StoreError::IndexOutOfBounds { index, len }),
            };
        }
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
        if self.handle.get().is_none() {
            return Ok(self.staged.items_mut().pop().map(|(_, value)| value));
        }
        let Some(last) = super::elements(self.handle.id()?)?.pop() else {
            return Ok(None);
        };
        let value = load_value(last.id, "a vector element")?;
        store::delete(last.id)?;
        Ok(value)
    }

    /// Every element, in order.
    pub fn iter(&self) -> Result<impl Iterator<Item = T> + use<T>, StoreError> {
        if self.handle.get().is_none() {
            let staged = self.staged.items();
            let values = staged
                .iter()
                .map(|(_, value)| copy(value, "a vector element"))
                .collect::<Result<Vec<_>, _>>()?;
            return Ok(values.into_iter());
        }
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
        match self.handle.get() {
            Some(vector) => super::count(vector),
            None => Ok(self.staged.len()),
        }
    }

    /// True if there are no elements.
    pub fn is_empty(&self) -> Result<bool, StoreError> {
        Ok(self.len()? == 0)
    }

    /// Removes every element.
    pub fn clear(&mut self) -> Result<(), StoreError> {
        match self.handle.get() {
            Some(vector) => clear_children(vector),
            None => {
                self.staged.take();
                Ok(())
            }
        }
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
            staged: self.staged.clone(),
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
        super::serialize_collection(
            &self.handle,
            &self.staged,
            |value, w| value.serialize(w),
            Self::crdt_type,
            |_| self.staged_writes(),
            writer,
        )
    }
}

impl<T: BorshDeserialize> BorshDeserialize for Vector<T> {
    fn deserialize_reader<R: io::Read>(reader: &mut R) -> io::Result<Self> {
        let (handle, staged) =
            super::deserialize_collection(reader, T::deserialize_reader, |_| Vec::new())?;
        Ok(Self {
            handle,
            staged,
            _types: PhantomData,
        })
    }
}

impl<T: BorshSerialize + BorshDeserialize + Mergeable> Mergeable for Vector<T> {
    fn merge(&mut self, _other: &Self) -> Result<(), StoreError> {
        Ok(())
    }

    fn attach_field(&self, name: &str) -> Result<(), StoreError> {
        self.handle
            .attach_field(name, Self::crdt_type(), |_| self.staged_writes())
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
