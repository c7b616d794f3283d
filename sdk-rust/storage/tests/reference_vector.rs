//! The reference test vector of `STORAGE.md` §5, on the native test host.

use borsh::{BorshDeserialize, BorshSerialize};
use calimero_storage::address::{Id, Key, hash};
use calimero_storage::collections::{LwwRegister, UnorderedMap};
use calimero_storage::test_host::TestHost;
use calimero_storage::{AppState, Mergeable, StoreError, root, store};

#[derive(BorshSerialize, BorshDeserialize)]
struct KvStore {
    items: UnorderedMap<String, LwwRegister<String>>,
}

impl Mergeable for KvStore {
    fn merge(&mut self, other: &Self) -> Result<(), StoreError> {
        self.items.merge(&other.items)
    }
}

impl AppState for KvStore {
    fn attach_fields(&mut self) -> Result<(), StoreError> {
        self.items.attach_field("items")
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn init(host: &TestHost) -> [u8; 32] {
    let mut root = None;
    let outcome = host.execute(b"", || {
        store::reset();
        root::init(KvStore {
            items: UnorderedMap::new(),
        })
        .unwrap();
        root = Some(root::commit().unwrap());
    });
    assert!(outcome.is_ok(), "{:?}", outcome.trap);
    assert!(outcome.persisted);
    assert_eq!(outcome.root_hash, root);
    root.unwrap()
}

#[test]
fn kv_store_init_on_context_7_gives_the_reference_root() {
    let host = TestHost::new([7; 32], [1; 32]);
    let root = init(&host);
    assert_eq!(
        hex(&root),
        "3bf4cb8f1bf460c294034d9eff4db8413ddafc1c63a50d3dd692216530d15391"
    );

    let items_id = Id::collection(None, "items");
    assert!(hex(items_id.as_bytes()).starts_with("2c28bb67"));
    assert!(hex(&Key::Index(Id::new([7; 32])).to_bytes()).starts_with("0a958d72"));

    // The state entry is the struct's collection handle followed by its own element id.
    let storage = host.storage();
    let state = &storage[&Key::Entry(Id::ROOT_ENTRY).to_bytes().to_vec()];
    let mut expected = items_id.as_bytes().to_vec();
    expected.extend_from_slice(&[0x76; 32]);
    assert_eq!(state, &expected);
    // The formula, spelled out.
    let formula = hash(&[
        &hash(&[&[7u8; 32]]),
        &hash(&[&hash(&[items_id.as_bytes()])]),
        &hash(&[&hash(&[&expected])]),
    ]);
    assert_eq!(root, formula);
}

#[test]
fn set_writes_the_reference_entry_layout() {
    let host = TestHost::new([7; 32], [1; 32]);
    init(&host);
    let outcome = host.execute(b"", || {
        store::reset();
        let mut state: KvStore = root::load().unwrap();
        state
            .items
            .insert("foo".to_owned(), LwwRegister::new("bar".to_owned()))
            .unwrap();
        root::save(&state).unwrap();
        root::commit().unwrap();
    });
    assert!(outcome.persisted, "{:?}", outcome.trap);
    let items_id = Id::collection(None, "items");
    let entry = Id::entry(items_id, b"foo");
    assert!(hex(entry.as_bytes()).starts_with("89c17f07"));
    let data = &host.storage()[&Key::Entry(entry).to_bytes().to_vec()];
    assert_eq!(data.len(), 102);
    assert_eq!(&data[..7], b"\x03\0\0\0foo");
    assert_eq!(&data[7..14], b"\x03\0\0\0bar");
    assert_eq!(&data[70..], entry.as_bytes());
}
