//! Version 2 of `apps/kv-store`: the same items, plus a label and a count of writes. A context
//! running `kv-store` moves to this app with `meroctl context upgrade <context> <this app>`,
//! which runs `migrate_v1_to_v2` (written by `#[derive(app::Migrate)]`): the items are carried,
//! the new fields start as given. See `docs/migrations.md`.

use calimero_sdk::app;
use calimero_sdk::borsh::BorshDeserialize;
use calimero_storage::collections::{Counter, LwwRegister, UnorderedMap};

/// Version 1's layout (`apps/kv-store`), to read its state.
#[derive(BorshDeserialize)]
#[borsh(crate = "calimero_sdk::borsh")]
pub struct KvStoreV1 {
    items: UnorderedMap<String, LwwRegister<String>>,
}

#[app::event]
pub enum Event {
    Migrated { from: u32, to: u32 },
}

#[app::state(version = 2, emits = Event)]
#[derive(app::Migrate)]
#[migrate(from = KvStoreV1, emit = Event::Migrated { from: 1, to: 2 })]
pub struct KvStore {
    items: UnorderedMap<String, LwwRegister<String>>,
    #[migrate(new = LwwRegister::new("migrated from v1".to_owned()))]
    label: LwwRegister<String>,
    #[migrate(new = Counter::new())]
    writes: Counter,
}

#[app::logic]
impl KvStore {
    #[app::init]
    pub fn init() -> KvStore {
        KvStore {
            items: UnorderedMap::new(),
            label: LwwRegister::new("new in v2".to_owned()),
            writes: Counter::new(),
        }
    }

    pub fn set(&mut self, key: String, value: String) -> app::Result<()> {
        self.items.insert(key, value.into())?;
        self.writes.increment()?;
        Ok(())
    }

    pub fn get(&self, key: &str) -> app::Result<Option<String>> {
        Ok(self.items.get(key)?.map(|v| v.get().clone()))
    }

    pub fn len(&self) -> app::Result<usize> {
        Ok(self.items.len()?)
    }

    pub fn label(&self) -> String {
        self.label.get().clone()
    }

    pub fn set_label(&mut self, label: String) {
        self.label.set(label);
    }

    /// Writes made with this version (`set` calls since the migration, on every member).
    pub fn writes(&self) -> app::Result<u64> {
        Ok(self.writes.value()?)
    }
}

#[cfg(test)]
mod tests {
    use calimero_sdk::testing::TestApp;
    use serde_json::json;

    #[test]
    fn a_v1_context_moves_to_v2_with_its_items() {
        let v1 = TestApp::<kv_store::KvStore>::new([5; 32]);
        v1.init(json!({})).unwrap();
        v1.call("set", json!({"key": "a", "value": "1"})).unwrap();
        let v2 = v1.upgrade::<super::KvStore>().unwrap();
        assert_eq!(
            v2.last_events(),
            vec![("Migrated".to_owned(), json!({"from": 1, "to": 2}))]
        );
        assert_eq!(v2.call("get", json!({"key": "a"})).unwrap(), json!("1"));
        assert_eq!(
            v2.call("label", json!({})).unwrap(),
            json!("migrated from v1")
        );
        v2.call("set", json!({"key": "b", "value": "2"})).unwrap();
        assert_eq!(v2.call("writes", json!({})).unwrap(), json!(1));
        assert_eq!(v2.call("len", json!({})).unwrap(), json!(2));
    }
}
