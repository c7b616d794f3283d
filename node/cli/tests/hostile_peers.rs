//! A hostile peer on the context's topic, built from the node's own network crate: it captures
//! what members gossip and finds no state in it, then sends garbage, oversized, unsigned, badly
//! signed, non-member, mismatching and replayed deltas and sync requests it has no right to.
//! Each is dropped and counted in `node status`, the node keeps serving, and a real member still
//! converges with it.

use std::time::{Duration, Instant};

use calimero_network::{NetworkConfig, NetworkEvent, NetworkHandle};
use calimero_tests::node::TestNode;
use calimero_wire::{
    ContextId, ContextKey, DeltaBody, DeltaEnvelope, DeltaId, GossipMessage, Hash, MAX_GOSSIP_SIZE,
    MemberProof, PublicKey, Signature, SyncRequest, SyncResponse, decode, encode,
};
use ed25519_dalek::SigningKey;
use rand::RngCore;
use serde_json::{Value, json};
use tokio::sync::mpsc;

fn kv_store() -> Vec<u8> {
    calimero_tests::build_app("kv-store")
}

fn merod() -> &'static std::path::Path {
    env!("CARGO_BIN_EXE_merod").as_ref()
}

fn counter(node: &TestNode, name: &str) -> u64 {
    node.counters()[name]
        .as_u64()
        .unwrap_or_else(|| panic!("no counter {name}"))
}

/// Waits until `node`'s counter `name` reaches `at_least`.
fn await_counter(node: &TestNode, name: &str, at_least: u64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while counter(node, name) < at_least {
        assert!(
            Instant::now() < deadline,
            "{name} stayed at {} (wanted {at_least}): {}",
            counter(node, name),
            node.counters()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

struct Hostile {
    network: NetworkHandle,
    events: mpsc::Receiver<NetworkEvent>,
    topic: String,
}

impl Hostile {
    async fn join_topic(boot: &str, context: &ContextId) -> Self {
        let mut secret = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut secret);
        let mut config = NetworkConfig::new(secret);
        config.listen = vec!["/ip4/127.0.0.1/tcp/0".into()];
        config.boot_nodes = vec![boot.to_owned()];
        // The hostile peer itself accepts and sends big messages.
        config.max_gossip_size = 4 * MAX_GOSSIP_SIZE;
        config.max_request_size = 4 * MAX_GOSSIP_SIZE;
        let (network, events) = calimero_network::start(config).expect("hostile peer starts");
        let topic = calimero_wire::topic(context);
        network.subscribe(&topic).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while network.topic_peers(&topic).await.is_empty() {
            assert!(
                Instant::now() < deadline,
                "the node never showed up on the topic"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Self {
            network,
            events,
            topic,
        }
    }

    /// The next delta gossiped on the topic, as raw bytes.
    async fn capture_delta(&mut self) -> Vec<u8> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let event = tokio::time::timeout_at(deadline, self.events.recv())
                .await
                .expect("a delta is gossiped within 20 s")
                .expect("the network runs");
            if let NetworkEvent::Gossip { data, .. } = event
                && let Ok(GossipMessage::Delta(_)) =
                    decode::<GossipMessage>(&data, MAX_GOSSIP_SIZE, "gossip")
            {
                return data;
            }
        }
    }

    fn publish(&self, data: Vec<u8>) {
        self.network.publish(&self.topic, data).unwrap();
    }
}

fn forged(
    context: ContextId,
    signer: &SigningKey,
    body: &DeltaBody,
    key: &ContextKey,
) -> DeltaEnvelope {
    DeltaEnvelope::create(
        context,
        vec![DeltaId::GENESIS],
        signer,
        1,
        body,
        Hash::ZERO,
        key,
    )
}

fn random_key() -> SigningKey {
    SigningKey::generate(&mut rand::rngs::OsRng)
}

#[test]
fn hostile_peers_are_dropped_counted_and_learn_nothing() {
    let a = TestNode::start_with(merod(), &["--sync-interval-ms", "500"], &[]);
    let b = TestNode::start_with(merod(), &["--sync-interval-ms", "500"], &[]);
    let app = a.install(&kv_store());
    let context_text = a.create_context(&app);
    b.join(&a.invite(&context_text));
    let context: ContextId = context_text.parse().unwrap();
    let member: PublicKey =
        a.admin_ok("GET", &format!("/admin-api/contexts/{context}"), None)["memberPublicKey"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut hostile = runtime.block_on(Hostile::join_topic(&a.swarm[0], &context));

    // 1. What a non-member captures on the topic holds no plaintext of what was written.
    let secret_value = "plaintext-value-7f3a9c";
    a.call(
        &context_text,
        "set",
        json!({"key": "secret-key-41b2", "value": secret_value}),
    )
    .unwrap();
    let captured = runtime.block_on(hostile.capture_delta());
    for needle in [secret_value.as_bytes(), b"secret-key-41b2", b"Inserted"] {
        assert!(
            !captured.windows(needle.len()).any(|w| w == needle),
            "{} appears in the gossiped bytes",
            String::from_utf8_lossy(needle)
        );
    }
    let GossipMessage::Delta(delta) = decode(&captured, MAX_GOSSIP_SIZE, "gossip").unwrap() else {
        unreachable!()
    };
    assert_eq!(delta.author, member);
    assert!(delta.open(&ContextKey::generate()).is_err());

    let body = DeltaBody::State {
        artifact: vec![0; 8],
        events: vec![],
    };
    let baseline = a.counters();
    let base = |name: &str| baseline[name].as_u64().unwrap();

    // 2. Garbage on the topic.
    let mut garbage = vec![0u8; 300];
    rand::rngs::OsRng.fill_bytes(&mut garbage);
    hostile.publish(garbage);
    await_counter(
        &a,
        "dropped_malformed_gossip",
        base("dropped_malformed_gossip") + 1,
    );

    // 3. Unsigned: a member's name, no signature.
    let mut unsigned = forged(context, &random_key(), &body, &ContextKey::generate());
    unsigned.author = member;
    unsigned.signature = Signature([0; 64]);
    hostile.publish(encode(&GossipMessage::Delta(unsigned)));
    // 4. Badly signed: a member's name, someone else's signature.
    let mut badly_signed = forged(context, &random_key(), &body, &ContextKey::generate());
    badly_signed.author = member;
    hostile.publish(encode(&GossipMessage::Delta(badly_signed)));
    await_counter(
        &a,
        "dropped_bad_signature",
        base("dropped_bad_signature") + 2,
    );

    // 5. From a non-member, correctly signed by its own key.
    let outsider = forged(context, &random_key(), &body, &ContextKey::generate());
    hostile.publish(encode(&GossipMessage::Delta(outsider)));
    await_counter(&a, "dropped_non_member", base("dropped_non_member") + 1);

    // 6. An id that does not match the content.
    let mut mismatched = forged(context, &random_key(), &body, &ContextKey::generate());
    mismatched.id = DeltaId::new([9; 32]);
    hostile.publish(encode(&GossipMessage::Delta(mismatched)));
    await_counter(&a, "dropped_id_mismatch", base("dropped_id_mismatch") + 1);

    // 7. Oversized: a body past the sealed-size bound.
    let huge = DeltaBody::State {
        artifact: vec![7; MAX_GOSSIP_SIZE - 2048],
        events: vec![],
    };
    let oversized = forged(context, &random_key(), &huge, &ContextKey::generate());
    hostile.publish(encode(&GossipMessage::Delta(oversized)));
    await_counter(&a, "dropped_oversized", base("dropped_oversized") + 1);
    // 8. A replay of the member's genuine delta, from another peer.
    hostile.publish(captured);
    await_counter(&a, "duplicate_deltas", base("duplicate_deltas") + 1);

    // 9. Sync requests it has no right to: a made-up member proof, garbage, an oversized one.
    let local = hostile.network.local_peer_id().to_string();
    let a_peer = a.peer_id.parse().unwrap();
    let intruder = random_key();
    for request in [
        SyncRequest::Heads {
            context_id: context,
            proof: MemberProof::sign(&intruder, &context, &local),
        },
        SyncRequest::Snapshot {
            context_id: context,
            proof: MemberProof::sign(&intruder, &context, &local),
            cursor: None,
        },
        // A member's public key with a proof signed by someone else.
        SyncRequest::DeltasSince {
            context_id: context,
            proof: MemberProof {
                member,
                signature: MemberProof::sign(&intruder, &context, &local).signature,
            },
            known_heads: vec![],
            limit: 10,
        },
    ] {
        let answer = runtime
            .block_on(hostile.network.request(&a_peer, encode(&request)))
            .expect("the node answers");
        let answer: SyncResponse = decode(&answer, usize::MAX, "answer").unwrap();
        assert!(matches!(answer, SyncResponse::Refused { .. }), "{answer:?}");
    }
    await_counter(&a, "refused_requests", base("refused_requests") + 3);
    let mut junk = vec![0u8; 64];
    rand::rngs::OsRng.fill_bytes(&mut junk);
    assert!(
        runtime
            .block_on(hostile.network.request(&a_peer, junk))
            .is_err()
    );
    await_counter(
        &a,
        "dropped_malformed_request",
        base("dropped_malformed_request") + 1,
    );
    let too_big = vec![0u8; 2 * MAX_GOSSIP_SIZE];
    assert!(
        runtime
            .block_on(hostile.network.request(&a_peer, too_big))
            .is_err()
    );
    let status: Value = a.admin_ok("GET", "/admin-api/node", None);
    assert!(
        status["network"]["malformedRequests"].as_u64().unwrap() >= 1,
        "{status}"
    );

    // The node still serves, and a real member still converges with it.
    a.call(
        &context_text,
        "set",
        json!({"key": "after", "value": "the attack"}),
    )
    .unwrap();
    b.call(
        &context_text,
        "set",
        json!({"key": "from-b", "value": "too"}),
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while a.root(&context_text) != b.root(&context_text) {
        assert!(Instant::now() < deadline, "A and B did not converge");
        std::thread::sleep(Duration::from_millis(50));
    }
    let entries = a.call(&context_text, "entries", json!({})).unwrap();
    assert_eq!(
        entries,
        b.call(&context_text, "entries", json!({})).unwrap()
    );
    assert_eq!(entries.as_object().unwrap().len(), 3, "{entries}");
    // Nothing forged was applied: A applied exactly B's one delta.
    assert_eq!(counter(&a, "deltas_applied"), base("deltas_applied") + 1);
    runtime.block_on(hostile.network.shutdown());
}
