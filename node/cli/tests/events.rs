//! Events in real time against real `merod` processes on loopback: a WebSocket client and an
//! SSE client on node B receive the events of a `set` made on node A, in the documented shape,
//! and nothing more once unsubscribed; a WebSocket client that never reads is closed while
//! another keeps receiving every event and the calls all complete; event handlers run on every
//! member but the author and their counts converge; CORS preflight is answered without a token.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::sync::OnceLock;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use calimero_tests::node::TestNode;
use serde_json::{Value, json};
use tungstenite::client::IntoClientRequest;
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

fn module(app: &str) -> Vec<u8> {
    static KV: OnceLock<Vec<u8>> = OnceLock::new();
    static HANDLERS: OnceLock<Vec<u8>> = OnceLock::new();
    match app {
        "kv-store" => KV.get_or_init(|| calimero_tests::build_app(app)).clone(),
        _ => HANDLERS
            .get_or_init(|| calimero_tests::build_app("kv-store-with-handlers"))
            .clone(),
    }
}

fn merod() -> &'static std::path::Path {
    env!("CARGO_BIN_EXE_merod").as_ref()
}

fn fast_node() -> TestNode {
    TestNode::start_with(
        merod(),
        &["--sync-interval-ms", "500", "--heartbeat-ms", "500"],
        &[],
    )
}

/// `nodes[0]` creates a context of `app`; the others join it.
fn network_of(nodes: &[&TestNode], app: &str) -> String {
    let application = nodes[0].install(&module(app));
    let context = nodes[0].create_context(&application);
    for node in &nodes[1..] {
        let report = node.join(&nodes[0].invite(&context));
        assert!(report["sync"].get("Ok").is_some(), "join failed: {report}");
    }
    context
}

type Socket = WebSocket<MaybeTlsStream<TcpStream>>;

/// A WebSocket client of `node`, authenticated with its admin token.
fn connect(node: &TestNode) -> Socket {
    let url = format!("{}/ws", node.url.replacen("http://", "ws://", 1));
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert(
        "Authorization",
        format!("Bearer {}", node.token).parse().unwrap(),
    );
    let (socket, response) = tungstenite::connect(request).expect("the WebSocket opens");
    assert_eq!(response.status(), 101);
    socket
}

fn set_timeout(socket: &Socket, timeout: Option<Duration>) {
    if let MaybeTlsStream::Plain(stream) = socket.get_ref() {
        stream.set_read_timeout(timeout).unwrap();
    }
}

fn send(socket: &mut Socket, message: Value) {
    socket.send(Message::text(message.to_string())).unwrap();
}

/// The next JSON text message, or `None` if none came within `timeout` or the socket ended.
fn next_json(socket: &mut Socket, timeout: Duration) -> Option<Value> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        set_timeout(socket, Some(left.max(Duration::from_millis(1))));
        match socket.read() {
            Ok(Message::Text(text)) => return Some(serde_json::from_str(&text).unwrap()),
            Ok(_) => continue,
            Err(_) => return None,
        }
    }
}

/// Subscribes to `context` and checks the reply.
fn subscribe(socket: &mut Socket, method: &str, context: &str) {
    send(
        socket,
        json!({"id": 7, "method": method, "params": {"contextIds": [context]}}),
    );
    let reply = next_json(socket, Duration::from_secs(10)).expect("a reply");
    assert_eq!(
        reply,
        json!({"id": 7, "result": {"contextIds": [context]}}),
        "{reply}"
    );
}

/// The payload of an event as the node pushes it: bytes of JSON.
fn event_data(event: &Value) -> Value {
    let bytes: Vec<u8> = serde_json::from_value(event["data"].clone()).expect("data is bytes");
    serde_json::from_slice(&bytes).expect("the bytes are JSON")
}

/// An SSE stream of `node`: its session id and a channel of the `data:` payloads.
fn sse(node: &TestNode) -> (String, mpsc::Receiver<Value>) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let response = agent
        .get(format!("{}/sse", node.url))
        .header("Authorization", &format!("Bearer {}", node.token))
        .call()
        .expect("GET /sse answers");
    assert_eq!(response.status(), 200);
    let session = response
        .headers()
        .get("x-sse-session-id")
        .and_then(|v| v.to_str().ok())
        .expect("a session id")
        .to_owned();
    let (sender, receiver) = mpsc::channel();
    let reader = response.into_body().into_reader();
    std::thread::spawn(move || {
        for line in BufReader::new(reader).lines().map_while(Result::ok) {
            if let Some(data) = line.strip_prefix("data: ")
                && let Ok(value) = serde_json::from_str::<Value>(data)
                && sender.send(value).is_err()
            {
                return;
            }
        }
    });
    (session, receiver)
}

#[test]
fn websocket_and_sse_subscribers_on_b_see_a_set_made_on_a_until_they_unsubscribe() {
    let (a, b) = (fast_node(), fast_node());
    let context = network_of(&[&a, &b], "kv-store");

    let mut ws = connect(&b);
    subscribe(&mut ws, "subscribe", &context);
    let (session, sse_events) = sse(&b);
    let connected = sse_events.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(connected["type"], "connect", "{connected}");
    assert_eq!(connected["session_id"], session.as_str());
    let (status, reply) = b.admin(
        "POST",
        "/sse/subscription",
        Some(json!({"id": session, "method": "subscribe", "params": {"contextIds": [context]}})),
    );
    assert_eq!(status, 200, "{reply}");

    a.call(
        &context,
        "set",
        json!({"key": "greeting", "value": "hello"}),
    )
    .unwrap();
    let push = next_json(&mut ws, Duration::from_secs(30)).expect("B pushes A's change");
    assert_eq!(push["id"], Value::Null, "{push}");
    let mutation = &push["result"];
    assert_eq!(mutation["contextId"], context.as_str(), "{push}");
    assert_eq!(mutation["type"], "StateMutation", "{push}");
    let events = mutation["data"]["events"].as_array().expect("events");
    assert_eq!(events.len(), 1, "{push}");
    assert_eq!(events[0]["kind"], "Inserted");
    assert_eq!(events[0]["handler"], Value::Null);
    assert_eq!(
        event_data(&events[0]),
        json!({"key": "greeting", "value": "hello"})
    );
    assert_eq!(mutation["data"]["newRoot"], b.root(&context).as_str());
    let via_sse = sse_events
        .recv_timeout(Duration::from_secs(30))
        .expect("the same change through SSE");
    assert_eq!(via_sse["result"], *mutation, "{via_sse}");

    // After unsubscribing, the WebSocket gets nothing more, while SSE shows that changes
    // kept coming.
    subscribe(&mut ws, "unsubscribe", &context);
    a.call(
        &context,
        "set",
        json!({"key": "greeting", "value": "again"}),
    )
    .unwrap();
    let later = sse_events
        .recv_timeout(Duration::from_secs(30))
        .expect("SSE still receives");
    assert_eq!(
        later["result"]["data"]["events"][0]["kind"], "Updated",
        "{later}"
    );
    assert_eq!(next_json(&mut ws, Duration::from_secs(2)), None);

    // `execute` over the socket, with the JSON-RPC error shapes.
    send(
        &mut ws,
        json!({"id": 9, "method": "execute", "params": {"contextId": context, "method": "get", "argsJson": {"key": "greeting"}}}),
    );
    let answer = next_json(&mut ws, Duration::from_secs(30)).unwrap();
    assert_eq!(answer, json!({"id": 9, "result": {"output": "again"}}));
    send(
        &mut ws,
        json!({"id": 10, "method": "execute", "params": {"contextId": context, "method": "nope"}}),
    );
    let refused = next_json(&mut ws, Duration::from_secs(30)).unwrap();
    assert_eq!(refused["id"], 10);
    assert!(refused["error"]["type"].is_string(), "{refused}");
    ws.send(Message::text("{not json")).unwrap();
    let garbage = next_json(&mut ws, Duration::from_secs(10)).unwrap();
    assert_eq!(garbage["error"]["type"], "ParseError", "{garbage}");
}

#[test]
fn a_subscriber_that_never_reads_is_closed_and_another_still_gets_every_event() {
    let node = fast_node();
    let application = node.install(&module("kv-store"));
    let context = node.create_context(&application);
    let mut stuck = connect(&node);
    subscribe(&mut stuck, "subscribe", &context);
    let mut reader = connect(&node);
    subscribe(&mut reader, "subscribe", &context);

    // The reader drains its socket on a thread; `stuck` is never read while the calls run.
    let (counted, count) = mpsc::channel();
    let reading = std::thread::spawn(move || {
        let mut seen = 0;
        while let Some(push) = next_json(&mut reader, Duration::from_secs(60)) {
            if push["result"]["type"] == "StateMutation" {
                seen += 1;
                let _ = counted.send(seen);
            }
        }
        seen
    });
    // Each push carries the value as a JSON array of bytes (about 48 KB here): far more than
    // the client queue and the socket buffers hold in all.
    let calls = 800;
    let value = "x".repeat(12 * 1024);
    for i in 0..calls {
        node.call(
            &context,
            "set",
            json!({"key": format!("k{i}"), "value": value}),
        )
        .unwrap_or_else(|e| panic!("call {i} failed: {e}"));
    }
    // Every call returned although `stuck` read nothing: publishing never waits for it.
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut seen = 0;
    while seen < calls && Instant::now() < deadline {
        if let Ok(n) = count.recv_timeout(Duration::from_secs(5)) {
            seen = n;
        }
    }
    assert_eq!(seen, calls, "the reading subscriber got every event");

    // `stuck` now reads what reached it: fewer than all the pushes, then the end.
    let mut pushes = 0;
    let mut close_reason = None;
    set_timeout(&stuck, Some(Duration::from_secs(30)));
    loop {
        match stuck.read() {
            Ok(Message::Text(_)) => pushes += 1,
            Ok(Message::Close(frame)) => {
                close_reason = frame.map(|f| f.reason.to_string());
                break;
            }
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                panic!("the stuck subscriber is still open after {pushes} pushes");
            }
            Err(_) => break,
        }
    }
    eprintln!("the stuck subscriber got {pushes} pushes, then {close_reason:?}");
    assert!(
        pushes < calls,
        "the stuck subscriber was cut off ({pushes} pushes)"
    );
    let reason = close_reason.expect("a close frame with the reason");
    assert!(reason.contains("too slow"), "{reason}");
    drop(reading);
}

#[test]
fn handlers_run_on_every_member_but_the_author_and_their_counts_converge() {
    let (a, b, c) = (fast_node(), fast_node(), fast_node());
    let context = network_of(&[&a, &b, &c], "kv-store-with-handlers");
    let mut ws = connect(&b);
    subscribe(&mut ws, "subscribe", &context);

    a.call(&context, "set", json!({"key": "k", "value": "v"}))
        .unwrap();
    // B pushes A's change with its handler name.
    let push = next_json(&mut ws, Duration::from_secs(30)).expect("a push");
    assert_eq!(
        push["result"]["data"]["events"][0]["handler"], "insert_handler",
        "{push}"
    );

    // The handler ran on B and on C (two runs), never on A; every member ends up counting 2.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let counts: Vec<Value> = [&a, &b, &c]
            .iter()
            .map(|n| n.call(&context, "handler_counts", json!({})).unwrap())
            .collect();
        if counts.iter().all(|c| *c == json!({"insert_handler": 2})) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "handler counts did not converge: {counts:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let ran = |node: &TestNode| node.counters()["handlers_run"].as_u64().unwrap_or(0);
    assert_eq!((ran(&a), ran(&b), ran(&c)), (0, 1, 1));
    let lines = b.call(&context, "get_handlers_called", json!({})).unwrap();
    assert_eq!(
        lines,
        json!([
            "insert_handler: key=k, value=v",
            "insert_handler: key=k, value=v"
        ])
    );
}

#[test]
fn cors_preflight_is_answered_without_a_token_and_answers_allow_other_origins() {
    let node = fast_node();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let preflight = agent
        .options(format!("{}/jsonrpc", node.url))
        .header("Origin", "http://localhost:5173")
        .header("Access-Control-Request-Method", "POST")
        .header(
            "Access-Control-Request-Headers",
            "authorization, content-type",
        )
        .call()
        .unwrap();
    assert_eq!(preflight.status(), 204);
    let header = |r: &ureq::http::Response<ureq::Body>, name: &str| {
        r.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(header(&preflight, "access-control-allow-origin"), "*");
    assert!(header(&preflight, "access-control-allow-headers").contains("authorization"));
    // A real request from that origin still needs its token, and its answer is readable.
    let refused = agent
        .post(format!("{}/jsonrpc", node.url))
        .header("Origin", "http://localhost:5173")
        .send(&b"{}"[..])
        .unwrap();
    assert_eq!(refused.status(), 401);
    assert_eq!(header(&refused, "access-control-allow-origin"), "*");
}

/// An SSE stream of `node`, resuming from `last_event_id` if given: its session id, whether
/// the node calls it a reconnect, and a channel of `(id, data)` for each event.
fn sse_from(
    node: &TestNode,
    last_event_id: Option<&str>,
) -> (String, bool, mpsc::Receiver<(Option<String>, Value)>) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut request = agent
        .get(format!("{}/sse", node.url))
        .header("Authorization", &format!("Bearer {}", node.token));
    if let Some(id) = last_event_id {
        request = request.header("Last-Event-ID", id);
    }
    let response = request.call().expect("GET /sse answers");
    assert_eq!(response.status(), 200);
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let (session, reconnect) = (
        header("x-sse-session-id"),
        header("x-sse-reconnect") == "true",
    );
    let (sender, receiver) = mpsc::channel();
    let reader = response.into_body().into_reader();
    std::thread::spawn(move || {
        // One event per block of fields, ended by an empty line.
        let (mut id, mut data) = (None, None);
        for line in BufReader::new(reader).lines().map_while(Result::ok) {
            if let Some(value) = line.strip_prefix("id: ") {
                id = Some(value.to_owned());
            } else if let Some(value) = line.strip_prefix("data: ") {
                data = serde_json::from_str::<Value>(value).ok();
            } else if line.is_empty() {
                if let Some(value) = data.take()
                    && sender.send((id.take(), value)).is_err()
                {
                    return;
                }
                id = None;
            }
        }
    });
    (session, reconnect, receiver)
}

#[test]
fn an_sse_client_resumes_with_last_event_id_and_gets_what_it_missed() {
    let node = fast_node();
    let application = node.install(&module("kv-store"));
    let context = node.create_context(&application);
    let (session, reconnect, events) = sse_from(&node, None);
    assert!(!reconnect);
    let (_, connected) = events.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(connected["type"], "connect");
    node.admin_ok(
        "POST",
        "/sse/subscription",
        Some(json!({"id": session, "method": "subscribe", "params": {"contextIds": [context]}})),
    );
    node.call(&context, "set", json!({"key": "a", "value": "1"}))
        .unwrap();
    let (id, first) = events.recv_timeout(Duration::from_secs(30)).unwrap();
    let id = id.expect("mutations carry an id");
    assert!(id.starts_with(&format!("{session}-")), "{id}");
    assert_eq!(first["result"]["data"]["events"][0]["kind"], "Inserted");
    drop(events);

    // Away: two more changes. Back with the last id seen: the same session, and both changes.
    node.call(&context, "set", json!({"key": "b", "value": "2"}))
        .unwrap();
    node.call(&context, "set", json!({"key": "a", "value": "3"}))
        .unwrap();
    let (again, reconnect, events) = sse_from(&node, Some(&id));
    assert_eq!((again.as_str(), reconnect), (session.as_str(), true));
    let (_, connected) = events.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(connected["reconnect"], true, "{connected}");
    let kinds: Vec<Value> = (0..2)
        .map(|_| {
            let (_, push) = events.recv_timeout(Duration::from_secs(30)).unwrap();
            let event = &push["result"]["data"]["events"][0];
            json!([event["kind"], event_data(event)])
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            json!(["Inserted", {"key": "b", "value": "2"}]),
            json!(["Updated", {"key": "a", "value": "3"}]),
        ]
    );
}

#[test]
fn a_read_only_token_in_the_query_subscribes_but_cannot_change_state_over_the_socket() {
    let node = fast_node();
    let application = node.install(&module("kv-store"));
    let context = node.create_context(&application);
    let minted = node.admin_ok(
        "POST",
        "/admin-api/token",
        Some(json!({"permissions": ["read"]})),
    );
    let read = minted["access_token"].as_str().unwrap();
    let base = node.url.replacen("http://", "ws://", 1);

    // As a browser connects: no header, the token in the query.
    let (mut socket, _) = tungstenite::connect(format!("{base}/ws?token={read}")).unwrap();
    let unknown = bs58::encode([1u8; 32]).into_string();
    send(
        &mut socket,
        json!({"id": 2, "method": "subscribe", "params": {"contextIds": [unknown]}}),
    );
    let refused = next_json(&mut socket, Duration::from_secs(10)).unwrap();
    assert_eq!(refused["error"]["type"], "ContextNotFound", "{refused}");
    subscribe(&mut socket, "subscribe", &context);
    send(
        &mut socket,
        json!({"id": 3, "method": "execute", "params": {"contextId": context, "method": "set", "argsJson": {"key": "k", "value": "v"}}}),
    );
    let refused = next_json(&mut socket, Duration::from_secs(30)).unwrap();
    assert_eq!(refused["error"]["type"], "Forbidden", "{refused}");
    node.call(&context, "set", json!({"key": "k", "value": "v"}))
        .unwrap();
    let push = next_json(&mut socket, Duration::from_secs(30)).expect("the admin's change");
    assert_eq!(push["result"]["data"]["events"][0]["kind"], "Inserted");

    // Without a token, or with a wrong one, the upgrade is refused.
    for url in [format!("{base}/ws"), format!("{base}/ws?token=nope")] {
        match tungstenite::connect(url.as_str()) {
            Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 401),
            other => panic!(
                "{url}: expected 401, got {:?}",
                other.map(|(_, r)| r.status())
            ),
        }
    }
}

#[test]
fn meroctl_context_watch_prints_changes_as_they_happen() {
    let node = fast_node();
    let application = node.install(&module("kv-store"));
    let context = node.create_context(&application);
    for format in ["json", "human"] {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_meroctl"))
            .args(["--api", &node.url, "--token", &node.token])
            .args(["--output-format", format, "context", "watch", &context])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("meroctl starts");
        let stdout = child.stdout.take().unwrap();
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    return;
                }
            }
        });
        // Write until the watcher (which may still be subscribing) prints a change.
        let deadline = Instant::now() + Duration::from_secs(30);
        let line = loop {
            node.call(&context, "set", json!({"key": format, "value": "seen"}))
                .unwrap();
            if let Ok(line) = lines.recv_timeout(Duration::from_millis(500)) {
                break line;
            }
            assert!(Instant::now() < deadline, "meroctl printed nothing");
        };
        let _ = child.kill();
        let _ = child.wait();
        if format == "json" {
            let push: Value = serde_json::from_str(&line).expect("one JSON push per line");
            assert_eq!(push["result"]["contextId"], context.as_str());
            assert_eq!(push["result"]["type"], "StateMutation");
        } else {
            assert!(line.starts_with("root "), "{line}");
            assert!(line.contains(r#"{"key":"human","value":"seen"}"#), "{line}");
        }
    }
}
