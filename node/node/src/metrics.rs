//! Counters an operator reads in `node status`: what the node did, and every kind of input it
//! dropped, so that a misbehaving peer shows up as a number that grows.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// What the node counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Counter {
    DeltasAuthored,
    DeltasApplied,
    DeltasBuffered,
    DeltasEvicted,
    DeltasApplyFailed,
    DuplicateDeltas,
    SnapshotsInstalled,
    SnapshotsServed,
    SyncSessions,
    SyncFailures,
    RequestsServed,
    JoinsAccepted,
    HeartbeatsSent,
    /// Dropped: gossip that does not decode (garbage, truncated), or a delta on another topic.
    DroppedMalformedGossip,
    /// Dropped: a sync request that does not decode.
    DroppedMalformedRequest,
    /// Dropped: a delta whose signature is missing or wrong.
    DroppedBadSignature,
    /// Dropped: a delta whose id does not match its parents and body.
    DroppedIdMismatch,
    /// Dropped: gossip or a delta too large, or a delta with too many parents.
    DroppedOversized,
    /// Dropped: a delta whose author is not a member.
    DroppedNonMember,
    /// Dropped: a delta for a context this node does not hold.
    DroppedUnknownContext,
    /// Dropped: a delta whose body does not open with the context key.
    DroppedCannotOpen,
    /// Refused: a sync request from a peer that is not a member (or cannot prove it), and
    /// refused joins.
    RefusedRequests,
}

impl Counter {
    /// The name shown in `node status`.
    pub fn name(self) -> &'static str {
        match self {
            Counter::DeltasAuthored => "deltas_authored",
            Counter::DeltasApplied => "deltas_applied",
            Counter::DeltasBuffered => "deltas_buffered",
            Counter::DeltasEvicted => "deltas_evicted",
            Counter::DeltasApplyFailed => "deltas_apply_failed",
            Counter::DuplicateDeltas => "duplicate_deltas",
            Counter::SnapshotsInstalled => "snapshots_installed",
            Counter::SnapshotsServed => "snapshots_served",
            Counter::SyncSessions => "sync_sessions",
            Counter::SyncFailures => "sync_failures",
            Counter::RequestsServed => "requests_served",
            Counter::JoinsAccepted => "joins_accepted",
            Counter::HeartbeatsSent => "heartbeats_sent",
            Counter::DroppedMalformedGossip => "dropped_malformed_gossip",
            Counter::DroppedMalformedRequest => "dropped_malformed_request",
            Counter::DroppedBadSignature => "dropped_bad_signature",
            Counter::DroppedIdMismatch => "dropped_id_mismatch",
            Counter::DroppedOversized => "dropped_oversized",
            Counter::DroppedNonMember => "dropped_non_member",
            Counter::DroppedUnknownContext => "dropped_unknown_context",
            Counter::DroppedCannotOpen => "dropped_cannot_open",
            Counter::RefusedRequests => "refused_requests",
        }
    }
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
        use Counter::*;
        const ALL: [Counter; 22] = [
            DeltasAuthored,
            DeltasApplied,
            DeltasBuffered,
            DeltasEvicted,
            DeltasApplyFailed,
            DuplicateDeltas,
            SnapshotsInstalled,
            SnapshotsServed,
            SyncSessions,
            SyncFailures,
            RequestsServed,
            JoinsAccepted,
            HeartbeatsSent,
            DroppedMalformedGossip,
            DroppedMalformedRequest,
            DroppedBadSignature,
            DroppedIdMismatch,
            DroppedOversized,
            DroppedNonMember,
            DroppedUnknownContext,
            DroppedCannotOpen,
            RefusedRequests,
        ];
        ALL.iter().map(|c| (c.name(), self.get(*c))).collect()
    }
}
