//! One sync session with one peer, as a state machine without I/O: it says which request to
//! send next and digests each answer. The replication loop drives it over libp2p; the
//! simulation drives it over channels; the decisions are the same code.
//!
//! A session: if the context was upgraded to an application this node does not have yet, fetch
//! its module from the peer first (`Blob`, checked against the application id). Then, if this
//! node has no state, take a snapshot. Otherwise compare heads and roots;
//! equal means done. Else pull the deltas this node lacks (`DeltasSince`, parents first, a page
//! at a time); if the peer says this node is strictly behind by more than the snapshot
//! threshold, take a snapshot instead (nothing local can be lost), then pull what is newer.
//!
//! Every method touches the node's store and runtime: call them on a blocking thread.

use calimero_wire::{
    ApplicationId, ContextId, DeltaId, Hash, MemberProof, SyncRequest, SyncResponse,
};

use crate::node::{Node, NodeError};
use crate::replica::Snapshot;
use crate::sync::{MAX_MODULE_SIZE, SyncConfig, SyncReport};

/// How many times a snapshot is restarted when the peer's state moves between pages.
const SNAPSHOT_ATTEMPTS: u8 = 3;

/// What the driver does next.
#[derive(Debug)]
pub enum Step {
    /// Send this request to the session's peer and pass the answer to [`SyncSession::on_response`].
    Send(Box<SyncRequest>),
    /// The session is over.
    Done(SyncReport),
    /// The session failed (the peer refused, answered nonsense, or the node could not apply).
    Failed(NodeError),
}

enum Phase {
    /// Fetching the module of the application the context was upgraded to.
    Module {
        application: ApplicationId,
        bytes: Vec<u8>,
    },
    Heads,
    Pulling,
    Snapshot {
        attempt: u8,
        first: Option<(Hash, Vec<DeltaId>)>,
        collected: Box<Snapshot>,
    },
    Over,
}

/// A sync session of one context with one peer.
pub struct SyncSession {
    context: ContextId,
    proof: MemberProof,
    page: u32,
    snapshot_threshold: u64,
    phase: Phase,
    report: SyncReport,
}

impl SyncSession {
    /// Starts a session of `context` with `peer`, proving membership for the network identity
    /// `local`; returns the session and its first step.
    pub fn start(
        node: &Node,
        context: ContextId,
        peer: &str,
        local: &str,
        config: &SyncConfig,
    ) -> (Self, Step) {
        let mut session = Self {
            context,
            proof: MemberProof {
                member: Default::default(),
                signature: calimero_wire::Signature([0; 64]),
            },
            page: config.page,
            snapshot_threshold: config.snapshot_threshold,
            phase: Phase::Over,
            report: SyncReport {
                peer: Some(peer.to_owned()),
                ..SyncReport::default()
            },
        };
        let step = match node.member_proof(&context, local) {
            Err(error) => Step::Failed(error),
            Ok(proof) => {
                session.proof = proof;
                match node.wanted_application(&context) {
                    Some(application) => session.module_request(application, Vec::new()),
                    None => session.begin(node),
                }
            }
        };
        (session, step)
    }

    /// Asks for the next chunk of `application`'s module, `bytes` being what arrived so far.
    fn module_request(&mut self, application: ApplicationId, bytes: Vec<u8>) -> Step {
        let offset = bytes.len() as u64;
        self.phase = Phase::Module { application, bytes };
        Step::Send(Box::new(SyncRequest::Blob {
            context_id: self.context,
            proof: self.proof.clone(),
            application_id: application,
            offset,
        }))
    }

    /// Takes a module chunk; installs the module once whole. Whatever goes wrong, the session
    /// goes on without it (the upgrade waits for a later session).
    fn on_module(
        &mut self,
        node: &Node,
        application: ApplicationId,
        mut bytes: Vec<u8>,
        response: SyncResponse,
    ) -> Step {
        let peer = self.report.peer.clone().unwrap_or_default();
        let why = match response {
            SyncResponse::Blob { total, chunk }
                if total <= MAX_MODULE_SIZE && !chunk.is_empty() =>
            {
                bytes.extend_from_slice(&chunk);
                if (bytes.len() as u64) < total {
                    return self.module_request(application, bytes);
                }
                match node.install_fetched_application(
                    &application,
                    &bytes,
                    &format!("peer {peer}"),
                ) {
                    Ok(()) => {
                        tracing::info!(context = %self.context, %application, %peer, "fetched the application the context was upgraded to");
                        return self.begin(node);
                    }
                    Err(error) => error.to_string(),
                }
            }
            SyncResponse::Blob { total, .. } if total > MAX_MODULE_SIZE => {
                format!("a {total}-byte module; the limit is {MAX_MODULE_SIZE}")
            }
            SyncResponse::Refused { reason } => format!("refused: {reason}"),
            other => format!("answered {other:?}"),
        };
        tracing::warn!(context = %self.context, %application, %peer, why, "could not fetch the application the context was upgraded to");
        self.begin(node)
    }

    /// The session proper: a snapshot if this node has no state, else a comparison of heads.
    fn begin(&mut self, node: &Node) -> Step {
        match node.is_initialized(&self.context) {
            Err(error) => Step::Failed(error),
            Ok(false) => self.begin_snapshot(0),
            Ok(true) => {
                self.phase = Phase::Heads;
                Step::Send(Box::new(SyncRequest::Heads {
                    context_id: self.context,
                    proof: self.proof.clone(),
                }))
            }
        }
    }

    fn begin_snapshot(&mut self, attempt: u8) -> Step {
        if attempt >= SNAPSHOT_ATTEMPTS {
            self.phase = Phase::Over;
            return Step::Failed(NodeError::Network(
                "the peer's state kept changing during three snapshot attempts".into(),
            ));
        }
        self.phase = Phase::Snapshot {
            attempt,
            first: None,
            collected: Box::default(),
        };
        self.snapshot_request(None)
    }

    fn snapshot_request(&self, cursor: Option<Vec<u8>>) -> Step {
        Step::Send(Box::new(SyncRequest::Snapshot {
            context_id: self.context,
            proof: self.proof.clone(),
            cursor,
        }))
    }

    fn pull(&mut self, node: &Node) -> Step {
        self.phase = Phase::Pulling;
        match node.heads(&self.context) {
            Ok((_, heads)) => Step::Send(Box::new(SyncRequest::DeltasSince {
                context_id: self.context,
                proof: self.proof.clone(),
                known_heads: heads,
                limit: self.page,
            })),
            Err(error) => self.fail(error),
        }
    }

    fn fail(&mut self, error: NodeError) -> Step {
        self.phase = Phase::Over;
        Step::Failed(error)
    }

    fn finish(&mut self, node: &Node) -> Step {
        self.phase = Phase::Over;
        match node.heads(&self.context) {
            Ok((root, heads)) => {
                self.report.root_hash = root;
                self.report.dag_heads = heads;
                Step::Done(self.report.clone())
            }
            Err(error) => Step::Failed(error),
        }
    }

    /// Digests the peer's answer to the last request.
    pub fn on_response(&mut self, node: &Node, response: SyncResponse) -> Step {
        let phase = std::mem::replace(&mut self.phase, Phase::Over);
        if let Phase::Module { application, bytes } = phase {
            return self.on_module(node, application, bytes, response);
        }
        if let SyncResponse::Refused { reason } = response {
            return self.fail(NodeError::Network(format!("the peer refused: {reason}")));
        }
        match phase {
            Phase::Module { .. } => self.fail(NodeError::Internal("module phase".into())),
            Phase::Heads => {
                let SyncResponse::Heads { root_hash, heads } = response else {
                    return self.fail(unexpected("Heads"));
                };
                match node.heads(&self.context) {
                    Ok((root, ours)) if root == root_hash && ours == heads => self.finish(node),
                    Ok(_) => self.pull(node),
                    Err(error) => self.fail(error),
                }
            }
            Phase::Pulling => {
                let SyncResponse::Deltas {
                    deltas,
                    remaining,
                    asker_behind,
                } = response
                else {
                    return self.fail(unexpected("DeltasSince"));
                };
                let lacking = deltas.len() as u64 + remaining;
                if asker_behind && !self.report.snapshot && lacking > self.snapshot_threshold {
                    tracing::info!(context = %self.context, lacking, "far behind: taking a snapshot");
                    return self.begin_snapshot(0);
                }
                if deltas.is_empty() {
                    return self.finish(node);
                }
                let applied = node.receive_deltas(deltas);
                self.report.applied += applied;
                if remaining == 0 || applied == 0 {
                    self.finish(node)
                } else {
                    self.pull(node)
                }
            }
            Phase::Snapshot {
                attempt,
                first,
                mut collected,
            } => {
                let SyncResponse::Snapshot(page) = response else {
                    return self.fail(unexpected("Snapshot"));
                };
                match &first {
                    Some((root, heads)) if *root != page.root_hash || *heads != page.heads => {
                        return self.begin_snapshot(attempt + 1);
                    }
                    _ => {}
                }
                let first = first.or_else(|| Some((page.root_hash, page.heads.clone())));
                collected.entries.extend(page.entries);
                match page.next {
                    Some(next) => {
                        self.phase = Phase::Snapshot {
                            attempt,
                            first,
                            collected,
                        };
                        self.snapshot_request(Some(next))
                    }
                    None => {
                        collected.root_hash = page.root_hash;
                        collected.application = Some(page.application);
                        collected.heads = page.heads;
                        collected.applied = page.applied;
                        collected.members = page.members;
                        if let Err(error) = node.install_snapshot(&self.context, *collected) {
                            return self.fail(error);
                        }
                        self.report.snapshot = true;
                        // Anything newer than the snapshot comes as deltas.
                        self.pull(node)
                    }
                }
            }
            Phase::Over => self.fail(NodeError::Internal("the session is over".into())),
        }
    }
}

fn unexpected(request: &str) -> NodeError {
    NodeError::Network(format!("the peer answered {request} with something else"))
}
