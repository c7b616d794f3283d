//! `calimero_sdk::{AccountId, PublicKey, ContextId, BlobId}` in an app as upstream apps use them:
//! method arguments and results as text (hex accounts, base58 keys), map keys by their raw
//! bytes, values in registers, and the ABI's `bytes` with size and encoding.

use calimero_sdk::storage::address::Id;
use calimero_sdk::storage::collections::{LwwRegister, UnorderedMap};
use calimero_sdk::testing::{CallError, TestApp};
use calimero_sdk::{AccountId, BlobId, ContextId, PublicKey, app, env};
use serde_json::json;

#[app::state]
pub struct Directory {
    accounts: UnorderedMap<PublicKey, LwwRegister<AccountId>>,
    avatars: UnorderedMap<AccountId, BlobId>,
}

#[app::logic]
impl Directory {
    #[app::init]
    pub fn init() -> Directory {
        Directory {
            accounts: UnorderedMap::new(),
            avatars: UnorderedMap::new(),
        }
    }

    pub fn link(&mut self, key: PublicKey, account: AccountId) -> app::Result<()> {
        self.accounts.insert(key, account.into())?;
        Ok(())
    }

    pub fn account_of(&self, key: PublicKey) -> app::Result<Option<AccountId>> {
        Ok(self.accounts.get(&key)?.map(|r| *r.get()))
    }

    pub fn set_avatar(&mut self, blob: BlobId) -> app::Result<AccountId> {
        let me = AccountId::from(env::executor_id());
        self.avatars.insert(me, blob)?;
        Ok(me)
    }

    pub fn avatar(&self, account: AccountId) -> app::Result<Option<BlobId>> {
        Ok(self.avatars.get(&account)?)
    }

    pub fn context(&self) -> ContextId {
        ContextId::from(env::context_id())
    }
}

#[test]
fn ids_cross_json_as_text_and_key_maps_by_their_bytes() {
    let app = TestApp::<Directory>::with_member([4; 32], [7; 32]);
    app.init(json!({})).unwrap();
    let key = PublicKey::from([1; 32]);
    let account = AccountId::from([0xab; 32]);
    app.call(
        "link",
        json!({"key": key.to_string(), "account": account.to_string()}),
    )
    .unwrap();
    assert_eq!(
        app.call("account_of", json!({"key": key.to_string()}))
            .unwrap(),
        json!("ab".repeat(32))
    );
    assert_eq!(
        app.call(
            "account_of",
            json!({"key": PublicKey::from([2; 32]).to_string()})
        )
        .unwrap(),
        json!(null)
    );

    let blob = BlobId::from([3; 32]);
    let me = app
        .call("set_avatar", json!({"blob": blob.to_string()}))
        .unwrap();
    assert_eq!(me, json!("07".repeat(32)), "the executor, in hex");
    assert_eq!(
        app.call("avatar", json!({"account": me})).unwrap(),
        json!(blob.to_string())
    );
    assert_eq!(
        app.call("context", json!({})).unwrap(),
        json!(ContextId::from([4; 32]).to_string())
    );

    // A key is stored under the entry id of its raw 32 bytes, as `[u8; 32]` would be.
    let accounts = Id::collection(None, "accounts");
    let outcome = app.host().execute(b"", || {
        calimero_sdk::storage::store::reset();
        let entry = Id::entry(accounts, &[1; 32]);
        assert!(calimero_sdk::storage::store::data(entry).unwrap().is_some());
    });
    assert!(outcome.trap.is_none(), "{:?}", outcome.trap);
}

#[test]
fn a_malformed_id_argument_is_refused_naming_the_expected_form() {
    let app = TestApp::<Directory>::new([4; 32]);
    app.init(json!({})).unwrap();
    let error = app
        .call("avatar", json!({"account": "not-hex"}))
        .unwrap_err();
    let CallError::Trap(trap) = error else {
        panic!("{error:?}")
    };
    let text = format!("{trap:?}");
    assert!(
        text.contains("expected 64 hex characters (32 bytes)"),
        "{text}"
    );
    let error = app
        .call("account_of", json!({"key": [1, 2, 3]}))
        .unwrap_err();
    assert!(format!("{error:?}").contains("string"), "{error:?}");
}

#[test]
fn the_manifest_describes_ids_as_sized_bytes_with_their_text_encoding() {
    use calimero_sdk::__private::AppMethods;
    let abi: serde_json::Value = serde_json::from_str(&Directory::abi()).unwrap();
    let method = |name: &str| {
        abi["methods"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(
        method("link")["params"],
        json!([
            {"name": "key", "type": {"kind": "bytes", "size": 32, "encoding": "base58"}},
            {"name": "account", "type": {"kind": "bytes", "size": 32, "encoding": "hex"}},
        ])
    );
    assert_eq!(
        method("context")["returns"],
        json!({"kind": "bytes", "size": 32, "encoding": "base58"})
    );
}
