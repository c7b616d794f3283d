//! The kv-store with event handlers, on the surface of the upstream example of the same name:
//! `set`, `remove` and `clear` emit their events naming a handler method, and every member
//! that applies the change (never its author) runs that handler as an ordinary call.
//!
//! Handlers count what they saw in CRDTs, so the counts converge: after one `set` of a new
//! key in a context of three members, `insert_handler` ran twice (once on each other member)
//! and every member reports 2.

use std::collections::BTreeMap;

use calimero_sdk::app;
use calimero_storage::collections::{Counter, LwwRegister, UnorderedMap, Vector};

#[app::state(emits = for<'a> Event<'a>)]
pub struct KvStore {
    items: UnorderedMap<String, LwwRegister<String>>,
    /// How many times each handler ran, over every member.
    handler_runs: UnorderedMap<String, Counter>,
    /// One line per handler run: `"<handler>: <details>"`.
    handlers_called: Vector<String>,
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
            handler_runs: UnorderedMap::new(),
            handlers_called: Vector::new(),
        }
    }

    pub fn set(&mut self, key: String, value: String) -> app::Result<()> {
        app::log!("Setting key: {:?} to value: {:?}", key, value);
        if self.items.contains(&key)? {
            app::emit!((
                Event::Updated {
                    key: &key,
                    value: &value
                },
                "update_handler"
            ));
        } else {
            app::emit!((
                Event::Inserted {
                    key: &key,
                    value: &value
                },
                "insert_handler"
            ));
        }
        self.items.insert(key, value.into())?;
        Ok(())
    }

    pub fn entries(&self) -> app::Result<BTreeMap<String, String>> {
        Ok(self
            .items
            .entries()?
            .map(|(k, v)| (k, v.get().clone()))
            .collect())
    }

    pub fn len(&self) -> app::Result<usize> {
        Ok(self.items.len()?)
    }

    pub fn get(&self, key: &str) -> app::Result<Option<String>> {
        Ok(self.items.get(key)?.map(|v| v.get().clone()))
    }

    pub fn get_result(&self, key: &str) -> app::Result<String> {
        let Some(value) = self.get(key)? else {
            app::bail!(Error::NotFound(key));
        };
        Ok(value)
    }

    pub fn remove(&mut self, key: &str) -> app::Result<Option<String>> {
        let removed = self.items.remove(key)?.map(|v| v.get().clone());
        if removed.is_some() {
            app::emit!((Event::Removed { key }, "remove_handler"));
        }
        Ok(removed)
    }

    pub fn clear(&mut self) -> app::Result<()> {
        if !self.items.is_empty()? {
            app::emit!((Event::Cleared, "clear_handler"));
        }
        self.items.clear()?;
        Ok(())
    }

    pub fn insert_handler(&mut self, key: String, value: String) -> app::Result<()> {
        self.record("insert_handler", format!("key={key}, value={value}"))
    }

    pub fn update_handler(&mut self, key: String, value: String) -> app::Result<()> {
        self.record("update_handler", format!("key={key}, value={value}"))
    }

    pub fn remove_handler(&mut self, key: String) -> app::Result<()> {
        self.record("remove_handler", format!("key={key}"))
    }

    pub fn clear_handler(&mut self) -> app::Result<()> {
        self.record("clear_handler", "all items cleared".to_owned())
    }

    /// Every handler run, in the order the members' runs were created.
    pub fn get_handlers_called(&self) -> app::Result<Vec<String>> {
        Ok(self.handlers_called.iter()?.collect())
    }

    /// Each distinct handler run line, sorted.
    pub fn get_unique_handlers_called(&self) -> app::Result<Vec<String>> {
        let mut lines: Vec<String> = self.handlers_called.iter()?.collect();
        lines.sort();
        lines.dedup();
        Ok(lines)
    }

    pub fn was_handler_called(&self, handler_name: &str) -> app::Result<bool> {
        Ok(self.handler_runs.contains(handler_name)?)
    }

    /// How many times each handler ran, over every member.
    pub fn handler_counts(&self) -> app::Result<BTreeMap<String, u32>> {
        let mut counts = BTreeMap::new();
        for (name, counter) in self.handler_runs.entries()? {
            counts.insert(name, u32::try_from(counter.value()?).unwrap_or(u32::MAX));
        }
        Ok(counts)
    }
}

impl KvStore {
    fn record(&mut self, handler: &str, details: String) -> app::Result<()> {
        app::log!("Handler {handler} called: {details}");
        let mut runs = self
            .handler_runs
            .entry(handler.to_owned())?
            .or_insert_with(Counter::new)?;
        runs.increment()?;
        drop(runs);
        self.handlers_called.push(format!("{handler}: {details}"))?;
        Ok(())
    }
}
