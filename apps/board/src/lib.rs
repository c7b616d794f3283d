//! Nested collections: a set of tags per item and a vote counter per option. Members tag and
//! vote concurrently; tags added anywhere survive (add-wins), votes from every member add up.
//! `apps/board-ts` is its TypeScript twin, checked with `cargo calimero compat`.

use calimero_sdk::app;
use calimero_storage::collections::{
    Counter, FrozenStorage, ReplicatedGrowableArray, SharedStorage, SortedMap, SortedSet,
    UnorderedMap, UnorderedSet, UserStorage,
};

#[app::state(emits = Event)]
pub struct Board {
    tags: UnorderedMap<String, UnorderedSet<String>>,
    votes: UnorderedMap<String, Counter>,
    pins: SortedMap<String, u32>,
    labels: SortedSet<String>,
    notes: FrozenStorage<String>,
    doc: ReplicatedGrowableArray,
    status: UserStorage<String>,
    banner: SharedStorage<String>,
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
            pins: SortedMap::new(),
            labels: SortedSet::new(),
            notes: FrozenStorage::new(),
            doc: ReplicatedGrowableArray::new(),
            status: UserStorage::new(),
            // Its creator is its first editor.
            banner: SharedStorage::new([calimero_sdk::env::account_id()], false),
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

    /// Pins `item` with `weight`; returns the previous weight.
    pub fn pin(&mut self, item: String, weight: u32) -> app::Result<Option<u32>> {
        Ok(self.pins.insert(item, weight)?)
    }

    /// Unpins `item`; false if it was not pinned.
    pub fn unpin(&mut self, item: String) -> app::Result<bool> {
        Ok(self.pins.remove(&item)?.is_some())
    }

    /// Every pin, by item name (UTF-8 byte order).
    #[app::view]
    pub fn all_pins(&self) -> app::Result<Vec<(String, u32)>> {
        Ok(self.pins.entries()?.collect())
    }

    /// The pins with `from <= item < to`, in order.
    #[app::view]
    pub fn pins_between(&self, from: String, to: String) -> app::Result<Vec<(String, u32)>> {
        Ok(self.pins.range(from..to)?.collect())
    }

    /// At most `limit` pins after skipping `offset`, in order.
    #[app::view]
    pub fn pin_page(&self, offset: u32, limit: u32) -> app::Result<Vec<(String, u32)>> {
        Ok(self.pins.page(offset as usize, limit as usize)?)
    }

    /// The pin with the least item name.
    #[app::view]
    pub fn first_pin(&self) -> app::Result<Option<(String, u32)>> {
        Ok(self.pins.first()?)
    }

    /// The pin with the greatest item name.
    #[app::view]
    pub fn last_pin(&self) -> app::Result<Option<(String, u32)>> {
        Ok(self.pins.last()?)
    }

    /// Adds a board label; false if it exists.
    pub fn label(&mut self, name: String) -> app::Result<bool> {
        Ok(self.labels.insert(name)?)
    }

    /// Removes a board label; false if it did not exist.
    pub fn unlabel(&mut self, name: String) -> app::Result<bool> {
        Ok(self.labels.remove(&name)?)
    }

    /// The labels from `from` on, in order, with the least label first.
    #[app::view]
    pub fn labels_from(&self, from: String) -> app::Result<(Vec<String>, Option<String>)> {
        Ok((self.labels.range(from..)?.collect(), self.labels.first()?))
    }

    /// Stores a note for good; returns its key (the SHA-256 of its encoding) in hex.
    pub fn freeze(&mut self, note: String) -> app::Result<String> {
        let key = self.notes.insert(note)?;
        Ok(key.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// The note under a hex key; null for an unknown or malformed key.
    #[app::view]
    pub fn frozen_note(&self, key: String) -> app::Result<Option<String>> {
        match from_hex(&key) {
            Some(key) => Ok(self.notes.get(&key)?),
            None => Ok(None),
        }
    }

    /// Sets the caller's status (only the caller can); returns the previous one.
    pub fn set_status(&mut self, text: String) -> app::Result<Option<String>> {
        Ok(self.status.insert(text)?)
    }

    /// The caller's status.
    #[app::view]
    pub fn my_status(&self) -> app::Result<Option<String>> {
        Ok(self.status.get()?)
    }

    /// The status of the member whose account is `user` (hex); null if none or malformed.
    #[app::view]
    pub fn status_of(&self, user: String) -> app::Result<Option<String>> {
        match from_hex(&user) {
            Some(user) => Ok(self.status.get_for_user(&user)?),
            None => Ok(None),
        }
    }

    /// Clears the caller's status; returns it.
    pub fn clear_status(&mut self) -> app::Result<Option<String>> {
        Ok(self.status.remove()?)
    }

    /// Sets the banner if the caller is one of its editors; false (and nothing changes) if not.
    pub fn set_banner(&mut self, text: String) -> app::Result<bool> {
        Ok(self.banner.insert(text).is_ok())
    }

    /// The banner.
    #[app::view]
    pub fn banner_text(&self) -> app::Result<String> {
        Ok(self.banner.get()?)
    }

    /// Adds an editor (hex account) if the caller is one; false if not or malformed.
    pub fn add_editor(&mut self, user: String) -> app::Result<bool> {
        let Some(user) = from_hex(&user) else {
            return Ok(false);
        };
        let mut editors = self.banner.writers();
        editors.insert(user.into());
        Ok(self.banner.rotate_writers(editors).is_ok())
    }

    /// Removes the caller from the editors, if it is one.
    pub fn leave_editors(&mut self) -> app::Result<bool> {
        let mut editors = self.banner.writers();
        editors.remove(&calimero_sdk::env::account_id().into());
        Ok(self.banner.rotate_writers(editors).is_ok())
    }

    /// The editors (hex accounts, in byte order).
    #[app::view]
    pub fn editors(&self) -> Vec<String> {
        self.banner
            .writers()
            .iter()
            .map(|a| a.iter().map(|b| format!("{b:02x}")).collect())
            .collect()
    }

    /// How many members have a status.
    #[app::view]
    pub fn status_count(&self) -> app::Result<u32> {
        Ok(self.status.len()? as u32)
    }

    /// How many distinct notes are frozen.
    #[app::view]
    pub fn note_count(&self) -> app::Result<u32> {
        Ok(self.notes.len()? as u32)
    }

    /// Types `text` into the shared document at `pos` (past the end: at the end); returns it.
    pub fn write(&mut self, pos: u32, text: String) -> app::Result<String> {
        let pos = (pos as usize).min(self.doc.len()?);
        self.doc.insert_str(pos, &text)?;
        Ok(self.doc.get_text()?)
    }

    /// Deletes up to `count` characters of the document from `start`; returns it.
    pub fn erase(&mut self, start: u32, count: u32) -> app::Result<String> {
        let len = self.doc.len()?;
        let start = (start as usize).min(len);
        let end = start.saturating_add(count as usize).min(len);
        self.doc.delete_range(start, end)?;
        Ok(self.doc.get_text()?)
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

/// 32 bytes from 64 hex digits.
fn from_hex(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..64)
        .step_by(2)
        .map(|i| {
            text.get(i..i + 2)
                .filter(|h| h.bytes().all(|c| c.is_ascii_hexdigit()))
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect();
    bytes.and_then(|b| <[u8; 32]>::try_from(b).ok())
}
