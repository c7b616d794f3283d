//! `UserStorage`: one value per account, written only by that account. A method writes the
//! caller's slot; a peer applies a delta as its author, so a delta that touches another
//! account's slot (or anything under it) is refused whole, and the replica is left unchanged.

mod common;

use calimero_sdk::app;
use calimero_sdk::borsh::{BorshDeserialize, BorshSerialize};
use calimero_sdk::storage::action::Action;
use calimero_sdk::storage::collections::{LwwRegister, Mergeable, UnorderedSet, UserStorage};
use calimero_sdk::storage::entities::{CrdtType, StorageType, USER_SLOT};
use calimero_sdk::testing::TestApp;
use calimero_sdk::{AccountId, env};
use common::{actions, metadata, metadata_mut};
use serde_json::{Value, json};

#[derive(BorshSerialize, BorshDeserialize, Mergeable, Default)]
#[borsh(crate = "calimero_sdk::borsh")]
pub struct Note {
    text: LwwRegister<String>,
    tags: UnorderedSet<String>,
}

#[app::state]
pub struct Notes {
    names: UserStorage<LwwRegister<String>>,
    notes: UserStorage<Note>,
}

#[app::logic]
impl Notes {
    #[app::init]
    pub fn init() -> Notes {
        let mut names = UserStorage::new();
        // Filled before it is stored: the creator's slot.
        names
            .insert(LwwRegister::new("founder".to_owned()))
            .unwrap();
        Notes {
            names,
            notes: UserStorage::new(),
        }
    }

    pub fn set_name(&mut self, name: String) -> app::Result<Option<String>> {
        Ok(self.names.insert(name.into())?.map(|old| old.get().clone()))
    }

    pub fn name_of(&self, user: AccountId) -> app::Result<Option<String>> {
        Ok(self.names.get_for_user(&user)?.map(|n| n.get().clone()))
    }

    pub fn my_name(&self) -> app::Result<Option<String>> {
        Ok(self.names.get()?.map(|n| n.get().clone()))
    }

    /// Sets `user`'s name: only `user` itself may.
    pub fn set_name_for(&mut self, user: AccountId, name: String) -> app::Result<()> {
        self.names.insert_for_user(&user, name.into())?;
        Ok(())
    }

    pub fn write(&mut self, text: String, tag: String) -> app::Result<()> {
        let mut note = self.notes.get()?.unwrap_or_default();
        note.text.set(text);
        note.tags.insert(tag)?;
        self.notes.insert(note)?;
        Ok(())
    }

    /// Adds a tag to `user`'s note through the note's own set (not through `insert`).
    pub fn tag_note_of(&mut self, user: AccountId, tag: String) -> app::Result<()> {
        let Some(mut note) = self.notes.get_for_user(&user)? else {
            app::bail!("no note");
        };
        note.tags.insert(tag)?;
        Ok(())
    }

    pub fn note_of(&self, user: AccountId) -> app::Result<Option<(String, Vec<String>)>> {
        Ok(match self.notes.get_for_user(&user)? {
            Some(note) => Some((note.text.get().clone(), note.tags.iter()?.collect())),
            None => None,
        })
    }

    pub fn drop_note(&mut self) -> app::Result<bool> {
        Ok(self.notes.remove()?.is_some())
    }

    pub fn users(&self) -> app::Result<Vec<AccountId>> {
        Ok(self.names.users()?.collect())
    }

    pub fn has_note(&self) -> app::Result<bool> {
        Ok(self.notes.contains_current_user()?)
    }

    pub fn me(&self) -> AccountId {
        AccountId::from(env::account_id())
    }
}

const CONTEXT: [u8; 32] = [4; 32];
const ALICE: [u8; 32] = [1; 32];
const BOB: [u8; 32] = [2; 32];

fn hex(account: [u8; 32]) -> Value {
    json!(AccountId::from(account).to_string())
}

/// Alice creates the context; Bob joins by applying her init delta as hers.
fn replicas() -> (TestApp<Notes>, TestApp<Notes>) {
    let alice = TestApp::<Notes>::with_member(CONTEXT, ALICE);
    alice.init(json!({})).unwrap();
    let bob = TestApp::<Notes>::with_member(CONTEXT, BOB);
    bob.sync_from(ALICE, &alice.last().artifact).unwrap();
    (alice, bob)
}

fn owner(action: &Action) -> Option<[u8; 32]> {
    match &metadata(action).storage_type {
        StorageType::User { owner, .. } => Some(*owner),
        _ => None,
    }
}

#[test]
fn each_account_reads_and_writes_its_own_slot_and_reads_everyone_s() {
    let (alice, bob) = replicas();
    assert_eq!(alice.call("my_name", json!({})).unwrap(), json!("founder"));
    assert_eq!(bob.call("my_name", json!({})).unwrap(), json!(null));
    assert_eq!(
        bob.call("name_of", json!({"user": hex(ALICE)})).unwrap(),
        json!("founder")
    );

    assert_eq!(
        bob.call("set_name", json!({"name": "bob"})).unwrap(),
        json!(null)
    );
    alice.sync_from(BOB, &bob.last().artifact).unwrap();
    for replica in [&alice, &bob] {
        assert_eq!(
            replica.call("name_of", json!({"user": hex(BOB)})).unwrap(),
            json!("bob")
        );
        assert_eq!(
            replica.call("users", json!({})).unwrap(),
            json!([hex(ALICE), hex(BOB)])
        );
    }
    assert_eq!(
        alice.call("set_name", json!({"name": "alice"})).unwrap(),
        json!("founder")
    );
    assert_eq!(alice.call("me", json!({})).unwrap(), hex(ALICE));
}

#[test]
fn every_element_under_a_slot_is_owned_by_the_slot_s_account() {
    let (alice, _) = replicas();
    alice
        .call("write", json!({"text": "hello", "tag": "draft"}))
        .unwrap();
    let (written, _) = actions(&alice.last().artifact);
    let added: Vec<&Action> = written
        .iter()
        .filter(|a| matches!(a, Action::Add { .. }))
        .collect();
    // The slot, the tag set inside the note and the tag: all Alice's.
    let owned = added.iter().filter(|a| owner(a) == Some(ALICE)).count();
    assert!(
        owned >= 3,
        "{owned} of {} additions are Alice's",
        added.len()
    );
    let slot = added
        .iter()
        .find(|a| {
            matches!(a, Action::Add { metadata, .. }
                if metadata.crdt_type == Some(CrdtType::Custom(USER_SLOT.into())))
        })
        .expect("the note's slot");
    assert_eq!(owner(slot), Some(ALICE));
}

#[test]
fn a_method_cannot_write_another_account_s_slot() {
    let (alice, bob) = replicas();
    alice
        .call("write", json!({"text": "mine", "tag": "a"}))
        .unwrap();
    bob.sync_from(ALICE, &alice.last().artifact).unwrap();
    let before = bob.host().storage();

    let error = bob
        .call(
            "set_name_for",
            json!({"user": hex(ALICE), "name": "mallory"}),
        )
        .unwrap_err();
    assert!(
        error.to_string().contains("only account"),
        "set_name_for: {error}"
    );
    // Through a collection inside Alice's value: refused by the storage layer.
    let error = bob
        .call("tag_note_of", json!({"user": hex(ALICE), "tag": "b"}))
        .unwrap_err();
    assert!(
        error.to_string().contains("only its owner may change it"),
        "tag_note_of: {error}"
    );
    assert_eq!(bob.host().storage(), before, "nothing was written");
    assert_eq!(
        bob.call("note_of", json!({"user": hex(ALICE)})).unwrap(),
        json!(["mine", ["a"]])
    );
    // Alice herself may.
    alice
        .call("tag_note_of", json!({"user": hex(ALICE), "tag": "b"}))
        .unwrap();
}

/// The same bytes as Alice's delta, claimed by Bob: every replica refuses it, Alice's own
/// included, because the author is not the owner.
#[test]
fn a_delta_that_changes_another_account_s_slot_is_refused_and_changes_nothing() {
    let (alice, bob) = replicas();
    alice.call("set_name", json!({"name": "alice v2"})).unwrap();
    let artifact = alice.last().artifact;
    let before = bob.host().storage();
    let error = bob.sync_from(BOB, &artifact).unwrap_err();
    assert!(
        error.to_string().contains("only its owner may change it"),
        "{error}"
    );
    assert_eq!(
        bob.host().storage(),
        before,
        "nothing of the delta was kept"
    );
    // As Alice's, it applies.
    bob.sync_from(ALICE, &artifact).unwrap();
    assert_eq!(
        bob.call("name_of", json!({"user": hex(ALICE)})).unwrap(),
        json!("alice v2")
    );
}

#[test]
fn a_delta_that_disowns_a_slot_or_deletes_it_is_refused() {
    let (alice, bob) = replicas();
    alice
        .call("write", json!({"text": "t", "tag": "x"}))
        .unwrap();
    let artifact = alice.last().artifact;

    // Bob rewrites Alice's delta as his own, marking every entity public.
    let (mut edited, encode) = actions(&artifact);
    for action in &mut edited {
        metadata_mut(action).storage_type = StorageType::Public;
    }
    let before = bob.host().storage();
    let error = bob.sync_from(BOB, &encode(edited)).unwrap_err();
    assert!(
        error.to_string().contains("does not match its place"),
        "disowned: {error}"
    );
    assert_eq!(bob.host().storage(), before);

    // Or drops the slot tag, to put a plain element into the user storage.
    let (mut edited, encode) = actions(&artifact);
    for action in &mut edited {
        let metadata = metadata_mut(action);
        metadata.storage_type = StorageType::Public;
        if metadata.crdt_type == Some(CrdtType::Custom(USER_SLOT.into())) {
            metadata.crdt_type = None;
        }
    }
    let error = bob.sync_from(BOB, &encode(edited)).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("holds only its accounts' elements"),
        "untagged: {error}"
    );
    assert_eq!(bob.host().storage(), before);

    // The honest delta applies; then Bob's deletion of Alice's slot is refused.
    bob.sync_from(ALICE, &artifact).unwrap();
    let (written, encode) = actions(&artifact);
    let slot = written
        .into_iter()
        .find(|a| owner(a) == Some(ALICE) && matches!(a, Action::Add { metadata, .. } if metadata.crdt_type == Some(CrdtType::Custom(USER_SLOT.into()))))
        .expect("the slot");
    let Action::Add { id, metadata, .. } = slot else {
        unreachable!()
    };
    let deletion = Action::DeleteRef {
        id,
        deleted_at: metadata.updated_at + 1,
        metadata,
    };
    let before = bob.host().storage();
    let error = bob
        .sync_from(BOB, &encode(vec![deletion.clone()]))
        .unwrap_err();
    assert!(error.to_string().contains("only its owner"), "{error}");
    assert_eq!(bob.host().storage(), before);
    // Alice's own deletion goes through.
    bob.sync_from(ALICE, &encode(vec![deletion])).unwrap();
    assert_eq!(
        bob.call("note_of", json!({"user": hex(ALICE)})).unwrap(),
        json!(null)
    );
}

#[test]
fn removing_and_writing_again_starts_a_fresh_value() {
    let (alice, bob) = replicas();
    alice
        .call("write", json!({"text": "one", "tag": "a"}))
        .unwrap();
    bob.sync_from(ALICE, &alice.last().artifact).unwrap();
    assert_eq!(alice.call("drop_note", json!({})).unwrap(), json!(true));
    bob.sync_from(ALICE, &alice.last().artifact).unwrap();
    assert_eq!(alice.call("has_note", json!({})).unwrap(), json!(false));
    alice
        .call("write", json!({"text": "two", "tag": "b"}))
        .unwrap();
    bob.sync_from(ALICE, &alice.last().artifact).unwrap();
    for replica in [&alice, &bob] {
        assert_eq!(
            replica
                .call("note_of", json!({"user": hex(ALICE)}))
                .unwrap(),
            json!(["two", ["b"]])
        );
    }
    assert!(matches!(
        bob.call("drop_note", json!({})),
        Ok(Value::Bool(false))
    ));
}
