//! Node-local private state (`#[app::private]`): one value per type, stored in the node's
//! private storage, never in a delta, never seen by other members.
//!
//! ```ignore
//! #[derive(BorshSerialize, BorshDeserialize, Default)]
//! #[borsh(crate = "calimero_sdk::borsh")]
//! #[app::private]
//! pub struct Secrets { notes: UnorderedMap<String, String>, added: u64 }
//!
//! let mut secrets = Secrets::private_load_or_default()?;
//! let mut secrets = secrets.as_mut();      // written back when dropped
//! secrets.notes.insert("k".into(), "v".into())?;
//! secrets.added += 1;
//! ```
//!
//! Collections in a private value keep their elements inline: the whole value is one record
//! (see [`calimero_storage::collections::private_encoding`]), read and written at once.

use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};

use borsh::{BorshDeserialize, BorshSerialize};
use calimero_storage::collections::private_encoding;

use crate::app::{Error, Result};
use crate::env;

/// Where a private value of type `T` lives.
#[derive(Clone, Copy, Debug)]
pub struct EntryHandle<T> {
    key: &'static [u8],
    _type: PhantomData<fn() -> T>,
}

impl<T> EntryHandle<T> {
    /// The private value under `key`.
    pub const fn new(key: &'static [u8]) -> Self {
        Self {
            key,
            _type: PhantomData,
        }
    }

    /// The stored value, if any.
    pub fn get(&self) -> Result<Option<EntryRef<T>>>
    where
        T: BorshDeserialize,
    {
        let Some(bytes) = env::private_storage_read(self.key) else {
            return Ok(None);
        };
        let data = private_encoding(|| T::try_from_slice(&bytes))
            .map_err(|e| Error::msg(format!("cannot decode the private state: {e}")))?;
        Ok(Some(EntryRef {
            data,
            key: self.key,
        }))
    }

    /// The stored value, or `make()` stored now.
    pub fn get_or_init_with(&self, make: impl FnOnce() -> T) -> Result<EntryRef<T>>
    where
        T: BorshDeserialize + BorshSerialize,
    {
        if let Some(entry) = self.get()? {
            return Ok(entry);
        }
        let entry = EntryRef {
            data: make(),
            key: self.key,
        };
        entry.save()?;
        Ok(entry)
    }

    /// The stored value, or `T::default()` stored now.
    pub fn get_or_default(&self) -> Result<EntryRef<T>>
    where
        T: BorshDeserialize + BorshSerialize + Default,
    {
        self.get_or_init_with(T::default)
    }

    /// Changes the value (the default if none) with `change`, then stores it.
    pub fn modify(&self, change: impl FnOnce(&mut T)) -> Result<()>
    where
        T: BorshDeserialize + BorshSerialize + Default,
    {
        let mut entry = self.get_or_default()?;
        change(&mut entry.data);
        entry.save()
    }
}

/// A private value read from storage.
#[derive(Debug)]
pub struct EntryRef<T> {
    data: T,
    key: &'static [u8],
}

impl<T> EntryRef<T> {
    /// A guard that writes the value back when dropped.
    pub fn as_mut(&mut self) -> EntryMut<'_, T>
    where
        T: BorshSerialize,
    {
        EntryMut {
            data: &mut self.data,
            key: self.key,
        }
    }

    /// Writes the value to private storage.
    pub fn save(&self) -> Result<()>
    where
        T: BorshSerialize,
    {
        save(self.key, &self.data)
    }
}

impl<T> Deref for EntryRef<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.data
    }
}

fn save<T: BorshSerialize>(key: &[u8], data: &T) -> Result<()> {
    let bytes = private_encoding(|| borsh::to_vec(data))
        .map_err(|e| Error::msg(format!("cannot encode the private state: {e}")))?;
    if env::private_storage_write(key, &bytes) {
        Ok(())
    } else {
        Err(Error::msg("this node has no private storage for the call"))
    }
}

/// A private value being changed; written back when dropped (a failed write panics, so the
/// call traps and nothing of it is kept).
#[derive(Debug)]
pub struct EntryMut<'a, T: BorshSerialize> {
    data: &'a mut T,
    key: &'static [u8],
}

impl<T: BorshSerialize> Deref for EntryMut<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.data
    }
}

impl<T: BorshSerialize> DerefMut for EntryMut<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.data
    }
}

impl<T: BorshSerialize> Drop for EntryMut<'_, T> {
    fn drop(&mut self) {
        if let Err(error) = save(self.key, self.data) {
            panic!("failed to write the private state back: {error}");
        }
    }
}
