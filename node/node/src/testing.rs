//! Helpers for tests and benchmarks that run several nodes in one process without a network:
//! the join exchange and a snapshot, called directly on the nodes.

use calimero_wire::{ContextId, MemberProof, SyncRequest, SyncResponse};
use ed25519_dalek::SigningKey;

use crate::node::{Node, NodeError};
use crate::replica::Snapshot;

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

/// Copies `from`'s state of `context` to `to` as a snapshot session would, page by page.
pub fn snapshot_in_process(
    from: &Node,
    to: &Node,
    context: &ContextId,
    key: &SigningKey,
    peer: &str,
) -> Result<(), NodeError> {
    let proof = MemberProof::sign(key, context, peer);
    let mut snapshot = Snapshot::default();
    let mut cursor = None;
    loop {
        let request = SyncRequest::Snapshot {
            context_id: *context,
            proof: proof.clone(),
            cursor: cursor.take(),
        };
        let SyncResponse::Snapshot(page) = from.answer(request, peer) else {
            return Err(NodeError::Conflict("the snapshot was refused".into()));
        };
        snapshot.entries.extend(page.entries);
        match page.next {
            Some(next) => cursor = Some(next),
            None => {
                snapshot.root_hash = page.root_hash;
                snapshot.heads = page.heads;
                snapshot.applied = page.applied;
                snapshot.members = page.members;
                return to.install_snapshot(context, snapshot);
            }
        }
    }
}
