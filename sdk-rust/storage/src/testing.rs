//! Convergence checks for app states, in-process: `converge_app(App::init)`.
//!
//! ```ignore
//! converge_app(TeamMetrics::init)
//!     .replicas(3)
//!     .ops(|s| { let _ = s.record_win("liverpool".into()); })
//!     .invariant("three wins, one per replica", |s| s.wins("liverpool").unwrap_or(0) == 3)
//!     .assert_all_replicas_equal();
//! ```
//!
//! Every replica starts from the state `init` made, runs every op (each as one committed call,
//! in an order of its own drawn from the seed) as its own member, then applies the other
//! replicas' deltas (interleaved in a seeded order, each replica's in the order it made them) as
//! their authors. All replicas must then have the same state root, and every invariant must hold
//! on each.

use std::cell::RefCell;

use calimero_sys::host::{Outcome, TestHost};

use crate::root::{self, AppState};
use crate::store;

const CONTEXT: [u8; 32] = [0xC0; 32];
const GENESIS: [u8; 32] = [0xEE; 32];
const DEFAULT_SEED: u64 = 0x5EED_CA11;

type Op<T> = Box<dyn Fn(&mut T)>;
type Check<T> = Box<dyn Fn(&T) -> bool>;

/// A convergence check being set up; run it with [`Converge::assert_all_replicas_equal`].
#[must_use = "a convergence check runs only in `assert_all_replicas_equal`"]
pub struct Converge<T> {
    build: Box<dyn Fn() -> T>,
    replicas: usize,
    seed: u64,
    ops: Vec<Op<T>>,
    invariants: Vec<(String, Check<T>)>,
    one_account: bool,
}

/// A convergence check of state `T`, whose genesis is `build` (the app's `init`).
pub fn converge_app<T: AppState>(build: impl Fn() -> T + 'static) -> Converge<T> {
    Converge {
        build: Box::new(build),
        replicas: 3,
        seed: DEFAULT_SEED,
        ops: Vec::new(),
        invariants: Vec::new(),
        one_account: false,
    }
}

/// The same as [`converge_app`].
pub fn converge_with<T: AppState>(build: impl Fn() -> T + 'static) -> Converge<T> {
    converge_app(build)
}

/// A convergence check whose genesis is `T::default()`.
pub fn converge<T: AppState + Default + 'static>() -> Converge<T> {
    converge_app(T::default)
}

/// Replica `r`'s device: distinct, non-zero.
fn device_of(r: usize) -> [u8; 32] {
    let mut id = [0u8; 32];
    id[..8].copy_from_slice(&(r as u64 + 1).to_le_bytes());
    id[31] = 0xD0;
    id
}

/// Replica `r`'s account: distinct from every device.
fn account_of(r: usize) -> [u8; 32] {
    let mut id = [0u8; 32];
    id[..8].copy_from_slice(&(r as u64 + 1).to_le_bytes());
    id[31] = 0xAC;
    id
}

/// A small seeded generator (xorshift64*), so runs are reproducible without a dependency.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed | 1)
    }

    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n as u64) as usize
    }

    fn shuffle<X>(&mut self, items: &mut [X]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }
}

impl<T: AppState + 'static> Converge<T> {
    /// How many replicas (default 3).
    pub fn replicas(mut self, n: usize) -> Self {
        assert!(n >= 1, "converge: at least one replica");
        self.replicas = n;
        self
    }

    /// The seed of the op orders and the delivery order.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Replaces the genesis state's constructor.
    pub fn init(mut self, build: impl Fn() -> T + 'static) -> Self {
        self.build = Box::new(build);
        self
    }

    /// An op every replica runs once, as one call.
    pub fn ops(mut self, op: impl Fn(&mut T) + 'static) -> Self {
        self.ops.push(Box::new(op));
        self
    }

    /// A property every converged replica must have.
    pub fn invariant(mut self, description: &str, check: impl Fn(&T) -> bool + 'static) -> Self {
        self.invariants
            .push((description.to_owned(), Box::new(check)));
        self
    }

    /// Every replica writes as one account (one person's devices), not an account each.
    pub fn one_account(mut self) -> Self {
        self.one_account = true;
        self
    }

    fn account(&self, r: usize) -> [u8; 32] {
        if self.one_account {
            account_of(usize::MAX - 1)
        } else {
            account_of(r)
        }
    }

    /// Runs the check; panics naming the replica and what differs.
    pub fn assert_all_replicas_equal(self) {
        let genesis = TestHost::new(CONTEXT, GENESIS);
        let outcome = genesis.execute(b"", || {
            store::reset();
            root::init((self.build)()).expect("converge: init");
            root::commit().expect("converge: init commit");
        });
        expect_ok("init", &outcome);
        let base = genesis.storage();

        let replicas: Vec<TestHost> = (0..self.replicas)
            .map(|r| {
                let host = TestHost::new(CONTEXT, self.account(r));
                host.set_device_id(device_of(r));
                host.load_snapshot(base.clone());
                host
            })
            .collect();
        let roots: Vec<RefCell<Option<[u8; 32]>>> = (0..self.replicas)
            .map(|_| RefCell::new(outcome.root_hash))
            .collect();

        // Local ops, each replica in its own order.
        let mut deltas: Vec<Vec<Vec<u8>>> = vec![Vec::new(); self.replicas];
        for (r, host) in replicas.iter().enumerate() {
            let mut order: Vec<usize> = (0..self.ops.len()).collect();
            Rng::new(self.seed ^ (r as u64 + 1).wrapping_mul(0x9E37_79B9)).shuffle(&mut order);
            for index in order {
                let outcome = host.execute(b"", || {
                    store::reset();
                    let mut state: T = root::load().expect("converge: load");
                    (self.ops[index])(&mut state);
                    root::save(&state).expect("converge: save");
                    root::commit().expect("converge: commit");
                });
                expect_ok(&format!("replica {r}, op {index}"), &outcome);
                if let Some(root) = outcome.root_hash {
                    *roots[r].borrow_mut() = Some(root);
                }
                if !outcome.artifact.is_empty() {
                    deltas[r].push(outcome.artifact);
                }
            }
        }

        // Delivery: the others' deltas, interleaved, each source's in order.
        for (r, host) in replicas.iter().enumerate() {
            let mut queue: Vec<usize> = (0..self.replicas)
                .filter(|&s| s != r)
                .flat_map(|s| std::iter::repeat_n(s, deltas[s].len()))
                .collect();
            Rng::new(self.seed ^ 0xD1CE ^ (r as u64).wrapping_mul(0x85EB_CA6B)).shuffle(&mut queue);
            let mut next = vec![0usize; self.replicas];
            for source in queue {
                let artifact = &deltas[source][next[source]];
                next[source] += 1;
                let outcome = host.execute_as(self.account(source), artifact, || {
                    store::reset();
                    root::sync::<T>(artifact).expect("converge: apply a delta");
                });
                expect_ok(
                    &format!("replica {r} applying replica {source}'s delta"),
                    &outcome,
                );
                if let Some(root) = outcome.root_hash {
                    *roots[r].borrow_mut() = Some(root);
                }
            }
        }

        let first = *roots[0].borrow();
        for (r, root) in roots.iter().enumerate().skip(1) {
            assert_eq!(
                *root.borrow(),
                first,
                "converge: replica {r}'s state root differs from replica 0's after every \
                 delta was delivered (seed {:#x})",
                self.seed
            );
        }
        for (r, host) in replicas.iter().enumerate() {
            for (description, check) in &self.invariants {
                let mut holds = false;
                let outcome = host.execute(b"", || {
                    store::reset();
                    let state: T = root::load().expect("converge: load");
                    holds = check(&state);
                });
                expect_ok(&format!("replica {r}, invariant {description:?}"), &outcome);
                assert!(
                    holds,
                    "converge: invariant {description:?} does not hold on replica {r} (seed {:#x})",
                    self.seed
                );
            }
        }
    }
}

fn expect_ok(what: &str, outcome: &Outcome) {
    if let Some(trap) = &outcome.trap {
        panic!("converge: {what} failed: {trap}");
    }
}
