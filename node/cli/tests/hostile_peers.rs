//! A hostile peer on the context's topic, built from the node's own network crate, one test per
//! attack: it captures what members gossip and finds no state in it; it sends garbage, an
//! oversized delta, unsigned, badly signed, non-member, mismatching and replayed deltas, sync
//! requests it has no right to, garbage and oversized requests. Each is dropped and counted in
//! `node status`, the node keeps serving, and a real member still converges with it, the node
//! applying exactly that member's genuine delta and nothing forged.

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

/// Member nodes A and B in one kv-store context, and a hostile peer subscribed to its topic.
struct Scene {
    a: TestNode,
    b: TestNode,
    context_text: String,
    context: ContextId,
    /// A's member key.
    member: PublicKey,
    runtime: tokio::runtime::Runtime,
    hostile: Hostile,
    baseline: Value,
}

impl Scene {
    fn new() -> Self {
        let a = TestNode::start_with(merod(), &["--sync-interval-ms", "500"], &[]);
        let b = TestNode::start_with(merod(), &["--sync-interval-ms", "500"], &[]);
        let app = a.install(&kv_store());
        let context_text = a.create_context(&app);
        b.join(&a.invite(&context_text));
        let context: ContextId = context_text.parse().unwrap();
        let member: PublicKey = a.admin_ok("GET", &format!("/admin-api/contexts/{context}"), None)
            ["memberPublicKey"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let hostile = runtime.block_on(Hostile::join_topic(&a.swarm[0], &context));
        let baseline = a.counters();
        Self {
            a,
            b,
            context_text,
            context,
            member,
            runtime,
            hostile,
            baseline,
        }
    }

    fn base(&self, name: &str) -> u64 {
        self.baseline[name].as_u64().unwrap()
    }

    /// Waits until A counted the attack under `counter`, then shows A still serves and still
    /// converges with B, having applied exactly B's one delta since the scene was set.
    fn dropped_as(&self, name: &str, times: u64) {
        await_counter(&self.a, name, self.base(name) + times);
        self.a
            .call(
                &self.context_text,
                "set",
                json!({"key": "after", "value": "the attack"}),
            )
            .unwrap();
        self.b
            .call(
                &self.context_text,
                "set",
                json!({"key": "from-b", "value": "too"}),
            )
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.a.root(&self.context_text) != self.b.root(&self.context_text)
            || entry_count(&self.a, &self.context_text) != 2
        {
            assert!(Instant::now() < deadline, "A and B did not converge");
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(
            self.a.call(&self.context_text, "entries", json!({})),
            self.b.call(&self.context_text, "entries", json!({}))
        );
        assert_eq!(
            counter(&self.a, "deltas_applied"),
            self.base("deltas_applied") + 1,
            "A applied something forged"
        );
    }

    fn publish_delta(&self, delta: DeltaEnvelope) {
        self.hostile.publish(encode(&GossipMessage::Delta(delta)));
    }

    fn ask(&self, request: Vec<u8>) -> Result<Vec<u8>, calimero_network::NetworkError> {
        let peer = self.a.peer_id.parse().unwrap();
        self.runtime
            .block_on(self.hostile.network.request(&peer, request))
    }
}

impl Drop for Scene {
    fn drop(&mut self) {
        self.runtime.block_on(self.hostile.network.shutdown());
    }
}

fn entry_count(node: &TestNode, context: &str) -> usize {
    node.call(context, "entries", json!({}))
        .unwrap()
        .as_object()
        .map_or(0, |o| o.len())
}

fn state_body() -> DeltaBody {
    DeltaBody::State {
        artifact: vec![0; 8],
        events: vec![],
    }
}

#[test]
fn a_non_member_on_the_topic_reads_no_state_from_what_it_captures() {
    let mut scene = Scene::new();
    let secret_value = "plaintext-value-7f3a9c";
    scene
        .a
        .call(
            &scene.context_text,
            "set",
            json!({"key": "secret-key-41b2", "value": secret_value}),
        )
        .unwrap();
    let captured = scene.runtime.block_on(scene.hostile.capture_delta());
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
    assert_eq!(delta.author, scene.member);
    assert!(delta.open(&ContextKey::generate()).is_err());
}

#[test]
fn garbage_gossip_is_dropped() {
    let scene = Scene::new();
    let mut garbage = vec![0u8; 300];
    rand::rngs::OsRng.fill_bytes(&mut garbage);
    scene.hostile.publish(garbage);
    scene.dropped_as("dropped_malformed_gossip", 1);
}

#[test]
fn an_unsigned_delta_is_dropped() {
    let scene = Scene::new();
    let mut unsigned = forged(
        scene.context,
        &random_key(),
        &state_body(),
        &ContextKey::generate(),
    );
    unsigned.author = scene.member;
    unsigned.signature = Signature([0; 64]);
    scene.publish_delta(unsigned);
    scene.dropped_as("dropped_bad_signature", 1);
}

#[test]
fn a_badly_signed_delta_is_dropped() {
    let scene = Scene::new();
    // A member's name, someone else's signature.
    let mut badly_signed = forged(
        scene.context,
        &random_key(),
        &state_body(),
        &ContextKey::generate(),
    );
    badly_signed.author = scene.member;
    scene.publish_delta(badly_signed);
    scene.dropped_as("dropped_bad_signature", 1);
}

#[test]
fn a_delta_from_a_non_member_is_dropped() {
    let scene = Scene::new();
    // Correctly signed by its own key, which is not a member's.
    scene.publish_delta(forged(
        scene.context,
        &random_key(),
        &state_body(),
        &ContextKey::generate(),
    ));
    scene.dropped_as("dropped_non_member", 1);
}

#[test]
fn a_delta_whose_id_does_not_match_its_content_is_dropped() {
    let scene = Scene::new();
    let mut mismatched = forged(
        scene.context,
        &random_key(),
        &state_body(),
        &ContextKey::generate(),
    );
    mismatched.id = DeltaId::new([9; 32]);
    scene.publish_delta(mismatched);
    scene.dropped_as("dropped_id_mismatch", 1);
}

#[test]
fn an_oversized_delta_is_dropped() {
    let scene = Scene::new();
    let huge = DeltaBody::State {
        artifact: vec![7; MAX_GOSSIP_SIZE - 2048],
        events: vec![],
    };
    scene.publish_delta(forged(
        scene.context,
        &random_key(),
        &huge,
        &ContextKey::generate(),
    ));
    scene.dropped_as("dropped_oversized", 1);
}

#[test]
fn a_replayed_delta_is_dropped_as_a_duplicate() {
    let mut scene = Scene::new();
    scene
        .a
        .call(
            &scene.context_text,
            "set",
            json!({"key": "k", "value": "v"}),
        )
        .unwrap();
    let captured = scene.runtime.block_on(scene.hostile.capture_delta());
    // Re-published by another peer: it reaches A, which already applied it.
    scene.baseline = scene.a.counters();
    scene.hostile.publish(captured);
    await_counter(
        &scene.a,
        "duplicate_deltas",
        scene.base("duplicate_deltas") + 1,
    );
    scene
        .b
        .call(
            &scene.context_text,
            "set",
            json!({"key": "from-b", "value": "too"}),
        )
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while scene.a.root(&scene.context_text) != scene.b.root(&scene.context_text) {
        assert!(Instant::now() < deadline, "A and B did not converge");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        counter(&scene.a, "deltas_applied"),
        scene.base("deltas_applied") + 1
    );
    assert_eq!(entry_count(&scene.a, &scene.context_text), 2);
}

#[test]
fn sync_requests_without_membership_are_refused() {
    let scene = Scene::new();
    let local = scene.hostile.network.local_peer_id().to_string();
    let intruder = random_key();
    let context = scene.context;
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
                member: scene.member,
                signature: MemberProof::sign(&intruder, &context, &local).signature,
            },
            known_heads: vec![],
            limit: 10,
        },
    ] {
        let answer = scene.ask(encode(&request)).expect("the node answers");
        let answer: SyncResponse = decode(&answer, usize::MAX, "answer").unwrap();
        assert!(matches!(answer, SyncResponse::Refused { .. }), "{answer:?}");
    }
    scene.dropped_as("refused_requests", 3);
}

#[test]
fn garbage_and_oversized_requests_are_dropped() {
    let scene = Scene::new();
    let mut junk = vec![0u8; 64];
    rand::rngs::OsRng.fill_bytes(&mut junk);
    assert!(scene.ask(junk).is_err());
    assert!(scene.ask(vec![0u8; 2 * MAX_GOSSIP_SIZE]).is_err());
    let status: Value = scene.a.admin_ok("GET", "/admin-api/node", None);
    assert!(
        status["network"]["malformedRequests"].as_u64().unwrap() >= 1,
        "{status}"
    );
    scene.dropped_as("dropped_malformed_request", 1);
}
