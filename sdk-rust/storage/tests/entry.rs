//! `UnorderedMap::entry` as upstream apps use it: `collections::unordered_map::Entry` is an enum
//! of `Occupied` and `Vacant`, and what is done through either is stored.

use borsh::{BorshDeserialize, BorshSerialize};
use calimero_storage::collections::unordered_map::{Entry, OccupiedEntry, VacantEntry};
use calimero_storage::collections::{LwwRegister, UnorderedMap};
use calimero_storage::test_host::TestHost;
use calimero_storage::{AppState, Mergeable, StoreError, root, store};

#[derive(BorshSerialize, BorshDeserialize)]
struct State {
    items: UnorderedMap<String, LwwRegister<String>>,
}

impl Mergeable for State {
    fn merge(&mut self, _other: &Self) -> Result<(), StoreError> {
        Ok(())
    }
}

impl AppState for State {
    fn attach_fields(&mut self) -> Result<(), StoreError> {
        self.items.attach_field("items")
    }
}

fn value(state: &State, key: &str) -> Option<String> {
    state
        .items
        .get(key)
        .unwrap()
        .map(|register| register.get().clone())
}

fn vacant<'a>(
    entry: Entry<'a, String, LwwRegister<String>>,
) -> VacantEntry<'a, String, LwwRegister<String>> {
    match entry {
        Entry::Vacant(entry) => entry,
        Entry::Occupied(entry) => panic!("{} is present", entry.key()),
    }
}

fn occupied<'a>(
    entry: Entry<'a, String, LwwRegister<String>>,
) -> Box<OccupiedEntry<'a, String, LwwRegister<String>>> {
    match entry {
        Entry::Occupied(entry) => entry,
        Entry::Vacant(entry) => panic!("{} is absent", entry.key()),
    }
}

#[test]
fn occupied_and_vacant_entries_read_write_and_remove_what_is_stored() {
    let host = TestHost::new([5; 32], [1; 32]);
    let outcome = host.execute(b"", || {
        store::reset();
        let mut state = root::init(State {
            items: UnorderedMap::new(),
        })
        .unwrap();

        // Vacant: the key is offered back, and insert stores the value.
        let entry = state.items.entry("a".into()).unwrap();
        assert!(!entry.is_occupied());
        let entry = vacant(entry);
        assert_eq!(entry.key(), "a");
        drop(entry.insert("1".to_owned().into()).unwrap());
        assert_eq!(value(&state, "a").as_deref(), Some("1"));

        // Occupied: get reads, get_mut changes in place, written back when the entry drops.
        let mut entry = occupied(state.items.entry("a".into()).unwrap());
        assert_eq!(entry.key(), "a");
        assert_eq!(entry.get().get(), "1");
        entry.get_mut().set("2".to_owned());
        drop(entry);
        assert_eq!(value(&state, "a").as_deref(), Some("2"));

        // insert replaces and returns the old value.
        let mut entry = occupied(state.items.entry("a".into()).unwrap());
        let old = entry.insert("3".to_owned().into());
        assert_eq!(old.get(), "2");
        drop(entry);
        assert_eq!(value(&state, "a").as_deref(), Some("3"));

        // or_insert keeps an existing value and inserts a missing one.
        let kept = state
            .items
            .entry("a".into())
            .unwrap()
            .or_insert("ignored".to_owned().into())
            .unwrap();
        assert_eq!(kept.get(), "3");
        drop(kept);
        drop(
            state
                .items
                .entry("b".into())
                .unwrap()
                .or_insert("4".to_owned().into())
                .unwrap(),
        );
        assert_eq!(value(&state, "b").as_deref(), Some("4"));

        // remove deletes the entry and returns its value as changed through the entry.
        let mut entry = occupied(state.items.entry("a".into()).unwrap());
        entry.get_mut().set("5".to_owned());
        assert_eq!(entry.remove().unwrap().get(), "5");
        assert!(!state.items.contains("a").unwrap());
        assert_eq!(value(&state, "a"), None);
        assert_eq!(state.items.len().unwrap(), 1);
        assert!(!state.items.entry("a".into()).unwrap().is_occupied());

        root::save(&state).unwrap();
        root::commit().unwrap();
    });
    assert!(outcome.persisted, "{:?}", outcome.trap);
}
