//! The bad-input matrix: each case gets its documented error, changes no state, and the next
//! valid call succeeds.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use calimero_tests::node::TestNode;
use serde_json::{Value, json};

fn kv_store() -> &'static [u8] {
    static MODULE: OnceLock<Vec<u8>> = OnceLock::new();
    MODULE.get_or_init(|| calimero_tests::build_app("kv-store"))
}

/// A hand-written hostile app: `init` commits an empty state, `spin` never ends, `hog` grows
/// memory until refused and then traps, `fill` rewrites 64 KiB per gas unit forever (only the
/// deadline stops it).
fn hostile() -> Vec<u8> {
    wat::parse_str(r#"(module
        (import "env" "commit" (func $commit (param i64 i64)))
        (memory (export "memory") 1)
        (data (i32.const 0) "\40\00\00\00\00\00\00\00\20\00\00\00\00\00\00\00")
        (func (export "init") (call $commit (i64.const 0) (i64.const 16)))
        (func (export "spin") (loop $l (br $l)))
        (func (export "fill") (loop $l (memory.fill (i32.const 0) (i32.const 0) (i32.const 65536)) (br $l)))
        (func (export "hog") (loop $g (br_if $g (i32.ne (memory.grow (i32.const 16)) (i32.const -1)))) unreachable))"#)
    .unwrap()
}

struct Setup {
    node: TestNode,
    context: String,
    root: Value,
}

fn setup() -> Setup {
    let node = TestNode::start(env!("CARGO_BIN_EXE_merod").as_ref());
    let app = node.install(kv_store());
    let context = node.create_context(&app);
    node.call(&context, "set", json!({"key": "kept", "value": "safe"}))
        .unwrap();
    let root = root(&node, &context);
    Setup {
        node,
        context,
        root,
    }
}

fn root(node: &TestNode, context: &str) -> Value {
    node.admin("GET", &format!("/admin-api/contexts/{context}"), None)
        .1["data"]["rootHash"]
        .clone()
}

impl Setup {
    /// Nothing changed, and a valid call still works.
    fn still_fine(&self) {
        assert_eq!(
            root(&self.node, &self.context),
            self.root,
            "the state root moved"
        );
        assert_eq!(
            self.node.call(&self.context, "get", json!({"key": "kept"})),
            Ok(json!("safe"))
        );
        assert_eq!(
            self.node
                .call(&self.context, "set", json!({"key": "after", "value": "ok"})),
            Ok(Value::Null)
        );
    }
}

fn install_error(node: &TestNode, module: Vec<u8>) -> (u16, String) {
    let (status, value) = node.post_raw(
        "/admin-api/install-application",
        Some(&node.token),
        module,
        "application/wasm",
    );
    (
        status,
        value["error"].as_str().unwrap_or_default().to_owned(),
    )
}

#[test]
fn a_file_that_is_not_wasm() {
    let s = setup();
    let (status, error) = install_error(&s.node, b"#!/bin/sh\necho hi\n".to_vec());
    assert_eq!(status, 400);
    assert!(error.contains("not a WebAssembly module"), "{error}");
    assert_eq!(
        s.node.admin("GET", "/admin-api/applications", None).1["data"]["apps"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    s.still_fine();
}

#[test]
fn a_module_importing_an_unknown_function() {
    let s = setup();
    let module = wat::parse_str(r#"(module (import "env" "format_disk" (func (param i64))) (memory (export "memory") 1) (func (export "init")))"#).unwrap();
    let (status, error) = install_error(&s.node, module);
    assert_eq!(status, 400);
    assert!(
        error.contains("does not link") && error.contains("env.format_disk"),
        "{error}"
    );
    s.still_fine();
}

#[test]
fn a_module_exporting_start() {
    let s = setup();
    let module =
        wat::parse_str(r#"(module (memory (export "memory") 1) (func (export "_start")))"#)
            .unwrap();
    let (status, error) = install_error(&s.node, module);
    assert_eq!(status, 400);
    assert!(
        error.contains("`_start`") && error.contains("cdylib"),
        "{error}"
    );
    s.still_fine();
}

#[test]
fn an_unknown_method() {
    let s = setup();
    let error = s.node.call(&s.context, "launch", json!({})).unwrap_err();
    // The category, the kind, then the one-line message (method first) client libraries show,
    // and the details.
    assert_eq!(error["type"], "MethodResolutionError");
    assert_eq!(error["data"]["type"], "MethodNotFound");
    let shown = error["data"]["data"]["type"].as_str().unwrap();
    assert!(
        shown.starts_with("launch: method `launch` not found"),
        "{shown}"
    );
    assert_eq!(error["data"]["data"]["method"], "launch");
    assert_eq!(
        error["data"]["data"]["detail"],
        json!({"type": "MethodNotFound", "data": {"name": "launch"}})
    );
    s.still_fine();
}

#[test]
fn an_invalid_method_name() {
    let s = setup();
    let error = s
        .node
        .call(&s.context, "drop table;", json!({}))
        .unwrap_err();
    assert_eq!(error["type"], "MethodResolutionError");
    assert_eq!(error["data"]["type"], "InvalidMethodNameCharacter");
    let error = s
        .node
        .call(&s.context, &"x".repeat(300), json!({}))
        .unwrap_err();
    assert_eq!(error["data"]["type"], "MethodNameTooLong");
    s.still_fine();
}

#[test]
fn malformed_json() {
    let s = setup();
    let (status, value) = s.node.post_raw(
        "/jsonrpc",
        Some(&s.node.token),
        b"{\"jsonrpc\": \"2.0\", \"method\": ".to_vec(),
        "application/json",
    );
    assert_eq!(status, 200);
    assert_eq!(value["error"]["type"], "ParseError");
    let message = |response: &Value| {
        response["error"]["data"]["data"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    assert!(message(&value).contains("not valid JSON"), "{value}");
    let response = s.node.rpc("execute", json!({"method": "get"}));
    assert!(message(&response).contains("contextId"), "{response}");
    let response = s.node.rpc("teleport", json!({"contextId": s.context}));
    assert!(
        message(&response).contains("unknown JSON-RPC method `teleport`"),
        "{response}"
    );
    s.still_fine();
}

#[test]
fn arguments_of_the_wrong_shape() {
    let s = setup();
    for args in [
        json!({"key": 5, "value": "x"}),
        json!(["kept", "x"]),
        json!({"key": "kept"}),
    ] {
        let error = s.node.call(&s.context, "set", args).unwrap_err();
        assert_eq!(error["type"], "HostError");
        let message = error["data"]["data"]["detail"]["data"]["message"]
            .as_str()
            .unwrap();
        assert!(
            message.starts_with("set: ")
                && message.contains(r#"{ "key": String, "value": String }"#),
            "{message}"
        );
    }
    s.still_fine();
}

#[test]
fn an_app_that_panics() {
    let s = setup();
    let error = s
        .node
        .call(&s.context, "get_unchecked", json!({"key": "absent"}))
        .unwrap_err();
    assert_eq!(error["type"], "HostError");
    assert_eq!(error["data"]["type"], "Panic");
    let panic = &error["data"]["data"]["detail"]["data"];
    assert_eq!(panic["context"], "Guest");
    assert_eq!(panic["message"], "key not found");
    assert!(
        panic["location"]["file"]
            .as_str()
            .unwrap()
            .ends_with("kv-store/src/lib.rs")
    );
    s.still_fine();
}

#[test]
fn an_app_that_loops_forever() {
    let s = setup();
    let app = s.node.install(&hostile());
    let context = s.node.create_context(&app);
    let started = Instant::now();
    let error = s.node.call(&context, "spin", json!({})).unwrap_err();
    assert_eq!(error["type"], "GasExhausted");
    assert_eq!(
        error["data"]["data"]["detail"],
        json!({"limit": 1_000_000_000})
    );
    assert!(started.elapsed() < Duration::from_secs(60));
    s.still_fine();
}

#[test]
fn an_app_that_runs_past_its_deadline_while_another_context_answers() {
    let s = setup();
    let app = s.node.install(&hostile());
    let context = s.node.create_context(&app);
    std::thread::scope(|scope| {
        let started = Instant::now();
        let hostile = scope.spawn(|| s.node.call(&context, "fill", json!({})));
        std::thread::sleep(Duration::from_millis(500));
        // The other context answers while the hostile call still holds its own.
        let asked = Instant::now();
        assert_eq!(
            s.node.call(&s.context, "get", json!({"key": "kept"})),
            Ok(json!("safe"))
        );
        assert!(
            asked.elapsed() < Duration::from_secs(2),
            "{:?}",
            asked.elapsed()
        );
        assert!(!hostile.is_finished(), "the hostile call is still running");
        let error = hostile.join().unwrap().unwrap_err();
        assert_eq!(error["type"], "DeadlineExceeded");
        assert_eq!(error["data"]["data"]["detail"], json!({"limit_ms": 5000}));
        let took = started.elapsed();
        assert!(took < Duration::from_secs(15), "{took:?}");
    });
    s.still_fine();
}

#[test]
fn shutdown_waits_only_for_the_deadline_of_a_running_call() {
    let mut s = setup();
    let app = s.node.install(&hostile());
    let context = s.node.create_context(&app);
    let node = &mut s.node;
    let (url, token) = (node.url.clone(), node.token.clone());
    let call = std::thread::spawn(move || {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": "execute",
            "params": {"contextId": context, "method": "fill", "argsJson": {}}});
        ureq::post(format!("{url}/jsonrpc"))
            .header("Authorization", &format!("Bearer {token}"))
            .send_json(body)
            .ok()
            .and_then(|r| r.into_body().read_json::<Value>().ok())
    });
    std::thread::sleep(Duration::from_millis(500));
    let stopping = Instant::now();
    node.stop();
    let took = stopping.elapsed();
    assert!(took < Duration::from_secs(10), "stopping took {took:?}");
    // The call was answered with the deadline error before the node went away.
    let answer = call
        .join()
        .unwrap()
        .expect("the running call got an answer");
    assert_eq!(answer["error"]["type"], "DeadlineExceeded", "{answer}");
    node.run();
    s.still_fine();
}

#[test]
fn a_reserved_export_cannot_be_called_over_json_rpc() {
    let s = setup();
    for method in ["__calimero_sync_next", "__calimero_register_merge"] {
        let error = s.node.call(&s.context, method, json!({})).unwrap_err();
        assert_eq!(error["type"], "MethodResolutionError");
        assert_eq!(
            error["data"]["data"]["detail"],
            json!({"type": "ReservedMethod", "data": {"name": method}})
        );
    }
    s.still_fine();
}

#[test]
fn install_dev_application_refuses_what_is_not_a_bounded_module_file() {
    let s = setup();
    let dir = tempfile::tempdir().unwrap();
    let huge = dir.path().join("huge.wasm");
    // Sparse: 21 MiB on paper, nothing on disk.
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(21 << 20)
        .unwrap();
    for (path, expected) in [
        (
            huge.to_str().unwrap(),
            "modules may be at most 20971520 bytes",
        ),
        ("/dev/zero", "is not a regular file"),
        (dir.path().to_str().unwrap(), "is not a regular file"),
    ] {
        let (status, value) = s.node.admin(
            "POST",
            "/admin-api/install-dev-application",
            Some(json!({"path": path})),
        );
        assert_eq!(status, 400, "{value}");
        let error = value["error"].as_str().unwrap_or_default();
        assert!(error.contains(expected), "{path}: {error}");
    }
    s.still_fine();
}

#[test]
fn an_app_that_grows_memory_without_bound() {
    let s = setup();
    let app = s.node.install(&hostile());
    let context = s.node.create_context(&app);
    let error = s.node.call(&context, "hog", json!({})).unwrap_err();
    assert_eq!(error["type"], "WasmTrap", "{error}");
    s.still_fine();
}

#[test]
fn oversized_args_json() {
    let s = setup();
    let huge = "x".repeat(11 * 1024 * 1024);
    let error = s
        .node
        .call(&s.context, "set", json!({"key": "big", "value": huge}))
        .unwrap_err();
    assert_eq!(error["type"], "ParseError");
    assert!(
        error["data"]["data"]["message"]
            .as_str()
            .unwrap()
            .contains("the limit is 10485760"),
        "{error}"
    );
    s.still_fine();
}

#[test]
fn a_missing_or_wrong_token() {
    let s = setup();
    let body = serde_json::to_vec(&json!({"jsonrpc": "2.0", "id": 1, "method": "execute", "params": {"contextId": s.context, "method": "set", "argsJson": {"key": "kept", "value": "stolen"}}})).unwrap();
    let (status, value) = s
        .node
        .post_raw("/jsonrpc", None, body.clone(), "application/json");
    assert_eq!(status, 401);
    assert!(
        value["error"]
            .as_str()
            .unwrap()
            .contains("missing `Authorization: Bearer <token>`")
    );
    let (status, value) =
        s.node
            .post_raw("/jsonrpc", Some("not-the-token"), body, "application/json");
    assert_eq!(status, 401);
    assert!(value["error"].as_str().unwrap().contains("wrong"));
    // A small body: the node answers 401 before reading an upload and may close the connection
    // while a large one is still being sent.
    let (status, _) = s.node.post_raw(
        "/admin-api/install-application",
        Some("nope"),
        b"\0asm\x01\0\0\0".to_vec(),
        "application/wasm",
    );
    assert_eq!(status, 401);
    // Health needs no token.
    let (status, _) = s
        .node
        .post_raw("/admin-api/health", None, Vec::new(), "application/json");
    assert_ne!(status, 401);
    s.still_fine();
}

#[test]
fn unknown_contexts_and_applications() {
    let s = setup();
    let missing = "11111111111111111111111111111111";
    assert_eq!(
        s.node.call(missing, "get", json!({})).unwrap_err()["type"],
        "ContextNotFound"
    );
    let (status, _) = s.node.admin(
        "POST",
        "/admin-api/contexts",
        Some(json!({"applicationId": missing})),
    );
    assert_eq!(status, 404);
    let (status, value) = s.node.admin("GET", "/admin-api/contexts/not-base58!", None);
    assert_eq!(status, 400, "{value}");
    s.still_fine();
}
