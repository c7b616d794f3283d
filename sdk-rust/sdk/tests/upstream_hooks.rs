//! Upstream's merge and re-key hooks compile unchanged: `impl_atomic_lww_leaf!` makes a plain
//! struct a last-writer-wins value, a hand-written `merge` returns `crdt_meta::MergeError`, and a
//! `RekeyTarget` impl is accepted, while counters inside a map value still keep every replica's
//! increments (their ids come from the entry, so nothing needs re-keying).

use calimero_sdk::app;
use calimero_sdk::borsh::{BorshDeserialize, BorshSerialize};
use calimero_sdk::storage::address::Id;
use calimero_sdk::storage::collections::crdt_meta::MergeError;
use calimero_sdk::storage::collections::rekey::{RekeyTarget, field_child_id};
use calimero_sdk::storage::collections::{Counter, Mergeable, UnorderedMap};
use calimero_sdk::testing::TestApp;
use serde_json::json;

#[derive(Clone, Debug, PartialEq, BorshSerialize, BorshDeserialize)]
#[borsh(crate = "calimero_sdk::borsh")]
pub struct FileRecord {
    name: String,
    uploaded_at: u64,
}

calimero_storage::impl_atomic_lww_leaf!(FileRecord, uploaded_at);

#[derive(BorshSerialize, BorshDeserialize)]
#[borsh(crate = "calimero_sdk::borsh")]
pub struct Stats {
    wins: Counter,
}

impl Mergeable for Stats {
    fn merge(&mut self, _other: &Self) -> Result<(), MergeError> {
        Ok(())
    }
}

impl RekeyTarget for Stats {
    fn rekey_relative_to(&mut self, parent_id: Id) {
        calimero_storage::rekey_field_if_supported!(
            &mut self.wins,
            field_child_id(parent_id, "wins")
        );
    }
}

#[app::state]
pub struct League {
    teams: UnorderedMap<String, Stats>,
}

#[app::logic]
impl League {
    #[app::init]
    pub fn init() -> League {
        League {
            teams: UnorderedMap::new(),
        }
    }

    pub fn win(&mut self, team: String) -> app::Result<u64> {
        let mut stats = self.teams.entry(team)?.or_insert_with(|| Stats {
            wins: Counter::new(),
        })?;
        stats.wins.increment()?;
        Ok(stats.wins.value()?)
    }

    pub fn wins(&self, team: String) -> app::Result<u64> {
        match self.teams.get(&team)? {
            Some(stats) => Ok(stats.wins.value()?),
            None => Ok(0),
        }
    }
}

#[test]
fn an_atomic_lww_leaf_keeps_the_version_with_the_greater_field() {
    let older = FileRecord {
        name: "a.txt".into(),
        uploaded_at: 1,
    };
    let newer = FileRecord {
        name: "b.txt".into(),
        uploaded_at: 2,
    };
    let mut kept = older.clone();
    kept.merge(&newer).unwrap();
    assert_eq!(kept, newer);
    let mut kept = newer.clone();
    kept.merge(&older).unwrap();
    assert_eq!(kept, newer);
}

#[test]
fn counters_in_a_hand_merged_record_keep_every_replica_s_increments() {
    let a = TestApp::<League>::with_member([8; 32], [1; 32]);
    a.init(json!({})).unwrap();
    let b = TestApp::<League>::with_member([8; 32], [2; 32]);
    b.sync_from([1; 32], &a.last().artifact).unwrap();
    a.call("win", json!({"team": "reds"})).unwrap();
    let from_a = a.last().artifact;
    let mut from_b = Vec::new();
    for _ in 0..2 {
        b.call("win", json!({"team": "reds"})).unwrap();
        from_b.push(b.last().artifact);
    }
    b.sync_from([1; 32], &from_a).unwrap();
    for artifact in &from_b {
        a.sync_from([2; 32], artifact).unwrap();
    }
    for replica in [&a, &b] {
        assert_eq!(
            replica.call("wins", json!({"team": "reds"})).unwrap(),
            json!(3)
        );
    }
}
