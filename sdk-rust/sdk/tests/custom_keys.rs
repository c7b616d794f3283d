//! A key type of the app's own, as upstream apps write one: a newtype with `AsRef<[u8]>` and
//! nothing else. Used as a key in the state (directly or nested), its entries are keyed by
//! those bytes, the same entities a `String` key with the same bytes gives.

use calimero_sdk::borsh::{BorshDeserialize, BorshSerialize};
use calimero_sdk::storage::address::Id;
use calimero_sdk::storage::collections::{LwwRegister, SortedMap, UnorderedMap, UnorderedSet};
use calimero_sdk::testing::TestApp;
use calimero_sdk::{app, storage};
use serde_json::json;

/// A lowercase slug.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, BorshSerialize, BorshDeserialize)]
#[borsh(crate = "calimero_sdk::borsh")]
pub struct Slug(String);

impl AsRef<[u8]> for Slug {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

/// A two-byte code.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, BorshSerialize, BorshDeserialize)]
#[borsh(crate = "calimero_sdk::borsh")]
pub struct Code([u8; 2]);

impl AsRef<[u8]> for Code {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

#[app::state]
pub struct Wiki {
    pages: UnorderedMap<Slug, LwwRegister<String>>,
    codes: SortedMap<String, UnorderedSet<Code>>,
}

#[app::logic]
impl Wiki {
    #[app::init]
    pub fn init() -> Wiki {
        Wiki {
            pages: UnorderedMap::new(),
            codes: SortedMap::new(),
        }
    }

    pub fn set_page(&mut self, title: String, body: String) -> app::Result<()> {
        self.pages
            .insert(Slug(title.trim().to_lowercase()), body.into())?;
        Ok(())
    }

    pub fn get_page(&self, title: String) -> app::Result<Option<String>> {
        Ok(self
            .pages
            .get(&Slug(title.trim().to_lowercase()))?
            .map(|body| body.get().clone()))
    }

    pub fn add_code(&mut self, group: String, code: [u8; 2]) -> app::Result<bool> {
        let mut codes = self.codes.entry(group)?.or_insert_with(UnorderedSet::new)?;
        Ok(codes.insert(Code(code))?)
    }

    pub fn has_code(&self, group: String, code: [u8; 2]) -> app::Result<bool> {
        match self.codes.get(&group)? {
            Some(codes) => Ok(codes.contains(&Code(code))?),
            None => Ok(false),
        }
    }
}

#[test]
fn an_as_ref_key_type_keys_entries_by_its_bytes() {
    let app = TestApp::<Wiki>::new([3; 32]);
    app.init(json!({})).unwrap();
    app.call("set_page", json!({"title": " Home ", "body": "welcome"}))
        .unwrap();
    assert_eq!(
        app.call("get_page", json!({"title": "HOME"})).unwrap(),
        json!("welcome")
    );
    assert_eq!(
        app.call("get_page", json!({"title": "away"})).unwrap(),
        json!(null)
    );
    assert_eq!(
        app.call("add_code", json!({"group": "g", "code": [1, 2]}))
            .unwrap(),
        json!(true)
    );
    assert_eq!(
        app.call("add_code", json!({"group": "g", "code": [1, 2]}))
            .unwrap(),
        json!(false)
    );
    assert_eq!(
        app.call("has_code", json!({"group": "g", "code": [1, 2]}))
            .unwrap(),
        json!(true)
    );
    assert_eq!(
        app.call("has_code", json!({"group": "g", "code": [2, 1]}))
            .unwrap(),
        json!(false)
    );

    // The page is the entity a `String` key "home" would be.
    let outcome = app.host().execute(b"", || {
        storage::store::reset();
        let entry = Id::entry(Id::collection(None, "pages"), b"home");
        assert!(storage::store::data(entry).unwrap().is_some());
    });
    assert!(outcome.trap.is_none(), "{:?}", outcome.trap);
}
