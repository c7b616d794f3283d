//! Helpers for tests and benchmarks that run several nodes in one process without a network:
//! the join exchange and sync sessions, with each request answered directly by the other node.

use calimero_wire::{ContextId, SyncRequest, SyncResponse};
use ed25519_dalek::SigningKey;

use crate::node::{Node, NodeError};
use crate::session::{Step, SyncSession};
use crate::sync::{SyncConfig, SyncReport};

/// Makes `joiner` (network identity `peer`) a member of `context` through `inviter`, as an open
/// invitation and the join exchange would; the joiner has no state until a snapshot. The
/// application must be installed on the joiner. Returns the joiner's member key.
pub fn join_in_process(
    inviter: &Node,
    joiner: &Node,
    context: &ContextId,
    peer: &str,
) -> Result<SigningKey, NodeError> {
    let invitation = inviter.invite(context, None, 3_600_000, Vec::new())?;
    let key = SigningKey::generate(&mut rand::rngs::OsRng);
    match inviter.answer(SyncRequest::join(invitation, &key, peer), peer) {
        SyncResponse::Joined(accepted) => {
            joiner.add_joined_context(&accepted, &key, Vec::new())?;
            Ok(key)
        }
        other => Err(NodeError::Conflict(format!(
            "the join was refused: {other:?}"
        ))),
    }
}

/// Syncs `to`'s copy of `context` from `from` with the same session the network runs (a
/// snapshot when `to` has no state yet, then deltas), each request answered directly by `from`;
/// `peer` is `to`'s network identity, as in its join.
pub fn sync_in_process(
    from: &Node,
    to: &Node,
    context: &ContextId,
    peer: &str,
) -> Result<SyncReport, NodeError> {
    let (mut session, mut step) =
        SyncSession::start(to, *context, "in-process", peer, &SyncConfig::default());
    loop {
        step = match step {
            Step::Send(request) => session.on_response(to, from.answer(*request, peer)),
            Step::Done(report) => return Ok(report),
            Step::Failed(error) => return Err(error),
        };
    }
}
