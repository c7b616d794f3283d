//! User and shared storage on real nodes: a node applies a peer's delta as the delta's author
//! (whose signature it checked), so each member's writes to its own slot, and a writer's writes
//! to a shared value, reach every replica, also when deltas of several authors arrive together
//! and are applied in batches; a non-writer's call is refused on its own node.

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

/// Three nodes holding one context, all caught up.
fn three_nodes() -> (Vec<(Arc<Node>, tempfile::TempDir)>, ContextId) {
    let dir = tempfile::tempdir().unwrap();
    let a = open(dir.path());
    let app = a.install_application(module(), "test").unwrap();
    let (context, _) = a.create_context(&app, b"{}".to_vec()).unwrap();
    let mut nodes = vec![(a.clone(), dir)];
    for i in 0..2 {
        let dir = tempfile::tempdir().unwrap();
        let node = open(dir.path());
        node.install_application(module(), "test").unwrap();
        let peer = format!("peer-{i}");
        join_in_process(&a, &node, &context, &peer).unwrap();
        sync_in_process(&a, &node, &context, &peer).unwrap();
        nodes.push((node, dir));
    }
    catch_up(&a, &nodes[1].0, &context, false);
    (nodes, context)
}

fn call(node: &Node, context: &ContextId, method: &str, args: Value) -> Result<Value, String> {
    node.execute(context, method, args.to_string().into_bytes())
        .map(|done| done.output)
        .map_err(|error| error.to_string())
}

fn snapshot(node: &Node, context: &ContextId) -> Value {
    call(node, context, "snapshot", json!({})).unwrap()
}

#[test]
fn a_shared_value_takes_writes_from_its_writers_only_and_follows_rotations_everywhere() {
    let (nodes, context) = three_nodes();
    let (a, b, c) = (&nodes[0].0, &nodes[1].0, &nodes[2].0);
    let account = |node: &Node| -> String {
        call(node, &context, "me", json!({}))
            .unwrap()
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (ha, hb) = (account(a), account(b));

    // B is no writer yet: refused on its own node, nothing published.
    let error = call(b, &context, "crew_add", json!({"tag": "b0"})).unwrap_err();
    assert!(error.contains("is not one of them"), "{error}");
    call(a, &context, "crew_add", json!({"tag": "a0"})).unwrap();
    call(
        a,
        &context,
        "crew_rotate",
        json!({"writers": [ha.clone(), hb.clone()]}),
    )
    .unwrap();
    catch_up(a, b, &context, false);
    call(b, &context, "crew_add", json!({"tag": "b1"})).unwrap();
    // A then removes B; B's write was concurrent with nothing, so it stays.
    catch_up(b, a, &context, false);
    call(a, &context, "crew_rotate", json!({"writers": [ha.clone()]})).unwrap();
    catch_up(a, b, &context, false);
    let error = call(b, &context, "crew_add", json!({"tag": "b2"})).unwrap_err();
    assert!(error.contains("is not one of them"), "{error}");

    catch_up(a, c, &context, true);
    for node in [a, b, c] {
        let view = snapshot(node, &context);
        assert_eq!(view["crew"], json!(["a0", "b1"]), "{view}");
        assert_eq!(view["crew_writers"], json!([ha]), "{view}");
    }
    let root = a.heads(&context).unwrap().0;
    assert_eq!(c.heads(&context).unwrap().0, root);
}

#[test]
fn each_member_s_slot_reaches_every_replica_through_batched_mixed_author_deltas() {
    let (nodes, context) = three_nodes();
    let (a, b, c) = (&nodes[0].0, &nodes[1].0, &nodes[2].0);

    // A and B take turns writing their own notes, each seeing the other's first.
    for round in 0..4 {
        write(a, &context, &format!("a{round}"), &format!("ta{round}"));
        catch_up(a, b, &context, false);
        write(b, &context, &format!("b{round}"), &format!("tb{round}"));
        catch_up(b, a, &context, false);
    }
    let expected = notes(a, &context);
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
