//! What the runtime tests share: an in-memory store, an identity, and the kv-store module.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};

use calimero_runtime::{Identity, Outcome, Storage, StorageError};

pub const ID: Identity = Identity {
    context_id: [7; 32],
    account_id: [1; 32],
    device_id: [1; 32],
    xcall_origin: None,
};

/// Committed state in memory (no private state).
#[derive(Default)]
pub struct Memory(pub Mutex<BTreeMap<Vec<u8>, Vec<u8>>>);

impl Storage for Memory {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.0.lock().unwrap().get(key).cloned())
    }
    fn get_private(&self, _key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(None)
    }
}

impl Memory {
    /// Persists the call's state writes if it committed, as the node does.
    pub fn apply(&self, outcome: &Outcome) {
        if outcome.should_persist() {
            let mut map = self.0.lock().unwrap();
            for (key, value) in &outcome.writes {
                match value {
                    Some(value) => map.insert(key.clone(), value.clone()),
                    None => map.remove(key),
                };
            }
        }
    }
}

pub fn kv_store() -> &'static [u8] {
    static MODULE: OnceLock<Vec<u8>> = OnceLock::new();
    MODULE.get_or_init(|| calimero_tests::build_app("kv-store"))
}
