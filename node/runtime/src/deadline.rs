//! The wall-clock deadline of a call.
//!
//! Gas bounds the work a call does, but not its time: a single `memory.fill` over 64 MiB costs
//! one unit. So every call also gets a deadline, kept by one watchdog thread per runtime. When a
//! call's deadline passes, the watchdog sets the call's remaining gas to zero; the next gas check
//! (at the top of every loop iteration and before every call, see `metering`) then traps the
//! guest, and every host function refuses to run once the deadline flag is set. The caller tells
//! a deadline from real gas exhaustion by that flag.

use std::collections::BTreeMap;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// The remaining-gas counter of one running instance: the `i64` value of the global the metering
/// middleware adds, shared by the guest (plain loads and stores in compiled code), the host
/// functions (which charge their own work) and the watchdog (which zeroes it).
#[derive(Clone, Copy)]
pub(crate) struct GasCell(NonNull<AtomicU64>);

// SAFETY: the cell points into the store of a call; it is only dereferenced while that store is
// alive (the host functions live inside the store, and the watchdog drops its copy under its
// lock before the store is dropped, see `Armed`). All accesses from Rust are atomic.
unsafe impl Send for GasCell {}
unsafe impl Sync for GasCell {}

impl GasCell {
    /// # Safety
    /// `ptr` must point to the 8-byte aligned value of a live `i64` global and stay valid for as
    /// long as this cell (or a copy) is used.
    pub(crate) unsafe fn new(ptr: NonNull<u64>) -> Self {
        Self(ptr.cast())
    }

    fn get(&self) -> &AtomicU64 {
        // SAFETY: see `new` and the `Send` impl.
        unsafe { self.0.as_ref() }
    }

    /// Takes `amount` units; `false` (and the counter at zero) if fewer are left.
    pub(crate) fn charge(&self, amount: u64) -> bool {
        let cell = self.get();
        let mut left = cell.load(Ordering::Relaxed);
        loop {
            let Some(after) = left.checked_sub(amount) else {
                cell.store(0, Ordering::Relaxed);
                return false;
            };
            match cell.compare_exchange_weak(left, after, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(now) => left = now,
            }
        }
    }

    fn exhaust(&self) {
        self.get().store(0, Ordering::Relaxed);
    }
}

struct Entry {
    deadline: Instant,
    cell: GasCell,
    fired: Arc<AtomicBool>,
}

#[derive(Default)]
struct Timers {
    next: u64,
    armed: BTreeMap<u64, Entry>,
    stopping: bool,
    /// When the watchdog will next look, if it sleeps with a timeout (`None`: until woken).
    /// A call whose deadline is later needs no wake-up: waking the thread on every call cost a
    /// context switch per call, and kept the process's memory map live on a second core, so
    /// that every unmapped instance memory also cost a cross-core TLB flush.
    wake_at: Option<Instant>,
}

type Shared = Arc<(Mutex<Timers>, Condvar)>;

/// One thread that ends calls at their deadline.
pub(crate) struct Watchdog {
    shared: Shared,
}

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, Timers> {
    shared.0.lock().unwrap_or_else(|e| e.into_inner())
}

impl Watchdog {
    pub(crate) fn start() -> Self {
        let shared: Shared = Arc::default();
        let watched = shared.clone();
        std::thread::Builder::new()
            .name("call-deadlines".into())
            .spawn(move || watch(watched))
            .expect("the deadline thread starts");
        Self { shared }
    }

    /// Watches a call that must end within `limit`; dropping the result stops watching.
    pub(crate) fn arm(&self, cell: GasCell, limit: Duration) -> Armed {
        let fired = Arc::new(AtomicBool::new(false));
        let mut timers = lock(&self.shared);
        let id = timers.next;
        timers.next += 1;
        let deadline = Instant::now() + limit;
        timers.armed.insert(
            id,
            Entry {
                deadline,
                cell,
                fired: fired.clone(),
            },
        );
        let wake = timers.wake_at.is_none_or(|at| deadline < at);
        drop(timers);
        if wake {
            self.shared.1.notify_one();
        }
        Armed {
            shared: self.shared.clone(),
            id,
            fired,
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        lock(&self.shared).stopping = true;
        self.shared.1.notify_one();
    }
}

fn watch(shared: Shared) {
    let mut timers = lock(&shared);
    loop {
        if timers.stopping {
            return;
        }
        let now = Instant::now();
        // A fired call stays armed, and its gas is zeroed again every millisecond until the call
        // returns: the guest loads the counter, subtracts and stores it back, so a single zero
        // written between its load and its store would be lost.
        let mut firing = false;
        for entry in timers.armed.values() {
            if entry.deadline <= now {
                entry.fired.store(true, Ordering::SeqCst);
                entry.cell.exhaust();
                firing = true;
            }
        }
        let next = if firing {
            Some(now + Duration::from_millis(1))
        } else {
            timers.armed.values().map(|entry| entry.deadline).min()
        };
        timers.wake_at = next;
        timers = match next {
            Some(deadline) => {
                let wait = deadline.saturating_duration_since(Instant::now());
                shared
                    .1
                    .wait_timeout(timers, wait)
                    .unwrap_or_else(|e| e.into_inner())
                    .0
            }
            None => shared.1.wait(timers).unwrap_or_else(|e| e.into_inner()),
        };
    }
}

/// A watched call. Must be dropped before the store its gas cell points into.
pub(crate) struct Armed {
    shared: Shared,
    id: u64,
    fired: Arc<AtomicBool>,
}

impl Armed {
    /// The flag the watchdog sets when the deadline passes.
    pub(crate) fn flag(&self) -> Arc<AtomicBool> {
        self.fired.clone()
    }
}

impl Drop for Armed {
    fn drop(&mut self) {
        // Under the lock: once this returns, the watchdog no longer holds the cell.
        lock(&self.shared).armed.remove(&self.id);
    }
}
