//! The storage engine of one execution: entity reads and writes, the recorded actions, remote
//! action application with its LWW rules, and the Merkle recomputation done at flush.
//!
//! Index records are cached for the whole execution and written back once, at [`flush`], after
//! hashes have been recomputed bottom-up; entity data is written through immediately.
//!
//! # Merge rules
//!
//! Every write to an entity carries a stamp: `updated_at` for data, `deleted_at` for a deletion.
//! A deletion at `t` of an entity removes everything in its subtree whose stamp is not newer than
//! `t`, the entity itself included; what is newer survives. The entity remembers `t` as its
//! *watermark* (stored under `Key::SyncState`, outside the Merkle tree), so that a write that
//! arrives later with a stamp not newer than the watermark of the entity or of any ancestor stays
//! deleted. Between two live versions the greater `(updated_at, H(data))` wins. Local writes bump
//! their stamps past every such bound, so the author's own result is the one every peer computes. Two entities have other rules: the app's root state entry is merged by the
//! app's merge function, and counter slots keep the maximum.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use borsh::{BorshDeserialize, BorshSerialize};

use crate::action::{Action, encode_delta};
use crate::address::{Id, Key, hash};
use crate::collections::Staged;
use crate::entities::{
    COUNTER_SLOT, ChildInfo, CrdtType, EntityIndex, FROZEN, Metadata, SHARED_VALUE, StorageType,
    USER_SLOT, WRITER_SET,
};
use crate::env;
use crate::error::StoreError;
use crate::hlc::{Clock, HybridTimestamp};

mod access;

/// How an entity is described when it is created.
#[derive(Clone, Debug, Default)]
pub struct EntityKind {
    pub crdt_type: Option<CrdtType>,
    pub field_name: Option<String>,
}

/// What the root entry's `crdt_type` starts with when its state is of a layout version after the
/// first: `@state/v2`, … (version 1 carries no tag, as before versions existed).
pub const STATE_VERSION_TAG: &str = "@state/v";

/// The kind of the root entry of a state of layout version `version`.
pub fn root_kind(version: u32) -> EntityKind {
    EntityKind {
        crdt_type: (version > 1).then(|| CrdtType::Custom(format!("{STATE_VERSION_TAG}{version}"))),
        field_name: None,
    }
}

/// The layout version a root entry's `crdt_type` names (1 without a tag).
pub fn state_version_of(crdt_type: Option<&CrdtType>) -> u32 {
    match crdt_type {
        Some(CrdtType::Custom(tag)) => tag
            .strip_prefix(STATE_VERSION_TAG)
            .and_then(|v| v.parse().ok())
            .unwrap_or(1),
        _ => 1,
    }
}

/// Collections bound while serializing a value: their ids and types.
pub type BoundCollections = Vec<(Id, CrdtType)>;

/// Merges the app's root state entry: `(existing data, incoming data) -> merged data`.
pub type RootMerge<'a> = &'a dyn Fn(&[u8], &[u8]) -> Result<Vec<u8>, StoreError>;

/// Merges two versions of a record element's data (`value ‖ element id`): the merged data, or
/// `None` if the data does not decode with the layout this merge was registered for.
pub type ValueMergeFn = fn(&[u8], &[u8]) -> Result<Option<Vec<u8>>, StoreError>;

/// Merges two versions of the data of an element tagged as record `name`, for hosts of
/// dynamically typed code: `(name, existing data, incoming data) -> merged data`, or `None` to
/// keep the later version.
pub type RecordMerge<'a> = &'a dyn Fn(&str, &[u8], &[u8]) -> Result<Option<Vec<u8>>, StoreError>;

/// How applied actions merge with what is stored, beyond the built-in rules.
#[derive(Clone, Copy)]
pub struct Merges<'a> {
    /// The app's root state entry.
    pub root: RootMerge<'a>,
    /// Record elements no registered merge decodes (the JavaScript engine's, which runs the
    /// app's own merge); `None` for typed apps, whose records register [`ValueMergeFn`]s.
    pub records: Option<RecordMerge<'a>>,
}

struct AttachScope {
    parent: Id,
    next: u32,
    bound: BoundCollections,
}

#[derive(Default)]
struct Store {
    context: Option<Id>,
    device: Option<[u8; 32]>,
    writer: Option<[u8; 32]>,
    now: Option<u64>,
    clock: Option<Clock>,
    indexes: BTreeMap<Id, Option<EntityIndex>>,
    dirty: BTreeSet<Id>,
    rehash: BTreeSet<Id>,
    actions: Vec<Action>,
    action_slots: BTreeMap<Id, usize>,
    attach: Option<AttachScope>,
    watermarks: BTreeMap<Id, u64>,
    dirty_watermarks: BTreeSet<Id>,
    /// The newest stamp this execution gave a new entity: creation order within one call.
    last_created: u64,
    /// Record name → element layout → merge, registered for this execution.
    value_merges: BTreeMap<String, BTreeMap<&'static str, ValueMergeFn>>,
    /// Writes made into collections while they were detached, by the id they were bound to,
    /// done by [`create_bound`] once their entities exist.
    staged: BTreeMap<Id, Vec<Staged>>,
    /// Entities this execution created (see [`access`]).
    fresh: BTreeSet<Id>,
}

thread_local! {
    static STORE: RefCell<Store> = RefCell::new(Store::default());
}

fn with<R>(f: impl FnOnce(&mut Store) -> R) -> R {
    STORE.with(|store| f(&mut store.borrow_mut()))
}

/// Starts a new execution: forgets every cached record, action and clock reading.
pub fn reset() {
    with(|store| *store = Store::default());
}

/// The id of the context root entity (the context id).
pub fn root_id() -> Id {
    with(|store| {
        *store
            .context
            .get_or_insert_with(|| Id::new(env::context_id()))
    })
}

/// The executing device.
pub fn device_id() -> [u8; 32] {
    with(|store| *store.device.get_or_insert_with(env::device_id))
}

/// The account whose writes these are: the caller of a method, or, while a peer's delta is
/// applied, the delta's author as the host verified it. User-owned entities refuse every other
/// writer.
pub fn writer() -> [u8; 32] {
    with(|store| *store.writer.get_or_insert_with(env::account_id))
}

/// The current version of shared storage `container`'s writer set: its element id and the set.
pub fn current_writers(
    container: Id,
) -> Result<Option<(Id, crate::entities::WriterSet)>, StoreError> {
    with(|store| store.current_writers(container))
}

/// The account that owns an entity, if it is user-owned.
pub fn owner_of(metadata: &Metadata) -> Option<[u8; 32]> {
    owner_of_type(&metadata.storage_type)
}

fn owner_of_type(storage: &StorageType) -> Option<[u8; 32]> {
    match storage {
        StorageType::User { owner, .. } => Some(*owner),
        _ => None,
    }
}

/// This device's clock for this execution.
fn clock<'s>(store: &'s mut Store, device: &[u8; 32]) -> &'s mut Clock {
    store.clock.get_or_insert_with(|| Clock::new(device))
}

/// The time of this execution in Unix ns, read once: the wall clock, but never before a time
/// this execution's clock already saw in an applied delta (so a write made after applying a
/// peer's delta comes after it).
pub fn now() -> u64 {
    let device = device_id();
    with(|store| {
        if let Some(now) = store.now {
            return now;
        }
        let floor = crate::hlc::unix_ns_from_ntp64(clock(store, &device).last());
        let now = env::time_now().max(floor);
        store.now = Some(now);
        now
    })
}

/// A fresh HLC timestamp of this device.
pub fn timestamp() -> HybridTimestamp {
    let (device, now) = (device_id(), now());
    with(|store| clock(store, &device).now(now))
}

/// This device's HLC id.
pub fn clock_id() -> u128 {
    let device = device_id();
    with(|store| clock(store, &device).id())
}

/// Advances the clock past a remote timestamp.
pub fn observe(remote: HybridTimestamp) -> Result<(), StoreError> {
    let (device, now) = (device_id(), now());
    with(|store| clock(store, &device).observe(remote, now)).map_err(|_| StoreError::ClockDrift)
}

/// Advances the clock past the times of a remote entity's metadata, refusing any more than 5 s
/// ahead of the local clock.
fn observe_metadata(metadata: &Metadata, deleted_at: Option<u64>) -> Result<(), StoreError> {
    let (device, now) = (device_id(), now());
    with(|store| {
        let clock = clock(store, &device);
        for time in [metadata.created_at, metadata.updated_at]
            .into_iter()
            .chain(deleted_at)
        {
            clock
                .observe_ns(time, now)
                .map_err(|_| StoreError::ClockDrift)?;
        }
        Ok(())
    })
}

/// Registers how elements tagged as record `name` with element layout `layout` merge; false if
/// it was registered already. Layouts are tried in the order of their names, so the first that
/// decodes both versions is the same on every replica whatever the registration order.
pub fn register_value_merge(name: &str, layout: &'static str, merge: ValueMergeFn) -> bool {
    with(|store| {
        store
            .value_merges
            .entry(name.to_owned())
            .or_default()
            .insert(layout, merge)
            .is_none()
    })
}

/// Merges two versions of a record element: the registered merges in layout order, then the
/// dynamic one; `None` if none applies (the later version is then kept).
fn merge_record(
    name: &str,
    mine: &[u8],
    theirs: &[u8],
    dynamic: Option<RecordMerge<'_>>,
) -> Result<Option<Vec<u8>>, StoreError> {
    let candidates: Vec<ValueMergeFn> = with(|store| {
        store
            .value_merges
            .get(name)
            .map(|layouts| layouts.values().copied().collect())
            .unwrap_or_default()
    });
    for merge in candidates {
        if let Some(merged) = merge(mine, theirs)? {
            return Ok(Some(merged));
        }
    }
    match dynamic {
        Some(merge) => merge(name, mine, theirs),
        None => Ok(None),
    }
}

/// The record name an element is tagged with, if any.
fn record_name(metadata: &Metadata) -> Option<&str> {
    match &metadata.crdt_type {
        Some(CrdtType::Custom(name))
            if !name.starts_with(STATE_VERSION_TAG)
                && ![
                    BUCKET,
                    COUNTER_SLOT,
                    FROZEN,
                    USER_SLOT,
                    WRITER_SET,
                    SHARED_VALUE,
                ]
                .contains(&name.as_str()) =>
        {
            Some(name)
        }
        _ => None,
    }
}

/// A random id (for vector elements).
pub fn random_id() -> Id {
    let mut bytes = [0u8; 32];
    env::random_bytes(&mut bytes);
    Id::new(bytes)
}

impl Store {
    fn index(&mut self, id: Id) -> Result<Option<EntityIndex>, StoreError> {
        if let Some(cached) = self.indexes.get(&id) {
            return Ok(cached.clone());
        }
        let loaded =
            match env::storage_read(&Key::Index(id).to_bytes()) {
                Some(bytes) => Some(EntityIndex::try_from_slice(&bytes).map_err(|source| {
                    StoreError::Decode {
                        what: "an entity index record",
                        source,
                    }
                })?),
                None => None,
            };
        self.indexes.insert(id, loaded.clone());
        Ok(loaded)
    }

    fn put(&mut self, index: EntityIndex) {
        self.dirty.insert(index.id);
        self.indexes.insert(index.id, Some(index));
    }

    fn record(&mut self, action: Action) {
        let id = action.id();
        match self.action_slots.get(&id) {
            Some(&slot) => self.actions[slot] = action,
            None => {
                self.action_slots.insert(id, self.actions.len());
                self.actions.push(action);
            }
        }
    }

    /// The chain from `parent` up to, not including, the root.
    fn ancestors(&mut self, parent: Option<Id>) -> Result<Vec<ChildInfo>, StoreError> {
        let mut chain = Vec::new();
        let mut next = parent;
        while let Some(id) = next {
            let Some(index) = self.index(id)? else {
                return Err(StoreError::UnknownParent(id));
            };
            if index.parent_id.is_none() {
                break;
            }
            chain.push(ChildInfo {
                id,
                merkle_hash: index.full_hash,
                metadata: index.metadata.clone(),
            });
            next = index.parent_id;
        }
        Ok(chain)
    }

    /// Adds or refreshes `child` in `parent`'s live children, keeping `(created_at, id)` order.
    fn link(&mut self, parent: Id, child: &EntityIndex) -> Result<(), StoreError> {
        let Some(mut index) = self.index(parent)? else {
            return Err(StoreError::UnknownParent(parent));
        };
        index.deleted_children.retain(|id| *id != child.id);
        let children = index.children.get_or_insert_with(Vec::new);
        children.retain(|c| c.id != child.id);
        let info = ChildInfo {
            id: child.id,
            merkle_hash: child.full_hash,
            metadata: child.metadata.clone(),
        };
        let at = children.partition_point(|c| {
            (c.metadata.created_at, c.id) < (info.metadata.created_at, info.id)
        });
        children.insert(at, info);
        self.put(index);
        self.rehash.insert(parent);
        Ok(())
    }

    /// Moves `child` from `parent`'s live children to its dead ones.
    fn unlink(&mut self, parent: Id, child: Id) -> Result<(), StoreError> {
        if let Some(mut index) = self.index(parent)? {
            if let Some(children) = index.children.as_mut() {
                children.retain(|c| c.id != child);
            }
            if !index.deleted_children.contains(&child) {
                index.deleted_children.push(child);
            }
            self.put(index);
            self.rehash.insert(parent);
        }
        Ok(())
    }

    /// The greatest `updated_at` of the live entities under `id`.
    fn newest_below(&mut self, id: Id) -> Result<u64, StoreError> {
        let mut newest = 0;
        let mut pending = vec![id];
        while let Some(next) = pending.pop() {
            let Some(index) = self.index(next)? else {
                continue;
            };
            for child in index.children() {
                if let Some(live) = self.index(child.id)?.filter(|c| c.is_live()) {
                    newest = newest.max(live.metadata.updated_at);
                    pending.push(child.id);
                }
            }
        }
        Ok(newest)
    }

    /// The delete watermark recorded for `id` itself (0 if none).
    fn own_watermark(&mut self, id: Id) -> Result<u64, StoreError> {
        if let Some(&mark) = self.watermarks.get(&id) {
            return Ok(mark);
        }
        let mark = match env::storage_read(&Key::SyncState(id).to_bytes()) {
            Some(bytes) => u64::try_from_slice(&bytes).map_err(|source| StoreError::Decode {
                what: "a delete watermark",
                source,
            })?,
            None => 0,
        };
        self.watermarks.insert(id, mark);
        Ok(mark)
    }

    fn raise_watermark(&mut self, id: Id, mark: u64) -> Result<(), StoreError> {
        if self.own_watermark(id)? < mark {
            self.watermarks.insert(id, mark);
            self.dirty_watermarks.insert(id);
        }
        Ok(())
    }

    /// The greatest deletion bound over `from` and its ancestors: a write there must be newer.
    fn bound(&mut self, from: Option<Id>) -> Result<u64, StoreError> {
        let mut bound = 0;
        let mut next = from;
        let mut steps = 0;
        while let Some(id) = next {
            let Some(index) = self.index(id)? else { break };
            bound = bound
                .max(index.deleted_at.unwrap_or(0))
                .max(self.own_watermark(id)?);
            next = index.parent_id;
            steps += 1;
            if steps > 4096 {
                return Err(StoreError::Corrupt {
                    id,
                    reason: "parent chain is cyclic".into(),
                });
            }
        }
        Ok(bound)
    }

    /// Applies a deletion at `deleted_at` to `id` and its subtree; see the module docs.
    fn delete_at(&mut self, id: Id, deleted_at: u64) -> Result<(), StoreError> {
        self.raise_watermark(id, deleted_at)?;
        let Some(index) = self.index(id)? else {
            return Ok(());
        };
        if index.is_live()
            && index.metadata.updated_at <= deleted_at
            && let Some(parent) = index.parent_id
        {
            self.unlink(parent, id)?;
        }
        self.sweep(id, deleted_at)
    }

    /// Kills `id` if it is not newer than `deleted_at`, then sweeps its whole subtree: live
    /// children, and dead ones, under which later writes may have survived.
    fn sweep(&mut self, id: Id, deleted_at: u64) -> Result<(), StoreError> {
        let Some(mut index) = self.index(id)? else {
            return Ok(());
        };
        match index.deleted_at {
            Some(previous) => index.deleted_at = Some(previous.max(deleted_at)),
            None if index.metadata.updated_at <= deleted_at => {
                index.deleted_at = Some(deleted_at);
                env::storage_remove(&Key::Entry(id).to_bytes());
            }
            None => {}
        }
        let mut children = index.children.take();
        let mut buried = Vec::new();
        if let Some(list) = children.as_mut() {
            let mut survivors = Vec::with_capacity(list.len());
            for child in list.drain(..) {
                let dies = self
                    .index(child.id)?
                    .is_some_and(|c| c.is_live() && c.metadata.updated_at <= deleted_at);
                self.sweep(child.id, deleted_at)?;
                if dies {
                    buried.push(child.id);
                } else {
                    survivors.push(child);
                }
            }
            *list = survivors;
        }
        for dead in index.deleted_children.clone() {
            self.sweep(dead, deleted_at)?;
        }
        if !buried.is_empty() {
            self.rehash.insert(id);
        }
        for child in buried {
            if !index.deleted_children.contains(&child) {
                index.deleted_children.push(child);
            }
        }
        index.children = children;
        self.put(index);
        Ok(())
    }

    fn depth(&mut self, id: Id, memo: &mut BTreeMap<Id, usize>) -> Result<usize, StoreError> {
        let mut chain = Vec::new();
        let mut next = Some(id);
        let mut base = 0;
        while let Some(current) = next {
            if let Some(&d) = memo.get(&current) {
                base = d + 1;
                break;
            }
            chain.push(current);
            next = self.index(current)?.and_then(|i| i.parent_id);
            if chain.len() > 4096 {
                return Err(StoreError::Corrupt {
                    id,
                    reason: "parent chain is cyclic".into(),
                });
            }
        }
        for (offset, current) in chain.iter().rev().enumerate() {
            memo.insert(*current, base + offset);
        }
        Ok(memo[&id])
    }

    fn flush(&mut self) -> Result<[u8; 32], StoreError> {
        let changed = std::mem::take(&mut self.rehash);
        let mut closure = BTreeSet::new();
        for id in changed {
            let mut next = Some(id);
            while let Some(current) = next {
                if !closure.insert(current) {
                    break;
                }
                next = self.index(current)?.and_then(|i| i.parent_id);
            }
        }
        // Deepest first, so children are rehashed before their parents. (Ordered through a
        // BTreeSet rather than a sort: each sort instantiation costs ~30 KB of wasm.)
        let mut memo = BTreeMap::new();
        let mut order = BTreeSet::new();
        for id in closure {
            order.insert((self.depth(id, &mut memo)?, id));
        }
        for (_, id) in order.into_iter().rev() {
            let Some(mut index) = self.index(id)? else {
                continue;
            };
            let children: Vec<(Id, [u8; 32])> = index
                .children()
                .iter()
                .map(|c| (c.id, c.merkle_hash))
                .collect();
            index.full_hash = full_hash(&index.own_hash, &index.metadata, children);
            if let Some(parent) = index.parent_id
                && let Some(mut parent_index) = self.index(parent)?
                && let Some(info) = parent_index
                    .children
                    .as_mut()
                    .and_then(|c| c.iter_mut().find(|c| c.id == id))
            {
                info.merkle_hash = index.full_hash;
                info.metadata = index.metadata.clone();
                self.put(parent_index);
            }
            self.put(index);
        }
        for id in std::mem::take(&mut self.dirty) {
            if let Some(Some(index)) = self.indexes.get(&id) {
                let bytes = borsh::to_vec(index).map_err(|source| StoreError::Encode {
                    what: "an index record",
                    source,
                })?;
                env::storage_write(&Key::Index(id).to_bytes(), &bytes);
            }
        }
        for id in std::mem::take(&mut self.dirty_watermarks) {
            let mark = self.watermarks.get(&id).copied().unwrap_or(0);
            let bytes = borsh::to_vec(&mark).unwrap_or_default();
            env::storage_write(&Key::SyncState(id).to_bytes(), &bytes);
        }
        let root = self.context.ok_or(StoreError::Uninitialized)?;
        Ok(self
            .index(root)?
            .ok_or(StoreError::Uninitialized)?
            .full_hash)
    }
}

fn is_bucket(metadata: &Metadata) -> bool {
    matches!(&metadata.crdt_type, Some(CrdtType::Custom(name)) if name == BUCKET)
}

/// The `crdt_type` name of the bucket entities collections shard their elements into.
pub const BUCKET: &str = "bucket";

/// `H(own_hash ‖ children's hashes in id order)`. A child whose hash is all zeros contributes
/// nothing, and a bucket with no contributing child hashes to all zeros, so empty buckets leave
/// the root as if they did not exist (a set followed by a remove restores the root).
pub fn full_hash(
    own_hash: &[u8; 32],
    metadata: &Metadata,
    children: Vec<(Id, [u8; 32])>,
) -> [u8; 32] {
    let children: BTreeMap<Id, [u8; 32]> =
        crate::btree::map_of(children.into_iter().filter(|(_, h)| *h != [0; 32]));
    if children.is_empty() && is_bucket(metadata) {
        return [0; 32];
    }
    let mut parts: Vec<&[u8]> = Vec::with_capacity(children.len() + 1);
    parts.push(own_hash);
    parts.extend(children.values().map(|h| h.as_slice()));
    hash(&parts)
}

/// The index record of `id`, if any (live or tombstone).
pub fn index(id: Id) -> Result<Option<EntityIndex>, StoreError> {
    with(|store| store.index(id))
}

/// The data of a live entity.
pub fn data(id: Id) -> Result<Option<Vec<u8>>, StoreError> {
    match index(id)? {
        Some(index) if index.is_live() => Ok(env::storage_read(&Key::Entry(id).to_bytes())),
        _ => Ok(None),
    }
}

/// The live children of `id`, in storage order.
pub fn children(id: Id) -> Result<Vec<ChildInfo>, StoreError> {
    Ok(index(id)?
        .map(|i| i.children().to_vec())
        .unwrap_or_default())
}

/// Writes `data` as entity `id` under `parent` (`None` only for the context root), recording
/// an `Add` or `Update`. Writing unchanged data records nothing.
pub fn save(id: Id, parent: Option<Id>, data: Vec<u8>, kind: EntityKind) -> Result<(), StoreError> {
    let now = now();
    let writer = writer();
    with(|store| {
        let own_hash = hash(&[&data]);
        let existing = store.index(id)?;
        let frozen = is_frozen(kind.crdt_type.as_ref())
            || existing
                .as_ref()
                .is_some_and(|e| is_frozen(e.metadata.crdt_type.as_ref()));
        if frozen {
            check_frozen(id, &data)?;
        }
        match existing {
            Some(mut index) if index.is_live() => {
                // The root entry names its state's layout version; a migration changes it.
                let retagged = id == Id::ROOT_ENTRY && index.metadata.crdt_type != kind.crdt_type;
                if index.own_hash == own_hash && !retagged {
                    return Ok(());
                }
                if retagged {
                    index.metadata.crdt_type = kind.crdt_type.clone();
                }
                refuse_version_change(&index)?;
                let place = store.place_of(id, Some(&index), parent, None, &data)?;
                index.metadata.storage_type = store.local_storage(id, place, writer)?;
                index.metadata.updated_at = now.max(index.metadata.updated_at.saturating_add(1));
                index.own_hash = own_hash;
                env::storage_write(&Key::Entry(id).to_bytes(), &data);
                let ancestors = store.ancestors(index.parent_id)?;
                let metadata = index.metadata.clone();
                store.put(index);
                store.rehash.insert(id);
                store.record(Action::Update {
                    id,
                    data,
                    ancestors,
                    metadata,
                });
            }
            previous => {
                let place = store.place_new(id, parent, kind.crdt_type.as_ref(), &data)?;
                let storage_type = store.local_storage(id, place, writer)?;
                // Newer than every deletion that could cover it, and than the newest sibling,
                // so that peers see it live and in the same place.
                let own = previous.as_ref().and_then(|p| p.deleted_at).unwrap_or(0);
                let mut floor = own.max(store.own_watermark(id)?).max(store.bound(parent)?);
                if let Some(parent) = parent
                    && let Some(last) = store
                        .index(parent)?
                        .and_then(|p| p.children().last().cloned())
                {
                    floor = floor.max(last.metadata.created_at);
                }
                floor = floor.max(store.last_created);
                let updated_at = now.max(floor.saturating_add(1));
                store.last_created = updated_at;
                let created_at = previous
                    .as_ref()
                    .map(|p| p.metadata.created_at)
                    .filter(|&c| c != 0)
                    .unwrap_or(updated_at);
                let metadata = Metadata {
                    created_at,
                    updated_at,
                    storage_type,
                    crdt_type: kind.crdt_type,
                    field_name: kind.field_name,
                    schema_version: None,
                };
                let (children, deleted_children) = match previous {
                    Some(p) => (p.children, p.deleted_children),
                    None => (None, Vec::new()),
                };
                let index = EntityIndex {
                    id,
                    parent_id: parent,
                    children,
                    full_hash: [0; 32],
                    own_hash,
                    metadata: metadata.clone(),
                    deleted_at: None,
                    deleted_children,
                };
                env::storage_write(&Key::Entry(id).to_bytes(), &data);
                if let Some(parent) = parent {
                    store.link(parent, &index)?;
                }
                store.put(index);
                store.rehash.insert(id);
                store.created(id);
                let ancestors = store.ancestors(parent)?;
                store.record(Action::Add {
                    id,
                    data,
                    ancestors,
                    metadata,
                });
            }
        }
        Ok(())
    })
}

/// Deletes a live entity and its descendants, recording a `DeleteRef`. False if it was not live.
pub fn delete(id: Id) -> Result<bool, StoreError> {
    let now = now();
    let writer = writer();
    with(|store| {
        if Some(id) == store.context || id == Id::ROOT_ENTRY {
            return Err(StoreError::ProtectedEntity);
        }
        let Some(index) = store.index(id)? else {
            return Ok(false);
        };
        if !index.is_live() {
            return Ok(false);
        }
        if is_frozen(index.metadata.crdt_type.as_ref()) {
            return Err(StoreError::Frozen {
                id,
                reason: "it cannot be deleted",
            });
        }
        refuse_version_deletion(id, &index.metadata)?;
        let place = store.place_gone(&index)?;
        let storage_type = store.local_storage(id, place, writer)?;
        store.check_subtree(id, writer)?;
        // After everything it removes, so nothing this replica has seen under it survives.
        let deleted_at = now
            .max(index.metadata.updated_at)
            .max(store.newest_below(id)?);
        store.delete_at(id, deleted_at)?;
        let metadata = Metadata {
            storage_type,
            ..index.metadata
        };
        store.record(Action::DeleteRef {
            id,
            deleted_at,
            metadata,
        });
        Ok(true)
    })
}

/// Applies one remote action with the merge rules of this module.
pub fn apply_action(action: Action, merges: &Merges<'_>) -> Result<(), StoreError> {
    let root = root_id();
    match &action {
        Action::Add { metadata, .. } | Action::Update { metadata, .. } => {
            observe_metadata(metadata, None)?
        }
        Action::DeleteRef {
            metadata,
            deleted_at,
            ..
        } => observe_metadata(metadata, Some(*deleted_at))?,
    }
    match action {
        Action::Add {
            id,
            data,
            ancestors,
            metadata,
        }
        | Action::Update {
            id,
            data,
            ancestors,
            metadata,
        } => {
            let parent = (id != root).then(|| ancestors.first().map_or(root, |a| a.id));
            apply_put(id, parent, data, metadata, merges)
        }
        Action::DeleteRef {
            id,
            deleted_at,
            metadata,
        } => {
            if id == root || id == Id::ROOT_ENTRY {
                return Err(StoreError::ProtectedEntity);
            }
            let frozen = |m: &Metadata| is_frozen(m.crdt_type.as_ref());
            if frozen(&metadata) || index(id)?.is_some_and(|i| frozen(&i.metadata)) {
                return Err(StoreError::Frozen {
                    id,
                    reason: "it cannot be deleted",
                });
            }
            let writer = writer();
            with(|store| {
                refuse_version_deletion(id, &metadata)?;
                match store.index(id)? {
                    Some(stored) if stored.is_live() => {
                        refuse_version_deletion(id, &stored.metadata)?;
                        let place = store.place_gone(&stored)?;
                        store.check_remote(id, place, &metadata.storage_type, writer)?;
                        store.check_subtree(id, writer)?;
                    }
                    _ => store.check_remote_unknown(id, &metadata, writer)?,
                }
                if store.index(id)?.is_none() {
                    store.put(EntityIndex {
                        id,
                        parent_id: None,
                        children: None,
                        full_hash: [0; 32],
                        own_hash: [0; 32],
                        metadata,
                        deleted_at: Some(deleted_at),
                        deleted_children: Vec::new(),
                    });
                }
                store.delete_at(id, deleted_at)
            })
        }
    }
}

fn is_frozen(crdt_type: Option<&CrdtType>) -> bool {
    matches!(crdt_type, Some(CrdtType::Custom(name)) if name == FROZEN)
}

/// A frozen element's data is `key ‖ value ‖ element id` with `key = SHA-256(value)`.
fn check_frozen(id: Id, data: &[u8]) -> Result<(), StoreError> {
    let value = split_element(id, data)?;
    if value.len() >= 32 && hash(&[&value[32..]]) == value[..32] {
        Ok(())
    } else {
        Err(StoreError::Frozen {
            id,
            reason: "its value does not hash to its key",
        })
    }
}

fn is_counter_slot(metadata: &Metadata) -> bool {
    matches!(&metadata.crdt_type, Some(CrdtType::Custom(name)) if name == COUNTER_SLOT)
}

fn apply_put(
    id: Id,
    parent: Option<Id>,
    data: Vec<u8>,
    metadata: Metadata,
    merges: &Merges<'_>,
) -> Result<(), StoreError> {
    let existing = index(id)?;
    let writer = writer();
    with(|store| {
        // Where the entity is decides who may write it, whatever the delta says.
        if let Some(stored) = existing.as_ref().filter(|e| e.is_live())
            && stored.own_hash != hash(&[&data])
        {
            refuse_version_change(stored)?;
        }
        let parent = existing.as_ref().and_then(|e| e.parent_id).or(parent);
        let place = store.place_of(
            id,
            existing.as_ref(),
            parent,
            metadata.crdt_type.as_ref(),
            &data,
        )?;
        store.check_remote(id, place, &metadata.storage_type, writer)
    })?;
    if is_frozen(metadata.crdt_type.as_ref())
        || existing
            .as_ref()
            .is_some_and(|e| is_frozen(e.metadata.crdt_type.as_ref()))
    {
        check_frozen(id, &data)?;
    }
    if let Some(index) = existing.as_ref().filter(|i| i.is_live()) {
        let current = env::storage_read(&Key::Entry(id).to_bytes()).unwrap_or_default();
        let record = record_name(&index.metadata).or_else(|| record_name(&metadata));
        let mut retag = false;
        let merged = if id == Id::ROOT_ENTRY {
            // States of two layout versions do not merge: the later version's root replaces the
            // earlier one's (its migration already read it), whichever arrives first.
            let incoming = state_version_of(metadata.crdt_type.as_ref());
            let stored = state_version_of(index.metadata.crdt_type.as_ref());
            match incoming.cmp(&stored) {
                std::cmp::Ordering::Greater => {
                    retag = true;
                    Some(data)
                }
                std::cmp::Ordering::Less => None,
                std::cmp::Ordering::Equal => Some((merges.root)(&current, &data)?),
            }
        } else if is_counter_slot(&index.metadata) {
            let mine = u64::try_from_slice(&current).unwrap_or(0);
            let theirs = u64::try_from_slice(&data).map_err(|source| StoreError::Decode {
                what: "a counter slot",
                source,
            })?;
            Some(borsh::to_vec(&mine.max(theirs)).unwrap_or_default())
        } else if let Some(merged) = match record {
            Some(name) => merge_record(name, &current, &data, merges.records)?,
            None => None,
        } {
            Some(merged)
        } else if (metadata.updated_at, hash(&[&data]))
            > (index.metadata.updated_at, index.own_hash)
        {
            Some(data)
        } else {
            None
        };
        return with(|store| {
            let mut index = index.clone();
            if retag {
                index.metadata.crdt_type = metadata.crdt_type.clone();
            }
            index.metadata.created_at = index.metadata.created_at.min(metadata.created_at);
            index.metadata.updated_at = index.metadata.updated_at.max(metadata.updated_at);
            if let Some(merged) = merged {
                let own_hash = hash(&[&merged]);
                if own_hash != index.own_hash {
                    env::storage_write(&Key::Entry(id).to_bytes(), &merged);
                    index.own_hash = own_hash;
                }
            }
            if let Some(parent) = index.parent_id {
                store.link(parent, &index)?;
            }
            store.put(index);
            store.rehash.insert(id);
            Ok(())
        });
    }

    with(|store| {
        let parent = existing.as_ref().and_then(|e| e.parent_id).or(parent);
        if let Some(parent) = parent
            && store.index(parent)?.is_none()
        {
            return Err(StoreError::UnknownParent(parent));
        }
        let own_deletion = existing.as_ref().and_then(|e| e.deleted_at).unwrap_or(0);
        let bound = own_deletion
            .max(store.own_watermark(id)?)
            .max(store.bound(parent)?);
        let created_at = existing.as_ref().map_or(metadata.created_at, |e| {
            e.metadata.created_at.min(metadata.created_at)
        });
        let (children, deleted_children) = match existing {
            Some(e) => (e.children, e.deleted_children),
            None => (None, Vec::new()),
        };
        let mut index = EntityIndex {
            id,
            parent_id: parent,
            children,
            full_hash: [0; 32],
            own_hash: hash(&[&data]),
            metadata: Metadata {
                created_at,
                ..metadata.clone()
            },
            deleted_at: None,
            deleted_children,
        };
        if metadata.updated_at <= bound {
            index.deleted_at = Some(bound);
            store.put(index);
            if let Some(parent) = parent {
                store.unlink(parent, id)?;
            }
            return Ok(());
        }
        env::storage_write(&Key::Entry(id).to_bytes(), &data);
        if let Some(parent) = parent {
            store.link(parent, &index)?;
        }
        store.put(index);
        store.rehash.insert(id);
        store.created(id);
        Ok(())
    })
}

/// A writer-set version never changes.
fn refuse_version_change(stored: &EntityIndex) -> Result<(), StoreError> {
    refuse_version(stored.id, &stored.metadata, "a writer set never changes")
}

/// A writer-set version is never deleted.
fn refuse_version_deletion(id: Id, metadata: &Metadata) -> Result<(), StoreError> {
    refuse_version(id, metadata, "a writer set is never deleted")
}

fn refuse_version(id: Id, metadata: &Metadata, reason: &'static str) -> Result<(), StoreError> {
    match &metadata.crdt_type {
        Some(CrdtType::Custom(name)) if name == WRITER_SET => {
            Err(StoreError::Frozen { id, reason })
        }
        _ => Ok(()),
    }
}

/// Recomputes hashes and writes back index records; returns the state root.
pub fn flush() -> Result<[u8; 32], StoreError> {
    root_id();
    with(|store| store.flush())
}

/// The actions recorded so far, encoded as the commit artifact (empty if none), and forgets them.
pub fn take_artifact() -> Vec<u8> {
    with(|store| {
        store.action_slots.clear();
        encode_delta(std::mem::take(&mut store.actions))
    })
}

/// Serializes `value` as data of the entity `parent`: collections inside it that are not yet
/// attached get ids derived from `parent`. Returns the bytes and the collections bound.
pub fn serialize_attached<T: BorshSerialize + ?Sized>(
    parent: Id,
    value: &T,
) -> Result<(Vec<u8>, BoundCollections), StoreError> {
    let previous = with(|store| {
        store.attach.replace(AttachScope {
            parent,
            next: 0,
            bound: Vec::new(),
        })
    });
    let result = borsh::to_vec(value);
    let scope = with(|store| std::mem::replace(&mut store.attach, previous));
    let bytes = result.map_err(|source| match source.kind() {
        std::io::ErrorKind::NotConnected => StoreError::Detached,
        _ => StoreError::Encode {
            what: "a value",
            source,
        },
    })?;
    Ok((bytes, scope.map(|s| s.bound).unwrap_or_default()))
}

/// Called by a collection being serialized while detached: binds it under the current parent.
pub(crate) fn bind_in_scope(crdt_type: CrdtType) -> Option<Id> {
    with(|store| {
        let scope = store.attach.as_mut()?;
        let id = Id::collection(Some(scope.parent), &scope.next.to_string());
        scope.next += 1;
        scope.bound.push((id, crdt_type));
        Some(id)
    })
}

/// Keeps the writes a collection bound to `id` received while detached, for [`create_bound`].
pub(crate) fn stage(id: Id, writes: Vec<Staged>) {
    if !writes.is_empty() {
        with(|store| store.staged.insert(id, writes));
    }
}

/// Creates the entities of collections bound by [`serialize_attached`] under `parent`, then
/// writes what each received while it was detached.
pub fn create_bound(parent: Id, bound: BoundCollections) -> Result<(), StoreError> {
    for (id, crdt_type) in bound {
        let kind = EntityKind {
            crdt_type: Some(crdt_type),
            field_name: None,
        };
        save(id, Some(parent), id.as_bytes().to_vec(), kind)?;
        if let Some(writes) = with(|store| store.staged.remove(&id)) {
            crate::collections::replay(id, writes)?;
        }
    }
    Ok(())
}

/// Splits entity data into the value and the trailing 32-byte element id.
pub fn split_element(id: Id, data: &[u8]) -> Result<&[u8], StoreError> {
    data.len()
        .checked_sub(32)
        .map(|n| &data[..n])
        .ok_or_else(|| StoreError::Corrupt {
            id,
            reason: "data shorter than its element id".into(),
        })
}
