//! User storage on real nodes: a node applies a peer's delta as the delta's author (whose
//! signature it checked), so each member's writes to its own slot reach every replica, also
//! when deltas of several authors arrive together and are applied in batches.

use std::sync::Arc;

use calimero_node::Node;
use calimero_node::testing::{join_in_process, sync_in_process};
use calimero_runtime::Limits;
use calimero_wire::{ContextId, DeltaEnvelope};
use serde_json::{Value, json};

fn module() -> &'static [u8] {
    static MODULE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    MODULE.get_or_init(|| calimero_tests::build_app("nested-crdt"))
}

fn open(dir: &std::path::Path) -> Arc<Node> {
    Arc::new(Node::open(&dir.join("data"), &dir.join("compiled"), Limits::default()).unwrap())
}

fn notes(node: &Node, context: &ContextId) -> Value {
    node.execute(context, "snapshot", b"{}".to_vec())
        .unwrap()
        .output["notes"]
        .clone()
}

fn write(node: &Node, context: &ContextId, text: &str, tag: &str) {
    let args = json!({"text": text, "tag": tag}).to_string().into_bytes();
    node.execute(context, "write_note", args).unwrap();
}

/// Every delta `from` has that `to` has not, in the order `from` applied them.
fn catch_up(from: &Node, to: &Node, context: &ContextId, reverse: bool) -> usize {
    let (_, known) = to.heads(context).unwrap();
    let (mut chain, _) = from.deltas_since(context, &known, usize::MAX).unwrap();
    if reverse {
        chain.reverse();
    }
    let chain: Vec<DeltaEnvelope> = chain;
    to.receive_deltas(chain)
}

#[test]
fn each_member_s_slot_reaches_every_replica_through_batched_mixed_author_deltas() {
    let dir = tempfile::tempdir().unwrap();
    let a = open(dir.path());
    let app = a.install_application(module(), "test").unwrap();
    let (context, _) = a.create_context(&app, b"{}".to_vec()).unwrap();
    let mut joiners = Vec::new();
    for i in 0..2 {
        let dir = tempfile::tempdir().unwrap();
        let node = open(dir.path());
        node.install_application(module(), "test").unwrap();
        let peer = format!("peer-{i}");
        join_in_process(&a, &node, &context, &peer).unwrap();
        sync_in_process(&a, &node, &context, &peer).unwrap();
        joiners.push((node, dir));
    }
    let (b, c) = (&joiners[0].0, &joiners[1].0);
    // B also learns that C joined.
    catch_up(&a, b, &context, false);

    // A and B take turns writing their own notes, each seeing the other's first.
    for round in 0..4 {
        write(&a, &context, &format!("a{round}"), &format!("ta{round}"));
        catch_up(&a, b, &context, false);
        write(b, &context, &format!("b{round}"), &format!("tb{round}"));
        catch_up(b, &a, &context, false);
    }
    let expected = notes(&a, &context);
    assert_eq!(notes(b, &context), expected);
    let written: Vec<&Value> = expected.as_object().unwrap().values().collect();
    assert_eq!(written.len(), 2, "two accounts wrote: {expected}");
    let mut texts: Vec<&str> = written.iter().map(|n| n[0].as_str().unwrap()).collect();
    texts.sort();
    assert_eq!(texts, ["a3", "b3"]);
    for note in &written {
        assert_eq!(note[1].as_array().unwrap().len(), 4, "every tag: {note}");
    }

    // C gets the whole interleaved history of both authors at once, newest first: it is
    // released in causal order and applied in runs, each run one author's.
    let applied = catch_up(b, c, &context, true);
    assert!(applied >= 8, "{applied} deltas applied");
    assert_eq!(notes(c, &context), expected);
    let root = a.heads(&context).unwrap().0;
    assert_eq!(b.heads(&context).unwrap().0, root);
    assert_eq!(c.heads(&context).unwrap().0, root);
    let (recorded, recomputed) = c.verify_root(&context).unwrap();
    assert_eq!(recorded, recomputed);
}
