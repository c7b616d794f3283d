//! Nested collections: a set of tags per item and a vote counter per option. Members tag and
//! vote concurrently; tags added anywhere survive (add-wins), votes from every member add up.
//! `apps/board-ts` is its TypeScript twin, checked with `cargo calimero compat`.

use calimero_sdk::app;
use calimero_storage::collections::{Counter, UnorderedMap, UnorderedSet};

#[app::state(emits = Event)]
pub struct Board {
    tags: UnorderedMap<String, UnorderedSet<String>>,
    votes: UnorderedMap<String, Counter>,
}

#[app::event]
pub enum Event {
    Tagged { item: String, tag: String },
    Voted { option: String, total: u64 },
}

/// Returned to callers as `{"kind": "NoSuchItem", "data": <item>}`.
#[app::error]
#[derive(Debug)]
pub enum Error {
    NoSuchItem(String),
    ItemExists(String),
}

#[app::logic]
impl Board {
    #[app::init]
    pub fn init() -> Board {
        Board {
            tags: UnorderedMap::new(),
            votes: UnorderedMap::new(),
        }
    }

    /// Tags `item` (creating it); false if it already had the tag.
    pub fn tag(&mut self, item: String, tag: String) -> app::Result<bool> {
        let mut tags = self
            .tags
            .entry(item.clone())?
            .or_insert_with(UnorderedSet::new)?;
        let added = tags.insert(tag.clone())?;
        if added {
            app::emit!(Event::Tagged { item, tag });
        }
        Ok(added)
    }

    /// Adds a new item with its tags (duplicates counted once); returns how many it has. The set
    /// is filled before it is put into the map, and stored as if filled after.
    pub fn add_item(&mut self, item: String, tags: Vec<String>) -> app::Result<u32> {
        if self.tags.contains(&item)? {
            app::bail!(Error::ItemExists(item));
        }
        let mut set = UnorderedSet::new();
        for tag in tags {
            set.insert(tag)?;
        }
        let count = set.len()? as u32;
        self.tags.insert(item, set)?;
        Ok(count)
    }

    /// Opens `option` with `weight` votes counted before the counter is stored; false if the
    /// option exists.
    pub fn open_option(&mut self, option: String, weight: u32) -> app::Result<bool> {
        if self.votes.contains(&option)? {
            return Ok(false);
        }
        let mut counter = Counter::new();
        counter.increment_by(u64::from(weight))?;
        self.votes.insert(option, counter)?;
        Ok(true)
    }

    /// Removes a tag; false if the item did not have it. An unknown item is an error.
    pub fn untag(&mut self, item: String, tag: String) -> app::Result<bool> {
        match self.tags.get_mut(&item)? {
            Some(mut tags) => Ok(tags.remove(&tag)?),
            None => app::bail!(Error::NoSuchItem(item)),
        }
    }

    /// Removes an item with all its tags; false if there was none.
    pub fn drop_item(&mut self, item: String) -> app::Result<bool> {
        Ok(self.tags.remove(&item)?.is_some())
    }

    /// The item's tags in the order they were first added, or null for an unknown item.
    #[app::view]
    pub fn tags_of(&self, item: String) -> app::Result<Option<Vec<String>>> {
        match self.tags.get(&item)? {
            Some(tags) => Ok(Some(tags.iter()?.collect())),
            None => Ok(None),
        }
    }

    /// Every item with its number of tags.
    #[app::view]
    pub fn items(&self) -> app::Result<Vec<(String, u32)>> {
        let mut items = Vec::new();
        for (item, tags) in self.tags.entries()? {
            items.push((item, tags.len()? as u32));
        }
        Ok(items)
    }

    /// Adds `weight` votes to `option`; returns its new total.
    pub fn vote(&mut self, option: String, weight: u32) -> app::Result<u64> {
        let mut counter = self
            .votes
            .entry(option.clone())?
            .or_insert_with(Counter::new)?;
        counter.increment_by(u64::from(weight))?;
        let total = counter.value()?;
        app::emit!(Event::Voted { option, total });
        Ok(total)
    }

    /// Every option with its total, in the order options were first voted for.
    #[app::view]
    pub fn tally(&self) -> app::Result<Vec<(String, u64)>> {
        let mut tally = Vec::new();
        for (option, counter) in self.votes.entries()? {
            tally.push((option, counter.value()?));
        }
        Ok(tally)
    }
}
