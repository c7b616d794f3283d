//! Property tests: random DAGs delivered in random orders, checked against a naive model.

use std::collections::{BTreeSet, HashMap, HashSet};

use calimero_dag::{Dag, Offer, Ready};
use proptest::prelude::*;
use proptest::sample::Index;

const GENESIS: u32 = 0;

/// A random DAG; delta `i` names only earlier deltas (or genesis), so index order is causal.
/// Ids are a shuffle of `1..=n`, so id order says nothing about causal order.
#[derive(Debug, Clone)]
struct Graph {
    ids: Vec<u32>,
    parents: Vec<Vec<u32>>,
    index: HashMap<u32, usize>,
}

impl Graph {
    fn len(&self) -> usize {
        self.ids.len()
    }

    fn parents_of(&self, id: u32) -> &[u32] {
        &self.parents[self.index[&id]]
    }

    /// Members of `set` that no member of `set` names as parent, sorted.
    fn heads_of(&self, set: &HashSet<u32>) -> Vec<u32> {
        let named: HashSet<u32> = set
            .iter()
            .flat_map(|id| self.parents_of(*id).iter().copied())
            .collect();
        let mut heads: Vec<u32> = set
            .iter()
            .copied()
            .filter(|id| !named.contains(id))
            .collect();
        heads.sort_unstable();
        heads
    }

    fn all(&self) -> HashSet<u32> {
        self.ids.iter().copied().collect()
    }

    /// The deltas `picks` select.
    fn pick(&self, picks: &[Index]) -> Vec<u32> {
        picks
            .iter()
            .map(|p| self.ids[p.index(self.len())])
            .collect()
    }

    /// The causal past, inclusive, of `seeds`.
    fn closure(&self, seeds: Vec<u32>) -> HashSet<u32> {
        let mut closed = HashSet::new();
        let mut stack = seeds;
        while let Some(id) = stack.pop() {
            if id != GENESIS && closed.insert(id) {
                stack.extend(self.parents_of(id).iter().copied());
            }
        }
        closed
    }
}

fn graph() -> impl Strategy<Value = Graph> {
    (1usize..60)
        .prop_flat_map(|n| {
            (
                Just((1..=n as u32).collect::<Vec<_>>()).prop_shuffle(),
                prop::collection::vec((prop::collection::vec(any::<Index>(), 1..=3), 0u8..10), n),
            )
        })
        .prop_map(|(ids, choices)| {
            let parents = choices
                .iter()
                .enumerate()
                .map(|(i, (picks, genesis))| match (i, genesis) {
                    (0, _) | (_, 0) => vec![GENESIS],
                    // Repeated picks are kept: a parent listed twice must not confuse the DAG.
                    (_, 1) => picks
                        .iter()
                        .map(|p| ids[p.index(i)])
                        .chain([GENESIS])
                        .collect(),
                    _ => picks.iter().map(|p| ids[p.index(i)]).collect(),
                })
                .collect();
            let index = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
            Graph {
                ids,
                parents,
                index,
            }
        })
}

/// A graph and a delivery schedule: every delta 1 to 3 times, all interleaved at random.
fn delivery() -> impl Strategy<Value = (Graph, Vec<u32>)> {
    graph().prop_flat_map(|g| {
        let ids = g.ids.clone();
        let schedule = prop::collection::vec(1usize..=3, g.len()).prop_flat_map(move |copies| {
            let list: Vec<u32> = ids
                .iter()
                .zip(copies)
                .flat_map(|(id, n)| std::iter::repeat_n(*id, n))
                .collect();
            Just(list).prop_shuffle()
        });
        (Just(g), schedule)
    })
}

/// What the model says an offer does; `Ready` as a set since any causal order is valid.
#[derive(Debug, PartialEq)]
enum Expected {
    Duplicate,
    Ready(BTreeSet<u32>),
    Buffered {
        missing: Vec<u32>,
        evicted: Option<u32>,
    },
}

/// The obvious, slow implementation: rescan the whole buffer until nothing is released.
struct Model {
    applied: HashSet<u32>,
    pending: Vec<u32>,
    max_pending: usize,
}

impl Model {
    fn new(max_pending: usize) -> Self {
        Self {
            applied: HashSet::from([GENESIS]),
            pending: Vec::new(),
            max_pending,
        }
    }

    fn offer(&mut self, g: &Graph, id: u32) -> Expected {
        if self.applied.contains(&id) || self.pending.contains(&id) {
            return Expected::Duplicate;
        }
        let ready =
            |applied: &HashSet<u32>, id: u32| g.parents_of(id).iter().all(|p| applied.contains(p));
        if ready(&self.applied, id) {
            self.applied.insert(id);
            let mut released = BTreeSet::from([id]);
            while let Some(pos) = self.pending.iter().position(|p| ready(&self.applied, *p)) {
                let next = self.pending.remove(pos);
                self.applied.insert(next);
                released.insert(next);
            }
            return Expected::Ready(released);
        }
        let evicted = if self.max_pending == 0 {
            Some(id)
        } else {
            let evicted = (self.pending.len() >= self.max_pending).then(|| self.pending.remove(0));
            self.pending.push(id);
            evicted
        };
        let mut missing: Vec<u32> = g
            .parents_of(id)
            .iter()
            .copied()
            .filter(|p| !self.applied.contains(p) && !self.pending.contains(p))
            .collect();
        missing.sort_unstable();
        missing.dedup();
        Expected::Buffered { missing, evicted }
    }

    /// Parents of buffered deltas that are neither applied nor buffered, sorted.
    fn missing(&self, g: &Graph) -> Vec<u32> {
        let missing: BTreeSet<u32> = self
            .pending
            .iter()
            .flat_map(|id| g.parents_of(*id).iter().copied())
            .filter(|p| !self.applied.contains(p) && !self.pending.contains(p))
            .collect();
        missing.into_iter().collect()
    }
}

/// Offers `id`, checks the outcome and the DAG's state against the model, and appends released
/// deltas to `released`.
fn offer_checked(
    dag: &mut Dag<u32, u32>,
    model: &mut Model,
    g: &Graph,
    id: u32,
    released: &mut Vec<Ready<u32, u32>>,
) -> Result<(), TestCaseError> {
    let expected = model.offer(g, id);
    let got = dag.offer(id, g.parents_of(id).to_vec(), id);
    match got {
        Offer::Duplicate => prop_assert_eq!(expected, Expected::Duplicate),
        Offer::Buffered { missing, evicted } => {
            prop_assert_eq!(expected, Expected::Buffered { missing, evicted })
        }
        Offer::Ready(ready) => {
            prop_assert_eq!(ready.first().map(|r| r.id), Some(id));
            let set: BTreeSet<u32> = ready.iter().map(|r| r.id).collect();
            prop_assert_eq!(
                set.len(),
                ready.len(),
                "a delta released twice in one offer"
            );
            prop_assert_eq!(expected, Expected::Ready(set));
            released.extend(ready);
        }
    }
    prop_assert!(dag.pending_len() <= dag.max_pending());
    prop_assert_eq!(dag.pending_len(), model.pending.len());
    prop_assert_eq!(dag.applied_len() + 1, model.applied.len());
    for p in &model.pending {
        prop_assert!(dag.is_pending(p));
    }
    prop_assert_eq!(dag.missing(), model.missing(g));
    Ok(())
}

/// Every delta of `released` comes once, after all its parents, which are genesis, in `before`,
/// or earlier in the list; each carries its own parents and payload.
fn check_causal(
    g: &Graph,
    before: &HashSet<u32>,
    released: &[Ready<u32, u32>],
) -> Result<(), TestCaseError> {
    let mut seen = before.clone();
    seen.insert(GENESIS);
    for r in released {
        prop_assert_eq!(r.payload, r.id);
        prop_assert_eq!(&r.parents[..], g.parents_of(r.id));
        for p in &r.parents {
            prop_assert!(
                seen.contains(p),
                "{} released before its parent {}",
                r.id,
                p
            );
        }
        prop_assert!(seen.insert(r.id), "{} released twice", r.id);
    }
    Ok(())
}

fn check_complete(dag: &Dag<u32, u32>, g: &Graph) -> Result<(), TestCaseError> {
    prop_assert!(dag.contains_all(&g.ids));
    prop_assert_eq!(dag.applied_len(), g.len());
    prop_assert_eq!(dag.heads(), g.heads_of(&g.all()));
    prop_assert_eq!(dag.pending_len(), 0);
    prop_assert!(dag.missing().is_empty());
    Ok(())
}

/// Ids of `list` come in causal order relative to `known`: each parent is genesis, known, or
/// earlier in the list.
fn check_causal_ids(g: &Graph, known: &HashSet<u32>, list: &[u32]) -> Result<(), TestCaseError> {
    let mut seen = known.clone();
    seen.insert(GENESIS);
    for id in list {
        for p in g.parents_of(*id) {
            prop_assert!(seen.contains(p), "{} listed before its parent {}", id, p);
        }
        prop_assert!(seen.insert(*id), "{} listed twice or already known", id);
    }
    Ok(())
}

proptest! {
    /// With room for everything, any delivery order applies every delta exactly once, causally.
    #[test]
    fn any_delivery_order_applies_everything((g, schedule) in delivery()) {
        let mut dag = Dag::new(GENESIS, g.len());
        let mut model = Model::new(g.len());
        let mut released = Vec::new();
        for id in schedule {
            offer_checked(&mut dag, &mut model, &g, id, &mut released)?;
        }
        prop_assert_eq!(released.len(), g.len());
        check_causal(&g, &HashSet::new(), &released)?;
        check_complete(&dag, &g)?;
    }

    /// A small buffer never overflows, and re-offering what is not applied, as a sync would,
    /// completes the DAG.
    #[test]
    fn small_buffer_stays_bounded_and_sync_completes(
        (g, schedule) in delivery(),
        max_pending in 1usize..8,
    ) {
        let mut dag = Dag::new(GENESIS, max_pending);
        let mut model = Model::new(max_pending);
        let mut released = Vec::new();
        for id in schedule {
            offer_checked(&mut dag, &mut model, &g, id, &mut released)?;
        }
        for id in g.ids.clone() {
            if !dag.is_applied(&id) {
                offer_checked(&mut dag, &mut model, &g, id, &mut released)?;
            }
        }
        prop_assert_eq!(released.len(), g.len());
        check_causal(&g, &HashSet::new(), &released)?;
        check_complete(&dag, &g)?;
    }

    /// `since` returns exactly what a peer at the given heads lacks, causally ordered, and a
    /// limit cuts a prefix of it.
    #[test]
    fn since_returns_what_the_peer_lacks(
        g in graph(),
        seeds in prop::collection::vec(any::<Index>(), 0..5),
        unknown_head in any::<bool>(),
        limit in 0usize..64,
    ) {
        let mut dag: Dag<u32, u32> = Dag::new(GENESIS, 0);
        for id in &g.ids {
            prop_assert!(matches!(dag.offer(*id, g.parents_of(*id).to_vec(), *id), Offer::Ready(_)));
        }
        let known = g.closure(g.pick(&seeds));
        let mut known_heads = g.heads_of(&known);
        if unknown_head {
            known_heads.push(10_000);
        }
        let lacking: HashSet<u32> = g.all().difference(&known).copied().collect();

        let (all, total) = dag.since(&known_heads, usize::MAX);
        prop_assert_eq!(total, lacking.len());
        prop_assert_eq!(all.iter().copied().collect::<HashSet<_>>(), lacking);
        check_causal_ids(&g, &known, &all)?;

        let (prefix, total_limited) = dag.since(&known_heads, limit);
        prop_assert_eq!(total_limited, total);
        prop_assert_eq!(&prefix[..], &all[..limit.min(total)]);
        check_causal_ids(&g, &known, &prefix)?;
    }

    /// Reloading in any order gives the right heads, parents and history.
    #[test]
    fn reload_in_any_order_gives_the_model_heads(
        (g, order) in graph().prop_flat_map(|g| {
            let ids = g.ids.clone();
            (Just(g), Just(ids).prop_shuffle())
        }),
    ) {
        let mut dag: Dag<u32, u32> = Dag::new(GENESIS, 10);
        for id in &order {
            dag.record_applied(*id, g.parents_of(*id).to_vec());
        }
        check_complete(&dag, &g)?;
        for id in &g.ids {
            prop_assert_eq!(dag.parents(id), Some(g.parents_of(*id)));
        }
        prop_assert!(dag.release_ready().is_empty());
        let (history, total) = dag.since(&[], usize::MAX);
        prop_assert_eq!(total, g.len());
        check_causal_ids(&g, &HashSet::new(), &history)?;
        prop_assert_eq!(dag.since(&dag.heads(), usize::MAX), (vec![], 0));
    }

    /// Deltas buffered on top of a snapshot's contents are released by installing it, and the
    /// rest then completes the DAG with the model heads.
    #[test]
    fn snapshot_releases_what_waited_for_it(
        (g, schedule) in delivery(),
        seeds in prop::collection::vec(any::<Index>(), 0..5),
    ) {
        let in_snapshot = g.closure(g.pick(&seeds));
        let mut dag: Dag<u32, u32> = Dag::new(GENESIS, g.len());

        // Before the snapshot, only descendants of its deltas arrive: they must all wait.
        let descendants: HashSet<u32> = g
            .ids
            .iter()
            .copied()
            .filter(|id| !in_snapshot.contains(id))
            .filter(|id| g.closure(vec![*id]).iter().any(|p| in_snapshot.contains(p)))
            .collect();
        for id in schedule.iter().filter(|id| descendants.contains(id)) {
            let offer = dag.offer(*id, g.parents_of(*id).to_vec(), *id);
            let waits = matches!(offer, Offer::Buffered { .. } | Offer::Duplicate);
            prop_assert!(waits, "{} was not buffered: {:?}", id, offer);
        }

        let mut released = dag.install_snapshot(in_snapshot.iter().copied(), g.heads_of(&in_snapshot));
        prop_assert!(dag.contains_all(&in_snapshot.iter().copied().collect::<Vec<_>>()));
        for id in &in_snapshot {
            prop_assert_eq!(dag.parents(id), None);
        }
        for id in &schedule {
            match dag.offer(*id, g.parents_of(*id).to_vec(), *id) {
                Offer::Ready(ready) => released.extend(ready),
                Offer::Duplicate => {}
                Offer::Buffered { .. } => {}
            }
        }
        prop_assert_eq!(released.len() + in_snapshot.len(), g.len());
        check_causal(&g, &in_snapshot, &released)?;
        check_complete(&dag, &g)?;
    }
}
