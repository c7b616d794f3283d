//! CRDT collections. Each collection is a handle (its 32-byte id) to an entity whose children
//! hold the elements; handles are created detached and bound when put into their parent.

mod counter;
mod lww_register;
mod unordered_map;
mod unordered_set;
mod vector;

use std::borrow::Cow;
use std::cell::Cell;
use std::io;

use borsh::{BorshDeserialize, BorshSerialize};

pub use counter::{Counter, GCounter, PNCounter};
pub use lww_register::LwwRegister;
pub use unordered_map::{Entry, UnorderedMap, ValueMut};
pub use unordered_set::UnorderedSet;
pub use vector::Vector;

use crate::address::Id;
use crate::entities::CrdtType;
use crate::error::StoreError;
use crate::store::{self, EntityKind};

/// The bytes a key contributes to an entry id (`H(collection ‖ "__calimero_entry__" ‖ bytes)`).
pub trait StorageKey {
    /// Strings give their UTF-8, byte strings themselves, integers their little-endian bytes.
    fn key_bytes(&self) -> Cow<'_, [u8]>;
}

impl StorageKey for str {
    fn key_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(self.as_bytes())
    }
}
impl StorageKey for String {
    fn key_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(self.as_bytes())
    }
}
impl StorageKey for [u8] {
    fn key_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(self)
    }
}
impl StorageKey for Vec<u8> {
    fn key_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(self)
    }
}
impl<const N: usize> StorageKey for [u8; N] {
    fn key_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(self)
    }
}
impl StorageKey for bool {
    fn key_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Owned(vec![u8::from(*self)])
    }
}
impl StorageKey for Id {
    fn key_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(self.as_bytes())
    }
}
impl<T: StorageKey + ?Sized> StorageKey for &T {
    fn key_bytes(&self) -> Cow<'_, [u8]> {
        (**self).key_bytes()
    }
}
macro_rules! int_keys {
    ($($t:ty),*) => {$(
        impl StorageKey for $t {
            fn key_bytes(&self) -> Cow<'_, [u8]> {
                Cow::Owned(self.to_le_bytes().to_vec())
            }
        }
    )*};
}
int_keys!(u8, u16, u32, u64, u128, i8, i16, i32, i64, i128);

/// The id of a collection, possibly not yet bound.
#[derive(Clone, Debug, Default)]
struct Handle {
    id: Cell<Option<Id>>,
}

impl Handle {
    fn bound(id: Id) -> Self {
        Self {
            id: Cell::new(Some(id)),
        }
    }

    fn id(&self) -> Result<Id, StoreError> {
        self.id.get().ok_or(StoreError::Detached)
    }

    /// Binds a top-level state field and creates its entity under the context root.
    fn attach_field(&self, name: &str, crdt_type: CrdtType) -> Result<(), StoreError> {
        if self.id.get().is_some() {
            return Ok(());
        }
        let id = Id::collection(None, name);
        self.id.set(Some(id));
        let kind = EntityKind {
            crdt_type: Some(crdt_type),
            field_name: Some(name.to_owned()),
        };
        store::save(id, Some(store::root_id()), id.as_bytes().to_vec(), kind)
    }

    fn serialize<W: io::Write>(
        &self,
        crdt_type: impl FnOnce() -> CrdtType,
        writer: &mut W,
    ) -> io::Result<()> {
        let id = match self.id.get() {
            Some(id) => id,
            None => {
                let id = store::bind_in_scope(crdt_type()).ok_or_else(|| {
                    io::Error::new(io::ErrorKind::NotConnected, "collection is detached")
                })?;
                self.id.set(Some(id));
                id
            }
        };
        id.serialize(writer)
    }

    fn deserialize<R: io::Read>(reader: &mut R) -> io::Result<Self> {
        Ok(Self::bound(Id::deserialize_reader(reader)?))
    }
}

/// Reads the data of an element and decodes its value (everything before the element id).
fn load_value<T: BorshDeserialize>(id: Id, what: &'static str) -> Result<Option<T>, StoreError> {
    let Some(data) = store::data(id)? else {
        return Ok(None);
    };
    let value = store::split_element(id, &data)?;
    T::try_from_slice(value)
        .map(Some)
        .map_err(|source| StoreError::Decode { what, source })
}

/// Writes `value ‖ element id` as element `id` of `collection`, then creates any collection
/// the value carried that was not attached yet.
fn save_value<T: BorshSerialize + ?Sized>(
    collection: Id,
    id: Id,
    value: &T,
) -> Result<(), StoreError> {
    let (bytes, bound) = store::serialize_attached(id, &(value, id))?;
    store::save(id, Some(collection), bytes, EntityKind::default())?;
    store::create_bound(id, bound)
}

/// Deletes every element of a collection.
fn clear_children(collection: Id) -> Result<(), StoreError> {
    for child in store::children(collection)? {
        store::delete(child.id)?;
    }
    Ok(())
}
