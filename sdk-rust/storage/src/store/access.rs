//! Who may write an entity, decided by where it is, and checked for every writer: the caller
//! of a method, or the author of a peer's delta as the host verified it.
//!
//! - Anything in no user or shared storage is public.
//! - An element of a `UserStorage` belongs to the account its key names, and everything under it
//!   to the same account: only that account writes or deletes it.
//! - A `SharedStorage` holds versions of its writer set and one value. The first version is
//!   written with the storage itself; every later one (a rotation) and the value, with everything
//!   under it, names in its metadata the version it was written under
//!   (`StorageType::SharedMember { anchor }`), and its writer must be in that version. A local
//!   write names the current version (the greatest stamp). Versions never change and are never
//!   deleted, so whether a peer's write is allowed does not depend on what else the replica has
//!   received: the check is the same on every replica. What is written together with the
//!   storage itself (its first value) is its creator's to give.
//!
//! Where the entity is decides, not what a delta claims: a delta whose metadata does not match
//! the entity's place is refused whole.

use borsh::BorshDeserialize;

use super::{BUCKET, Store, split_element};
use crate::address::Id;
use crate::entities::{
    CrdtType, EntityIndex, Metadata, SHARED_VALUE, StorageType, USER_SLOT, WRITER_SET, WriterSet,
};
use crate::error::{Hex32, StoreError};

/// Where an entity sits, which decides who may write it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Place {
    /// Anyone.
    Public,
    /// Only this account (a user-storage element or anything under one).
    User([u8; 32]),
    /// The writers of a version of `container`'s writer set: its value and what is under it,
    /// and, with `rotation`, a later version of the set.
    Shared { container: Id, rotation: bool },
    /// The first writer set of `container`, written only together with it.
    Genesis { container: Id },
}

fn tag(crdt_type: Option<&CrdtType>) -> Option<&str> {
    match crdt_type {
        Some(CrdtType::Custom(name)) => Some(name),
        _ => None,
    }
}

fn mismatch(id: Id) -> StoreError {
    StoreError::Misplaced {
        id,
        reason: "its owner or writer set does not match its place",
    }
}

fn user(owner: [u8; 32]) -> StorageType {
    StorageType::User {
        owner,
        signature_data: None,
    }
}

impl Store {
    /// Notes that `id` was created by this execution (a shared storage's first writer set is
    /// accepted only then).
    pub(super) fn created(&mut self, id: Id) {
        self.fresh.insert(id);
    }

    /// The place of a new entity with this `crdt_type` and `data` under `parent`.
    pub(super) fn place_new(
        &mut self,
        id: Id,
        parent: Option<Id>,
        crdt_type: Option<&CrdtType>,
        data: &[u8],
    ) -> Result<Place, StoreError> {
        let parent = match parent {
            Some(parent) => self.index(parent)?,
            None => None,
        };
        if let Some(parent) = &parent {
            match &parent.metadata.storage_type {
                StorageType::User { owner, .. } => return Ok(Place::User(*owner)),
                StorageType::SharedMember { anchor, .. } => {
                    let container = self.version_container(*anchor)?.ok_or(mismatch(id))?;
                    return Ok(Place::Shared {
                        container,
                        rotation: false,
                    });
                }
                _ => {}
            }
        }
        let tag = tag(crdt_type);
        if tag == Some(USER_SLOT) {
            let value = split_element(id, data)?;
            let owner = value
                .get(..32)
                .and_then(|key| <[u8; 32]>::try_from(key).ok())
                .ok_or(StoreError::Misplaced {
                    id,
                    reason: "a user-storage element's key is not a 32-byte account",
                })?;
            return Ok(Place::User(owner));
        }
        if tag == Some(BUCKET) {
            return Ok(Place::Public);
        }
        match self.collection_above(parent)? {
            Some((_, CrdtType::UserStorage)) => Err(StoreError::Misplaced {
                id,
                reason: "a user storage holds only its accounts' elements",
            }),
            Some((container, CrdtType::SharedStorage)) => match tag {
                Some(SHARED_VALUE) => Ok(Place::Shared {
                    container,
                    rotation: false,
                }),
                Some(WRITER_SET) => {
                    let set =
                        WriterSet::try_from_slice(split_element(id, data)?).map_err(|source| {
                            StoreError::Decode {
                                what: "a writer set",
                                source,
                            }
                        })?;
                    Ok(if set.stamp == (0, 0) {
                        Place::Genesis { container }
                    } else {
                        Place::Shared {
                            container,
                            rotation: true,
                        }
                    })
                }
                _ => Err(StoreError::Misplaced {
                    id,
                    reason: "a shared storage holds only its value and its writer sets",
                }),
            },
            _ if matches!(tag, Some(SHARED_VALUE | WRITER_SET)) => Err(StoreError::Misplaced {
                id,
                reason: "a shared value or writer set belongs in a shared storage",
            }),
            _ => Ok(Place::Public),
        }
    }

    /// The place of a stored entity (its metadata says, as checked when it was written), or of
    /// a new one. Deleting a shared storage itself is for its writers: see [`Store::place_gone`].
    pub(super) fn place_of(
        &mut self,
        id: Id,
        stored: Option<&EntityIndex>,
        parent: Option<Id>,
        crdt_type: Option<&CrdtType>,
        data: &[u8],
    ) -> Result<Place, StoreError> {
        let Some(stored) = stored.filter(|s| s.is_live()) else {
            return self.place_new(id, parent, crdt_type, data);
        };
        let rotation = tag(stored.metadata.crdt_type.as_ref()) == Some(WRITER_SET);
        Ok(match &stored.metadata.storage_type {
            StorageType::User { owner, .. } => Place::User(*owner),
            StorageType::SharedMember { anchor, .. } => Place::Shared {
                container: self.version_container(*anchor)?.ok_or(mismatch(id))?,
                rotation,
            },
            _ => Place::Public,
        })
    }

    /// The place of a stored entity being deleted: [`Store::place_of`], except that a shared
    /// storage itself is deleted only by its writers.
    pub(super) fn place_gone(&mut self, stored: &EntityIndex) -> Result<Place, StoreError> {
        if stored.metadata.crdt_type == Some(CrdtType::SharedStorage) {
            return Ok(Place::Shared {
                container: stored.id,
                rotation: false,
            });
        }
        self.place_of(stored.id, Some(stored), stored.parent_id, None, &[])
    }

    /// The storage type `writer` writes an entity at `place` with, or why it may not.
    pub(super) fn local_storage(
        &mut self,
        id: Id,
        place: Place,
        writer: [u8; 32],
    ) -> Result<StorageType, StoreError> {
        match place {
            Place::Public => Ok(StorageType::Public),
            Place::User(owner) => {
                check_user(id, owner, writer)?;
                Ok(user(owner))
            }
            Place::Shared {
                container,
                rotation,
            } => {
                let (anchor, set) = self.current_writers(container)?.ok_or(mismatch(id))?;
                if !self.fresh.contains(&container) {
                    check_writer(id, &set, rotation, writer)?;
                }
                Ok(StorageType::SharedMember {
                    anchor,
                    signature_data: None,
                })
            }
            Place::Genesis { container } => {
                self.check_genesis(id, container)?;
                Ok(StorageType::Public)
            }
        }
    }

    /// Checks a peer's write (or deletion) of an entity at `place`, with the storage type its
    /// delta `claimed`, by `writer`.
    pub(super) fn check_remote(
        &mut self,
        id: Id,
        place: Place,
        claimed: &StorageType,
        writer: [u8; 32],
    ) -> Result<(), StoreError> {
        match (place, claimed) {
            (Place::Public, StorageType::Public) => Ok(()),
            (Place::User(owner), StorageType::User { owner: said, .. }) if *said == owner => {
                check_user(id, owner, writer)
            }
            (
                Place::Shared {
                    container,
                    rotation,
                },
                StorageType::SharedMember { anchor, .. },
            ) => {
                if self.version_container(*anchor)? != Some(container) {
                    return Err(StoreError::Misplaced {
                        id,
                        reason: "the writer set it names is not one of its shared storage's",
                    });
                }
                let set = self.writer_set(*anchor)?.ok_or(mismatch(id))?;
                if self.fresh.contains(&container) {
                    // Made with the storage: its creator gives it its first contents.
                    return Ok(());
                }
                check_writer(id, &set, rotation, writer)
            }
            (Place::Genesis { container }, StorageType::Public) => {
                self.check_genesis(id, container)
            }
            _ => Err(mismatch(id)),
        }
    }

    /// Checks a peer's deletion of an entity this replica does not hold, as far as its claimed
    /// storage type can be checked.
    pub(super) fn check_remote_unknown(
        &mut self,
        id: Id,
        claimed: &Metadata,
        writer: [u8; 32],
    ) -> Result<(), StoreError> {
        match &claimed.storage_type {
            StorageType::User { owner, .. } => check_user(id, *owner, writer),
            StorageType::SharedMember { anchor, .. } => match self.writer_set(*anchor)? {
                Some(set) => check_writer(id, &set, false, writer),
                None => Ok(()),
            },
            _ => Ok(()),
        }
    }

    /// Refuses deleting `id` with its subtree when something under it is another account's,
    /// or a shared storage `writer` may not write.
    pub(super) fn check_subtree(&mut self, id: Id, writer: [u8; 32]) -> Result<(), StoreError> {
        let mut pending = vec![id];
        while let Some(next) = pending.pop() {
            let Some(index) = self.index(next)? else {
                continue;
            };
            for child in index.children() {
                match &child.metadata.storage_type {
                    // Everything under a user-owned entity has the same owner.
                    StorageType::User { owner, .. } => check_user(child.id, *owner, writer)?,
                    // Inside a shared storage, whose container was checked on the way down.
                    StorageType::SharedMember { .. } => {}
                    _ if child.metadata.crdt_type == Some(CrdtType::SharedStorage) => {
                        let (_, set) = self.current_writers(child.id)?.ok_or(mismatch(child.id))?;
                        check_writer(child.id, &set, false, writer)?;
                    }
                    _ => pending.push(child.id),
                }
            }
        }
        Ok(())
    }

    fn check_genesis(&mut self, id: Id, container: Id) -> Result<(), StoreError> {
        if self.fresh.contains(&container) {
            Ok(())
        } else {
            Err(StoreError::Misplaced {
                id,
                reason: "a shared storage's first writer set is written only together with it",
            })
        }
    }

    /// The collection above `index` (through its buckets), with its type.
    fn collection_above(
        &mut self,
        mut index: Option<EntityIndex>,
    ) -> Result<Option<(Id, CrdtType)>, StoreError> {
        // Buckets are two levels deep; one more step finds their collection.
        for _ in 0..3 {
            let Some(current) = index else {
                return Ok(None);
            };
            match &current.metadata.crdt_type {
                Some(CrdtType::Custom(name)) if name == BUCKET => {
                    index = match current.parent_id {
                        Some(parent) => self.index(parent)?,
                        None => None,
                    };
                }
                Some(other) => return Ok(Some((current.id, other.clone()))),
                None => return Ok(None),
            }
        }
        Ok(None)
    }

    /// The shared storage whose writer-set version `version` is, if it is one.
    fn version_container(&mut self, version: Id) -> Result<Option<Id>, StoreError> {
        let Some(index) = self.index(version)? else {
            return Ok(None);
        };
        if tag(index.metadata.crdt_type.as_ref()) != Some(WRITER_SET) {
            return Ok(None);
        }
        let parent = match index.parent_id {
            Some(parent) => self.index(parent)?,
            None => None,
        };
        Ok(match self.collection_above(parent)? {
            Some((container, CrdtType::SharedStorage)) => Some(container),
            _ => None,
        })
    }

    /// The writer set version `version` holds.
    fn writer_set(&mut self, version: Id) -> Result<Option<WriterSet>, StoreError> {
        match self.index(version)? {
            Some(index)
                if index.is_live()
                    && tag(index.metadata.crdt_type.as_ref()) == Some(WRITER_SET) => {}
            _ => return Ok(None),
        }
        let Some(data) = crate::env::storage_read(&crate::address::Key::Entry(version).to_bytes())
        else {
            return Ok(None);
        };
        WriterSet::try_from_slice(split_element(version, &data)?)
            .map(Some)
            .map_err(|source| StoreError::Decode {
                what: "a writer set",
                source,
            })
    }

    /// The current version of `container`'s writer set: the one with the greatest stamp.
    pub(super) fn current_writers(
        &mut self,
        container: Id,
    ) -> Result<Option<(Id, WriterSet)>, StoreError> {
        let mut best: Option<(Id, WriterSet)> = None;
        let uppers = self.index(container)?.map(|i| i.children().to_vec());
        for upper in uppers.unwrap_or_default() {
            let lowers = self.index(upper.id)?.map(|i| i.children().to_vec());
            for lower in lowers.unwrap_or_default() {
                let elements = self.index(lower.id)?.map(|i| i.children().to_vec());
                for element in elements.unwrap_or_default() {
                    if tag(element.metadata.crdt_type.as_ref()) != Some(WRITER_SET) {
                        continue;
                    }
                    if let Some(set) = self.writer_set(element.id)?
                        && best.as_ref().is_none_or(|(_, b)| set.stamp > b.stamp)
                    {
                        best = Some((element.id, set));
                    }
                }
            }
        }
        Ok(best)
    }
}

fn check_user(id: Id, owner: [u8; 32], writer: [u8; 32]) -> Result<(), StoreError> {
    if owner == writer {
        Ok(())
    } else {
        Err(StoreError::NotOwner {
            id,
            owner: Hex32(owner),
            writer: Hex32(writer),
        })
    }
}

fn check_writer(
    id: Id,
    set: &WriterSet,
    rotation: bool,
    writer: [u8; 32],
) -> Result<(), StoreError> {
    if !set.writers.contains(&writer) {
        return Err(StoreError::NotWriter {
            id,
            writer: Hex32(writer),
        });
    }
    if rotation && set.frozen {
        return Err(StoreError::Frozen {
            id,
            reason: "its shared storage's writer set is frozen",
        });
    }
    Ok(())
}
