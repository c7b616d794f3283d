//! The node as a replica, in one process without a network: deltas applied one by one and
//! deltas applied in batches give the same state; buffered deltas survive a restart; a call
//! whose delta peers could not receive is refused; a refused join is counted.

use std::sync::Arc;

use calimero_node::metrics::Counter;
use calimero_node::testing::{join_in_process, sync_in_process};
use calimero_node::{Node, NodeError};
use calimero_runtime::Limits;
use calimero_wire::{ContextId, DeltaEnvelope, Hash, Invitation, SyncRequest, SyncResponse};
use serde_json::json;

fn module() -> &'static [u8] {
    static MODULE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    MODULE.get_or_init(|| calimero_tests::build_app("kv-store"))
}

fn open(dir: &std::path::Path) -> Arc<Node> {
    Arc::new(Node::open(&dir.join("data"), &dir.join("compiled"), Limits::default()).unwrap())
}

/// A creator with a kv-store context, and `joiners` nodes holding its initial state.
fn context_with(joiners: usize) -> (Vec<(Arc<Node>, tempfile::TempDir)>, ContextId) {
    let dir = tempfile::tempdir().unwrap();
    let creator = open(dir.path());
    let app = creator.install_application(module(), "test").unwrap();
    let (context, _) = creator.create_context(&app, b"{}".to_vec()).unwrap();
    let mut nodes = vec![(creator.clone(), dir)];
    for i in 0..joiners {
        let dir = tempfile::tempdir().unwrap();
        let node = open(dir.path());
        node.install_application(module(), "test").unwrap();
        let peer = format!("peer-{i}");
        join_in_process(&creator, &node, &context, &peer).unwrap();
        let report = sync_in_process(&creator, &node, &context, &peer).unwrap();
        assert!(report.snapshot, "a joiner starts from a snapshot");
        nodes.push((node, dir));
    }
    (nodes, context)
}

fn set(node: &Node, context: &ContextId, key: &str, value: &str) {
    let args = serde_json::to_vec(&json!({"key": key, "value": value})).unwrap();
    node.execute(context, "set", args).unwrap();
}

fn entries(node: &Node, context: &ContextId) -> serde_json::Value {
    node.execute(context, "entries", b"{}".to_vec())
        .unwrap()
        .output
}

fn root(node: &Node, context: &ContextId) -> Hash {
    node.heads(context).unwrap().0
}

#[test]
fn batched_and_one_by_one_applies_give_the_same_state() {
    let (nodes, context) = context_with(2);
    let (author, one_by_one, batched) = (&nodes[0].0, &nodes[1].0, &nodes[2].0);
    // The second joiner's membership delta came after the first joiner's snapshot.
    let (_, known_first) = one_by_one.heads(&context).unwrap();
    let (_, known) = batched.heads(&context).unwrap();
    for i in 0..120 {
        set(author, &context, &format!("k{}", i % 40), &format!("v{i}"));
        if i % 7 == 0 {
            let args = serde_json::to_vec(&json!({"key": format!("k{}", i % 13)})).unwrap();
            author.execute(&context, "remove", args).unwrap();
        }
    }
    let (chain, total) = author.deltas_since(&context, &known, usize::MAX).unwrap();
    assert_eq!(chain.len(), total);
    // One delta per guest call: each offer releases exactly that delta.
    let (in_order, _) = author
        .deltas_since(&context, &known_first, usize::MAX)
        .unwrap();
    for delta in in_order {
        one_by_one.receive_delta(delta).unwrap();
    }
    // All at once, in reverse: one cascade, applied in batches.
    let reversed: Vec<DeltaEnvelope> = chain.into_iter().rev().collect();
    assert_eq!(batched.receive_deltas(reversed), total);
    let expected = root(author, &context);
    assert_eq!(root(one_by_one, &context), expected);
    assert_eq!(root(batched, &context), expected);
    assert_eq!(entries(batched, &context), entries(author, &context));
    // The stored entities hash to the recorded root on both (nothing torn, nothing extra).
    for node in [one_by_one, batched] {
        let (recorded, recomputed) = node.verify_root(&context).unwrap();
        assert_eq!(recorded, recomputed);
    }
    assert_eq!(
        batched.heads(&context).unwrap().1,
        author.heads(&context).unwrap().1
    );
}

#[test]
fn buffered_deltas_survive_a_restart_and_apply_when_their_parent_arrives() {
    let (nodes, context) = context_with(1);
    let author = &nodes[0].0;
    let (_, known) = nodes[1].0.heads(&context).unwrap();
    for i in 0..10 {
        set(author, &context, &format!("k{i}"), "v");
    }
    let (chain, _) = author.deltas_since(&context, &known, usize::MAX).unwrap();
    let first = chain[0].clone();
    nodes[1].0.receive_deltas(chain[1..].to_vec());
    let status = nodes[1].0.sync_status(&context).unwrap();
    assert_eq!(status["pendingDeltas"], 9, "{status}");
    let expected = root(author, &context);
    let (stopped, dir) = nodes.into_iter().nth(1).unwrap();
    drop(stopped);
    let reopened = open(dir.path());
    let status = reopened.sync_status(&context).unwrap();
    assert_eq!(status["pendingDeltas"], 9, "{status}");
    reopened.receive_delta(first).unwrap();
    assert_eq!(root(&reopened, &context), expected);
    assert_eq!(reopened.sync_status(&context).unwrap()["pendingDeltas"], 0);
}

/// An app whose `big` method commits a 1.1 MiB artifact (more than peers accept in one delta).
fn big_delta_app() -> Vec<u8> {
    wat::parse_str(
        r#"(module
        (import "env" "commit" (func $commit (param i64 i64)))
        (memory (export "memory") 20)
        (data (i32.const 0) "\40\00\00\00\00\00\00\00\20\00\00\00\00\00\00\00")
        (data (i32.const 16) "\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00")
        (data (i32.const 32) "\40\00\00\00\00\00\00\00\20\00\00\00\00\00\00\00")
        (data (i32.const 48) "\00\01\00\00\00\00\00\00\00\00\11\00\00\00\00\00")
        (func (export "init") (call $commit (i64.const 0) (i64.const 16)))
        (func (export "big") (call $commit (i64.const 32) (i64.const 48))))"#,
    )
    .unwrap()
}

#[test]
fn a_call_whose_delta_peers_could_not_receive_is_refused_and_commits_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let node = open(dir.path());
    let app = node.install_application(&big_delta_app(), "test").unwrap();
    let (context, _) = node.create_context(&app, b"{}".to_vec()).unwrap();
    let before = node.heads(&context).unwrap();
    let error = node.execute(&context, "big", b"{}".to_vec()).unwrap_err();
    assert!(
        matches!(error, NodeError::DeltaTooLarge { size, limit } if size > limit),
        "{error:?}"
    );
    assert_eq!(error.to_json()["type"], "DeltaTooLarge");
    // Nothing committed: same root, same heads, no delta (this app's `init` records no actions).
    assert_eq!(node.heads(&context).unwrap(), before);
    assert!(node.applied_delta_ids(&context).unwrap().is_empty());
}

#[test]
fn a_refused_join_is_counted_and_admits_no_one() {
    let (nodes, context) = context_with(0);
    let node = &nodes[0].0;
    let stranger = ed25519_dalek::SigningKey::from_bytes(&[3; 32]);
    // Signed by someone who is not a member.
    let invitation = Invitation::create(
        context,
        node.get_context(&context).unwrap().application_id,
        &stranger,
        None,
        u64::MAX,
        Vec::new(),
    );
    let joiner = ed25519_dalek::SigningKey::from_bytes(&[4; 32]);
    let response = node.answer(SyncRequest::join(invitation, &joiner, "peer"), "peer");
    assert!(
        matches!(&response, SyncResponse::Refused { reason } if reason.contains("not a member")),
        "{response:?}"
    );
    assert_eq!(node.metrics.get(Counter::RefusedRequests), 1);
    assert_eq!(node.metrics.get(Counter::JoinsAccepted), 0);
    assert_eq!(node.members(&context).unwrap().len(), 1);
}

#[test]
fn a_delta_stamped_too_far_ahead_is_deferred_not_lost() {
    let (nodes, context) = context_with(1);
    let (author, receiver) = (&nodes[0].0, &nodes[1].0);
    // The author's clock runs 30 s fast: its delta is stamped 30 s in the receiver's future.
    author.skew_clock(30_000_000_000);
    set(author, &context, "fast", "clock");
    let before = root(receiver, &context);
    sync_in_process(author, receiver, &context, "peer-0").unwrap();
    assert_eq!(
        receiver.metrics.get(Counter::DeltasDeferredClockDrift),
        1,
        "the delta was deferred"
    );
    assert_eq!(
        root(receiver, &context),
        before,
        "nothing of it was applied"
    );
    assert_eq!(entries(receiver, &context), json!({}));
    // Once the receiver's clock is within 5 s of the stamp, the next sync applies it: the
    // deferred delta was not recorded as applied.
    receiver.skew_clock(28_000_000_000);
    sync_in_process(author, receiver, &context, "peer-0").unwrap();
    assert_eq!(entries(receiver, &context), json!({"fast": "clock"}));
    assert_eq!(root(receiver, &context), root(author, &context));
}
