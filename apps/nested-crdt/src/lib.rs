//! Every collection, alone and nested, behind small methods: the app the convergence property
//! tests drive on several replicas.

use std::collections::BTreeMap;

use calimero_sdk::app;
use calimero_sdk::borsh::{BorshDeserialize, BorshSerialize};
use calimero_sdk::serde::Serialize;
use calimero_storage::collections::{
    Counter, FrozenStorage, LwwRegister, Mergeable, ReplicatedGrowableArray, SharedStorage,
    SortedMap, SortedSet, UnorderedMap, UnorderedSet, UserStorage, Vector,
};
use calimero_storage::hlc::HybridTimestamp;

#[app::state]
pub struct Collections {
    registers: UnorderedMap<String, LwwRegister<String>>,
    tags: UnorderedSet<String>,
    log: Vector<String>,
    hits: Counter,
    balance: Counter<true>,
    title: LwwRegister<String>,
    groups: UnorderedMap<String, UnorderedSet<String>>,
    scores: UnorderedMap<String, Counter>,
    nested: UnorderedMap<String, UnorderedMap<String, LwwRegister<u64>>>,
    profiles: UnorderedMap<String, Profile>,
    ranked: SortedMap<String, Counter>,
    marks: SortedSet<String>,
    archive: FrozenStorage<String>,
    doc: ReplicatedGrowableArray,
    notes: UserStorage<Note>,
    crew: SharedStorage<UnorderedSet<String>>,
}

/// One account's note: a text and its tags, both written only by that account.
#[derive(BorshSerialize, BorshDeserialize, Mergeable, Default)]
#[borsh(crate = "calimero_sdk::borsh")]
pub struct Note {
    text: LwwRegister<String>,
    tags: UnorderedSet<String>,
}

/// A record stored as a map value: concurrent updates of different fields of one profile
/// merge field by field.
#[derive(BorshSerialize, BorshDeserialize, Mergeable)]
#[borsh(crate = "calimero_sdk::borsh")]
pub struct Profile {
    name: LwwRegister<String>,
    age: LwwRegister<u64>,
    visits: Counter,
    badges: UnorderedSet<String>,
}

impl Profile {
    fn new() -> Self {
        Self {
            name: LwwRegister::new(String::new()),
            age: LwwRegister::new(0),
            visits: Counter::new(),
            badges: UnorderedSet::new(),
        }
    }

    fn version(&self) -> ProfileVersion {
        let stamp = |t: HybridTimestamp| (t.time, t.id.to_string());
        ProfileVersion {
            name: (self.name.get().clone(), stamp(self.name.timestamp())),
            age: (*self.age.get(), stamp(self.age.timestamp())),
        }
    }
}

/// The registers of a profile as one write left them, with their stamps `(time, id)`: what the
/// property tests' model joins.
#[derive(Serialize)]
#[serde(crate = "calimero_sdk::serde")]
pub struct ProfileVersion {
    name: (String, (u64, String)),
    age: (u64, (u64, String)),
}

/// A profile as the snapshot shows it.
#[derive(Serialize)]
#[serde(crate = "calimero_sdk::serde")]
pub struct ProfileView {
    name: String,
    age: u64,
    visits: u64,
    badges: Vec<String>,
}

/// Everything the app holds, in the order the collections keep it.
#[derive(Serialize)]
#[serde(crate = "calimero_sdk::serde")]
pub struct Snapshot {
    registers: Vec<(String, String)>,
    tags: Vec<String>,
    log: Vec<String>,
    hits: u64,
    balance: i64,
    title: String,
    groups: Vec<(String, Vec<String>)>,
    scores: Vec<(String, u64)>,
    nested: Vec<(String, BTreeMap<String, u64>)>,
    profiles: BTreeMap<String, ProfileView>,
    /// Every player's total, in key order.
    ranked: Vec<(String, u64)>,
    /// `ranked.range("k1".."k3")`.
    ranked_window: Vec<(String, u64)>,
    ranked_first: Option<(String, u64)>,
    ranked_last: Option<(String, u64)>,
    /// `ranked.page(1, 2)`.
    ranked_page: Vec<(String, u64)>,
    /// Every mark, in order.
    marks: Vec<String>,
    /// `marks.range("k2"..)`.
    marks_from_k2: Vec<String>,
    marks_first: Option<String>,
    /// Every archived document with whether it is found again under the hash of its encoding.
    archive: Vec<(String, bool)>,
    /// The collaborative text.
    doc: String,
    /// Every account's note (hex account → text and tags).
    notes: BTreeMap<String, (String, Vec<String>)>,
    /// The crew's shared set, and its current writers (hex).
    crew: Vec<String>,
    crew_writers: Vec<String>,
}

#[app::logic]
impl Collections {
    #[app::init]
    pub fn init() -> Collections {
        Collections {
            registers: UnorderedMap::new(),
            tags: UnorderedSet::new(),
            log: Vector::new(),
            hits: Counter::new(),
            balance: Counter::new(),
            title: LwwRegister::new(String::new()),
            groups: UnorderedMap::new(),
            scores: UnorderedMap::new(),
            nested: UnorderedMap::new(),
            profiles: UnorderedMap::new(),
            ranked: SortedMap::new(),
            marks: SortedSet::new(),
            archive: FrozenStorage::new(),
            doc: ReplicatedGrowableArray::new(),
            notes: UserStorage::new(),
            crew: SharedStorage::new([calimero_sdk::env::account_id()], false),
        }
    }

    /// The caller's account, in hex.
    pub fn me(&self) -> String {
        calimero_sdk::env::account_id()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Adds `tag` to the crew's shared set (current writers only); false if it was there.
    pub fn crew_add(&mut self, tag: String) -> app::Result<bool> {
        Ok(self.crew.get_mut()?.insert(tag)?)
    }

    /// Replaces the crew's writers (hex accounts; current writers only); returns the new set's
    /// stamp `(time, id)`.
    pub fn crew_rotate(&mut self, writers: Vec<String>) -> app::Result<(u64, String)> {
        let mut accounts = Vec::new();
        for writer in writers {
            accounts.push(writer.parse::<calimero_sdk::AccountId>()?);
        }
        self.crew.rotate_writers(accounts)?;
        let (time, id) = self.crew.writers_stamp()?;
        Ok((time, id.to_string()))
    }

    /// Sets the caller's note text and adds `tag` to it.
    pub fn write_note(&mut self, text: String, tag: String) -> app::Result<()> {
        let mut note = self.notes.get()?.unwrap_or_default();
        note.text.set(text);
        note.tags.insert(tag)?;
        self.notes.insert(note)?;
        Ok(())
    }

    /// Removes the caller's note; false if it had none.
    pub fn drop_note(&mut self) -> app::Result<bool> {
        Ok(self.notes.remove()?.is_some())
    }

    /// Types `text` at `pos` (past the end: at the end); returns the text.
    pub fn type_text(&mut self, pos: usize, text: String) -> app::Result<String> {
        let pos = pos.min(self.doc.len()?);
        self.doc.insert_str(pos, &text)?;
        Ok(self.doc.get_text()?)
    }

    /// Deletes `count` characters from `pos` (as many as there are); returns what was deleted.
    pub fn erase(&mut self, pos: usize, count: usize) -> app::Result<String> {
        let text: Vec<char> = self.doc.get_text()?.chars().collect();
        let start = pos.min(text.len());
        let end = (start + count).min(text.len());
        self.doc.delete_range(start, end)?;
        Ok(text[start..end].iter().collect())
    }

    /// Archives `doc` for good; returns whether it was new.
    pub fn archive(&mut self, doc: String) -> app::Result<bool> {
        let before = self.archive.len()?;
        self.archive.insert(doc)?;
        Ok(self.archive.len()? > before)
    }

    /// Adds `points` to `player` in the sorted map of counters; returns the new total.
    pub fn rank(&mut self, player: String, points: u64) -> app::Result<u64> {
        let mut counter = self.ranked.entry(player)?.or_insert_with(Counter::new)?;
        counter.increment_by(points)?;
        Ok(counter.value()?)
    }

    /// Adds `tag` to the sorted set; false if it was there.
    pub fn mark(&mut self, tag: String) -> app::Result<bool> {
        Ok(self.marks.insert(tag)?)
    }

    pub fn rename(&mut self, who: String, name: String) -> app::Result<ProfileVersion> {
        let mut profile = self.profiles.entry(who)?.or_insert_with(Profile::new)?;
        profile.name.set(name);
        Ok(profile.version())
    }

    pub fn set_age(&mut self, who: String, age: u64) -> app::Result<ProfileVersion> {
        let mut profile = self.profiles.entry(who)?.or_insert_with(Profile::new)?;
        profile.age.set(age);
        Ok(profile.version())
    }

    pub fn visit(&mut self, who: String) -> app::Result<ProfileVersion> {
        let mut profile = self.profiles.entry(who)?.or_insert_with(Profile::new)?;
        profile.visits.increment()?;
        Ok(profile.version())
    }

    pub fn award(&mut self, who: String, badge: String) -> app::Result<ProfileVersion> {
        let mut profile = self.profiles.entry(who)?.or_insert_with(Profile::new)?;
        profile.badges.insert(badge)?;
        Ok(profile.version())
    }

    pub fn put(&mut self, key: String, value: String) -> app::Result<()> {
        if let Some(mut register) = self.registers.get_mut(&key)? {
            register.set(value);
            return Ok(());
        }
        self.registers.insert(key, value.into())?;
        Ok(())
    }

    pub fn delete(&mut self, key: String) -> app::Result<bool> {
        Ok(self.registers.remove(&key)?.is_some())
    }

    pub fn tag(&mut self, tag: String) -> app::Result<bool> {
        Ok(self.tags.insert(tag)?)
    }

    pub fn untag(&mut self, tag: String) -> app::Result<bool> {
        Ok(self.tags.remove(&tag)?)
    }

    pub fn push(&mut self, line: String) -> app::Result<()> {
        Ok(self.log.push(line)?)
    }

    pub fn pop(&mut self) -> app::Result<Option<String>> {
        Ok(self.log.pop()?)
    }

    pub fn rewrite(&mut self, index: usize, line: String) -> app::Result<bool> {
        if index >= self.log.len()? {
            return Ok(false);
        }
        self.log.update(index, line)?;
        Ok(true)
    }

    pub fn hit(&mut self, by: u64) -> app::Result<u64> {
        self.hits.increment_by(by)?;
        Ok(self.hits.value()?)
    }

    pub fn adjust(&mut self, by: i64) -> app::Result<i64> {
        if by >= 0 {
            self.balance.increment_by(by.unsigned_abs())?;
        } else {
            self.balance.decrement_by(by.unsigned_abs())?;
        }
        Ok(self.balance.value()?)
    }

    pub fn retitle(&mut self, title: String) {
        self.title.set(title);
    }

    pub fn join(&mut self, group: String, member: String) -> app::Result<bool> {
        let mut members = self
            .groups
            .entry(group)?
            .or_insert_with(UnorderedSet::new)?;
        Ok(members.insert(member)?)
    }

    pub fn leave(&mut self, group: String, member: String) -> app::Result<bool> {
        match self.groups.get_mut(&group)? {
            Some(mut members) => Ok(members.remove(&member)?),
            None => Ok(false),
        }
    }

    pub fn disband(&mut self, group: String) -> app::Result<bool> {
        Ok(self.groups.remove(&group)?.is_some())
    }

    pub fn score(&mut self, player: String, points: u64) -> app::Result<u64> {
        let mut counter = self.scores.entry(player)?.or_insert_with(Counter::new)?;
        counter.increment_by(points)?;
        Ok(counter.value()?)
    }

    pub fn set_nested(&mut self, outer: String, inner: String, value: u64) -> app::Result<()> {
        let mut map = self
            .nested
            .entry(outer)?
            .or_insert_with(UnorderedMap::new)?;
        map.insert(inner, value.into())?;
        Ok(())
    }

    pub fn unset_nested(&mut self, outer: String, inner: String) -> app::Result<bool> {
        match self.nested.get_mut(&outer)? {
            Some(mut map) => Ok(map.remove(&inner)?.is_some()),
            None => Ok(false),
        }
    }

    pub fn drop_nested(&mut self, outer: String) -> app::Result<bool> {
        Ok(self.nested.remove(&outer)?.is_some())
    }

    pub fn snapshot(&self) -> app::Result<Snapshot> {
        let mut groups = Vec::new();
        for (name, members) in self.groups.entries()? {
            groups.push((name, members.iter()?.collect()));
        }
        let mut scores = Vec::new();
        for (name, counter) in self.scores.entries()? {
            scores.push((name, counter.value()?));
        }
        let mut nested = Vec::new();
        for (name, map) in self.nested.entries()? {
            nested.push((name, map.entries()?.map(|(k, v)| (k, *v.get())).collect()));
        }
        let totals = |entries: Vec<(String, Counter)>| -> app::Result<Vec<(String, u64)>> {
            let mut out = Vec::new();
            for (name, counter) in entries {
                out.push((name, counter.value()?));
            }
            Ok(out)
        };
        let one = |entry: Option<(String, Counter)>| -> app::Result<Option<(String, u64)>> {
            Ok(totals(entry.into_iter().collect())?.pop())
        };
        let mut profiles = BTreeMap::new();
        for (who, profile) in self.profiles.entries()? {
            let view = ProfileView {
                name: profile.name.get().clone(),
                age: *profile.age.get(),
                visits: profile.visits.value()?,
                badges: profile.badges.iter()?.collect(),
            };
            profiles.insert(who, view);
        }
        let mut notes = BTreeMap::new();
        for (account, note) in self.notes.entries()? {
            let account: String = account.iter().map(|b| format!("{b:02x}")).collect();
            notes.insert(
                account,
                (note.text.get().clone(), note.tags.iter()?.collect()),
            );
        }
        Ok(Snapshot {
            notes,
            crew: self.crew.get()?.iter()?.collect(),
            crew_writers: self
                .crew
                .writers()
                .iter()
                .map(|a| a.iter().map(|b| format!("{b:02x}")).collect())
                .collect(),
            registers: self
                .registers
                .entries()?
                .map(|(k, v)| (k, v.get().clone()))
                .collect(),
            tags: self.tags.iter()?.collect(),
            log: self.log.iter()?.collect(),
            hits: self.hits.value()?,
            balance: self.balance.value()?,
            title: self.title.get().clone(),
            groups,
            scores,
            nested,
            profiles,
            ranked: totals(self.ranked.entries()?.collect())?,
            ranked_window: totals(
                self.ranked
                    .range("k1".to_owned().."k3".to_owned())?
                    .collect(),
            )?,
            ranked_first: one(self.ranked.first()?)?,
            ranked_last: one(self.ranked.last()?)?,
            ranked_page: totals(self.ranked.page(1, 2)?)?,
            marks: self.marks.iter()?.collect(),
            marks_from_k2: self.marks.range("k2".to_owned()..)?.collect(),
            marks_first: self.marks.first()?,
            doc: self.doc.get_text()?,
            archive: {
                let mut archive = Vec::new();
                for (key, doc) in self.archive.entries()? {
                    let found = FrozenStorage::key_of(&doc)? == key
                        && self.archive.get(&key)?.as_ref() == Some(&doc);
                    archive.push((doc, found));
                }
                archive.sort();
                archive
            },
        })
    }
}
