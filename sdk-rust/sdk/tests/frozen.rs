//! `FrozenStorage`: values stored once under the SHA-256 of their encoding. Replicas that
//! store the same value agree on its key, and a peer's delta that changes a frozen value or
//! deletes one is refused, leaving the replica as it was.

mod common;

use calimero_sdk::app;
use calimero_sdk::storage::action::Action;
use calimero_sdk::storage::address::hash;
use calimero_sdk::storage::collections::FrozenStorage;
use calimero_sdk::storage::entities::{CrdtType, FROZEN};
use calimero_sdk::testing::TestApp;
use common::actions;
use serde_json::json;

#[app::state]
pub struct Archive {
    docs: FrozenStorage<String>,
}

#[app::logic]
impl Archive {
    #[app::init]
    pub fn init() -> Archive {
        Archive {
            docs: FrozenStorage::new(),
        }
    }

    pub fn store(&mut self, doc: String) -> app::Result<[u8; 32]> {
        Ok(self.docs.insert(doc)?)
    }

    pub fn fetch(&self, key: [u8; 32]) -> app::Result<Option<String>> {
        Ok(self.docs.get(&key)?)
    }

    pub fn count(&self) -> app::Result<u32> {
        Ok(self.docs.len()? as u32)
    }
}

fn key_of(doc: &str) -> [u8; 32] {
    hash(&[&borsh::to_vec(doc).unwrap()])
}

fn replicas() -> (TestApp<Archive>, TestApp<Archive>) {
    let a = TestApp::<Archive>::with_member([2; 32], [1; 32]);
    a.init(json!({})).unwrap();
    let b = TestApp::<Archive>::with_member([2; 32], [2; 32]);
    b.sync(&a.last().artifact).unwrap();
    (a, b)
}

fn is_frozen(action: &Action) -> bool {
    let metadata = match action {
        Action::Add { metadata, .. } | Action::Update { metadata, .. } => metadata,
        Action::DeleteRef { metadata, .. } => metadata,
    };
    matches!(&metadata.crdt_type, Some(CrdtType::Custom(name)) if name == FROZEN)
}

#[test]
fn the_same_value_gets_the_same_key_everywhere_and_is_stored_once() {
    let (a, b) = replicas();
    let key = json!(key_of("report"));
    assert_eq!(a.call("store", json!({"doc": "report"})).unwrap(), key);
    let from_a = a.last().artifact;
    assert_eq!(a.call("store", json!({"doc": "report"})).unwrap(), key);
    assert!(
        a.last().artifact.is_empty(),
        "storing a value again writes nothing"
    );
    // Concurrently, the other replica stores the same value: same key, one element.
    assert_eq!(b.call("store", json!({"doc": "report"})).unwrap(), key);
    let from_b = b.last().artifact;
    a.sync(&from_b).unwrap();
    b.sync(&from_a).unwrap();
    assert_eq!(a.last_root(), b.last_root());
    assert_eq!(b.call("count", json!({})).unwrap(), json!(1));
    assert_eq!(a.call("count", json!({})).unwrap(), json!(1));
    assert_eq!(
        a.call("fetch", json!({"key": key})).unwrap(),
        json!("report")
    );
    assert_eq!(
        a.call("fetch", json!({"key": key_of("other")})).unwrap(),
        json!(null)
    );
}

#[test]
fn a_delta_that_changes_a_frozen_value_is_refused_and_changes_nothing() {
    let (a, b) = replicas();
    a.call("store", json!({"doc": "contract v1"})).unwrap();
    let (mut edited, encode) = actions(&a.last().artifact);
    let frozen = edited
        .iter_mut()
        .find(|a| is_frozen(a))
        .expect("a frozen element");
    let Action::Add { data, .. } = frozen else {
        panic!("a new element is added")
    };
    // Same length, one byte of the value changed: "contract v2".
    let at = data.len() - 32 - 1;
    data[at] = b'2';
    let before = b.host().storage();
    let error = b.sync(&encode(edited)).unwrap_err();
    assert!(
        error.to_string().contains("does not hash to its key"),
        "{error}"
    );
    assert_eq!(b.host().storage(), before, "nothing of the delta was kept");

    // The honest delta still applies.
    b.sync(&a.last().artifact).unwrap();
    assert_eq!(
        b.call("fetch", json!({"key": key_of("contract v1")}))
            .unwrap(),
        json!("contract v1")
    );
}

#[test]
fn a_delta_that_deletes_a_frozen_value_is_refused() {
    let (a, b) = replicas();
    a.call("store", json!({"doc": "keep me"})).unwrap();
    let artifact = a.last().artifact;
    b.sync(&artifact).unwrap();
    let (actions_of_store, encode) = actions(&artifact);
    let Action::Add { id, metadata, .. } = actions_of_store
        .into_iter()
        .find(is_frozen)
        .expect("a frozen element")
    else {
        panic!("a new element is added")
    };
    let deletion = Action::DeleteRef {
        id,
        deleted_at: metadata.updated_at + 1,
        metadata,
    };
    let before = b.host().storage();
    let error = b.sync(&encode(vec![deletion])).unwrap_err();
    assert!(error.to_string().contains("cannot be deleted"), "{error}");
    assert_eq!(b.host().storage(), before);
    assert_eq!(
        b.call("fetch", json!({"key": key_of("keep me")})).unwrap(),
        json!("keep me")
    );
}
