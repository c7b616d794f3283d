//! The app's root state: the single entity `Id::ROOT_ENTRY` under the context root.

use borsh::{BorshDeserialize, BorshSerialize};

use crate::action::{StorageDelta, decode_delta};
use crate::address::Id;
use crate::env;
use crate::error::StoreError;
use crate::merge::Mergeable;
use crate::store::{self, EntityKind};

/// An app's root state struct (implemented by `#[app::state]`).
pub trait AppState: BorshSerialize + BorshDeserialize + Mergeable {
    /// The version of the state's layout (`#[app::state(version = N)]`). The root entry carries
    /// it, so that a peer holding an earlier version's root takes a later version's whole
    /// (migrations) instead of merging two layouts.
    const STATE_VERSION: u32 = 1;

    /// Binds every collection field to the id derived from its field name.
    fn attach_fields(&mut self) -> Result<(), StoreError>;
}

/// True if `init` has run in this context.
pub fn is_initialized() -> Result<bool, StoreError> {
    Ok(store::data(Id::ROOT_ENTRY)?.is_some())
}

/// Creates the context root and the root state; fails if the state exists.
pub fn init<T: AppState>(mut state: T) -> Result<T, StoreError> {
    T::register_merges();
    begin_init()?;
    state.attach_fields()?;
    save(&state)?;
    Ok(state)
}

/// The first half of [`init`] for dynamically typed states: fails if the state exists, else
/// creates the context root. The caller then attaches its fields and calls [`save_raw`].
pub fn begin_init() -> Result<(), StoreError> {
    if is_initialized()? {
        return Err(StoreError::AlreadyInitialized);
    }
    let root = store::root_id();
    store::save(root, None, root.as_bytes().to_vec(), EntityKind::default())
}

/// The encoded root state (without its trailing entry id).
pub fn load_raw() -> Result<Vec<u8>, StoreError> {
    let data = store::data(Id::ROOT_ENTRY)?.ok_or(StoreError::Uninitialized)?;
    Ok(store::split_element(Id::ROOT_ENTRY, &data)?.to_vec())
}

/// Writes an encoded root state back, then creates the collections in `bound` under it.
pub fn save_raw(value: &[u8], bound: store::BoundCollections) -> Result<(), StoreError> {
    let mut data = Vec::with_capacity(value.len() + 32);
    data.extend_from_slice(value);
    data.extend_from_slice(Id::ROOT_ENTRY.as_bytes());
    store::save(
        Id::ROOT_ENTRY,
        Some(store::root_id()),
        data,
        EntityKind::default(),
    )?;
    store::create_bound(Id::ROOT_ENTRY, bound)
}

fn decode<T: AppState>(data: &[u8]) -> Result<T, StoreError> {
    let value = store::split_element(Id::ROOT_ENTRY, data)?;
    T::try_from_slice(value).map_err(|source| StoreError::Decode {
        what: "the app state",
        source,
    })
}

/// Loads the root state.
pub fn load<T: AppState>() -> Result<T, StoreError> {
    T::register_merges();
    let data = store::data(Id::ROOT_ENTRY)?.ok_or(StoreError::Uninitialized)?;
    decode(&data)
}

/// Writes the root state back (records nothing if it did not change).
pub fn save<T: AppState>(state: &T) -> Result<(), StoreError> {
    let (bytes, bound) = store::serialize_attached(Id::ROOT_ENTRY, &(state, Id::ROOT_ENTRY))?;
    store::save(
        Id::ROOT_ENTRY,
        Some(store::root_id()),
        bytes,
        store::root_kind(T::STATE_VERSION),
    )?;
    store::create_bound(Id::ROOT_ENTRY, bound)
}

/// Replaces the root state with `state` (a migration to a new layout): binds the collections it
/// adds, writes it over the previous version's, and returns its encoding. Collections it carries
/// from the previous state keep their ids and elements.
pub fn replace<T: AppState>(mut state: T) -> Result<Vec<u8>, StoreError> {
    if !is_initialized()? {
        return Err(StoreError::Uninitialized);
    }
    state.attach_fields()?;
    save(&state)?;
    load_raw()
}

/// Recomputes the Merkle tree, then hands the root and the artifact to the host.
pub fn commit() -> Result<[u8; 32], StoreError> {
    let root = store::flush()?;
    let artifact = store::take_artifact();
    env::commit(&root, &artifact);
    Ok(root)
}

/// Merges two encodings of the root state entry with the app's merge.
pub fn merge_state<T: AppState>(existing: &[u8], incoming: &[u8]) -> Result<Vec<u8>, StoreError> {
    let mut mine: T = decode(existing)?;
    let theirs: T = decode(incoming)?;
    mine.merge(&theirs)?;
    borsh::to_vec(&(&mine, Id::ROOT_ENTRY)).map_err(|source| StoreError::Encode {
        what: "the app state",
        source,
    })
}

/// Applies a peer's artifact (`__calimero_sync_next`) and commits the new root, with no actions.
pub fn sync<T: AppState>(artifact: &[u8]) -> Result<[u8; 32], StoreError> {
    T::register_merges();
    sync_with(
        artifact,
        &store::Merges {
            root: &merge_state::<T>,
            records: None,
        },
    )
}

/// [`sync`] with the merges of a dynamically typed app.
pub fn sync_with(artifact: &[u8], merges: &store::Merges<'_>) -> Result<[u8; 32], StoreError> {
    let delta = decode_delta(artifact).map_err(|source| StoreError::Decode {
        what: "the delta artifact",
        source,
    })?;
    let actions = match delta {
        StorageDelta::Actions(actions) => actions,
        StorageDelta::CausalActions {
            actions, delta_hlc, ..
        } => {
            store::observe(delta_hlc)?;
            actions
        }
    };
    for action in actions {
        store::apply_action(action, merges)?;
    }
    let root = store::flush()?;
    let _ = store::take_artifact();
    env::commit(&root, &[]);
    Ok(root)
}
