//! A real merod on a temporary home: install kv-store, create a context, call it through
//! JSON-RPC and through meroctl, restart, and find the state intact.

use std::process::Command;
use std::sync::OnceLock;

use calimero_tests::node::TestNode;
use serde_json::{Value, json};

fn kv_store() -> &'static [u8] {
    static MODULE: OnceLock<Vec<u8>> = OnceLock::new();
    MODULE.get_or_init(|| calimero_tests::build_app("kv-store"))
}

fn meroctl(node: &TestNode, args: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_meroctl"))
        .arg("--home")
        .arg(node.home())
        .args(["--node", "n1", "--api", &node.url])
        .args(args)
        .output()
        .expect("meroctl runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn kv_store_over_json_rpc_and_meroctl_survives_a_restart() {
    let mut node = TestNode::start(env!("CARGO_BIN_EXE_merod").as_ref());

    // Install from a path on the node (the dev route), as the operator's tools do.
    let module_path = node.home().join("kv_store.wasm");
    std::fs::write(&module_path, kv_store()).unwrap();
    let (status, installed) = node.admin(
        "POST",
        "/admin-api/install-dev-application",
        Some(json!({"path": module_path})),
    );
    assert_eq!(status, 200, "{installed}");
    let app = installed["data"]["applicationId"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, abi) = node.admin("GET", &format!("/admin-api/applications/{app}/abi"), None);
    assert_eq!(abi["data"]["state_root"], "KvStore");

    let context = node.create_context(&app);

    assert_eq!(
        node.call(&context, "set", json!({"key": "foo", "value": "bar"})),
        Ok(Value::Null)
    );
    assert_eq!(
        node.call(&context, "set", json!({"key": "baz", "value": "qux"})),
        Ok(Value::Null)
    );
    assert_eq!(
        node.call(&context, "get", json!({"key": "foo"})),
        Ok(json!("bar"))
    );
    assert_eq!(
        node.call(&context, "entries", json!({})),
        Ok(json!({"baz": "qux", "foo": "bar"}))
    );
    assert_eq!(
        node.call(&context, "remove", json!({"key": "baz"})),
        Ok(json!("qux"))
    );
    // An app error: its kind, a one-line message naming the method, and the app's error JSON.
    let error = node
        .call(&context, "get_result", json!({"key": "missing"}))
        .unwrap_err();
    assert_eq!(
        error,
        json!({"type": "ExecutionError", "data": {"type": "NotFound", "data": {
            "type": "get_result: NotFound: missing",
            "message": "NotFound: missing",
            "method": "get_result",
            "detail": {"kind": "NotFound", "data": "missing"}}}})
    );

    // The same through meroctl.
    let (ok, out, err) = meroctl(
        &node,
        &[
            "call",
            "set",
            "--context",
            &context,
            "--args",
            r#"{"key":"cli","value":"yes"}"#,
        ],
    );
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "null");
    let (ok, out, _) = meroctl(
        &node,
        &[
            "call",
            "get",
            "--context",
            &context,
            "--args",
            r#"{"key":"cli"}"#,
        ],
    );
    assert!(ok);
    assert_eq!(out.trim(), "\"yes\"");
    let (ok, out, _) = meroctl(
        &node,
        &[
            "--output-format",
            "json",
            "call",
            "entries",
            "--context",
            &context,
        ],
    );
    assert!(ok);
    let parsed: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(parsed["output"], json!({"cli": "yes", "foo": "bar"}));
    let (ok, _, err) = meroctl(
        &node,
        &[
            "call",
            "get_result",
            "--context",
            &context,
            "--args",
            r#"{"key":"missing"}"#,
        ],
    );
    assert!(!ok, "an app error exits non-zero");
    assert!(
        err.contains("ExecutionError") && err.contains("NotFound"),
        "{err}"
    );
    let (ok, out, _) = meroctl(&node, &["context", "ls"]);
    assert!(ok && out.contains(&context), "{out}");
    let (ok, out, _) = meroctl(&node, &["app", "ls"]);
    assert!(ok && out.contains(&app), "{out}");
    let (ok, out, _) = meroctl(&node, &["node", "status"]);
    assert!(
        ok && out.contains("alive, 1 application(s), 1 context(s)"),
        "{out}"
    );

    let (_, before) = node.admin("GET", &format!("/admin-api/contexts/{context}"), None);
    node.restart();
    let (_, after) = node.admin("GET", &format!("/admin-api/contexts/{context}"), None);
    assert_eq!(before["data"]["rootHash"], after["data"]["rootHash"]);
    assert_eq!(
        node.call(&context, "entries", json!({})),
        Ok(json!({"cli": "yes", "foo": "bar"}))
    );
    node.stop();

    let verify = Command::new(env!("CARGO_BIN_EXE_merod"))
        .arg("--home")
        .arg(node.home())
        .args(["--node", "n1", "verify"])
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
}

#[test]
fn meroctl_says_what_to_do_when_no_node_runs() {
    let home = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_meroctl"))
        .arg("--home")
        .arg(home.path())
        .args([
            "--node",
            "ghost",
            "--api",
            "http://127.0.0.1:9",
            "node",
            "status",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("no node at http://127.0.0.1:9: is merod running? start it with `merod --node ghost run`"), "{err}");
}

#[test]
fn merod_init_refuses_to_clobber_without_force() {
    let home = tempfile::tempdir().unwrap();
    let init = |force: bool| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_merod"));
        command
            .arg("--home")
            .arg(home.path())
            .args(["--node", "n1", "init", "--server-port", "0"]);
        if force {
            command.arg("--force");
        }
        command.output().unwrap()
    };
    assert!(init(false).status.success());
    let again = init(false);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("pass --force"));
    assert!(init(true).status.success());
}

#[test]
fn meroctl_upgrades_a_context_to_a_new_version_of_its_app() {
    let node = TestNode::start(env!("CARGO_BIN_EXE_merod").as_ref());
    let v1 = node.install(kv_store());
    let v2 = node.install(&calimero_tests::build_app("kv-store-v2"));
    let context = node.create_context(&v1);
    assert_eq!(
        node.call(&context, "set", json!({"key": "a", "value": "1"})),
        Ok(Value::Null)
    );
    assert!(node.call(&context, "label", json!({})).is_err());

    let (ok, stdout, stderr) = meroctl(&node, &["context", "upgrade", &context, &v2]);
    assert!(ok, "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!("context {context} now runs application {v2}"))
            && stdout.contains("ran migration `migrate_v1_to_v2` (state version 1 to 2)"),
        "{stdout}"
    );
    assert_eq!(
        node.call(&context, "label", json!({})),
        Ok(json!("migrated from v1"))
    );
    assert_eq!(
        node.call(&context, "get", json!({"key": "a"})),
        Ok(json!("1"))
    );

    // Back to v1 is refused, naming the versions; the context is unchanged.
    let (ok, stdout, stderr) = meroctl(&node, &["context", "upgrade", &context, &v1]);
    assert!(!ok, "{stdout}");
    assert!(
        stderr.contains("the new version's state is version 1, the context's is 2"),
        "{stderr}"
    );
    let (status, body) = node.admin(
        "POST",
        &format!("/admin-api/contexts/{context}/upgrade"),
        Some(json!({})),
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("applicationId"),
        "{body}"
    );
    assert_eq!(
        node.call(&context, "label", json!({})),
        Ok(json!("migrated from v1"))
    );
}
