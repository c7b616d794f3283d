//! Access-controlled values built on [`SharedStorage`]: [`Ownable`] (one owner, transferable),
//! [`AccessControl`] (admins granting roles) and the name upstream gives a writer-set store,
//! [`PermissionedStorage`].
//!
//! Each is a shared storage, so the storage layer checks every write, a peer's delta included,
//! against the writer set the write names: the owner, or the admins.

use std::collections::BTreeSet;
use std::io;

use borsh::{BorshDeserialize, BorshSerialize};

use super::shared::{SharedMut, SharedStorage};
use super::unordered_map::UnorderedMap;
use super::unordered_set::UnorderedSet;
use crate::error::{Hex32, StoreError};
use crate::ids::AccountId;
use crate::merge::Mergeable;
use crate::store;

/// A value its writer set changes: upstream's name for [`SharedStorage`].
pub type PermissionedStorage<T> = SharedStorage<T>;

fn caller() -> AccountId {
    AccountId::from(store::writer())
}

/// A value one account owns: only the owner changes it, and the owner can hand it over.
pub struct Ownable<T> {
    inner: SharedStorage<T>,
}

impl<T: BorshSerialize + BorshDeserialize + Mergeable> Ownable<T> {
    /// Owned by `owner`, holding `T::default()`.
    pub fn new_owned_by(owner: AccountId) -> Self
    where
        T: Default,
    {
        Self {
            inner: SharedStorage::new([owner], false),
        }
    }

    /// Owned by the caller, holding `T::default()`.
    pub fn new_owned_by_caller() -> Self
    where
        T: Default,
    {
        Self::new_owned_by(caller())
    }

    /// The owner (`None` once ownership was given up to no one).
    pub fn owner(&self) -> Option<AccountId> {
        self.inner.writers().into_iter().next()
    }

    /// True if `who` owns it.
    pub fn is_owner(&self, who: &AccountId) -> bool {
        self.owner().as_ref() == Some(who)
    }

    /// Refuses a caller that is not the owner.
    pub fn only_owner(&self) -> Result<(), StoreError> {
        if self.is_owner(&caller()) {
            Ok(())
        } else {
            Err(StoreError::NotOwnerOf {
                what: "this value",
                caller: Hex32(store::writer()),
            })
        }
    }

    /// Hands ownership to `new_owner` (the owner only).
    pub fn transfer_ownership(&mut self, new_owner: AccountId) -> Result<(), StoreError> {
        self.only_owner()?;
        self.inner.rotate_writers([new_owner])
    }

    /// The value.
    pub fn get(&self) -> Result<T, StoreError> {
        self.inner.get()
    }

    /// The value, to change in place (the owner only).
    pub fn get_mut(&mut self) -> Result<SharedMut<'_, T>, StoreError> {
        self.inner.get_mut()
    }

    /// Replaces the value (the owner only); returns the previous one.
    pub fn insert(&mut self, value: T) -> Result<Option<T>, StoreError> {
        self.inner.insert(value)
    }
}

impl<T> Clone for Ownable<T> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<T> std::fmt::Debug for Ownable<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Ownable").field(&self.inner).finish()
    }
}

impl<T: BorshSerialize + BorshDeserialize + Mergeable> BorshSerialize for Ownable<T> {
    fn serialize<W: io::Write>(&self, writer: &mut W) -> io::Result<()> {
        self.inner.serialize(writer)
    }
}

impl<T> BorshDeserialize for Ownable<T> {
    fn deserialize_reader<R: io::Read>(reader: &mut R) -> io::Result<Self> {
        Ok(Self {
            inner: SharedStorage::deserialize_reader(reader)?,
        })
    }
}

#[diagnostic::do_not_recommend]
impl<T: BorshSerialize + BorshDeserialize + Mergeable> Mergeable for Ownable<T> {
    fn merge(&mut self, _other: &Self) -> Result<(), StoreError> {
        Ok(())
    }

    fn attach_field(&self, name: &str) -> Result<(), StoreError> {
        self.inner.attach_field(name)
    }

    fn register_merges() {
        SharedStorage::<T>::register_merges();
    }
}

/// Roles granted by admins: role name → the accounts holding it. Only the admins (the writer set
/// of the underlying shared storage) grant, revoke or change who the admins are.
pub struct AccessControl {
    inner: SharedStorage<UnorderedMap<String, UnorderedSet<AccountId>>>,
}

impl AccessControl {
    /// A registry whose only admin is `admin`.
    pub fn new(admin: AccountId) -> Self {
        Self {
            inner: SharedStorage::new([admin], false),
        }
    }

    /// A registry whose only admin is the caller.
    pub fn new_admin_caller() -> Self {
        Self::new(caller())
    }

    /// The admins.
    pub fn admins(&self) -> BTreeSet<AccountId> {
        self.inner.writers()
    }

    /// True if `who` is an admin.
    pub fn is_admin(&self, who: &AccountId) -> bool {
        self.admins().contains(who)
    }

    /// Refuses a caller that is not an admin.
    pub fn only_admin(&self) -> Result<(), StoreError> {
        if self.is_admin(&caller()) {
            Ok(())
        } else {
            Err(StoreError::NotOwnerOf {
                what: "the role registry (admins only)",
                caller: Hex32(store::writer()),
            })
        }
    }

    /// Makes `who` an admin (admins only).
    pub fn grant_admin(&mut self, who: AccountId) -> Result<(), StoreError> {
        self.only_admin()?;
        let mut admins = self.admins();
        admins.insert(who);
        self.inner.rotate_writers(admins)
    }

    /// Removes `who` from the admins (admins only); the last admin stays.
    pub fn revoke_admin(&mut self, who: &AccountId) -> Result<(), StoreError> {
        self.only_admin()?;
        let mut admins = self.admins();
        admins.remove(who);
        if admins.is_empty() {
            return Err(StoreError::NotOwnerOf {
                what: "the role registry (its last admin cannot be removed)",
                caller: Hex32(store::writer()),
            });
        }
        self.inner.rotate_writers(admins)
    }

    /// True if `who` holds `role`.
    pub fn has_role(&self, role: &str, who: &AccountId) -> Result<bool, StoreError> {
        match self.inner.get()?.get(role)? {
            Some(members) => members.contains(who),
            None => Ok(false),
        }
    }

    /// Refuses a caller that does not hold `role`.
    pub fn only_role(&self, role: &str) -> Result<(), StoreError> {
        if self.has_role(role, &caller())? {
            Ok(())
        } else {
            Err(StoreError::NotOwnerOf {
                what: "this action (it needs a role the caller does not hold)",
                caller: Hex32(store::writer()),
            })
        }
    }

    /// Gives `role` to `who` (admins only).
    pub fn grant(&mut self, role: &str, who: AccountId) -> Result<(), StoreError> {
        self.only_admin()?;
        let mut roles = self.inner.get_mut()?;
        let mut members = roles
            .entry(role.to_owned())?
            .or_insert_with(UnorderedSet::new)?;
        members.insert(who)?;
        Ok(())
    }

    /// Takes `role` from `who` (admins only).
    pub fn revoke(&mut self, role: &str, who: &AccountId) -> Result<(), StoreError> {
        self.only_admin()?;
        let roles = self.inner.get_mut()?;
        if let Some(mut members) = roles.get(role)? {
            members.remove(who)?;
        }
        Ok(())
    }

    /// The accounts holding `role`.
    pub fn members_of(&self, role: &str) -> Result<Vec<AccountId>, StoreError> {
        match self.inner.get()?.get(role)? {
            Some(members) => Ok(members.iter()?.collect()),
            None => Ok(Vec::new()),
        }
    }
}

impl Clone for AccessControl {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl std::fmt::Debug for AccessControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("AccessControl").field(&self.inner).finish()
    }
}

impl BorshSerialize for AccessControl {
    fn serialize<W: io::Write>(&self, writer: &mut W) -> io::Result<()> {
        self.inner.serialize(writer)
    }
}

impl BorshDeserialize for AccessControl {
    fn deserialize_reader<R: io::Read>(reader: &mut R) -> io::Result<Self> {
        Ok(Self {
            inner: SharedStorage::deserialize_reader(reader)?,
        })
    }
}

#[diagnostic::do_not_recommend]
impl Mergeable for AccessControl {
    fn merge(&mut self, _other: &Self) -> Result<(), StoreError> {
        Ok(())
    }

    fn attach_field(&self, name: &str) -> Result<(), StoreError> {
        self.inner.attach_field(name)
    }

    fn register_merges() {
        SharedStorage::<UnorderedMap<String, UnorderedSet<AccountId>>>::register_merges();
    }
}
