//! A replicated key-value store, with the surface of the upstream Calimero kv-store example.

use std::collections::BTreeMap;

use calimero_sdk::app;
use calimero_storage::collections::unordered_map::Entry;
use calimero_storage::collections::{LwwRegister, UnorderedMap};

#[app::state(emits = for<'a> Event<'a>)]
pub struct KvStore {
    items: UnorderedMap<String, LwwRegister<String>>,
}

#[app::event]
pub enum Event<'a> {
    Inserted { key: &'a str, value: &'a str },
    Updated { key: &'a str, value: &'a str },
    Removed { key: &'a str },
    Cleared,
}

/// The app's error, returned to callers as `{"kind": "NotFound", "data": <key>}`.
#[app::error]
#[derive(Debug)]
pub enum Error<'a> {
    NotFound(&'a str),
}

#[app::logic]
impl KvStore {
    #[app::init]
    pub fn init() -> KvStore {
        KvStore {
            items: UnorderedMap::new(),
        }
    }

    pub fn set(&mut self, key: String, value: String) -> app::Result<()> {
        app::log!("Setting key: {:?} to value: {:?}", key, value);
        if self.items.contains(&key)? {
            app::emit!(Event::Updated {
                key: &key,
                value: &value
            });
        } else {
            app::emit!(Event::Inserted {
                key: &key,
                value: &value
            });
        }
        self.items.insert(key, value.into())?;
        Ok(())
    }

    pub fn entries(&self) -> app::Result<BTreeMap<String, String>> {
        app::log!("Getting all entries");
        Ok(self
            .items
            .entries()?
            .map(|(k, v)| (k, v.get().clone()))
            .collect())
    }

    pub fn len(&self) -> app::Result<usize> {
        app::log!("Getting the number of entries");
        Ok(self.items.len()?)
    }

    pub fn get(&self, key: &str) -> app::Result<Option<String>> {
        app::log!("Getting key: {:?}", key);
        Ok(self.items.get(key)?.map(|v| v.get().clone()))
    }

    pub fn get_unchecked(&self, key: &str) -> app::Result<String> {
        app::log!("Getting key without checking: {:?}", key);
        Ok(self.items.get(key)?.expect("key not found").get().clone())
    }

    pub fn get_result(&self, key: &str) -> app::Result<String> {
        app::log!("Getting key, possibly failing: {:?}", key);
        let Some(value) = self.get(key)? else {
            app::bail!(Error::NotFound(key));
        };
        Ok(value)
    }

    pub fn remove(&mut self, key: &str) -> app::Result<Option<String>> {
        app::log!("Removing key: {:?}", key);
        let removed = self.items.remove(key)?.map(|v| v.get().clone());
        if removed.is_some() {
            app::emit!(Event::Removed { key });
        }
        Ok(removed)
    }

    pub fn clear(&mut self) -> app::Result<()> {
        app::log!("Clearing all entries");
        if !self.items.is_empty()? {
            app::emit!(Event::Cleared);
        }
        self.items.clear()?;
        Ok(())
    }

    pub fn get_or_insert(&mut self, key: String, value: String) -> app::Result<String> {
        app::log!("Getting or inserting key: {:?}", key);
        let entry = self.items.entry(key.clone())?;
        if let Entry::Vacant(_) = &entry {
            app::emit!(Event::Inserted {
                key: &key,
                value: &value
            });
        }
        Ok(entry.or_insert(value.into())?.get().clone())
    }

    pub fn update_if_exists(&mut self, key: &str, value: String) -> app::Result<bool> {
        app::log!("Updating key if it exists: {:?}", key);
        let Some(mut current) = self.items.get_mut(key)? else {
            return Ok(false);
        };
        app::emit!(Event::Updated { key, value: &value });
        current.set(value);
        Ok(true)
    }
}
