//! Moving a context to a new version of its app on real nodes: the upgrading node runs the
//! migration and publishes an `Upgrade` delta; every member applies it with the new module and
//! runs the new version from then on; a write made with the old version concurrently with the
//! upgrade converges in either order; a member without the new version waits for it and fetches
//! it from a peer at its next sync.

use std::sync::Arc;

use calimero_node::metrics::Counter;
use calimero_node::testing::{join_in_process, sync_in_process};
use calimero_node::{Node, NodeError};
use calimero_runtime::Limits;
use calimero_wire::{ApplicationId, ContextId, DeltaEnvelope};
use serde_json::{Value, json};

fn v1() -> &'static [u8] {
    static MODULE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    MODULE.get_or_init(|| calimero_tests::build_app("kv-store"))
}

fn v2() -> &'static [u8] {
    static MODULE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    MODULE.get_or_init(|| calimero_tests::build_app("kv-store-v2"))
}

fn open(dir: &std::path::Path) -> Arc<Node> {
    Arc::new(Node::open(&dir.join("data"), &dir.join("compiled"), Limits::default()).unwrap())
}

fn call(node: &Node, context: &ContextId, method: &str, args: Value) -> Result<Value, String> {
    node.execute(context, method, args.to_string().into_bytes())
        .map(|done| done.output)
        .map_err(|error| error.to_string())
}

/// Every delta `from` has that `to` has not, in the order `from` applied them.
fn catch_up(from: &Node, to: &Node, context: &ContextId) -> usize {
    let (_, known) = to.heads(context).unwrap();
    let (chain, _) = from.deltas_since(context, &known, usize::MAX).unwrap();
    let chain: Vec<DeltaEnvelope> = chain;
    to.receive_deltas(chain)
}

fn root(node: &Node, context: &ContextId) -> String {
    node.heads(context).unwrap().0.to_string()
}

fn application(node: &Node, context: &ContextId) -> String {
    let info = node
        .contexts()
        .unwrap()
        .into_iter()
        .find(|c| c.id == *context)
        .unwrap();
    info.application_id.to_string()
}

#[test]
fn an_upgrade_reaches_every_member_and_concurrent_old_writes_converge() {
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let nodes: Vec<Arc<Node>> = dirs.iter().map(|d| open(d.path())).collect();
    let (a, b, c) = (&nodes[0], &nodes[1], &nodes[2]);
    let app_v1 = a.install_application(v1(), "test").unwrap();
    let (context, _) = a.create_context(&app_v1, b"{}".to_vec()).unwrap();
    for (i, node) in [b, c].into_iter().enumerate() {
        node.install_application(v1(), "test").unwrap();
        let peer = format!("peer-{i}");
        join_in_process(a, node, &context, &peer).unwrap();
        sync_in_process(a, node, &context, &peer).unwrap();
    }
    call(a, &context, "set", json!({"key": "k1", "value": "one"})).unwrap();
    catch_up(a, b, &context);
    catch_up(a, c, &context);

    // `b` writes with v1 while `a` upgrades: neither has seen the other's change.
    call(b, &context, "set", json!({"key": "k2", "value": "two"})).unwrap();
    let app_v2: ApplicationId = a.install_application(v2(), "test").unwrap();
    b.install_application(v2(), "test").unwrap();
    let report = a.upgrade_context(&context, &app_v2).unwrap();
    assert_eq!(report.migration.as_deref(), Some("migrate_v1_to_v2"));
    assert_eq!((report.from_version, report.to_version), (1, 2));
    assert_eq!(application(a, &context), app_v2.to_string());
    assert_eq!(
        call(a, &context, "label", json!({})).unwrap(),
        json!("migrated from v1")
    );
    call(a, &context, "set", json!({"key": "k3", "value": "three"})).unwrap();

    // Each receives the other's: `b` the upgrade after its own v1 write, `a` that write after
    // its upgrade.
    assert!(catch_up(a, b, &context) >= 2);
    assert!(catch_up(b, a, &context) >= 1);
    assert_eq!(application(b, &context), app_v2.to_string());
    assert_eq!(root(a, &context), root(b, &context));
    for node in [a, b] {
        assert_eq!(call(node, &context, "len", json!({})).unwrap(), json!(3));
        assert_eq!(
            call(node, &context, "get", json!({"key": "k2"})).unwrap(),
            json!("two")
        );
        assert_eq!(call(node, &context, "writes", json!({})).unwrap(), json!(1));
    }

    // `c` has not installed v2: the upgrade and what follows it wait, and `c` stays on v1.
    catch_up(a, c, &context);
    assert_eq!(application(c, &context), app_v1.to_string());
    assert!(c.metrics.get(Counter::DeltasDeferredMissingApplication) >= 1);
    assert_eq!(c.wanted_application(&context), Some(app_v2));
    assert!(call(c, &context, "label", json!({})).is_err());
    // Its next sync session fetches the new version from the peer, then the deltas.
    let report = sync_in_process(a, c, &context, "peer-1").unwrap();
    assert!(report.applied >= 1, "{report:?}");
    assert!(c.has_application(&app_v2).unwrap());
    assert_eq!(c.wanted_application(&context), None);
    assert_eq!(application(c, &context), app_v2.to_string());
    assert_eq!(root(c, &context), root(a, &context));
    assert_eq!(
        call(c, &context, "get", json!({"key": "k3"})).unwrap(),
        json!("three")
    );
}

#[test]
fn an_upgrade_that_cannot_apply_is_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let node = open(dir.path());
    let app_v1 = node.install_application(v1(), "test").unwrap();
    let app_v2 = node.install_application(v2(), "test").unwrap();
    let (context, _) = node.create_context(&app_v1, b"{}".to_vec()).unwrap();
    call(&node, &context, "set", json!({"key": "k", "value": "v"})).unwrap();
    let before = root(&node, &context);

    let same = node.upgrade_context(&context, &app_v1).unwrap_err();
    assert!(matches!(same, NodeError::Conflict(_)), "{same}");
    let missing = ApplicationId::new([9; 32]);
    assert!(matches!(
        node.upgrade_context(&context, &missing),
        Err(NodeError::ApplicationNotInstalled(_))
    ));
    assert_eq!(root(&node, &context), before);

    node.upgrade_context(&context, &app_v2).unwrap();
    // Back to v1: it declares no migration and reads version 1, not this version-2 state.
    let back = node.upgrade_context(&context, &app_v1).unwrap_err();
    assert!(
        back.to_string()
            .contains("the new version's state is version 1, the context's is 2"),
        "{back}"
    );
    assert_eq!(
        call(&node, &context, "get", json!({"key": "k"})).unwrap(),
        json!("v")
    );
}
