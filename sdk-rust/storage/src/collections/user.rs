//! Per-account storage: one value per account, written only by that account.
//!
//! A `UserStorage<T>` is a map from 32-byte accounts to values. A method writes and removes the
//! slot of the account that calls it ([`store::writer`]); it can read anyone's. The element of
//! an account, and every entity under it (the elements of a collection inside `T`), is marked
//! user-owned in its metadata, and the storage layer refuses any write or deletion of it by
//! another account, on the calling node and on every peer that applies the delta: there the
//! writer is the delta's author, whose signature the node checked before applying it. So a
//! slot holds what its owner last wrote, and merging is per account, the later write winning.

use std::io;

use borsh::{BorshDeserialize, BorshSerialize};

use super::unordered_map::UnorderedMap;
use crate::entities::{CrdtType, USER_SLOT};
use crate::error::{Hex32, StoreError};
use crate::ids::AccountId;
use crate::merge::Mergeable;
use crate::store;

/// Something that names an account: the 32 bytes of its key.
pub trait UserKey {
    /// The account's 32 bytes.
    fn account_bytes(&self) -> [u8; 32];
}

impl UserKey for [u8; 32] {
    fn account_bytes(&self) -> [u8; 32] {
        *self
    }
}

impl<K: UserKey + ?Sized> UserKey for &K {
    fn account_bytes(&self) -> [u8; 32] {
        (**self).account_bytes()
    }
}

/// One account's value in a [`UserStorage`]: encoded as the value itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserValue<T>(pub T);

impl<T: BorshSerialize> BorshSerialize for UserValue<T> {
    fn serialize<W: io::Write>(&self, writer: &mut W) -> io::Result<()> {
        self.0.serialize(writer)
    }
}

impl<T: BorshDeserialize> BorshDeserialize for UserValue<T> {
    fn deserialize_reader<R: io::Read>(reader: &mut R) -> io::Result<Self> {
        Ok(Self(T::deserialize_reader(reader)?))
    }
}

#[diagnostic::do_not_recommend]
impl<T: Mergeable> Mergeable for UserValue<T> {
    /// Elements are tagged as user slots, which is what the storage layer checks.
    const RECORD: Option<&'static str> = Some(USER_SLOT);

    fn merge(&mut self, other: &Self) -> Result<(), StoreError> {
        self.0.merge(&other.0)
    }

    fn register_merges() {
        T::register_merges();
    }
}

/// One value per account; each account writes only its own.
pub struct UserStorage<T> {
    inner: UnorderedMap<[u8; 32], UserValue<T>>,
}

impl<T: BorshSerialize + BorshDeserialize + Mergeable> UserStorage<T> {
    /// A new, detached store.
    pub fn new() -> Self {
        Self {
            inner: UnorderedMap::new(),
        }
    }

    fn crdt_type() -> CrdtType {
        CrdtType::UserStorage
    }

    /// Sets the calling account's value; returns the previous one.
    pub fn insert(&mut self, value: T) -> Result<Option<T>, StoreError> {
        let key = store::writer();
        Ok(self.inner.insert(key, UserValue(value))?.map(|v| v.0))
    }

    /// Sets `user`'s value, which only `user` itself may do: anyone else gets
    /// [`StoreError::ForeignUser`].
    pub fn insert_for_user(
        &mut self,
        user: &impl UserKey,
        value: T,
    ) -> Result<Option<T>, StoreError> {
        let key = user.account_bytes();
        let writer = store::writer();
        if key != writer {
            return Err(StoreError::ForeignUser {
                owner: Hex32(key),
                writer: Hex32(writer),
            });
        }
        self.insert(value)
    }

    /// The calling account's value.
    pub fn get(&self) -> Result<Option<T>, StoreError> {
        self.get_for_user(&store::writer())
    }

    /// `user`'s value.
    pub fn get_for_user(&self, user: &impl UserKey) -> Result<Option<T>, StoreError> {
        Ok(self.inner.get(&user.account_bytes())?.map(|v| v.0))
    }

    /// True if the calling account has a value.
    pub fn contains_current_user(&self) -> Result<bool, StoreError> {
        self.inner.contains(&store::writer())
    }

    /// True if `user` has a value.
    pub fn contains_user(&self, user: &impl UserKey) -> Result<bool, StoreError> {
        self.inner.contains(&user.account_bytes())
    }

    /// Removes the calling account's value; returns it.
    pub fn remove(&mut self) -> Result<Option<T>, StoreError> {
        Ok(self.inner.remove(&store::writer())?.map(|v| v.0))
    }

    /// Every `(account, value)`, in the order the accounts first wrote.
    pub fn entries(&self) -> Result<impl Iterator<Item = (AccountId, T)> + use<T>, StoreError> {
        Ok(self
            .inner
            .entries()?
            .map(|(key, value)| (AccountId::from(key), value.0)))
    }

    /// The accounts with a value.
    pub fn users(&self) -> Result<impl Iterator<Item = AccountId> + use<T>, StoreError> {
        Ok(self.inner.keys()?.map(AccountId::from))
    }

    /// The number of accounts with a value.
    pub fn len(&self) -> Result<usize, StoreError> {
        self.inner.len()
    }

    /// True if no account has a value.
    pub fn is_empty(&self) -> Result<bool, StoreError> {
        self.inner.is_empty()
    }
}

impl<T: BorshSerialize + BorshDeserialize + Mergeable> Default for UserStorage<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Clone for UserStorage<T> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<T> std::fmt::Debug for UserStorage<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("UserStorage").field(&self.inner).finish()
    }
}

impl<T: BorshSerialize + BorshDeserialize + Mergeable> BorshSerialize for UserStorage<T> {
    fn serialize<W: io::Write>(&self, writer: &mut W) -> io::Result<()> {
        self.inner.serialize_as(Self::crdt_type, writer)
    }
}

impl<T: BorshDeserialize> BorshDeserialize for UserStorage<T> {
    fn deserialize_reader<R: io::Read>(reader: &mut R) -> io::Result<Self> {
        Ok(Self {
            inner: UnorderedMap::deserialize_reader(reader)?,
        })
    }
}

#[diagnostic::do_not_recommend]
impl<T: BorshSerialize + BorshDeserialize + Mergeable> Mergeable for UserStorage<T> {
    fn merge(&mut self, _other: &Self) -> Result<(), StoreError> {
        Ok(())
    }

    fn attach_field(&self, name: &str) -> Result<(), StoreError> {
        self.inner.attach_field_as(name, Self::crdt_type())
    }

    fn register_merges() {
        T::register_merges();
    }
}
