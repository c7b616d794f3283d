//! Real `merod` processes replicating a kv-store context over libp2p on loopback: joins through
//! invitations (open, and naming a key), concurrent writes converging, a stopped node catching
//! up, a late joiner bootstrapping from a snapshot with the module fetched from a peer, lost
//! gossip repaired by periodic sync, a node killed with SIGKILL mid-burst losing nothing, and an
//! upgrade to a new version of the app reaching a member that fetches the new module from a peer.

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use calimero_tests::node::TestNode;
use serde_json::{Value, json};

fn kv_store() -> &'static [u8] {
    static MODULE: OnceLock<Vec<u8>> = OnceLock::new();
    MODULE.get_or_init(|| calimero_tests::build_app("kv-store"))
}

fn merod() -> &'static std::path::Path {
    env!("CARGO_BIN_EXE_merod").as_ref()
}

/// A node that syncs every context twice a second and heartbeats as often, so tests that rely on
/// periodic sync finish quickly.
fn fast_node(run_args: &[&str]) -> TestNode {
    TestNode::start_with(
        merod(),
        &["--sync-interval-ms", "500", "--heartbeat-ms", "500"],
        run_args,
    )
}

fn entries(node: &TestNode, context: &str) -> BTreeMap<String, String> {
    let value = node
        .call(context, "entries", json!({}))
        .unwrap_or_else(|e| panic!("entries failed on {}: {e}", node.url));
    serde_json::from_value(value).expect("entries is a map of strings")
}

/// Waits until every node reports the same root for `context`; returns it. On timeout, fails
/// with every node's root and counters.
fn converge(nodes: &[&TestNode], context: &str, within: Duration) -> String {
    let deadline = Instant::now() + within;
    loop {
        let roots: Vec<String> = nodes.iter().map(|n| n.root(context)).collect();
        if roots.iter().all(|r| *r == roots[0]) && !roots[0].is_empty() {
            return roots[0].clone();
        }
        if Instant::now() > deadline {
            let report: Vec<Value> = nodes
                .iter()
                .map(|n| json!({"url": n.url, "root": n.root(context), "counters": n.counters()}))
                .collect();
            panic!(
                "no convergence within {within:?}: {}",
                serde_json::to_string_pretty(&report).unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A creates a kv-store context; every other node joins it with an open invitation.
fn network_of(nodes: &[&TestNode]) -> String {
    let app = nodes[0].install(kv_store());
    let context = nodes[0].create_context(&app);
    for node in &nodes[1..] {
        let invitation = nodes[0].invite(&context);
        let report = node.join(&invitation);
        assert_eq!(report["contextId"], context, "{report}");
        assert!(
            report["sync"].get("Ok").is_some(),
            "first sync failed: {report}"
        );
    }
    context
}

#[test]
fn three_nodes_join_write_concurrently_and_converge() {
    let a = fast_node(&[]);
    let b = fast_node(&[]);
    let c = fast_node(&[]);
    let context = network_of(&[&a, &b, &c]);
    // The joiners took the creator's state: same root before any write.
    converge(&[&a, &b, &c], &context, Duration::from_secs(20));
    let (_, members) = a.admin(
        "GET",
        &format!("/admin-api/contexts/{context}/members"),
        None,
    );
    assert_eq!(members["data"]["members"].as_array().unwrap().len(), 3);

    // Concurrent writers: distinct keys, the same keys, removes.
    let mut model: BTreeMap<String, String> = BTreeMap::new();
    std::thread::scope(|scope| {
        for (name, node) in [("a", &a), ("b", &b), ("c", &c)] {
            let context = &context;
            scope.spawn(move || {
                for i in 0..20 {
                    let key = format!("{name}-{i}");
                    node.call(
                        context,
                        "set",
                        json!({"key": key, "value": format!("v{i}")}),
                    )
                    .unwrap();
                    node.call(context, "set", json!({"key": "shared", "value": name}))
                        .unwrap();
                    if i % 5 == 4 {
                        node.call(
                            context,
                            "remove",
                            json!({"key": format!("{name}-{}", i - 1)}),
                        )
                        .unwrap();
                    }
                }
            });
        }
    });
    for name in ["a", "b", "c"] {
        for i in 0..20 {
            if i % 5 != 3 {
                model.insert(format!("{name}-{i}"), format!("v{i}"));
            }
        }
    }
    converge(&[&a, &b, &c], &context, Duration::from_secs(30));
    let on_a = entries(&a, &context);
    assert_eq!(on_a, entries(&b, &context));
    assert_eq!(on_a, entries(&c, &context));
    let shared = on_a
        .get("shared")
        .cloned()
        .expect("the shared key survives");
    assert!(["a", "b", "c"].contains(&shared.as_str()), "{shared}");
    let mut without_shared = on_a.clone();
    without_shared.remove("shared");
    assert_eq!(without_shared, model);

    // A clear on one node empties the map everywhere.
    b.call(&context, "clear", json!({})).unwrap();
    converge(&[&a, &b, &c], &context, Duration::from_secs(30));
    for node in [&a, &b, &c] {
        assert!(entries(node, &context).is_empty());
    }
    for node in [&a, &b, &c] {
        let counters = node.counters();
        assert_eq!(counters["dropped_bad_signature"], 0, "{counters}");
        assert_eq!(counters["dropped_non_member"], 0, "{counters}");
    }
}

#[test]
fn a_stopped_node_catches_up_after_restart() {
    let a = fast_node(&[]);
    let b = fast_node(&[]);
    let mut c = fast_node(&[]);
    let context = network_of(&[&a, &b, &c]);
    converge(&[&a, &b, &c], &context, Duration::from_secs(20));

    c.stop();
    for i in 0..30 {
        let node = if i % 2 == 0 { &a } else { &b };
        node.call(
            &context,
            "set",
            json!({"key": format!("k{i}"), "value": "while c was down"}),
        )
        .unwrap();
    }
    converge(&[&a, &b], &context, Duration::from_secs(20));
    c.run();
    let root = converge(&[&a, &b, &c], &context, Duration::from_secs(30));
    assert_eq!(entries(&c, &context).len(), 30);
    assert_eq!(c.root(&context), root);
}

#[test]
fn a_late_joiner_bootstraps_from_a_snapshot_and_fetches_the_module() {
    let a = fast_node(&[]);
    let app = a.install(kv_store());
    let context = a.create_context(&app);
    for i in 0..1_000 {
        a.call(
            &context,
            "set",
            json!({"key": format!("key-{i:04}"), "value": format!("value {i}")}),
        )
        .unwrap();
    }
    let late = fast_node(&[]);
    let (_, apps) = late.admin("GET", "/admin-api/applications", None);
    assert_eq!(apps["data"]["apps"].as_array().unwrap().len(), 0);
    let report = late.join(&a.invite(&context));
    assert_eq!(report["sync"]["Ok"]["snapshot"], true, "{report}");
    converge(&[&a, &late], &context, Duration::from_secs(20));
    assert_eq!(entries(&late, &context).len(), 1_000);
    assert_eq!(entries(&late, &context), entries(&a, &context));
    let counters = late.counters();
    assert_eq!(counters["snapshots_installed"], 1, "{counters}");
    // The module came from the peer, checked against its id.
    let (_, apps) = late.admin("GET", &format!("/admin-api/applications/{app}"), None);
    assert!(
        apps["data"]["source"]
            .as_str()
            .unwrap()
            .starts_with("peer "),
        "{apps}"
    );
    // Writes keep flowing both ways after the bootstrap.
    late.call(&context, "set", json!({"key": "from-late", "value": "x"}))
        .unwrap();
    a.call(&context, "set", json!({"key": "from-a", "value": "y"}))
        .unwrap();
    converge(&[&a, &late], &context, Duration::from_secs(20));
    assert_eq!(entries(&a, &context).len(), 1_002);
}

#[test]
fn gossip_lost_on_the_way_is_repaired_by_periodic_sync() {
    let a = fast_node(&[]);
    // B drops every gossip message it receives: only periodic sync brings it A's writes.
    let b = fast_node(&["--test-drop-gossip-percent", "100"]);
    let context = network_of(&[&a, &b]);
    for i in 0..10 {
        a.call(
            &context,
            "set",
            json!({"key": format!("k{i}"), "value": "v"}),
        )
        .unwrap();
    }
    converge(&[&a, &b], &context, Duration::from_secs(30));
    assert_eq!(entries(&b, &context).len(), 10);
    // And B's writes reach A by gossip.
    b.call(&context, "set", json!({"key": "from-b", "value": "v"}))
        .unwrap();
    converge(&[&a, &b], &context, Duration::from_secs(30));
    assert_eq!(entries(&a, &context).len(), 11);
}

#[test]
fn an_invitation_naming_a_key_admits_only_the_node_holding_it() {
    let a = fast_node(&[]);
    let b = fast_node(&[]);
    let c = fast_node(&[]);
    let app = a.install(kv_store());
    let context = a.create_context(&app);
    let key = b.admin_ok("POST", "/admin-api/identity", None)["publicKey"]
        .as_str()
        .unwrap()
        .to_owned();
    let invitation = a.admin_ok(
        "POST",
        &format!("/admin-api/contexts/{context}/invite"),
        Some(json!({"invitee": key})),
    )["invitation"]
        .as_str()
        .unwrap()
        .to_owned();
    // C does not hold the named key: refused before anything is sent.
    let (status, refused) = c.admin(
        "POST",
        "/admin-api/contexts/join",
        Some(json!({"invitation": invitation})),
    );
    assert_eq!(status, 409, "{refused}");
    assert!(
        refused["error"].as_str().unwrap().contains(&key),
        "{refused}"
    );
    // B holds it and joins as that member.
    let report = b.join(&invitation);
    assert_eq!(report["memberPublicKey"], key.as_str(), "{report}");
    let members = a.admin_ok(
        "GET",
        &format!("/admin-api/contexts/{context}/members"),
        None,
    );
    assert!(
        members["members"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| *m == key.as_str()),
        "{members}"
    );
    // An expired invitation is refused with the reason.
    let expired = a.admin_ok(
        "POST",
        &format!("/admin-api/contexts/{context}/invite"),
        Some(json!({"validForSeconds": 0})),
    )["invitation"]
        .as_str()
        .unwrap()
        .to_owned();
    std::thread::sleep(Duration::from_millis(5));
    let (status, refused) = c.admin(
        "POST",
        "/admin-api/contexts/join",
        Some(json!({"invitation": expired})),
    );
    assert_eq!(status, 400, "{refused}");
    assert!(
        refused["error"].as_str().unwrap().contains("expired"),
        "{refused}"
    );
}

#[test]
fn a_node_killed_during_concurrent_writes_loses_no_acknowledged_write() {
    let mut a = fast_node(&[]);
    let mut b = fast_node(&[]);
    let mut c = fast_node(&[]);
    let context = network_of(&[&a, &b, &c]);
    let acknowledged = std::sync::Mutex::new(Vec::new());
    let c_pid = c.pid().expect("c runs");
    std::thread::scope(|scope| {
        for (name, node) in [("a", &a), ("b", &b), ("c", &c)] {
            let (context, acknowledged) = (&context, &acknowledged);
            scope.spawn(move || {
                for i in 0..60 {
                    let key = format!("{name}-{i}");
                    match node.call_checked(context, "set", json!({"key": key, "value": "v"})) {
                        Some(Ok(_)) => acknowledged.lock().unwrap().push(key),
                        Some(Err(error)) => panic!("{name}: {error}"),
                        // C was killed: no answer, so nothing was acknowledged.
                        None => break,
                    }
                }
            });
        }
        // Kill C in the middle of the burst.
        let deadline = Instant::now() + Duration::from_secs(30);
        while !acknowledged.lock().unwrap().iter().any(|k| k == "c-10") {
            assert!(Instant::now() < deadline, "c never reached its 10th write");
            std::thread::sleep(Duration::from_millis(2));
        }
        std::process::Command::new("kill")
            .args(["-9", &c_pid.to_string()])
            .status()
            .unwrap();
    });
    c.kill();
    c.run();
    converge(&[&a, &b, &c], &context, Duration::from_secs(60));
    let acknowledged = acknowledged.into_inner().unwrap();
    assert!(acknowledged.len() >= 120 + 11, "{}", acknowledged.len());
    for node in [&a, &b, &c] {
        let present = entries(node, &context);
        let lost: Vec<&String> = acknowledged
            .iter()
            .filter(|k| !present.contains_key(*k))
            .collect();
        assert!(lost.is_empty(), "{} lost {lost:?}", node.url);
    }
    for node in [&mut a, &mut b, &mut c] {
        node.stop();
        let (ok, output) = node.verify();
        assert!(
            ok && output.contains("ok "),
            "merod verify failed: {output}"
        );
    }
}

#[test]
fn an_upgrade_reaches_a_member_without_the_new_version_over_the_network() {
    let a = fast_node(&[]);
    let b = fast_node(&[]);
    let context = network_of(&[&a, &b]);
    a.call(&context, "set", json!({"key": "k", "value": "before"}))
        .unwrap();
    converge(&[&a, &b], &context, Duration::from_secs(20));

    // Only `a` installs the new version; `b` fetches it from `a` when the upgrade reaches it.
    let v2 = a.install(&calimero_tests::build_app("kv-store-v2"));
    let (status, upgraded) = a.admin(
        "POST",
        &format!("/admin-api/contexts/{context}/upgrade"),
        Some(json!({"applicationId": v2})),
    );
    assert_eq!(status, 200, "{upgraded}");
    assert_eq!(upgraded["data"]["migration"], "migrate_v1_to_v2");
    a.call(&context, "set", json!({"key": "k2", "value": "after"}))
        .unwrap();

    converge(&[&a, &b], &context, Duration::from_secs(30));
    let (_, info) = b.admin("GET", &format!("/admin-api/contexts/{context}"), None);
    assert_eq!(info["data"]["applicationId"], v2, "{info}");
    assert_eq!(
        b.call(&context, "label", json!({})),
        Ok(json!("migrated from v1"))
    );
    assert_eq!(
        b.call(&context, "get", json!({"key": "k2"})),
        Ok(json!("after"))
    );
    assert_eq!(b.call(&context, "writes", json!({})), Ok(json!(1)));
    let (_, apps) = b.admin("GET", "/admin-api/applications", None);
    let fetched = apps["data"]["apps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|app| app["id"] == v2)
        .unwrap_or_else(|| panic!("b did not install {v2}: {apps}"));
    assert!(
        fetched["source"].as_str().unwrap().starts_with("peer "),
        "{fetched}"
    );
}
