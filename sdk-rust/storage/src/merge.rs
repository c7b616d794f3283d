//! The trait every field of an app's root state, every map value and every vector element
//! implements, and its implementations for plain values.

use borsh::{BorshDeserialize, BorshSerialize};

use crate::address::Id;
use crate::error::StoreError;
use crate::store;

/// A value with a CRDT merge.
///
/// - Every field of an `#[app::state]` struct is one; the root state merges field by field.
/// - A *record* (a struct of CRDT fields with `#[derive(Mergeable)]`) stored as a map value or a
///   vector element is tagged with its name ([`Mergeable::RECORD`]); when a peer's version of
///   that element meets the local one, the two merge field by field, so concurrent updates of
///   different fields both survive.
/// - Any other element (plain values, registers) is last-writer-wins as a whole.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a CRDT value, so it cannot be an app state field, a map value or a \
               vector element",
    label = "not a CRDT value",
    note = "wrap a single value in `LwwRegister<{Self}>`, use a collection (`UnorderedMap`, \
            `UnorderedSet`, `Vector`, `Counter`), or put `#[derive(Mergeable)]` on the struct: \
            merged field by field if its fields are all CRDTs, or as one plain value with \
            `#[mergeable(plain)]`"
)]
pub trait Mergeable {
    /// The record name elements of this type are tagged with (`CrdtType::Custom(name)`), or
    /// `None` for values merged as a whole. `#[derive(Mergeable)]` sets it to the struct name.
    const RECORD: Option<&'static str> = None;

    /// Folds `other` (a concurrent version of the same value) into `self`. It must be
    /// deterministic, commutative, associative and idempotent, or replicas diverge.
    fn merge(&mut self, other: &Self) -> Result<(), StoreError>;

    /// Attaches a top-level state field called `name`; collections bind to their derived id.
    fn attach_field(&self, _name: &str) -> Result<(), StoreError> {
        Ok(())
    }

    /// Registers, for this execution, the element merges of every record type this type can
    /// store (recursively). The app state's is called before every call and every sync.
    fn register_merges()
    where
        Self: Sized,
    {
    }
}

/// The merge of plain values: the greater Borsh encoding wins. Deterministic, so replicas
/// agree, but not last-writer-wins: storage never calls it for a whole element (elements of
/// plain values are last-writer-wins by their write stamps); it exists so plain values can be
/// map values and vector elements. Wrap a value in `LwwRegister` for a last-writer-wins field.
/// `#[derive(Mergeable)]` with `#[mergeable(plain)]` uses it.
pub fn merge_plain<T: BorshSerialize + Clone>(mine: &mut T, theirs: &T) -> Result<(), StoreError> {
    let encode = |value: &T| {
        borsh::to_vec(value).map_err(|source| StoreError::Encode {
            what: "a plain value",
            source,
        })
    };
    if encode(theirs)? > encode(mine)? {
        *mine = theirs.clone();
    }
    Ok(())
}

macro_rules! plain {
    ($($t:ty),* $(,)?) => {$(
        impl Mergeable for $t {
            fn merge(&mut self, other: &Self) -> Result<(), StoreError> {
                merge_plain(self, other)
            }
        }
    )*};
}

plain!(
    String,
    bool,
    u8,
    u16,
    u32,
    u64,
    u128,
    i8,
    i16,
    i32,
    i64,
    i128,
    f32,
    f64,
    (),
    Id
);

impl<T: BorshSerialize + Clone> Mergeable for Vec<T> {
    fn merge(&mut self, other: &Self) -> Result<(), StoreError> {
        merge_plain(self, other)
    }
}

impl<T: BorshSerialize + Clone> Mergeable for Option<T> {
    fn merge(&mut self, other: &Self) -> Result<(), StoreError> {
        merge_plain(self, other)
    }
}

impl<T: BorshSerialize + Clone, const N: usize> Mergeable for [T; N] {
    fn merge(&mut self, other: &Self) -> Result<(), StoreError> {
        merge_plain(self, other)
    }
}

impl<A: BorshSerialize + Clone, B: BorshSerialize + Clone> Mergeable for (A, B) {
    fn merge(&mut self, other: &Self) -> Result<(), StoreError> {
        merge_plain(self, other)
    }
}

/// Registers the element merge of record `V` stored with `layout` (any name that tells apart
/// the element layouts one record is stored with), then the records `V` itself stores.
/// Collections call it from their [`Mergeable::register_merges`].
pub(crate) fn register_element<V: Mergeable>(layout: &'static str, merge: store::ValueMergeFn) {
    match V::RECORD {
        // Registering only once also ends the walk of a record type that contains itself.
        Some(name) => {
            if store::register_value_merge(name, layout, merge) {
                V::register_merges();
            }
        }
        None => V::register_merges(),
    }
}

/// Merges two encodings of one element whose value decodes as `E` (for example
/// `(key, value, element id)`), merging with `fold`; `None` if either does not decode as `E`.
pub(crate) fn merge_encoded<E: BorshSerialize + BorshDeserialize>(
    mine: &[u8],
    theirs: &[u8],
    fold: impl FnOnce(&mut E, &E) -> Result<(), StoreError>,
) -> Result<Option<Vec<u8>>, StoreError> {
    let (Ok(mut merged), Ok(other)) = (E::try_from_slice(mine), E::try_from_slice(theirs)) else {
        return Ok(None);
    };
    fold(&mut merged, &other)?;
    borsh::to_vec(&merged)
        .map(Some)
        .map_err(|source| StoreError::Encode {
            what: "a merged element",
            source,
        })
}
