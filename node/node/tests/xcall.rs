//! Cross-context calls on one node: a context's `env::xcall` runs the named method in another
//! context this node holds, as the node's member there, with `env::xcall_origin()` set by the
//! node; only `#[app::xcall]` methods are reachable once an app marks any, `from_same_app`
//! refuses callers of another application, and chains stop at `MAX_XCALL_DEPTH`.

use calimero_node::{MAX_XCALL_DEPTH, Node, XCallOutcome, XCallReport};
use calimero_primitives::ContextId;
use calimero_runtime::Limits;
use serde_json::{Value, json};

fn module() -> &'static [u8] {
    static MODULE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    MODULE.get_or_init(|| calimero_tests::build_app("xcall"))
}

/// The same module with a custom section appended: another application, same code.
fn other_module() -> Vec<u8> {
    let mut bytes = module().to_vec();
    let name = b"another-app";
    bytes.extend_from_slice(&[0, (1 + name.len()) as u8, name.len() as u8]);
    bytes.extend_from_slice(name);
    bytes
}

fn counts(node: &Node, context: &ContextId) -> Value {
    node.execute(context, "counts", b"{}".to_vec())
        .unwrap()
        .output
}

fn ping(node: &Node, from: &ContextId, method: &str, to: String) -> Vec<XCallReport> {
    node.execute(from, method, json!({"target": to}).to_string().into_bytes())
        .unwrap()
        .xcalls
}

#[test]
fn xcalls_run_in_the_target_context_with_the_node_set_origin_and_are_gated() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::open(
        &dir.path().join("data"),
        &dir.path().join("compiled"),
        Limits::default(),
    )
    .unwrap();
    let app = node.install_application(module(), "test").unwrap();
    let (a, _) = node.create_context(&app, b"{}".to_vec()).unwrap();
    let (b, _) = node.create_context(&app, b"{}".to_vec()).unwrap();
    let text = |id: &ContextId| id.to_string();

    // A pings B: B's pong runs once, sees A as the origin, and counts.
    let reports = ping(&node, &a, "ping", text(&b));
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!((reports[0].from, reports[0].to), (a, b));
    assert_eq!(reports[0].function, "pong");
    assert_eq!(reports[0].depth, 1);
    assert_eq!(reports[0].outcome, XCallOutcome::Ran { ok: true });
    assert_eq!(counts(&node, &b), json!([1, 0, 0]));
    assert_eq!(counts(&node, &a), json!([0, 0, 0]));

    // A client calling pong directly has no origin: the app refuses.
    let direct = node.execute(
        &b,
        "pong",
        json!({"from": text(&a)}).to_string().into_bytes(),
    );
    let error = direct.expect_err("pong is xcall-only").to_string();
    assert!(error.contains("pong is only for xcalls"), "{error}");

    // `secret` is not #[app::xcall]: the node denies it and B is unchanged.
    let reports = ping(&node, &a, "ping_secret", text(&b));
    match &reports[0].outcome {
        XCallOutcome::Denied(reason) => {
            assert!(
                reason.contains("`secret` is not an #[app::xcall] method"),
                "{reason}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(counts(&node, &b), json!([1, 0, 0]));

    // A context of another application may not reach a from_same_app method.
    let other = node.install_application(&other_module(), "test").unwrap();
    assert_ne!(other, app);
    let (c, _) = node.create_context(&other, b"{}".to_vec()).unwrap();
    let reports = ping(&node, &c, "ping", text(&b));
    match &reports[0].outcome {
        XCallOutcome::Denied(reason) => assert!(reason.contains("from_same_app"), "{reason}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(counts(&node, &b), json!([1, 0, 0]));

    // A context this node does not hold.
    let unknown = ContextId::new([7; 32]);
    let reports = ping(&node, &a, "ping", text(&unknown));
    match &reports[0].outcome {
        XCallOutcome::Denied(reason) => {
            assert!(reason.contains("does not hold context"), "{reason}")
        }
        other => panic!("{other:?}"),
    }

    // relay calls itself through the node: executions at depths 0..=MAX run, the last one's
    // xcall is denied.
    let reports = node.execute(&a, "relay", b"{}".to_vec()).unwrap().xcalls;
    let ran = reports
        .iter()
        .filter(|r| r.outcome == XCallOutcome::Ran { ok: true })
        .count();
    assert_eq!(ran as u32, MAX_XCALL_DEPTH, "{reports:?}");
    assert!(matches!(
        reports.last().unwrap().outcome,
        XCallOutcome::Denied(_)
    ));
    assert_eq!(
        counts(&node, &a),
        json!([0, 0, u64::from(MAX_XCALL_DEPTH) + 1])
    );
}
