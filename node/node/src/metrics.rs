//! Counters an operator reads in `node status`: what the node did, and every kind of input it
//! dropped, so that a misbehaving peer shows up as a number that grows.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// Defines [`Counter`] from one table of variants and the names `node status` shows.
macro_rules! counters {
    ($($(#[$doc:meta])* $variant:ident = $name:literal,)*) => {
        /// What the node counts.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
        pub enum Counter {
            $($(#[$doc])* $variant,)*
        }

        impl Counter {
            /// Every counter, in the order `node status` lists them.
            pub const ALL: &'static [Counter] = &[$(Counter::$variant,)*];

            /// The name shown in `node status`.
            pub fn name(self) -> &'static str {
                match self {
                    $(Counter::$variant => $name,)*
                }
            }
        }
    };
}

counters! {
    DeltasAuthored = "deltas_authored",
    DeltasApplied = "deltas_applied",
    DeltasBuffered = "deltas_buffered",
    DeltasEvicted = "deltas_evicted",
    DeltasApplyFailed = "deltas_apply_failed",
    /// Deferred: a delta stamped more than 5 s ahead of this node's clock (retried by sync).
    DeltasDeferredClockDrift = "deltas_deferred_clock_drift",
    /// Deferred: a delta upgrading the context to an application not installed here (retried
    /// by sync once it is).
    DeltasDeferredMissingApplication = "deltas_deferred_missing_application",
    DuplicateDeltas = "duplicate_deltas",
    SnapshotsInstalled = "snapshots_installed",
    SnapshotsServed = "snapshots_served",
    SyncSessions = "sync_sessions",
    SyncFailures = "sync_failures",
    RequestsServed = "requests_served",
    JoinsAccepted = "joins_accepted",
    HeartbeatsSent = "heartbeats_sent",
    /// Event handlers run here for remote deltas (each an ordinary call).
    HandlersRun = "handlers_run",
    /// Event handlers that failed (the call's error is logged; nothing it did is kept).
    HandlersFailed = "handlers_failed",
    /// Dropped: gossip that does not decode (garbage, truncated), or a delta on another topic.
    DroppedMalformedGossip = "dropped_malformed_gossip",
    /// Dropped: a sync request that does not decode.
    DroppedMalformedRequest = "dropped_malformed_request",
    /// Dropped: a delta whose signature is missing or wrong.
    DroppedBadSignature = "dropped_bad_signature",
    /// Dropped: a delta whose id does not match its parents and body.
    DroppedIdMismatch = "dropped_id_mismatch",
    /// Dropped: gossip or a delta too large, or a delta with too many parents.
    DroppedOversized = "dropped_oversized",
    /// Dropped: a delta whose author is not a member.
    DroppedNonMember = "dropped_non_member",
    /// Dropped: a delta for a context this node does not hold.
    DroppedUnknownContext = "dropped_unknown_context",
    /// Dropped: a delta whose body does not open with the context key.
    DroppedCannotOpen = "dropped_cannot_open",
    /// Refused: a sync request from a peer that is not a member (or cannot prove it), and
    /// refused joins.
    RefusedRequests = "refused_requests",
}

/// The node's counters.
#[derive(Default)]
pub struct Metrics {
    counts: Mutex<BTreeMap<Counter, u64>>,
}

impl Metrics {
    /// Adds one to `counter`.
    pub fn count(&self, counter: Counter) {
        self.add(counter, 1);
    }

    /// Adds `n` to `counter`.
    pub fn add(&self, counter: Counter, n: u64) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        *counts.entry(counter).or_default() += n;
    }

    /// The current value of `counter`.
    pub fn get(&self, counter: Counter) -> u64 {
        let counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        counts.get(&counter).copied().unwrap_or(0)
    }

    /// Every counter by name (zeroes included, so the set of names is stable).
    pub fn snapshot(&self) -> BTreeMap<&'static str, u64> {
        Counter::ALL
            .iter()
            .map(|c| (c.name(), self.get(*c)))
            .collect()
    }
}
