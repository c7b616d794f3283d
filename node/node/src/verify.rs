//! Recomputing a context's state root from its stored entities, to detect torn state.
//!
//! The node never interprets app state while running calls; this check does, offline or on
//! demand, with the layout of the shared storage crate.

use std::collections::HashMap;

use borsh::BorshDeserialize;
use calimero_storage::address::{Id, Key, hash};
use calimero_storage::entities::EntityIndex;

/// Walks the entity tree from the context root, checking every data hash and child link, and
/// returns the recomputed root.
pub fn recompute_root(
    context: &[u8; 32],
    state: &HashMap<Vec<u8>, Vec<u8>>,
) -> Result<[u8; 32], String> {
    full_hash(Id::new(*context), state, 0)
}

fn full_hash(id: Id, state: &HashMap<Vec<u8>, Vec<u8>>, depth: usize) -> Result<[u8; 32], String> {
    if depth > 64 {
        return Err("the entity tree is deeper than 64 levels".into());
    }
    let index = state
        .get(Key::Index(id).to_bytes().as_slice())
        .ok_or_else(|| format!("entity {id} has no index record"))?;
    let index = EntityIndex::try_from_slice(index)
        .map_err(|e| format!("index of {id} does not decode: {e}"))?;
    let data = state
        .get(Key::Entry(id).to_bytes().as_slice())
        .ok_or_else(|| format!("live entity {id} has no data"))?;
    if hash(&[data]) != index.own_hash {
        return Err(format!("entity {id}: its data does not match its own hash"));
    }
    let mut children = Vec::new();
    for child in index.children() {
        let computed = full_hash(child.id, state, depth + 1)?;
        if computed != child.merkle_hash {
            return Err(format!("entity {id}: child {} has a stale hash", child.id));
        }
        children.push((child.id, computed));
    }
    let full = calimero_storage::store::full_hash(&index.own_hash, &index.metadata, children);
    if full != index.full_hash {
        return Err(format!(
            "entity {id}: stored full hash differs from the recomputed one"
        ));
    }
    Ok(full)
}
