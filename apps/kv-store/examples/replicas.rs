//! Two members of one context run kv-store on the native test host, write concurrently, swap
//! their deltas through `__calimero_sync_next`, and end with the same state root.
//!
//! `cargo run -p kv-store --example replicas`

use calimero_sdk::testing::TestApp;
use kv_store::KvStore;
use serde_json::json;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn main() {
    let context = [7; 32];
    let alice = TestApp::<KvStore>::with_member(context, [0xA1; 32]);
    alice.init(json!({})).expect("init runs");
    let genesis = alice.last_root().expect("init commits");
    println!("alice: init            root {}", hex(&genesis));

    let bob = TestApp::<KvStore>::with_member(context, [0xB0; 32]);
    bob.host().load_snapshot(alice.host().storage());
    println!("bob:   joins from alice's snapshot");

    let mut from_alice = Vec::new();
    let mut from_bob = Vec::new();
    for (who, key, value) in [
        ("alice", "greeting", "hello"),
        ("bob  ", "language", "rust"),
        ("alice", "colour", "blue"),
        ("bob  ", "colour", "green"),
    ] {
        let (app, out) = if who == "alice" {
            (&alice, &mut from_alice)
        } else {
            (&bob, &mut from_bob)
        };
        app.call("set", json!({"key": key, "value": value}))
            .expect("set works");
        let outcome = app.last();
        println!(
            "{who}: set {key:<9} = {value:<6} event {:<8} delta {:>3} bytes",
            outcome.events[0].kind,
            outcome.artifact.len()
        );
        out.push(outcome.artifact);
    }

    for artifact in &from_alice {
        bob.sync(artifact).expect("bob applies alice's delta");
    }
    for artifact in &from_bob {
        alice.sync(artifact).expect("alice applies bob's delta");
    }
    let (root_a, root_b) = (alice.last_root().unwrap(), bob.last_root().unwrap());
    println!("alice: after sync      root {}", hex(&root_a));
    println!("bob:   after sync      root {}", hex(&root_b));
    let entries_a = alice.call("entries", json!({})).unwrap();
    let entries_b = bob.call("entries", json!({})).unwrap();
    println!("alice: entries {entries_a}");
    println!("bob:   entries {entries_b}");
    assert_eq!(root_a, root_b, "replicas diverged");
    assert_eq!(entries_a, entries_b, "replicas answer differently");
    println!(
        "converged: same root, same entries (the concurrent `colour` writes resolved the same way on both)"
    );
}
