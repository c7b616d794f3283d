//! Each context keeps its clock across calls and restarts: a write is stamped after every
//! write the context made and every delta it applied, even when the wall clock is set back.

use std::sync::Arc;

use calimero_node::Node;
use calimero_node::testing::{join_in_process, sync_in_process};
use calimero_runtime::Limits;
use calimero_wire::ContextId;
use serde_json::{Value, json};

fn module() -> &'static [u8] {
    static MODULE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    MODULE.get_or_init(|| calimero_tests::build_app("nested-crdt"))
}

fn open(dir: &std::path::Path) -> Arc<Node> {
    Arc::new(Node::open(&dir.join("data"), &dir.join("compiled"), Limits::default()).unwrap())
}

/// Renames profile `who`; returns the stamp `(time, id)` the app gave the new name.
fn rename(node: &Node, context: &ContextId, who: &str) -> (u64, u128) {
    let args = serde_json::to_vec(&json!({"who": who, "name": who})).unwrap();
    let output: Value = node.execute(context, "rename", args).unwrap().output;
    let stamp = &output["name"][1];
    (
        stamp[0].as_u64().unwrap(),
        stamp[1].as_str().unwrap().parse().unwrap(),
    )
}

const HOUR_NS: i64 = 3_600_000_000_000;

#[test]
fn a_wall_clock_set_back_does_not_stamp_writes_before_earlier_ones_even_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let node = open(dir.path());
    let app = node.install_application(module(), "test").unwrap();
    let (context, _) = node.create_context(&app, b"{}".to_vec()).unwrap();
    let first = rename(&node, &context, "a");

    // The wall clock goes back an hour; a new entity (no per-entity floor) is still stamped
    // after the first write.
    node.skew_clock(-HOUR_NS);
    let second = rename(&node, &context, "b");
    assert!(second > first, "{second:?} is not after {first:?}");

    // The clock is on disk: a restarted node, still an hour behind, continues after it.
    let clock = node.clock_floor(&context).unwrap();
    drop(node);
    let node = open(dir.path());
    assert_eq!(node.clock_floor(&context).unwrap(), clock);
    node.skew_clock(-HOUR_NS);
    let third = rename(&node, &context, "c");
    assert!(third > second, "{third:?} is not after {second:?}");
}

#[test]
fn a_write_after_applying_a_peers_delta_is_stamped_after_it() {
    let (author_dir, receiver_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (author, receiver) = (open(author_dir.path()), open(receiver_dir.path()));
    let app = author.install_application(module(), "test").unwrap();
    receiver.install_application(module(), "test").unwrap();
    let (context, _) = author.create_context(&app, b"{}".to_vec()).unwrap();
    join_in_process(&author, &receiver, &context, "peer").unwrap();
    sync_in_process(&author, &receiver, &context, "peer").unwrap();

    // The author's clock runs 3 s fast (within the 5 s drift bound); the receiver's runs 3 s
    // slow. After applying the author's delta, and across a restart, the receiver's own
    // writes still come after the author's.
    author.skew_clock(3_000_000_000);
    let remote = rename(&author, &context, "a");
    sync_in_process(&author, &receiver, &context, "peer").unwrap();
    drop(receiver);
    let receiver = open(receiver_dir.path());
    receiver.skew_clock(-3_000_000_000);
    let local = rename(&receiver, &context, "b");
    assert!(local > remote, "{local:?} is not after {remote:?}");
}
