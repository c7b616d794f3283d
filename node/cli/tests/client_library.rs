//! Calimero's published client library (`@calimero-network/calimero-client` 1.1.0, from npm) in
//! Node.js against a real node: `JsonRpcClient.execute` returns call results, reports an app
//! error and an unknown method with their kind and a message naming the method, and
//! `WsSubscriptionsClient` receives the `StateMutation` of a call.
//!
//! `scripts/setup.sh` installs the library into `tests/js-client/` (it needs Node.js and npm).

use std::process::Command;

use calimero_tests::node::TestNode;
use serde_json::{Value, json};

#[test]
fn calimero_client_library_calls_reads_errors_and_subscribes() {
    let dir = calimero_tests::workspace_root().join("tests/js-client");
    assert!(
        dir.join("calimero-client/lib/rpc/jsonrpc.js").exists()
            && dir.join("node_modules/ws").exists(),
        "the client library is not installed in {}: run scripts/setup.sh (needs npm)",
        dir.display()
    );
    let node = TestNode::start(env!("CARGO_BIN_EXE_merod").as_ref());
    let application = node.install(&calimero_tests::build_app("kv-store"));
    let context = node.create_context(&application);

    let output = Command::new("node")
        .arg(dir.join("client.mjs"))
        .env("NODE_URL", &node.url)
        .env("TOKEN", &node.token)
        .env("CONTEXT_ID", &context)
        .output()
        .expect("node (Node.js) runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the script failed: {stderr}");
    let out: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stdout)));

    assert_eq!(out["set"], json!({"result": {"output": null}}), "{out}");
    assert_eq!(out["get"], json!({"result": {"output": "hello"}}), "{out}");
    // The library turns `error.type`, `error.data.type` and `error.data.data.type` into the
    // error's name, its cause and the message it shows.
    let error = &out["appError"]["error"]["error"];
    assert_eq!(error["name"], "ExecutionError", "{out}");
    assert_eq!(error["cause"]["name"], "NotFound", "{out}");
    assert_eq!(
        error["cause"]["info"]["message"], "get_result: NotFound: missing",
        "{out}"
    );
    let error = &out["unknownMethod"]["error"]["error"];
    assert_eq!(error["name"], "MethodResolutionError", "{out}");
    assert_eq!(error["cause"]["name"], "MethodNotFound", "{out}");
    let message = error["cause"]["info"]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(
        message.starts_with("nope: method `nope` not found"),
        "{out}"
    );

    let event = &out["event"];
    assert_eq!(event["contextId"], context.as_str(), "{out}");
    assert_eq!(event["type"], "StateMutation", "{out}");
    let events = event["data"]["events"].as_array().expect("events");
    assert_eq!(events[0]["kind"], "Inserted", "{out}");
    let data: Vec<u8> = serde_json::from_value(events[0]["data"].clone()).unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&data).unwrap(),
        json!({"key": "watched", "value": "live"})
    );
}
