//! Collections filled before they are attached (upstream apps do this in `init`): what a
//! detached collection is given is kept in memory, read back from there, and written when the
//! collection is bound, giving the same entities as filling it after attaching it.

use std::collections::BTreeMap;

use borsh::{BorshDeserialize, BorshSerialize};
use calimero_storage::address::Id;
use calimero_storage::collections::unordered_map::Entry;
use calimero_storage::collections::{LwwRegister, PNCounter, UnorderedMap, UnorderedSet, Vector};
use calimero_storage::test_host::TestHost;
use calimero_storage::{AppState, Mergeable, StoreError, root, store};

#[derive(BorshSerialize, BorshDeserialize)]
struct State {
    items: UnorderedMap<String, LwwRegister<String>>,
    tags: UnorderedMap<String, UnorderedSet<String>>,
    log: Vector<String>,
    score: PNCounter,
}

impl Mergeable for State {
    fn merge(&mut self, _other: &Self) -> Result<(), StoreError> {
        Ok(())
    }
}

impl AppState for State {
    fn attach_fields(&mut self) -> Result<(), StoreError> {
        self.items.attach_field("items")?;
        self.tags.attach_field("tags")?;
        self.log.attach_field("log")?;
        self.score.attach_field("score")
    }
}

fn empty() -> State {
    State {
        items: UnorderedMap::new(),
        tags: UnorderedMap::new(),
        log: Vector::new(),
        score: PNCounter::new(),
    }
}

/// The same writes, done through whatever `state` is (attached or not).
fn fill(state: &mut State) {
    state
        .items
        .insert("a".into(), "1".to_owned().into())
        .unwrap();
    state
        .items
        .insert("b".into(), "2".to_owned().into())
        .unwrap();
    let mut tags = UnorderedSet::new();
    tags.insert("red".to_owned()).unwrap();
    tags.insert("blue".to_owned()).unwrap();
    state.tags.insert("x".into(), tags).unwrap();
    state.log.push("first".into()).unwrap();
    state.log.push("second".into()).unwrap();
    state.score.increment_by(5).unwrap();
    state.score.decrement().unwrap();
}

/// The data of every live entity under the context root, by id.
fn entities() -> BTreeMap<Id, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut pending = vec![store::root_id()];
    while let Some(id) = pending.pop() {
        if let Some(data) = store::data(id).unwrap() {
            out.insert(id, data);
        }
        pending.extend(store::children(id).unwrap().into_iter().map(|c| c.id));
    }
    out
}

fn run(host: &TestHost, call: impl FnOnce()) {
    let outcome = host.execute(b"", || {
        store::reset();
        call();
        root::commit().unwrap();
    });
    assert!(outcome.persisted, "{:?}", outcome.trap);
}

#[test]
fn a_state_filled_before_init_stores_what_filling_it_after_stores() {
    let before = TestHost::new([5; 32], [1; 32]);
    let after = TestHost::new([5; 32], [1; 32]);
    let mut stored = Vec::new();
    run(&before, || {
        let mut state = empty();
        fill(&mut state);
        root::init(state).unwrap();
        stored.push(entities());
    });
    run(&after, || {
        let mut state = root::init(empty()).unwrap();
        fill(&mut state);
        root::save(&state).unwrap();
        stored.push(entities());
    });
    assert_eq!(stored[0], stored[1]);
    // Nothing was lost on the way: 2 entries, a set with 2 tags, 2 pushes, 4 counted.
    run(&before, || {
        let state: State = root::load().unwrap();
        let items: Vec<_> = state
            .items
            .entries()
            .unwrap()
            .map(|(k, v)| (k, v.get().clone()))
            .collect();
        assert_eq!(items, [("a".into(), "1".into()), ("b".into(), "2".into())]);
        let tags: Vec<String> = state
            .tags
            .get("x")
            .unwrap()
            .unwrap()
            .iter()
            .unwrap()
            .collect();
        assert_eq!(tags, ["red", "blue"]);
        let log: Vec<String> = state.log.iter().unwrap().collect();
        assert_eq!(log, ["first", "second"]);
        assert_eq!(state.score.value().unwrap(), 4);
    });
}

#[test]
fn a_filled_collection_put_into_an_attached_map_lands_under_its_entry() {
    let host = TestHost::new([6; 32], [2; 32]);
    run(&host, || {
        root::init(empty()).unwrap();
    });
    run(&host, || {
        let mut state: State = root::load().unwrap();
        let mut tags = UnorderedSet::new();
        for tag in ["a", "b", "c"] {
            assert!(tags.insert(tag.to_owned()).unwrap());
        }
        assert!(
            !tags.insert("a".to_owned()).unwrap(),
            "a set keeps one copy"
        );
        assert!(tags.remove("b").unwrap());
        state.tags.insert("item".into(), tags).unwrap();
        root::save(&state).unwrap();
    });
    run(&host, || {
        let state: State = root::load().unwrap();
        let tags = state.tags.get("item").unwrap().unwrap();
        assert_eq!(tags.iter().unwrap().collect::<Vec<_>>(), ["a", "c"]);
        assert!(tags.contains("c").unwrap());
        assert!(!tags.contains("b").unwrap());
        assert_eq!(tags.len().unwrap(), 2);
    });
}

#[test]
fn a_detached_collection_reads_back_what_it_was_given() {
    let host = TestHost::new([7; 32], [3; 32]);
    run(&host, || {
        // Map: insert, replace, get, get_mut, entry, remove, entries in insertion order.
        let mut map: UnorderedMap<String, LwwRegister<String>> = UnorderedMap::new();
        assert_eq!(map.insert("a".into(), "1".to_owned().into()).unwrap(), None);
        assert_eq!(map.insert("b".into(), "2".to_owned().into()).unwrap(), None);
        let old = map.insert("a".into(), "3".to_owned().into()).unwrap();
        assert_eq!(old.map(|r| r.get().clone()).as_deref(), Some("1"));
        assert_eq!(map.get("a").unwrap().unwrap().get(), "3");
        map.get_mut("b").unwrap().unwrap().set("4".to_owned());
        assert_eq!(map.get("b").unwrap().unwrap().get(), "4");
        match map.entry("c".into()).unwrap() {
            Entry::Vacant(entry) => drop(entry.insert("5".to_owned().into()).unwrap()),
            Entry::Occupied(_) => panic!("c is absent"),
        }
        match map.entry("a".into()).unwrap() {
            Entry::Occupied(entry) => assert_eq!(entry.remove().unwrap().get(), "3"),
            Entry::Vacant(_) => panic!("a is present"),
        }
        assert!(!map.contains("a").unwrap());
        assert_eq!(map.remove("a").unwrap().map(|r| r.get().clone()), None);
        let entries: Vec<_> = map
            .entries()
            .unwrap()
            .map(|(k, v)| (k, v.get().clone()))
            .collect();
        assert_eq!(
            entries,
            [("b".into(), "4".into()), ("c".into(), "5".into())]
        );
        assert_eq!(map.len().unwrap(), 2);

        // Vector: push, update, pop, get, out of bounds.
        let mut log: Vector<String> = Vector::new();
        log.push("x".into()).unwrap();
        log.push("y".into()).unwrap();
        log.push("z".into()).unwrap();
        assert_eq!(log.update(0, "w".into()).unwrap(), "x");
        assert_eq!(log.pop().unwrap().as_deref(), Some("z"));
        assert_eq!(log.get(1).unwrap().as_deref(), Some("y"));
        assert!(matches!(
            log.update(5, "v".into()),
            Err(StoreError::IndexOutOfBounds { index: 5, len: 2 })
        ));

        // Counter: both directions.
        let mut score = PNCounter::new();
        score.increment_by(3).unwrap();
        score.decrement_by(5).unwrap();
        assert_eq!(score.value().unwrap(), -2);

        // A value carrying a detached collection is copied with its elements.
        let mut nested: UnorderedMap<String, UnorderedSet<String>> = UnorderedMap::new();
        nested.insert("k".into(), UnorderedSet::new()).unwrap();
        nested
            .get_mut("k")
            .unwrap()
            .unwrap()
            .insert("t".into())
            .unwrap();
        let copy = nested.get("k").unwrap().unwrap();
        assert_eq!(copy.iter().unwrap().collect::<Vec<_>>(), ["t"]);

        // Bound now: what was read back is what is stored.
        let mut state = empty();
        state.items = map;
        state.log = log;
        state.score = score;
        state.tags = nested;
        let state = root::init(state).unwrap();
        let entries: Vec<_> = state
            .items
            .entries()
            .unwrap()
            .map(|(k, v)| (k, v.get().clone()))
            .collect();
        assert_eq!(
            entries,
            [("b".into(), "4".into()), ("c".into(), "5".into())]
        );
        assert_eq!(state.log.iter().unwrap().collect::<Vec<_>>(), ["w", "y"]);
        assert_eq!(state.score.value().unwrap(), -2);
        let tags = state.tags.get("k").unwrap().unwrap();
        assert_eq!(tags.iter().unwrap().collect::<Vec<_>>(), ["t"]);
    });
}

#[test]
fn encoding_a_filled_detached_collection_outside_a_save_fails_and_keeps_its_elements() {
    let host = TestHost::new([8; 32], [4; 32]);
    run(&host, || {
        root::init(empty()).unwrap();
        let mut set: UnorderedSet<String> = UnorderedSet::new();
        set.insert("kept".into()).unwrap();
        let error = borsh::to_vec(&set).expect_err("a detached collection has no id to encode");
        assert_eq!(error.kind(), std::io::ErrorKind::NotConnected);
        assert_eq!(set.iter().unwrap().collect::<Vec<_>>(), ["kept"]);
    });
}

/// A small deterministic generator, so a failure replays.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % below
    }
}

#[test]
fn random_writes_into_a_detached_map_match_a_model_before_and_after_binding() {
    for seed in 1..=20u64 {
        let host = TestHost::new([9; 32], [5; 32]);
        run(&host, || {
            let mut rng = Lcg(seed);
            let mut map: UnorderedMap<u32, LwwRegister<u64>> = UnorderedMap::new();
            // The model: entries in first-insertion order.
            let mut model: Vec<(u32, u64)> = Vec::new();
            for step in 0..200u64 {
                let key = rng.next(12) as u32;
                match rng.next(4) {
                    0 | 1 => {
                        let old = map.insert(key, step.into()).unwrap().map(|r| *r.get());
                        let slot = model.iter_mut().find(|(k, _)| *k == key);
                        let expected = slot.as_ref().map(|(_, v)| *v);
                        match slot {
                            Some(slot) => slot.1 = step,
                            None => model.push((key, step)),
                        }
                        assert_eq!(old, expected, "seed {seed} step {step}");
                    }
                    2 => {
                        let old = map.remove(&key).unwrap().map(|r| *r.get());
                        let at = model.iter().position(|(k, _)| *k == key);
                        assert_eq!(old, at.map(|at| model.remove(at).1), "seed {seed}");
                    }
                    _ => {
                        if let Some(mut value) = map.get_mut(&key).unwrap() {
                            value.set(step + 1000);
                        }
                        if let Some(slot) = model.iter_mut().find(|(k, _)| *k == key) {
                            slot.1 = step + 1000;
                        }
                    }
                }
            }
            let read = |map: &UnorderedMap<u32, LwwRegister<u64>>| -> Vec<(u32, u64)> {
                map.entries().unwrap().map(|(k, v)| (k, *v.get())).collect()
            };
            assert_eq!(read(&map), model, "seed {seed}, detached");
            root::init(empty()).unwrap();
            // Bound as an entry of an attached map: the stored entries are the model's.
            let mut attached: UnorderedMap<String, UnorderedMap<u32, LwwRegister<u64>>> =
                UnorderedMap::new();
            attached.attach_field("nested").unwrap();
            attached.insert("m".into(), map).unwrap();
            let bound = attached.get("m").unwrap().expect("stored");
            assert_eq!(read(&bound), model, "seed {seed}, bound");
        });
    }
}
