//! A set with one child entity per element, the element id derived from its bytes.

use std::borrow::Borrow;
use std::io;
use std::marker::PhantomData;

use borsh::{BorshDeserialize, BorshSerialize};

use super::{
    Handle, Staged, Staging, StorageKey, clear_children, copy, load_value, save_value, stage_value,
};
use crate::address::Id;
use crate::entities::CrdtType;
use crate::error::StoreError;
use crate::merge::Mergeable;
use crate::store;

/// An add-wins set.
pub struct UnorderedSet<T> {
    handle: Handle,
    /// The elements while detached.
    staged: Staging<T>,
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
            staged: Staging::default(),
            _types: PhantomData,
        }
    }

    /// Encodes the handle as a collection of type `crdt_type` (a sorted set stores as this).
    pub(super) fn serialize_as<W: io::Write>(
        &self,
        crdt_type: impl FnOnce() -> CrdtType,
        writer: &mut W,
    ) -> io::Result<()> {
        super::serialize_collection(
            &self.handle,
            &self.staged,
            |value, w| value.serialize(w),
            crdt_type,
            |set| self.staged_writes(set),
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
            .attach_field(name, crdt_type, |set| self.staged_writes(set))
    }

    /// The staged elements as the writes of the set bound to `set`.
    fn staged_writes(&self, set: Id) -> Result<Vec<Staged>, StoreError> {
        self.staged
            .take()
            .into_iter()
            .map(|(key, value)| stage_value(Id::entry(set, &key), &value, None))
            .collect()
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
        if self.handle.get().is_none() {
            let key = value.key_bytes().into_owned();
            if self.staged.position(&key).is_some() {
                return Ok(false);
            }
            self.staged.items_mut().push((key, value));
            return Ok(true);
        }
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
        if self.handle.get().is_none() {
            return Ok(self.staged.position(&value.key_bytes()).is_some());
        }
        Ok(store::index(self.element_id(value)?)?.is_some_and(|i| i.is_live()))
    }

    /// Removes `value`; false if it was absent.
    pub fn remove<Q>(&mut self, value: &Q) -> Result<bool, StoreError>
    where
        T: Borrow<Q>,
        Q: StorageKey + ?Sized,
    {
        if self.handle.get().is_none() {
            let at = self.staged.position(&value.key_bytes());
            return Ok(at.map(|at| self.staged.items_mut().remove(at)).is_some());
        }
        store::delete(self.element_id(value)?)
    }

    /// Every element, in insertion order.
    pub fn iter(&self) -> Result<impl Iterator<Item = T> + use<T>, StoreError> {
        if self.handle.get().is_none() {
            let staged = self.staged.items();
            let values = staged
                .iter()
                .map(|(_, value)| copy(value, "a set element"))
                .collect::<Result<Vec<_>, _>>()?;
            return Ok(values.into_iter());
        }
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
        match self.handle.get() {
            Some(set) => super::count(set),
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
            Some(set) => clear_children(set),
            None => {
                self.staged.take();
                Ok(())
            }
        }
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
            staged: self.staged.clone(),
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
        self.serialize_as(Self::crdt_type, writer)
    }
}

impl<T: BorshDeserialize + StorageKey> BorshDeserialize for UnorderedSet<T> {
    fn deserialize_reader<R: io::Read>(reader: &mut R) -> io::Result<Self> {
        let (handle, staged) =
            super::deserialize_collection(reader, T::deserialize_reader, |value| {
                value.key_bytes().into_owned()
            })?;
        Ok(Self {
            handle,
            staged,
            _types: PhantomData,
        })
    }
}

impl<T: BorshSerialize + BorshDeserialize + StorageKey> Mergeable for UnorderedSet<T> {
    fn merge(&mut self, _other: &Self) -> Result<(), StoreError> {
        Ok(())
    }

    fn attach_field(&self, name: &str) -> Result<(), StoreError> {
        self.attach_field_as(name, Self::crdt_type())
    }
}
