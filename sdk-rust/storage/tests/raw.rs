//! The byte-level collections write exactly what the typed ones write: a dynamically typed
//! state (the JavaScript engine's) and its Rust twin produce the same storage.

use borsh::{BorshDeserialize, BorshSerialize};
use calimero_storage::address::Id;
use calimero_storage::collections::{Counter, LwwRegister, UnorderedMap, UnorderedSet, raw};
use calimero_storage::entities::CrdtType;
use calimero_storage::hlc::HybridTimestamp;
use calimero_storage::test_host::TestHost;
use calimero_storage::{AppState, Mergeable, StoreError, root, store};

#[derive(BorshSerialize, BorshDeserialize)]
struct Twin {
    items: UnorderedMap<String, LwwRegister<String>>,
    tags: UnorderedMap<String, UnorderedSet<String>>,
    hits: Counter,
    note: String,
}

impl Mergeable for Twin {
    fn merge(&mut self, _other: &Self) -> Result<(), StoreError> {
        Ok(())
    }
}

impl AppState for Twin {
    fn attach_fields(&mut self) -> Result<(), StoreError> {
        self.items.attach_field("items")?;
        self.tags.attach_field("tags")?;
        self.hits.attach_field("hits")
    }
}

fn string(value: &str) -> Vec<u8> {
    borsh::to_vec(value).unwrap()
}

fn map_type<K, V>() -> CrdtType {
    CrdtType::UnorderedMap {
        key_type: std::any::type_name::<K>().to_owned(),
        value_type: std::any::type_name::<V>().to_owned(),
    }
}

fn typed(host: &TestHost) {
    let outcome = host.execute(b"", || {
        store::reset();
        let mut state = root::init(Twin {
            items: UnorderedMap::new(),
            tags: UnorderedMap::new(),
            hits: Counter::new(),
            note: "héllo".into(),
        })
        .unwrap();
        state
            .items
            .insert("k€y".into(), "välue 🌍".to_owned().into())
            .unwrap();
        state
            .items
            .insert("gone".into(), "x".to_owned().into())
            .unwrap();
        state.items.remove("gone").unwrap();
        state
            .tags
            .insert("colours".into(), UnorderedSet::new())
            .unwrap();
        let mut set = state.tags.get("colours").unwrap().unwrap();
        set.insert("red".to_owned()).unwrap();
        state.hits.increment_by(3).unwrap();
        root::save(&state).unwrap();
        root::commit().unwrap();
    });
    assert!(outcome.persisted, "{:?}", outcome.trap);
}

fn dynamic(host: &TestHost) {
    let outcome = host.execute(b"", || {
        store::reset();
        root::begin_init().unwrap();
        let items = raw::attach_field("items", map_type::<String, LwwRegister<String>>()).unwrap();
        let tags = raw::attach_field("tags", map_type::<String, UnorderedSet<String>>()).unwrap();
        let hits = raw::attach_field("hits", CrdtType::GCounter).unwrap();
        let mut state = Vec::new();
        state.extend_from_slice(items.as_bytes());
        state.extend_from_slice(tags.as_bytes());
        state.extend_from_slice(hits.as_bytes());
        state.extend(string("héllo"));
        root::save_raw(&state, Vec::new()).unwrap();

        let register = |key: &str, value: &str| {
            let id = Id::entry(items, key.as_bytes());
            let previous = raw::value(id).unwrap().map(|bytes| {
                let stamp = &bytes[bytes.len() - 56..bytes.len() - 32];
                HybridTimestamp::try_from_slice(stamp).unwrap()
            });
            let mut bytes = string(key);
            bytes.extend(string(value));
            bytes.extend(raw::register_stamp(previous));
            raw::save(items, id, &bytes, Vec::new(), None).unwrap();
        };
        register("k€y", "välue 🌍");
        register("gone", "x");
        assert!(raw::remove(Id::entry(items, b"gone")).unwrap());

        let entry = Id::entry(tags, b"colours");
        let set = Id::collection(Some(entry), "0");
        let mut bytes = string("colours");
        bytes.extend_from_slice(set.as_bytes());
        let set_type = CrdtType::UnorderedSet {
            element_type: std::any::type_name::<String>().to_owned(),
        };
        raw::save(tags, entry, &bytes, vec![(set, set_type)], None).unwrap();
        raw::save(
            set,
            Id::entry(set, b"red"),
            &string("red"),
            Vec::new(),
            None,
        )
        .unwrap();
        raw::counter_add(hits, false, 3).unwrap();
        assert_eq!(raw::counter_totals(hits).unwrap(), (3, 0));
        assert_eq!(raw::len(items).unwrap(), 1);
        root::save_raw(&state, Vec::new()).unwrap();
        root::commit().unwrap();
    });
    assert!(outcome.persisted, "{:?}", outcome.trap);
}

#[test]
fn raw_collections_write_the_same_storage_as_typed_ones() {
    let a = TestHost::new([7; 32], [1; 32]);
    let b = TestHost::new([7; 32], [1; 32]);
    a.set_clock(1_700_000_000_000_000_000, 1_000);
    b.set_clock(1_700_000_000_000_000_000, 1_000);
    typed(&a);
    dynamic(&b);
    let (left, right) = (a.storage(), b.storage());
    assert!(left.len() > 10, "{} records", left.len());
    let differing: Vec<_> = left
        .iter()
        .filter(|(k, v)| right.get(*k) != Some(v))
        .map(|(k, _)| k.clone())
        .collect();
    assert!(
        differing.is_empty(),
        "{} of {} records differ",
        differing.len(),
        left.len()
    );
    assert_eq!(left.len(), right.len());
}
