//! `Ownable` and `AccessControl`, built on shared storage: the owner (or the admins) change the
//! value, and a replica refuses anyone else's delta as it refuses a non-writer's.

use calimero_sdk::app;
use calimero_sdk::storage::collections::{AccessControl, Ownable};
use calimero_sdk::testing::TestApp;
use calimero_sdk::{AccountId, env};
use serde_json::{Value, json};

#[app::state]
pub struct Club {
    motto: Ownable<String>,
    roles: AccessControl,
}

#[app::logic]
impl Club {
    #[app::init]
    pub fn init() -> Club {
        Club {
            motto: Ownable::new_owned_by_caller(),
            roles: AccessControl::new(AccountId::from(env::account_id())),
        }
    }

    pub fn set_motto(&mut self, motto: String) -> app::Result<()> {
        self.motto.only_owner()?;
        self.motto.insert(motto)?;
        Ok(())
    }

    pub fn motto(&self) -> app::Result<(String, Option<AccountId>)> {
        Ok((self.motto.get()?, self.motto.owner()))
    }

    pub fn hand_over(&mut self, to: AccountId) -> app::Result<()> {
        self.motto.transfer_ownership(to)?;
        Ok(())
    }

    pub fn grant(&mut self, role: String, who: AccountId) -> app::Result<()> {
        self.roles.grant(&role, who)?;
        Ok(())
    }

    pub fn revoke(&mut self, role: String, who: AccountId) -> app::Result<()> {
        self.roles.revoke(&role, &who)?;
        Ok(())
    }

    pub fn promote(&mut self, who: AccountId) -> app::Result<()> {
        self.roles.grant_admin(who)?;
        Ok(())
    }

    pub fn members(&self, role: String) -> app::Result<Vec<AccountId>> {
        Ok(self.roles.members_of(&role)?)
    }

    pub fn can_edit(&self) -> app::Result<bool> {
        Ok(self.roles.only_role("editor").is_ok())
    }
}

const CONTEXT: [u8; 32] = [6; 32];
const ALICE: [u8; 32] = [1; 32];
const BOB: [u8; 32] = [2; 32];

fn hex(account: [u8; 32]) -> Value {
    json!(AccountId::from(account).to_string())
}

fn replicas() -> (TestApp<Club>, TestApp<Club>) {
    let alice = TestApp::<Club>::with_member(CONTEXT, ALICE);
    alice.init(json!({})).unwrap();
    let bob = TestApp::<Club>::with_member(CONTEXT, BOB);
    bob.sync_from(ALICE, &alice.last().artifact).unwrap();
    (alice, bob)
}

#[test]
fn only_the_owner_changes_an_ownable_value_and_a_transfer_moves_that_right() {
    let (alice, bob) = replicas();
    alice.call("set_motto", json!({"motto": "first"})).unwrap();
    bob.sync_from(ALICE, &alice.last().artifact).unwrap();
    assert_eq!(
        bob.call("motto", json!({})).unwrap(),
        json!(["first", hex(ALICE)])
    );
    let error = bob
        .call("set_motto", json!({"motto": "mine"}))
        .unwrap_err()
        .to_string();
    assert!(error.contains("may not change this value"), "{error}");
    let error = bob
        .call("hand_over", json!({"to": hex(BOB)}))
        .unwrap_err()
        .to_string();
    assert!(error.contains("may not change this value"), "{error}");

    alice.call("hand_over", json!({"to": hex(BOB)})).unwrap();
    let transfer = alice.last().artifact;
    // The transfer claimed by Bob is refused; as Alice's it applies.
    let error = bob.sync_from(BOB, &transfer).unwrap_err().to_string();
    assert!(error.contains("is not one of them"), "{error}");
    bob.sync_from(ALICE, &transfer).unwrap();
    bob.call("set_motto", json!({"motto": "bob's now"}))
        .unwrap();
    alice.sync_from(BOB, &bob.last().artifact).unwrap();
    assert_eq!(
        alice.call("motto", json!({})).unwrap(),
        json!(["bob's now", hex(BOB)])
    );
    let error = alice
        .call("set_motto", json!({"motto": "back"}))
        .unwrap_err()
        .to_string();
    assert!(error.contains("may not change this value"), "{error}");
}

#[test]
fn admins_grant_and_revoke_roles_and_a_non_admin_grant_is_refused_everywhere() {
    let (alice, bob) = replicas();
    alice
        .call("grant", json!({"role": "editor", "who": hex(BOB)}))
        .unwrap();
    let grant = alice.last().artifact;
    bob.sync_from(ALICE, &grant).unwrap();
    assert_eq!(
        bob.call("members", json!({"role": "editor"})).unwrap(),
        json!([hex(BOB)])
    );
    assert_eq!(bob.call("can_edit", json!({})).unwrap(), json!(true));

    let error = bob
        .call("grant", json!({"role": "admin-ish", "who": hex(BOB)}))
        .unwrap_err()
        .to_string();
    assert!(error.contains("admins only"), "{error}");
    // Alice's grant bytes claimed by Bob: refused.
    alice
        .call("grant", json!({"role": "viewer", "who": hex(BOB)}))
        .unwrap();
    let second = alice.last().artifact;
    let before = bob.host().storage();
    let error = bob.sync_from(BOB, &second).unwrap_err().to_string();
    assert!(error.contains("is not one of them"), "{error}");
    assert_eq!(bob.host().storage(), before);

    // Made an admin, Bob grants and revokes himself.
    alice.call("promote", json!({"who": hex(BOB)})).unwrap();
    bob.sync_from(ALICE, &second).unwrap();
    bob.sync_from(ALICE, &alice.last().artifact).unwrap();
    bob.call("revoke", json!({"role": "editor", "who": hex(BOB)}))
        .unwrap();
    alice.sync_from(BOB, &bob.last().artifact).unwrap();
    assert_eq!(
        alice.call("members", json!({"role": "editor"})).unwrap(),
        json!([])
    );
    assert_eq!(
        alice.call("members", json!({"role": "viewer"})).unwrap(),
        json!([hex(BOB)])
    );
}
