//! `SharedStorage`: one value written only by the accounts of its writer set, which a writer
//! can rotate. The storage layer checks every write, a peer's delta included, against the
//! writer-set version the write names; a refused delta leaves the replica unchanged.

mod common;

use calimero_sdk::app;
use calimero_sdk::storage::action::Action;
use calimero_sdk::storage::collections::{LwwRegister, SharedStorage, UnorderedMap};
use calimero_sdk::storage::entities::{CrdtType, SHARED_VALUE, StorageType, WRITER_SET, WriterSet};
use calimero_sdk::testing::TestApp;
use calimero_sdk::{AccountId, env};
use common::{actions, metadata, metadata_mut};
use serde_json::{Value, json};

#[app::state]
pub struct Team {
    motto: SharedStorage<LwwRegister<String>>,
    pages: SharedStorage<UnorderedMap<String, LwwRegister<String>>>,
    charter: SharedStorage<String>,
}

#[app::logic]
impl Team {
    #[app::init]
    pub fn init() -> Team {
        let me = vec![AccountId::from(env::account_id())];
        Team {
            motto: SharedStorage::new(me.clone(), false),
            pages: SharedStorage::new(me.clone(), false),
            charter: SharedStorage::with_value("be kind".to_owned(), me, true),
        }
    }

    pub fn set_motto(&mut self, motto: String) -> app::Result<()> {
        self.motto.insert(LwwRegister::new(motto))?;
        Ok(())
    }

    pub fn motto(&self) -> app::Result<String> {
        Ok(self.motto.get()?.get().clone())
    }

    pub fn put_page(&mut self, key: String, text: String) -> app::Result<()> {
        self.pages.get_mut()?.insert(key, LwwRegister::new(text))?;
        Ok(())
    }

    pub fn page(&self, key: String) -> app::Result<Option<String>> {
        Ok(self.pages.get()?.get(&key)?.map(|p| p.get().clone()))
    }

    pub fn rotate(&mut self, writers: Vec<AccountId>) -> app::Result<()> {
        self.motto.rotate_writers(writers)?;
        Ok(())
    }

    pub fn rotate_pages(&mut self, writers: Vec<AccountId>) -> app::Result<()> {
        self.pages.rotate_writers(writers)?;
        Ok(())
    }

    pub fn rotate_charter(&mut self, writers: Vec<AccountId>) -> app::Result<()> {
        self.charter.rotate_writers(writers)?;
        Ok(())
    }

    pub fn writers(&self) -> Vec<AccountId> {
        self.motto.writers().into_iter().collect()
    }

    pub fn state(&self) -> app::Result<(String, bool, bool, String)> {
        Ok((
            self.motto()?,
            self.motto.writable_by_me(),
            self.charter.is_frozen(),
            self.charter.get()?,
        ))
    }
}

const CONTEXT: [u8; 32] = [5; 32];
const ALICE: [u8; 32] = [1; 32];
const BOB: [u8; 32] = [2; 32];
const CAROL: [u8; 32] = [3; 32];

fn hex(account: [u8; 32]) -> Value {
    json!(AccountId::from(account).to_string())
}

/// The state root: the context root entity's full hash.
fn root(app: &TestApp<Team>) -> [u8; 32] {
    use calimero_sdk::storage::address::{Id, Key};
    use calimero_sdk::storage::entities::EntityIndex;
    let bytes = &app.host().storage()[&Key::Index(Id::new(CONTEXT)).to_bytes().to_vec()];
    let index: EntityIndex = borsh::BorshDeserialize::try_from_slice(bytes).unwrap();
    index.full_hash
}

fn replica(member: [u8; 32], genesis: &[u8]) -> TestApp<Team> {
    let app = TestApp::<Team>::with_member(CONTEXT, member);
    app.sync_from(ALICE, genesis).unwrap();
    app
}

/// Alice creates the context (the only writer); Bob and Carol hold its initial state.
fn replicas() -> (TestApp<Team>, TestApp<Team>, TestApp<Team>) {
    let alice = TestApp::<Team>::with_member(CONTEXT, ALICE);
    alice.init(json!({})).unwrap();
    let genesis = alice.last().artifact;
    (alice, replica(BOB, &genesis), replica(CAROL, &genesis))
}

fn tagged(action: &Action, name: &str) -> bool {
    metadata(action).crdt_type == Some(CrdtType::Custom(name.into()))
}

#[test]
fn writers_write_others_read_and_a_non_writer_is_refused_before_anything_is_written() {
    let (alice, bob, _) = replicas();
    assert_eq!(
        bob.call("state", json!({})).unwrap(),
        json!(["", false, true, "be kind"])
    );
    alice
        .call("set_motto", json!({"motto": "ship it"}))
        .unwrap();
    bob.sync_from(ALICE, &alice.last().artifact).unwrap();
    assert_eq!(bob.call("motto", json!({})).unwrap(), json!("ship it"));

    let before = bob.host().storage();
    for (method, args) in [
        ("set_motto", json!({"motto": "mine now"})),
        ("put_page", json!({"key": "home", "text": "hi"})),
        ("rotate", json!({"writers": [hex(BOB)]})),
    ] {
        let error = bob.call(method, args).unwrap_err().to_string();
        assert!(
            error.contains("is written only by its shared storage's writers"),
            "{method}: {error}"
        );
    }
    assert_eq!(bob.host().storage(), before, "nothing was written");
}

#[test]
fn a_rotation_lets_new_writers_in_on_every_replica_and_a_frozen_set_never_rotates() {
    let (alice, bob, carol) = replicas();
    alice
        .call("rotate", json!({"writers": [hex(ALICE), hex(BOB)]}))
        .unwrap();
    let rotation = alice.last().artifact;
    bob.sync_from(ALICE, &rotation).unwrap();
    carol.sync_from(ALICE, &rotation).unwrap();
    bob.call("set_motto", json!({"motto": "from bob"})).unwrap();
    let write = bob.last().artifact;
    alice.sync_from(BOB, &write).unwrap();
    carol.sync_from(BOB, &write).unwrap();
    for replica in [&alice, &bob, &carol] {
        assert_eq!(replica.call("motto", json!({})).unwrap(), json!("from bob"));
        assert_eq!(
            replica.call("writers", json!({})).unwrap(),
            json!([hex(ALICE), hex(BOB)])
        );
    }
    assert_eq!(root(&alice), root(&carol));

    let error = alice
        .call("rotate_charter", json!({"writers": [hex(BOB)]}))
        .unwrap_err()
        .to_string();
    assert!(error.contains("writer set is frozen"), "{error}");
}

#[test]
fn a_delta_from_a_non_writer_is_refused_and_changes_nothing() {
    let (alice, _, carol) = replicas();
    alice.call("set_motto", json!({"motto": "v2"})).unwrap();
    let write = alice.last().artifact;
    alice
        .call("rotate", json!({"writers": [hex(ALICE), hex(CAROL)]}))
        .unwrap();
    let rotation = alice.last().artifact;
    let before = carol.host().storage();
    // The same bytes, claimed by Carol: she is in no version yet.
    for artifact in [&write, &rotation] {
        let error = carol.sync_from(CAROL, artifact).unwrap_err().to_string();
        assert!(error.contains("is not one of them"), "{error}");
        assert_eq!(
            carol.host().storage(),
            before,
            "nothing of the delta was kept"
        );
    }
    carol.sync_from(ALICE, &write).unwrap();
    carol.sync_from(ALICE, &rotation).unwrap();
    assert_eq!(carol.call("motto", json!({})).unwrap(), json!("v2"));
}

#[test]
fn a_delta_naming_another_storage_s_writers_or_a_made_up_first_set_is_refused() {
    let (alice, _, carol) = replicas();
    // Carol becomes a writer of the pages, not of the motto.
    alice
        .call("rotate_pages", json!({"writers": [hex(ALICE), hex(CAROL)]}))
        .unwrap();
    let pages_rotation = alice.last().artifact;
    carol.sync_from(ALICE, &pages_rotation).unwrap();
    let (added, _) = actions(&pages_rotation);
    let pages_version = added
        .iter()
        .find(|a| tagged(a, WRITER_SET))
        .expect("the new version")
        .id();

    // A motto write by Carol that names the pages' version.
    alice.call("set_motto", json!({"motto": "hers"})).unwrap();
    let (mut edited, encode) = actions(&alice.last().artifact);
    for action in &mut edited {
        if let StorageType::SharedMember { anchor, .. } = &mut metadata_mut(action).storage_type {
            *anchor = pages_version;
        }
    }
    let before = carol.host().storage();
    let error = carol
        .sync_from(CAROL, &encode(edited))
        .unwrap_err()
        .to_string();
    assert!(error.contains("not one of its shared storage's"), "{error}");
    assert_eq!(carol.host().storage(), before);

    // A second "first" writer set for the pages, naming Carol alone.
    let (mut edited, encode) = actions(&pages_rotation);
    for action in &mut edited {
        if tagged(action, WRITER_SET)
            && let Action::Add { id, data, .. } = action
        {
            let set = WriterSet {
                stamp: (0, 0),
                writers: [CAROL].into(),
                frozen: false,
            };
            let mut bytes = borsh::to_vec(&set).unwrap();
            bytes.extend_from_slice(id.as_bytes());
            *data = bytes;
            *id = calimero_sdk::storage::address::Id::new([9; 32]);
        }
        if tagged(action, WRITER_SET) {
            metadata_mut(action).storage_type = StorageType::Public;
        }
    }
    let error = carol
        .sync_from(CAROL, &encode(edited))
        .unwrap_err()
        .to_string();
    assert!(error.contains("only together with it"), "{error}");
    assert_eq!(carol.host().storage(), before);
}

#[test]
fn writer_sets_never_change_and_are_never_deleted() {
    let (alice, bob, _) = replicas();
    alice
        .call("rotate", json!({"writers": [hex(ALICE), hex(BOB)]}))
        .unwrap();
    let rotation = alice.last().artifact;
    bob.sync_from(ALICE, &rotation).unwrap();
    let (added, encode) = actions(&rotation);
    let version = added
        .into_iter()
        .find(|a| tagged(a, WRITER_SET))
        .expect("the new version");
    let before = bob.host().storage();

    // Alice (a writer) rewrites the version to drop Bob, then deletes it.
    let Action::Add {
        id,
        mut data,
        ancestors,
        metadata,
    } = version
    else {
        unreachable!()
    };
    let mut set: WriterSet =
        borsh::BorshDeserialize::try_from_slice(&data[..data.len() - 32]).unwrap();
    set.writers.remove(&BOB);
    let mut bytes = borsh::to_vec(&set).unwrap();
    bytes.extend_from_slice(&data[data.len() - 32..]);
    data = bytes;
    let mut later = metadata.clone();
    later.updated_at += 1_000;
    let update = Action::Update {
        id,
        data,
        ancestors,
        metadata: later,
    };
    let error = bob
        .sync_from(ALICE, &encode(vec![update]))
        .unwrap_err()
        .to_string();
    assert!(error.contains("a writer set never changes"), "{error}");
    let deletion = Action::DeleteRef {
        id,
        deleted_at: metadata.updated_at + 1_000,
        metadata,
    };
    let error = bob
        .sync_from(ALICE, &encode(vec![deletion]))
        .unwrap_err()
        .to_string();
    assert!(error.contains("a writer set is never deleted"), "{error}");
    assert_eq!(bob.host().storage(), before);
}

/// Bob writes while Alice, concurrently, removes him from the writers. His write was allowed
/// by the version he wrote under, so every replica keeps it, in either order.
#[test]
fn a_write_concurrent_with_a_rotation_that_removes_its_writer_is_kept_in_either_order() {
    let (alice, bob, carol) = replicas();
    alice
        .call("rotate", json!({"writers": [hex(ALICE), hex(BOB)]}))
        .unwrap();
    let first = alice.last().artifact;
    bob.sync_from(ALICE, &first).unwrap();
    carol.sync_from(ALICE, &first).unwrap();

    bob.call("set_motto", json!({"motto": "bob was here"}))
        .unwrap();
    let write = bob.last().artifact;
    alice
        .call("rotate", json!({"writers": [hex(ALICE)]}))
        .unwrap();
    let removal = alice.last().artifact;

    alice.sync_from(BOB, &write).unwrap();
    carol.sync_from(BOB, &write).unwrap();
    carol.sync_from(ALICE, &removal).unwrap();
    bob.sync_from(ALICE, &removal).unwrap();
    let expected = root(&alice);
    for replica in [&bob, &carol] {
        assert_eq!(
            replica.call("motto", json!({})).unwrap(),
            json!("bob was here")
        );
        assert_eq!(
            replica.call("writers", json!({})).unwrap(),
            json!([hex(ALICE)])
        );
    }
    assert_eq!(root(&carol), expected);
    assert_eq!(root(&bob), expected);
    // And now Bob's writes are refused, locally first.
    let error = bob
        .call("set_motto", json!({"motto": "again"}))
        .unwrap_err()
        .to_string();
    assert!(error.contains("is not one of them"), "{error}");
}

#[test]
fn map_entries_inside_a_shared_value_are_the_writers_only() {
    let (alice, bob, _) = replicas();
    alice
        .call("put_page", json!({"key": "home", "text": "welcome"}))
        .unwrap();
    let write = alice.last().artifact;
    let (added, _) = actions(&write);
    let guarded = added
        .iter()
        .filter(|a| matches!(metadata(a).storage_type, StorageType::SharedMember { .. }))
        .count();
    assert!(
        guarded >= 2,
        "the value and the entry name their writer set: {guarded}"
    );
    assert!(
        added
            .iter()
            .filter(|a| tagged(a, SHARED_VALUE))
            .all(|a| matches!(metadata(a).storage_type, StorageType::SharedMember { .. }))
    );
    let error = bob.sync_from(BOB, &write).unwrap_err().to_string();
    assert!(error.contains("is not one of them"), "{error}");
    bob.sync_from(ALICE, &write).unwrap();
    assert_eq!(
        bob.call("page", json!({"key": "home"})).unwrap(),
        json!("welcome")
    );
}
