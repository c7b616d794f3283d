//! Crash safety: `kill -9` during a burst of concurrent `set` calls loses no acknowledged call
//! and leaves no torn state.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use calimero_tests::node::TestNode;
use serde_json::json;

#[test]
fn kill_9_during_a_burst_loses_no_acknowledged_write() {
    let module = calimero_tests::build_app("kv-store");
    let mut node = TestNode::start(env!("CARGO_BIN_EXE_merod").as_ref());
    let app = node.install(&module);
    let context = node.create_context(&app);

    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for client in 0..4 {
        let (url, token, context) = (node.url.clone(), node.token.clone(), context.clone());
        let (acknowledged, stop) = (acknowledged.clone(), stop.clone());
        clients.push(std::thread::spawn(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .timeout_global(Some(Duration::from_secs(10)))
                .build()
                .into();
            for n in 0.. {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let key = format!("c{client}-{n}");
                let body = json!({"jsonrpc": "2.0", "id": n, "method": "execute",
                    "params": {"contextId": context, "method": "set", "argsJson": {"key": key, "value": "v"}}});
                let Ok(mut response) = agent
                    .post(format!("{url}/jsonrpc"))
                    .header("Authorization", format!("Bearer {token}"))
                    .send_json(&body)
                else {
                    break;
                };
                let Ok(answer) = response.body_mut().read_json::<serde_json::Value>() else { break };
                if answer.get("result").is_some() {
                    acknowledged.lock().unwrap().push(key);
                }
            }
        }));
    }
    // Let the burst run until a few hundred writes are acknowledged, then pull the plug.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while acknowledged.lock().unwrap().len() < 300 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    node.kill();
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.join().unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(
        acknowledged.len() >= 300,
        "the burst only got {} writes through",
        acknowledged.len()
    );

    // Offline: the recorded root equals the root recomputed from the stored entities.
    let verify = std::process::Command::new(env!("CARGO_BIN_EXE_merod"))
        .arg("--home")
        .arg(node.home())
        .args(["--node", "n1", "verify"])
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "torn state: {}",
        String::from_utf8_lossy(&verify.stdout)
    );

    node.run();
    let entries = node.call(&context, "entries", json!({})).unwrap();
    let entries = entries.as_object().unwrap();
    for key in &acknowledged {
        assert!(
            entries.contains_key(key),
            "acknowledged write {key} was lost"
        );
    }
    assert_eq!(
        node.call(&context, "set", json!({"key": "after", "value": "crash"})),
        Ok(serde_json::Value::Null)
    );
}
