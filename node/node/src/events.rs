//! State mutations as they happen, for subscribers: the WebSocket and SSE routes and
//! `meroctl context watch`. Every local call that commits and every applied remote delta
//! publishes one [`StateMutation`] (the context's new root and the events of the change).
//!
//! Mutations are numbered in publication order. The feed keeps the most recent ones, so a
//! subscriber that reconnects (SSE `Last-Event-ID`) can resume without a gap, as long as it
//! was not away for longer than that window.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use calimero_wire::{ContextId, Event, Hash};
use tokio::sync::broadcast;

/// How many mutations the feed keeps for resuming subscribers, and buffers per live subscriber
/// before that subscriber is reported lagging.
pub const FEED_WINDOW: usize = 1024;

/// One change of a context's state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateMutation {
    /// Position in the node's feed (1, 2, …): increasing in publication order.
    pub seq: u64,
    pub context: ContextId,
    /// The context's state root after the change.
    pub new_root: Hash,
    /// The events the change emitted, in order (each with its handler, if any).
    pub events: Vec<Event>,
}

/// The node's feed of mutations.
pub struct Feed {
    sender: broadcast::Sender<Arc<StateMutation>>,
    /// The last [`FEED_WINDOW`] mutations and the next number; locked while publishing, so
    /// numbers reach subscribers in order.
    recent: Mutex<(VecDeque<Arc<StateMutation>>, u64)>,
}

impl Default for Feed {
    fn default() -> Self {
        let (sender, _) = broadcast::channel(FEED_WINDOW);
        Self {
            sender,
            recent: Mutex::new((VecDeque::with_capacity(FEED_WINDOW), 1)),
        }
    }
}

/// What [`Feed::since`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Since {
    /// Every mutation after the one asked for, in order (possibly none).
    Complete(Vec<Arc<StateMutation>>),
    /// Some mutations after the one asked for are no longer kept: the subscriber missed them.
    Gap(Vec<Arc<StateMutation>>),
}

impl Feed {
    /// A receiver of every mutation published from now on. A receiver that falls more than
    /// [`FEED_WINDOW`] behind gets `RecvError::Lagged`.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<StateMutation>> {
        self.sender.subscribe()
    }

    /// The number the next mutation will get.
    pub fn next_seq(&self) -> u64 {
        self.recent.lock().unwrap_or_else(|e| e.into_inner()).1
    }

    /// The kept mutations numbered after `seq`.
    pub fn since(&self, seq: u64) -> Since {
        let recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        let (kept, next) = (&recent.0, recent.1);
        let after: Vec<_> = kept.iter().filter(|m| m.seq > seq).cloned().collect();
        let oldest = kept.front().map_or(next, |m| m.seq);
        if seq.saturating_add(1) < oldest {
            Since::Gap(after)
        } else {
            Since::Complete(after)
        }
    }

    /// Publishes a change of `context`.
    pub(crate) fn publish(&self, context: ContextId, new_root: Hash, events: Vec<Event>) {
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        let mutation = Arc::new(StateMutation {
            seq: recent.1,
            context,
            new_root,
            events,
        });
        recent.1 += 1;
        if recent.0.len() == FEED_WINDOW {
            recent.0.pop_front();
        }
        recent.0.push_back(mutation.clone());
        // No subscriber is not an error.
        let _ = self.sender.send(mutation);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: &str) -> Event {
        Event {
            kind: kind.into(),
            data: b"{}".to_vec(),
            handler: None,
        }
    }

    #[test]
    fn subscribers_get_mutations_in_order_and_late_ones_resume_from_the_window() {
        let feed = Feed::default();
        let context = ContextId::new([1; 32]);
        let mut live = feed.subscribe();
        for i in 0..3u8 {
            feed.publish(context, Hash::new([i; 32]), vec![event("Inserted")]);
        }
        let seqs: Vec<u64> = (0..3).map(|_| live.try_recv().unwrap().seq).collect();
        assert_eq!(seqs, [1, 2, 3]);
        let Since::Complete(after) = feed.since(1) else {
            panic!("nothing was dropped yet");
        };
        assert_eq!(after.iter().map(|m| m.seq).collect::<Vec<_>>(), [2, 3]);
        assert_eq!(feed.since(3), Since::Complete(Vec::new()));
        assert_eq!(feed.next_seq(), 4);
    }

    #[test]
    fn a_resume_older_than_the_window_reports_the_gap() {
        let feed = Feed::default();
        let context = ContextId::new([1; 32]);
        for _ in 0..FEED_WINDOW + 10 {
            feed.publish(context, Hash::ZERO, Vec::new());
        }
        let Since::Gap(after) = feed.since(5) else {
            panic!("mutations 6 to 10 are gone");
        };
        assert_eq!(after.len(), FEED_WINDOW);
        assert_eq!(after[0].seq, 11);
        assert!(matches!(feed.since(10), Since::Complete(ref a) if a.len() == FEED_WINDOW));
    }
}
