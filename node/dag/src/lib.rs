//! The causal DAG of one context's deltas: which deltas are applied, which are the heads, and a
//! bounded buffer of deltas that arrived before their parents.
//!
//! Every delta names its parents; the first delta of a context names the `genesis` id, which
//! always counts as applied. A delta is applied only once all its parents are, so every replica
//! applies deltas in a causal order whatever order the network delivers them in. Deltas that
//! arrive early are buffered (the oldest is evicted when the buffer is full) and released, in
//! causal order, as soon as their last missing parent is applied. The heads are the applied
//! deltas no applied delta names as parent: what a new local delta will name as its parents.
//!
//! ```
//! use calimero_dag::{Dag, Offer};
//!
//! let mut dag: Dag<u32, &str> = Dag::new(0, 100);
//!
//! // The child arrives first: it is buffered and its parent is reported missing.
//! let Offer::Buffered { missing, evicted } = dag.offer(2, vec![1], "child") else {
//!     panic!("a delta whose parent is unknown cannot be ready");
//! };
//! assert_eq!((missing, evicted), (vec![1], None));
//!
//! // The parent arrives: both are released, parent first, and marked applied.
//! let Offer::Ready(ready) = dag.offer(1, vec![0], "parent") else {
//!     panic!("a delta whose parent is genesis is always ready");
//! };
//! let order: Vec<_> = ready.iter().map(|r| (r.id, r.payload)).collect();
//! assert_eq!(order, [(1, "parent"), (2, "child")]);
//! assert_eq!(dag.heads(), [2]);
//!
//! // A peer that knows only delta 1 lacks delta 2.
//! assert_eq!(dag.since(&[1], usize::MAX), (vec![2], 1));
//! ```

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap, HashSet, VecDeque};
use std::fmt::Debug;
use std::hash::Hash;

/// The causal DAG of one context: applied deltas, heads, and the bounded buffer of deltas that
/// wait for their parents.
#[derive(Debug, Clone)]
pub struct Dag<Id, T> {
    genesis: Id,
    max_pending: usize,
    /// Applied deltas and their parents; `None` when installed by a snapshot, which does not say.
    /// Boxed slices because thousands of contexts each hold thousands of these.
    applied: HashMap<Id, Option<Box<[Id]>>>,
    /// Ordered so that `heads()` is sorted without sorting.
    heads: BTreeSet<Id>,
    /// Ids an applied delta names as parent but that are not applied themselves. Lets a parent
    /// recorded after its child (reload order is arbitrary) know it is not a head. Empty once
    /// the DAG is complete, so it costs nothing in the steady state.
    unapplied_parents: HashSet<Id>,
    pending: HashMap<Id, Pending<Id, T>>,
    /// Buffering order, for evicting the oldest. Entries of deltas that left the buffer are
    /// dropped lazily (they no longer match `Pending::seq`), which keeps release O(1).
    order: VecDeque<(u64, Id)>,
    next_seq: u64,
    /// Unapplied parent -> buffered deltas waiting for it, so that applying a delta looks only
    /// at its own waiting children: the cascade costs O(released), not O(pending).
    waiting: HashMap<Id, Vec<Id>>,
    /// Ids applied by `record_applied` while buffered deltas waited on them; `record_applied`
    /// cannot hand back released deltas, so they wait for `release_ready` or `install_snapshot`.
    unblocked: Vec<Id>,
    /// How many applied deltas have unknown parents (installed by snapshot); `since` counts
    /// them as known to the asker.
    snapshot_len: usize,
}

#[derive(Debug, Clone)]
struct Pending<Id, T> {
    parents: Vec<Id>,
    payload: T,
    /// Tells this buffering apart from an earlier one of the same id still listed in `order`.
    seq: u64,
}

/// What happened to an offered delta.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "released deltas are already marked applied: the caller must apply them"]
pub enum Offer<Id, T> {
    /// Already applied or already buffered: nothing to do.
    Duplicate,
    /// The delta and every buffered descendant it unblocked, in causal order (every delta after
    /// all its parents); the DAG has marked them all applied.
    Ready(Vec<Ready<Id, T>>),
    /// Buffered: `missing` are its parents that are neither applied nor buffered (ask a peer for
    /// them), sorted; `evicted` is the buffered delta dropped to make room, if any.
    Buffered {
        /// Parents neither applied nor buffered, sorted and deduplicated.
        missing: Vec<Id>,
        /// The oldest buffered delta, dropped because the buffer was full (the offered delta
        /// itself when `max_pending` is zero).
        evicted: Option<Id>,
    },
}

/// A delta handed back by the DAG: released for applying, or dropped by `take_pending`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ready<Id, T> {
    /// The delta's id.
    pub id: Id,
    /// Its parents as offered (`[genesis]` if it was offered with none).
    pub parents: Vec<Id>,
    /// What the caller attached when offering it.
    pub payload: T,
}

impl<Id, T> Dag<Id, T>
where
    Id: Copy + Eq + Ord + Hash + Debug,
{
    /// An empty DAG in which only `genesis` is applied, buffering at most `max_pending` deltas.
    pub fn new(genesis: Id, max_pending: usize) -> Self {
        Self {
            genesis,
            max_pending,
            applied: HashMap::new(),
            heads: BTreeSet::new(),
            unapplied_parents: HashSet::new(),
            pending: HashMap::new(),
            order: VecDeque::new(),
            next_seq: 0,
            waiting: HashMap::new(),
            unblocked: Vec::new(),
            snapshot_len: 0,
        }
    }

    /// Offer a delta received from anywhere: apply it (with what it unblocks) if its parents are
    /// applied, else buffer it. An empty parent list means the single parent `genesis`.
    pub fn offer(&mut self, id: Id, parents: Vec<Id>, payload: T) -> Offer<Id, T> {
        if self.is_applied(&id) || self.pending.contains_key(&id) {
            return Offer::Duplicate;
        }
        let parents = self.normalize(parents);

        let mut unapplied: Vec<Id> = parents
            .iter()
            .copied()
            .filter(|p| !self.is_applied(p))
            .collect();
        if unapplied.is_empty() {
            self.mark_applied(id, Some(parents.clone().into_boxed_slice()));
            let mut ready = vec![Ready {
                id,
                parents,
                payload,
            }];
            self.cascade(vec![id], &mut ready);
            return Offer::Ready(ready);
        }

        let evicted = self.buffer(id, parents, payload);
        // After buffering, because the evicted delta may be one of the parents.
        unapplied.retain(|p| !self.pending.contains_key(p));
        unapplied.sort_unstable();
        unapplied.dedup();
        Offer::Buffered {
            missing: unapplied,
            evicted,
        }
    }

    /// Record a delta applied outside `offer` (authored here, or reloaded from disk in any
    /// order). Buffered deltas it unblocks stay buffered until `release_ready`.
    ///
    /// Ignored if the delta is already applied; if it was buffered, the buffered copy is dropped.
    pub fn record_applied(&mut self, id: Id, parents: Vec<Id>) {
        if self.is_applied(&id) {
            return;
        }
        let parents = self.normalize(parents);
        self.remove_pending(&id);
        self.mark_applied(id, Some(parents.into_boxed_slice()));
        if self.waiting.contains_key(&id) {
            self.unblocked.push(id);
        }
    }

    /// Release the buffered deltas that `record_applied` unblocked, in causal order, marking
    /// them applied (`record_applied` cannot return them itself).
    #[must_use = "released deltas are already marked applied: the caller must apply them"]
    pub fn release_ready(&mut self) -> Vec<Ready<Id, T>> {
        let seeds = std::mem::take(&mut self.unblocked);
        let mut ready = Vec::new();
        self.cascade(seeds, &mut ready);
        ready
    }

    /// A snapshot was installed: every id in `applied` and in `heads` is now applied (parents
    /// unknown) and the heads become `heads`. Buffered deltas whose parents are now all applied
    /// are released and returned in causal order, like `offer` does (they then update the heads).
    ///
    /// Buffered deltas the snapshot itself contains are dropped: the snapshot applied them.
    #[must_use = "released deltas are already marked applied: the caller must apply them"]
    pub fn install_snapshot(
        &mut self,
        applied: impl IntoIterator<Item = Id>,
        heads: Vec<Id>,
    ) -> Vec<Ready<Id, T>> {
        let mut seeds = std::mem::take(&mut self.unblocked);
        for id in applied.into_iter().chain(heads.iter().copied()) {
            if self.is_applied(&id) {
                continue;
            }
            self.remove_pending(&id);
            self.unapplied_parents.remove(&id);
            self.applied.insert(id, None);
            self.snapshot_len += 1;
            if self.waiting.contains_key(&id) {
                seeds.push(id);
            }
        }
        let genesis = self.genesis;
        self.heads = heads.into_iter().filter(|h| *h != genesis).collect();

        let mut ready = Vec::new();
        self.cascade(seeds, &mut ready);
        ready
    }

    /// Whether the delta is applied; `genesis` always is.
    pub fn is_applied(&self, id: &Id) -> bool {
        *id == self.genesis || self.applied.contains_key(id)
    }

    /// Whether the delta is buffered, waiting for parents.
    pub fn is_pending(&self, id: &Id) -> bool {
        self.pending.contains_key(id)
    }

    /// Applied deltas that no applied delta names as parent, sorted ascending; empty before
    /// anything is applied (genesis is never a head).
    pub fn heads(&self) -> Vec<Id> {
        self.heads.iter().copied().collect()
    }

    /// How many deltas are applied, not counting `genesis`.
    pub fn applied_len(&self) -> usize {
        self.applied.len()
    }

    /// How many deltas are buffered; never more than `max_pending()`.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// The most deltas the buffer holds before evicting the oldest.
    pub fn max_pending(&self) -> usize {
        self.max_pending
    }

    /// Parents of buffered deltas that are neither applied nor buffered (what to ask peers
    /// for), sorted and deduplicated.
    pub fn missing(&self) -> Vec<Id> {
        // Every unapplied key of `waiting` has a buffered delta waiting for it: removals from
        // the buffer clean their entries, and releases happen only once all parents are applied.
        let mut missing: Vec<Id> = self
            .waiting
            .keys()
            .filter(|p| !self.is_applied(p) && !self.pending.contains_key(*p))
            .copied()
            .collect();
        missing.sort_unstable();
        missing
    }

    /// Whether every id in `ids` is applied here (a peer whose heads we all have is behind us or
    /// level with us).
    pub fn contains_all(&self, ids: &[Id]) -> bool {
        ids.iter().all(|id| self.is_applied(id))
    }

    /// Applied deltas outside the causal past (inclusive) of `known_heads`, in causal order with
    /// ties broken by id, at most `limit` of them, and how many there are in all.
    ///
    /// Unknown ids in `known_heads` are ignored. Snapshot-installed deltas are never reported:
    /// this DAG has neither their bodies nor their parents, so it counts them as known to the
    /// peer (whoever asks has them, or must take a snapshot too).
    pub fn since(&self, known_heads: &[Id], limit: usize) -> (Vec<Id>, usize) {
        // Every applied delta lies in the past of some head (walk applied children until none is
        // left), so a peer knowing all our heads lacks nothing.
        if !self.heads.is_empty() && self.heads.iter().all(|h| known_heads.contains(h)) {
            return (Vec::new(), 0);
        }

        let mut known: HashSet<Id> = HashSet::with_capacity(self.snapshot_len);
        if self.snapshot_len > 0 {
            known.extend(
                self.applied
                    .iter()
                    .filter(|(_, parents)| parents.is_none())
                    .map(|(id, _)| *id),
            );
        }
        let mut stack: Vec<Id> = known_heads
            .iter()
            .copied()
            .filter(|h| self.applied.contains_key(h))
            .collect();
        let mut walked: HashSet<Id> = HashSet::new();
        while let Some(id) = stack.pop() {
            if !walked.insert(id) {
                continue;
            }
            known.insert(id);
            if let Some(Some(parents)) = self.applied.get(&id) {
                stack.extend(
                    parents
                        .iter()
                        .copied()
                        .filter(|p| self.applied.contains_key(p) && !walked.contains(p)),
                );
            }
        }

        let total = self.applied.len() - known.len();
        if total == 0 || limit == 0 {
            return (Vec::new(), total);
        }

        // Kahn's algorithm over the deltas the peer lacks; a min-heap makes the order
        // deterministic. A parent listed twice counts twice on both sides, so the counts agree.
        let mut indegree: HashMap<Id, usize> = HashMap::with_capacity(total);
        let mut children: HashMap<Id, Vec<Id>> = HashMap::new();
        for (id, parents) in &self.applied {
            if known.contains(id) {
                continue;
            }
            let mut degree = 0;
            for parent in parents.iter().flat_map(|p| p.iter()) {
                if self.applied.contains_key(parent) && !known.contains(parent) {
                    degree += 1;
                    children.entry(*parent).or_default().push(*id);
                }
            }
            indegree.insert(*id, degree);
        }
        let mut roots: BinaryHeap<Reverse<Id>> = indegree
            .iter()
            .filter(|(_, degree)| **degree == 0)
            .map(|(id, _)| Reverse(*id))
            .collect();

        let mut out = Vec::with_capacity(total.min(limit));
        while let Some(Reverse(id)) = roots.pop() {
            out.push(id);
            if out.len() == limit {
                break;
            }
            for child in children.get(&id).into_iter().flatten() {
                if let Some(degree) = indegree.get_mut(child) {
                    *degree -= 1;
                    if *degree == 0 {
                        roots.push(Reverse(*child));
                    }
                }
            }
        }
        (out, total)
    }

    /// Every applied delta id (genesis excluded), sorted: what a snapshot taken now covers.
    pub fn applied_ids(&self) -> Vec<Id> {
        let mut ids: Vec<Id> = self.applied.keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    /// The parents of an applied delta (`None` if it is unknown, genesis, or snapshot-installed).
    pub fn parents(&self, id: &Id) -> Option<&[Id]> {
        self.applied.get(id).and_then(|parents| parents.as_deref())
    }

    /// Drop every buffered delta and return them, oldest first, unapplied (e.g. when a context
    /// is deleted).
    pub fn take_pending(&mut self) -> Vec<Ready<Id, T>> {
        let mut taken = Vec::with_capacity(self.pending.len());
        for (seq, id) in std::mem::take(&mut self.order) {
            if self.pending.get(&id).is_some_and(|entry| entry.seq == seq)
                && let Some(entry) = self.pending.remove(&id)
            {
                taken.push(Ready {
                    id,
                    parents: entry.parents,
                    payload: entry.payload,
                });
            }
        }
        self.pending.clear();
        self.waiting.clear();
        self.unblocked.clear();
        taken
    }

    fn normalize(&self, parents: Vec<Id>) -> Vec<Id> {
        if parents.is_empty() {
            vec![self.genesis]
        } else {
            parents
        }
    }

    /// Marks `id` applied and updates the heads, whatever order deltas are applied in.
    fn mark_applied(&mut self, id: Id, parents: Option<Box<[Id]>>) {
        match &parents {
            Some(parents) => {
                for parent in parents.iter() {
                    if !self.heads.remove(parent) && !self.is_applied(parent) {
                        self.unapplied_parents.insert(*parent);
                    }
                }
            }
            None => self.snapshot_len += 1,
        }
        if !self.unapplied_parents.remove(&id) {
            self.heads.insert(id);
        }
        self.applied.insert(id, parents);
    }

    /// Buffers a delta whose parents are not all applied; returns the delta evicted for room.
    fn buffer(&mut self, id: Id, parents: Vec<Id>, payload: T) -> Option<Id> {
        if self.max_pending == 0 {
            return Some(id);
        }
        let evicted = if self.pending.len() >= self.max_pending {
            self.evict_oldest()
        } else {
            None
        };
        for (i, parent) in parents.iter().enumerate() {
            if !self.is_applied(parent) && !parents[..i].contains(parent) {
                self.waiting.entry(*parent).or_default().push(id);
            }
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.pending.insert(
            id,
            Pending {
                parents,
                payload,
                seq,
            },
        );
        self.order.push_back((seq, id));
        // Amortised O(1), and bounds `order` to about twice the buffer.
        if self.order.len() > 2 * self.pending.len() + 32 {
            let pending = &self.pending;
            self.order
                .retain(|(seq, id)| pending.get(id).is_some_and(|entry| entry.seq == *seq));
        }
        evicted
    }

    fn evict_oldest(&mut self) -> Option<Id> {
        while let Some((seq, id)) = self.order.pop_front() {
            if self.pending.get(&id).is_some_and(|entry| entry.seq == seq) {
                self.remove_pending(&id);
                return Some(id);
            }
        }
        None
    }

    /// Removes a delta from the buffer and from the waiting lists of its parents, so that
    /// `waiting` never grows with deltas that left the buffer.
    fn remove_pending(&mut self, id: &Id) -> Option<Pending<Id, T>> {
        let entry = self.pending.remove(id)?;
        for parent in &entry.parents {
            if let Some(waiters) = self.waiting.get_mut(parent) {
                waiters.retain(|w| w != id);
                if waiters.is_empty() {
                    self.waiting.remove(parent);
                }
            }
        }
        Some(entry)
    }

    /// Releases, in causal order, every buffered delta that `seeds` (just applied) unblock,
    /// directly or transitively. Iterative: chains can be 100,000 deltas deep.
    fn cascade(&mut self, mut stack: Vec<Id>, out: &mut Vec<Ready<Id, T>>) {
        while let Some(parent) = stack.pop() {
            let Some(children) = self.waiting.remove(&parent) else {
                continue;
            };
            for child in children {
                let ready = self
                    .pending
                    .get(&child)
                    .is_some_and(|entry| entry.parents.iter().all(|p| self.is_applied(p)));
                if !ready {
                    // Still waits for another parent, under whose entry it is also listed.
                    continue;
                }
                let Some(entry) = self.remove_pending(&child) else {
                    continue;
                };
                self.mark_applied(child, Some(entry.parents.clone().into_boxed_slice()));
                out.push(Ready {
                    id: child,
                    parents: entry.parents,
                    payload: entry.payload,
                });
                stack.push(child);
            }
        }
    }
}

#[cfg(test)]
mod tests;
