//! The kv-store web page (`apps/kv-store/web/index.html`) in headless Chromium, driven over the
//! DevTools protocol, against two real nodes: a `set` made on node A appears without a reload in
//! the page attached to node B. A screenshot of the page is kept under
//! `<target dir>/test-artifacts/web-page.png`.
//!
//! Needs Debian's `chromium` (installed by `scripts/setup.sh`); without it the test fails and
//! says so.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use calimero_tests::node::TestNode;
use serde_json::{Value, json};
use tungstenite::Message;

fn merod() -> &'static Path {
    env!("CARGO_BIN_EXE_merod").as_ref()
}

fn fast_node() -> TestNode {
    TestNode::start_with(
        merod(),
        &["--sync-interval-ms", "500", "--heartbeat-ms", "500"],
        &[],
    )
}

/// Serves one file over HTTP on loopback (the page must come from an http origin for the
/// browser to let it reach the node), on a thread; returns its URL.
fn serve_file(path: PathBuf) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let body = std::fs::read(&path).unwrap_or_default();
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        }
    });
    format!("http://{address}/index.html")
}

/// Headless Chromium with remote debugging; killed when dropped.
struct Browser {
    child: Child,
    _profile: tempfile::TempDir,
    /// The DevTools WebSocket of its first page.
    page: tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<std::net::TcpStream>>,
    next_id: u64,
}

impl Browser {
    fn start() -> Self {
        let profile = tempfile::tempdir().unwrap();
        let mut child = Command::new("chromium")
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                "--window-size=900,700",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("chromium runs (Debian package `chromium`; scripts/setup.sh installs it)");
        // Chromium prints its DevTools address on stderr.
        let stderr = child.stderr.take().unwrap();
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("DevTools listening on ") {
                    let _ = sender.send(url.trim().to_owned());
                }
            }
        });
        let browser_url = receiver
            .recv_timeout(Duration::from_secs(60))
            .expect("chromium reports its DevTools address");
        let port = browser_url
            .trim_start_matches("ws://")
            .split(['/', ':'])
            .nth(1)
            .unwrap()
            .to_owned();
        // The first page target's own WebSocket.
        let agent: ureq::Agent = ureq::Agent::config_builder().build().into();
        let targets: Value = agent
            .get(format!("http://127.0.0.1:{port}/json/list"))
            .call()
            .unwrap()
            .into_body()
            .read_json()
            .unwrap();
        let page_url = targets
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["type"] == "page")
            .and_then(|t| t["webSocketDebuggerUrl"].as_str())
            .expect("a page target")
            .to_owned();
        let (page, _) = tungstenite::connect(page_url.as_str()).unwrap();
        Self {
            child,
            _profile: profile,
            page,
            next_id: 1,
        }
    }

    /// Sends a DevTools command and returns its result.
    fn command(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.page
            .send(Message::text(
                json!({"id": id, "method": method, "params": params}).to_string(),
            ))
            .unwrap();
        loop {
            let Message::Text(text) = self.page.read().unwrap() else {
                continue;
            };
            let answer: Value = serde_json::from_str(&text).unwrap();
            if answer["id"] == json!(id) {
                assert!(answer.get("error").is_none(), "{method}: {answer}");
                return answer["result"].clone();
            }
        }
    }

    /// Evaluates `expression` in the page; its value.
    fn eval(&mut self, expression: &str) -> Value {
        let result = self.command(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true}),
        );
        result["result"]["value"].clone()
    }

    /// Waits until `expression` evaluates to `expected`.
    fn wait_for(&mut self, expression: &str, expected: &Value, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let value = self.eval(expression);
            if value == *expected {
                return;
            }
            if Instant::now() > deadline {
                let status = self.eval("document.getElementById('status').textContent");
                panic!("`{expression}` is {value}, not {expected} (page status: {status})");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_set_on_node_a_appears_live_in_the_page_attached_to_node_b() {
    let (a, b) = (fast_node(), fast_node());
    let application = a.install(&calimero_tests::build_app("kv-store"));
    let context = a.create_context(&application);
    let report = b.join(&a.invite(&context));
    assert!(report["sync"].get("Ok").is_some(), "join failed: {report}");
    a.call(&context, "set", json!({"key": "before", "value": "loaded"}))
        .unwrap();

    let page = serve_file(calimero_tests::workspace_root().join("apps/kv-store/web/index.html"));
    let mut browser = Browser::start();
    let url = format!("{page}?node={}&context={context}&token={}", b.url, b.token);
    browser.command("Page.enable", json!({}));
    browser.command("Page.navigate", json!({"url": url}));
    let live = "document.getElementById('status').className";
    browser.wait_for(live, &json!("live"), Duration::from_secs(60));
    let cell = |key: &str| {
        format!(
            "(document.querySelector('tr[data-key=\"{key}\"]') || {{cells: [0, {{}}]}}).cells[1].textContent || null"
        )
    };
    // What B had when the page loaded (synced from A), then A's new write, without a reload.
    browser.wait_for(&cell("before"), &json!("loaded"), Duration::from_secs(30));
    let navigations = browser.eval("performance.getEntriesByType('navigation').length");
    a.call(
        &context,
        "set",
        json!({"key": "live", "value": "from node A"}),
    )
    .unwrap();
    browser.wait_for(
        &cell("live"),
        &json!("from node A"),
        Duration::from_secs(30),
    );
    assert_eq!(
        browser.eval("performance.getEntriesByType('navigation').length"),
        navigations,
        "the page was not reloaded"
    );
    let log = browser.eval("document.getElementById('log').textContent");
    assert!(
        log.as_str().unwrap_or_default().contains("Inserted"),
        "the change log shows the event: {log}"
    );

    let shot = browser.command("Page.captureScreenshot", json!({"format": "png"}));
    let png = base64_decode(shot["data"].as_str().unwrap());
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
    let artifacts = calimero_tests::target_dir().join("test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    std::fs::write(artifacts.join("web-page.png"), png).unwrap();
}

/// Standard base64 (the screenshot's encoding).
fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut buffer, mut bits) = (0u32, 0);
    for byte in text.bytes().filter_map(value) {
        buffer = (buffer << 6) | byte;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    out
}
