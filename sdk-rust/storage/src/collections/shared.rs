//! A value a group writes: `SharedStorage<T>` holds one `T` and the set of accounts that may
//! change it, which they can replace (rotate) unless it was made frozen.
//!
//! It is stored as a collection with two kinds of elements: versions of the writer set (the
//! first written with the storage; each rotation adds one, stamped with its HLC time, and the
//! greatest stamp is the current set) and the value. The value and everything under it (the
//! entries of a map it holds, say) name in their metadata the version they were written under,
//! and the storage layer accepts a write, local or a peer's, only from a writer of that version.
//! Versions never change, so every replica checks a peer's delta the same way, whatever it has
//! received; a write made concurrently with a rotation that removed its writer is kept, as on
//! the node that made it.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::io;
use std::ops::{Deref, DerefMut};
use std::rc::Rc;

use borsh::{BorshDeserialize, BorshSerialize};

use super::user::UserKey;
use super::{Handle, Staged, encoding_inline, load_value, save_value, stage_value};
use crate::address::Id;
use crate::entities::{CrdtType, SHARED_VALUE, WRITER_SET, WriterSet};
use crate::error::{Hex32, StoreError};
use crate::ids::AccountId;
use crate::merge::Mergeable;
use crate::store;

/// The element id of the first writer set.
fn genesis_id(storage: Id) -> Id {
    Id::entry(storage, b"writers:genesis")
}

/// The element id of the writer set made at `stamp`.
fn version_id(storage: Id, stamp: (u64, u128)) -> Id {
    let mut key = b"writers:".to_vec();
    key.extend_from_slice(&stamp.0.to_be_bytes());
    key.extend_from_slice(&stamp.1.to_be_bytes());
    Id::entry(storage, &key)
}

/// The element id of the value.
fn value_id(storage: Id) -> Id {
    Id::entry(storage, b"value")
}

/// One value, written only by the accounts of its writer set.
pub struct SharedStorage<T> {
    handle: Handle,
    /// While detached: the first writer set and the value. Clones share it.
    detached: Rc<RefCell<Option<(WriterSet, T)>>>,
}

impl<T: BorshSerialize + BorshDeserialize + Mergeable> SharedStorage<T> {
    /// A new, detached storage holding `T::default()`, writable by `writers`; with `frozen`, the
    /// writer set can never be rotated.
    pub fn new<A: UserKey>(writers: impl IntoIterator<Item = A>, frozen: bool) -> Self
    where
        T: Default,
    {
        Self::with_value(T::default(), writers, frozen)
    }

    /// [`SharedStorage::new`] holding `value`.
    pub fn with_value<A: UserKey>(
        value: T,
        writers: impl IntoIterator<Item = A>,
        frozen: bool,
    ) -> Self {
        let set = WriterSet {
            stamp: (0, 0),
            writers: writers.into_iter().map(|w| w.account_bytes()).collect(),
            frozen,
        };
        Self {
            handle: Handle::default(),
            detached: Rc::new(RefCell::new(Some((set, value)))),
        }
    }

    fn crdt_type() -> CrdtType {
        CrdtType::SharedStorage
    }

    /// The current writer set.
    fn current(&self) -> Result<WriterSet, StoreError> {
        if let Some((set, _)) = self.detached.borrow().as_ref() {
            return Ok(set.clone());
        }
        let id = self.handle.id()?;
        store::current_writers(id)?
            .map(|(_, set)| set)
            .ok_or(StoreError::Corrupt {
                id,
                reason: "a shared storage without a writer set".into(),
            })
    }

    /// Refuses a caller that is not a current writer, before anything is written.
    fn check_writer(&self) -> Result<(), StoreError> {
        let writer = store::writer();
        if self.current()?.writers.contains(&writer) {
            return Ok(());
        }
        Err(StoreError::NotWriter {
            id: self.handle.get().unwrap_or(Id::new([0; 32])),
            writer: Hex32(writer),
        })
    }

    /// The value.
    pub fn get(&self) -> Result<T, StoreError> {
        if let Some((_, value)) = self.detached.borrow().as_ref() {
            return super::copy(value, "a shared value");
        }
        let id = value_id(self.handle.id()?);
        load_value(id, "a shared value")?.ok_or(StoreError::Corrupt {
            id,
            reason: "a shared storage without its value".into(),
        })
    }

    /// The value, to change in place: written back when the guard is dropped. Only a current
    /// writer gets it.
    pub fn get_mut(&mut self) -> Result<SharedMut<'_, T>, StoreError> {
        self.check_writer()?;
        let value = self.get()?;
        Ok(SharedMut {
            storage: self,
            value: Some(value),
        })
    }

    /// Replaces the value (current writers only); returns the previous one.
    pub fn insert(&mut self, value: T) -> Result<Option<T>, StoreError> {
        self.check_writer()?;
        let previous = self.get()?;
        self.put(value)?;
        Ok(Some(previous))
    }

    fn put(&self, value: T) -> Result<(), StoreError> {
        if let Some((_, slot)) = self.detached.borrow_mut().as_mut() {
            *slot = value;
            return Ok(());
        }
        let storage = self.handle.id()?;
        save_value(storage, value_id(storage), &value, Some(SHARED_VALUE))
    }

    /// The accounts of the current writer set (empty if it cannot be read).
    pub fn writers(&self) -> BTreeSet<AccountId> {
        self.current()
            .map(|set| crate::btree::set_of(set.writers.into_iter().map(AccountId::from)))
            .unwrap_or_default()
    }

    /// The stamp `(time, id)` of the current writer set (`(0, 0)` for the first one).
    pub fn writers_stamp(&self) -> Result<(u64, u128), StoreError> {
        Ok(self.current()?.stamp)
    }

    /// True if the writer set can never be rotated.
    pub fn is_frozen(&self) -> bool {
        self.current().is_ok_and(|set| set.frozen)
    }

    /// True if the caller is a current writer.
    pub fn writable_by_me(&self) -> bool {
        self.check_writer().is_ok()
    }

    /// Replaces the writer set (current writers only, and not once frozen). Peers accept the
    /// new set from a writer of the set it replaces.
    pub fn rotate_writers<A: UserKey>(
        &mut self,
        writers: impl IntoIterator<Item = A>,
    ) -> Result<(), StoreError> {
        self.check_writer()?;
        let current = self.current()?;
        if current.frozen {
            return Err(StoreError::Frozen {
                id: self.handle.get().unwrap_or(Id::new([0; 32])),
                reason: "its shared storage's writer set is frozen",
            });
        }
        let writers: BTreeSet<[u8; 32]> =
            crate::btree::set_of(writers.into_iter().map(|w| w.account_bytes()));
        if let Some((set, _)) = self.detached.borrow_mut().as_mut() {
            set.writers = writers;
            return Ok(());
        }
        let storage = self.handle.id()?;
        // After the set it replaces, so that it becomes the current one everywhere.
        let now = store::timestamp();
        let stamp = if (now.time, now.id) > current.stamp {
            (now.time, now.id)
        } else {
            (current.stamp.0.saturating_add(1), now.id)
        };
        let set = WriterSet {
            stamp,
            writers,
            frozen: false,
        };
        save_value(
            storage,
            version_id(storage, set.stamp),
            &set,
            Some(WRITER_SET),
        )
    }

    /// The writes of a storage bound to `id` while detached: its first writer set, then its
    /// value.
    fn staged_writes(&self, id: Id) -> Result<Vec<Staged>, StoreError> {
        let Some((set, value)) = self.detached.borrow_mut().take() else {
            return Ok(Vec::new());
        };
        Ok(vec![
            stage_value(genesis_id(id), &set, Some(WRITER_SET))?,
            stage_value(value_id(id), &value, Some(SHARED_VALUE))?,
        ])
    }
}

/// The value of a [`SharedStorage`], written back when dropped.
pub struct SharedMut<'a, T: BorshSerialize + BorshDeserialize + Mergeable> {
    storage: &'a SharedStorage<T>,
    value: Option<T>,
}

impl<T: BorshSerialize + BorshDeserialize + Mergeable> Deref for SharedMut<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        self.value.as_ref().expect("present until dropped")
    }
}

impl<T: BorshSerialize + BorshDeserialize + Mergeable> DerefMut for SharedMut<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.value.as_mut().expect("present until dropped")
    }
}

impl<T: BorshSerialize + BorshDeserialize + Mergeable> Drop for SharedMut<'_, T> {
    fn drop(&mut self) {
        if let Some(value) = self.value.take()
            && let Err(error) = self.storage.put(value)
        {
            panic!("failed to write back a shared value: {error}");
        }
    }
}

impl<T> Clone for SharedStorage<T> {
    fn clone(&self) -> Self {
        Self {
            handle: self.handle.clone(),
            detached: Rc::clone(&self.detached),
        }
    }
}

impl<T> std::fmt::Debug for SharedStorage<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SharedStorage")
            .field(&self.handle.get())
            .finish()
    }
}

impl<T: BorshSerialize + BorshDeserialize + Mergeable> BorshSerialize for SharedStorage<T> {
    fn serialize<W: io::Write>(&self, writer: &mut W) -> io::Result<()> {
        if encoding_inline() {
            return Err(io::Error::other(
                "a shared storage cannot be kept in private state: its writers are checked by \
                 every replica",
            ));
        }
        self.handle
            .serialize(Self::crdt_type, |id| self.staged_writes(id), writer)
    }
}

impl<T> BorshDeserialize for SharedStorage<T> {
    fn deserialize_reader<R: io::Read>(reader: &mut R) -> io::Result<Self> {
        Ok(Self {
            handle: Handle::deserialize(reader)?,
            detached: Rc::new(RefCell::new(None)),
        })
    }
}

#[diagnostic::do_not_recommend]
impl<T: BorshSerialize + BorshDeserialize + Mergeable> Mergeable for SharedStorage<T> {
    fn merge(&mut self, _other: &Self) -> Result<(), StoreError> {
        Ok(())
    }

    fn attach_field(&self, name: &str) -> Result<(), StoreError> {
        self.handle
            .attach_field(name, Self::crdt_type(), |id| self.staged_writes(id))
    }

    fn register_merges() {
        T::register_merges();
    }
}
