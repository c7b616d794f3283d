//! Real libp2p nodes over loopback TCP (`/ip4/127.0.0.1/tcp/0`, mDNS off).
//! Every wait is on a condition with a deadline; every node is shut down at
//! the end of its test.

use std::future::Future;
use std::time::Duration;

use calimero_network::{
    NetworkConfig, NetworkError, NetworkEvent, NetworkHandle, PeerId, Reply, start,
};
use rand::RngCore;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc::Receiver;
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout};

const DEADLINE: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(50);

fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

fn config(seed: u8) -> NetworkConfig {
    let mut config = NetworkConfig::new([seed; 32]);
    config.listen = vec!["/ip4/127.0.0.1/tcp/0".to_owned()];
    config
}

struct Node {
    handle: NetworkHandle,
    events: Receiver<NetworkEvent>,
    address: String,
}

impl Node {
    async fn start(config: NetworkConfig) -> Node {
        let (handle, events) = start(config).expect("network starts");
        let addresses = handle.listen_addresses().await;
        assert_eq!(addresses.len(), 1, "{addresses:?}");
        let address = addresses.into_iter().next().unwrap();
        assert!(address.starts_with("/ip4/127.0.0.1/tcp/"), "{address}");
        assert!(
            address.ends_with(&format!("/p2p/{}", handle.local_peer_id())),
            "{address}"
        );
        Node {
            handle,
            events,
            address,
        }
    }

    fn id(&self) -> PeerId {
        self.handle.local_peer_id().clone()
    }

    fn port(&self) -> u16 {
        port_of(&self.address)
    }

    /// Waits for the first event matching `wanted`, discarding the others
    /// (a discarded request is left unanswered).
    async fn wait_for(
        &mut self,
        what: &str,
        mut wanted: impl FnMut(&NetworkEvent) -> bool,
    ) -> NetworkEvent {
        timeout(DEADLINE, async {
            loop {
                let event = self.events.recv().await.expect("event channel open");
                if wanted(&event) {
                    return event;
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
    }

    async fn wait_connected(&mut self, peer: &PeerId) {
        let _ = self
            .wait_for(
                &format!("PeerConnected {peer}"),
                |event| matches!(event, NetworkEvent::PeerConnected { peer: p } if p == peer),
            )
            .await;
    }

    async fn wait_subscribed(&mut self, peer: &PeerId, topic: &str) {
        let _ = self
            .wait_for(&format!("Subscribed {peer} {topic}"), |event| {
                matches!(event, NetworkEvent::Subscribed { peer: p, topic: t } if p == peer && t == topic)
            })
            .await;
    }

    /// Answers every request as `answer` says (in a task that ends when the
    /// network stops), handing back the other events.
    fn serve(self, answer: fn(&[u8], Reply, &mut Vec<Reply>)) -> Served {
        let Node {
            handle,
            mut events,
            address,
        } = self;
        let (others_sender, others) = tokio::sync::mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Some(event) = events.recv().await {
                match event {
                    NetworkEvent::Request { data, reply, .. } => answer(&data, reply, &mut held),
                    other => {
                        let _ = others_sender.send(other);
                    }
                }
            }
        });
        Served {
            handle,
            address,
            task,
            _others: others,
        }
    }
}

/// A node whose requests are answered by a task.
struct Served {
    handle: NetworkHandle,
    address: String,
    task: JoinHandle<()>,
    _others: tokio::sync::mpsc::UnboundedReceiver<NetworkEvent>,
}

impl Served {
    fn id(&self) -> PeerId {
        self.handle.local_peer_id().clone()
    }

    async fn shutdown(self) {
        self.handle.shutdown().await;
        timeout(DEADLINE, self.task)
            .await
            .expect("responder ends with the network")
            .unwrap();
    }
}

/// `re:` + the request; `drop` is left unanswered; `hold` is kept unanswered.
fn echo(data: &[u8], reply: Reply, held: &mut Vec<Reply>) {
    match data {
        b"drop" => drop(reply),
        b"hold" => held.push(reply),
        _ => reply.send([b"re:".as_slice(), data].concat()),
    }
}

fn port_of(address: &str) -> u16 {
    // /ip4/127.0.0.1/tcp/<port>/p2p/<id>
    address.split('/').nth(4).unwrap().parse().unwrap()
}

async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + DEADLINE;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(POLL).await;
    }
}

/// Two nodes, B booting from A, both connected.
async fn pair(config_a: NetworkConfig, mut config_b: NetworkConfig) -> (Node, Node) {
    let mut a = Node::start(config_a).await;
    config_b.boot_nodes = vec![a.address.clone()];
    let mut b = Node::start(config_b).await;
    b.wait_connected(&a.id()).await;
    a.wait_connected(&b.id()).await;
    (a, b)
}

#[tokio::test(flavor = "multi_thread")]
async fn gossip_between_two_nodes() {
    init_tracing();
    let (mut a, mut b) = pair(config(1), config(2)).await;
    a.handle.subscribe("t").await.unwrap();
    b.handle.subscribe("t").await.unwrap();
    b.wait_subscribed(&a.id(), "t").await;
    assert_eq!(b.handle.topic_peers("t").await, vec![a.id()]);
    assert!(b.handle.topic_peers("other").await.is_empty());

    b.handle.publish("t", b"hello".to_vec()).unwrap();
    let event = a
        .wait_for("gossip", |event| {
            matches!(event, NetworkEvent::Gossip { .. })
        })
        .await;
    let NetworkEvent::Gossip {
        topic,
        source,
        data,
    } = event
    else {
        unreachable!()
    };
    assert_eq!(topic, "t");
    assert_eq!(source, b.id());
    assert_eq!(data, b"hello");

    let peers = a.handle.peers().await;
    assert_eq!(peers.len(), 1);
    assert_eq!(peers[0].peer_id, b.id());
    assert!(!peers[0].addresses.is_empty());
    let stats = a.handle.stats().await;
    assert_eq!(stats.gossip_received, 1);
    assert_eq!(b.handle.stats().await.gossip_published, 1);

    // The largest payload allowed fits in gossipsub's envelope; one byte more
    // is refused at the publisher.
    let largest = vec![0xab; NetworkConfig::new([0; 32]).max_gossip_size];
    b.handle.publish("t", largest.clone()).unwrap();
    let event = a
        .wait_for("large gossip", |event| {
            matches!(event, NetworkEvent::Gossip { .. })
        })
        .await;
    assert!(matches!(event, NetworkEvent::Gossip { data, .. } if data == largest));
    b.handle.publish("t", vec![0; largest.len() + 1]).unwrap();
    eventually("the oversized publish is refused", || async {
        b.handle.stats().await.gossip_publish_failed == 1
    })
    .await;

    // After A unsubscribes, B no longer counts it for the topic.
    a.handle.unsubscribe("t").await.unwrap();
    eventually("B sees A unsubscribed", || async {
        b.handle.topic_peers("t").await.is_empty()
    })
    .await;

    a.handle.shutdown().await;
    b.handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_node_loses_gossip_and_requests_but_never_blocks_the_network() {
    init_tracing();
    let (mut a, mut b) = pair(config(1), config(2)).await;
    a.handle.subscribe("t").await.unwrap();
    b.handle.subscribe("t").await.unwrap();
    b.wait_subscribed(&a.id(), "t").await;

    // A does not read its events while more gossip than the channel holds
    // arrives.
    let total = calimero_network::EVENT_CHANNEL_CAPACITY as u64 + 100;
    for i in 0..total {
        let data = i.to_be_bytes().to_vec();
        let deadline = Instant::now() + DEADLINE;
        while let Err(error) = b.handle.publish("t", data.clone()) {
            assert!(matches!(error, NetworkError::QueueFull), "{error}");
            assert!(Instant::now() < deadline, "B's publish queue stays full");
            tokio::task::yield_now().await;
        }
    }
    // A's loop keeps answering commands meanwhile.
    eventually("A receives every message", || async {
        a.handle.stats().await.gossip_received == total
    })
    .await;
    let stats = a.handle.stats().await;
    assert!(stats.gossip_dropped_queue_full > 0, "{stats:?}");

    // A request arriving now is dropped at once: B hears so, without waiting
    // for its timeout.
    let dropped = timeout(DEADLINE, b.handle.request(&a.id(), b"now?".to_vec()))
        .await
        .expect("a dropped request fails fast");
    assert!(
        matches!(dropped, Err(NetworkError::NoResponse { .. })),
        "{dropped:?}"
    );
    assert_eq!(a.handle.stats().await.requests_dropped_queue_full, 1);

    let mut delivered = 0;
    while let Ok(event) = a.events.try_recv() {
        if matches!(event, NetworkEvent::Gossip { .. }) {
            delivered += 1;
        }
    }
    assert_eq!(delivered + stats.gossip_dropped_queue_full, total);

    // Drained, A serves again.
    let a = a.serve(echo);
    let response = b.handle.request(&a.id(), b"now".to_vec()).await;
    assert_eq!(response.unwrap(), b"re:now");

    a.shutdown().await;
    b.handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn request_response() {
    init_tracing();
    let mut config_b = config(2);
    config_b.request_timeout = Duration::from_secs(2);
    let (a, b) = pair(config(1), config_b).await;
    let a = a.serve(echo);

    let response = b.handle.request(&a.id(), b"ping".to_vec()).await.unwrap();
    assert_eq!(response, b"re:ping");
    let empty = b.handle.request(&a.id(), Vec::new()).await.unwrap();
    assert_eq!(empty, b"re:");

    // A reply dropped by the node: an error at once, not a hang.
    let dropped = timeout(DEADLINE, b.handle.request(&a.id(), b"drop".to_vec()))
        .await
        .expect("a dropped reply does not hang");
    assert!(
        matches!(dropped, Err(NetworkError::NoResponse { .. })),
        "{dropped:?}"
    );

    // A reply never sent: B's request_timeout.
    let started = Instant::now();
    let held = timeout(DEADLINE, b.handle.request(&a.id(), b"hold".to_vec()))
        .await
        .expect("a held reply times out");
    assert!(
        matches!(held, Err(NetworkError::Timeout { .. })),
        "{held:?}"
    );
    assert!(started.elapsed() >= Duration::from_secs(1));

    // A peer nobody knows an address of.
    let stranger = PeerId::from_secret_key([99; 32]);
    let unknown = timeout(DEADLINE, b.handle.request(&stranger, b"x".to_vec()))
        .await
        .expect("a request to an unknown peer fails");
    assert!(
        matches!(unknown, Err(NetworkError::DialFailed { .. })),
        "{unknown:?}"
    );

    eventually("A counts the two responses it sent", || async {
        a.handle.stats().await.requests_served >= 2
    })
    .await;
    let stats = a.handle.stats().await;
    assert_eq!(stats.requests_received, 4);
    assert_eq!(stats.requests_served, 2);
    assert_eq!(stats.malformed_requests, 0);

    a.shutdown().await;
    b.handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_request_is_refused_and_counted() {
    init_tracing();
    let mut config_a = config(1);
    config_a.max_request_size = 1024;
    let (a, b) = pair(config_a, config(2)).await;
    let a = a.serve(echo);

    let oversized = timeout(DEADLINE, b.handle.request(&a.id(), vec![7; 64 * 1024]))
        .await
        .expect("an oversized request fails, not hangs");
    assert!(oversized.is_err(), "{oversized:?}");
    eventually("A counts the malformed request", || async {
        a.handle.stats().await.malformed_requests == 1
    })
    .await;

    // Within B's own bound? No: refused locally, nothing sent.
    let local = b.handle.request(&a.id(), vec![0; 2 * 1024 * 1024]).await;
    assert!(
        matches!(
            local,
            Err(NetworkError::RequestTooLarge {
                size: 2097152,
                max: 1048576
            })
        ),
        "{local:?}"
    );

    let response = b.handle.request(&a.id(), b"still there".to_vec()).await;
    assert_eq!(response.unwrap(), b"re:still there");
    // A counts a response once its swarm reports it sent, which can come
    // after B already holds it.
    eventually("A counts the response it sent", || async {
        a.handle.stats().await.requests_served >= 1
    })
    .await;
    let stats = a.handle.stats().await;
    assert_eq!(stats.malformed_requests, 1);
    assert_eq!(stats.requests_served, 1);

    a.shutdown().await;
    b.handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn garbage_on_the_listen_port_is_harmless() {
    init_tracing();
    let (a, b) = pair(config(1), config(2)).await;
    let a = a.serve(echo);

    for _ in 0..5 {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port_of(&a.address)))
            .await
            .unwrap();
        let mut garbage = vec![0; 64 * 1024];
        rand::thread_rng().fill_bytes(&mut garbage);
        // A may close the connection before taking all of it.
        let _ = stream.write_all(&garbage).await;
        let mut sink = Vec::new();
        let closed = timeout(DEADLINE, stream.read_to_end(&mut sink)).await;
        assert!(closed.is_ok(), "A closes a garbage connection");
    }

    let response = b.handle.request(&a.id(), b"ok?".to_vec()).await;
    assert_eq!(response.unwrap(), b"re:ok?");
    assert_eq!(a.handle.peers().await.len(), 1);

    a.shutdown().await;
    b.handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn gossip_is_forwarded_along_a_line() {
    init_tracing();
    let mut a = Node::start(config(1)).await;
    let mut config_b = config(2);
    config_b.boot_nodes = vec![a.address.clone()];
    let b = Node::start(config_b).await;
    let mut config_c = config(3);
    config_c.boot_nodes = vec![b.address.clone()];
    let mut c = Node::start(config_c).await;

    for node in [&a, &b, &c] {
        node.handle.subscribe("t").await.unwrap();
    }
    c.wait_subscribed(&b.id(), "t").await;
    eventually("B knows A and C are subscribed", || async {
        b.handle.topic_peers("t").await.len() == 2
    })
    .await;

    // B forwards to its mesh, which it builds within a few heartbeats:
    // publish distinct messages until one arrives.
    let deadline = Instant::now() + DEADLINE;
    let mut sent = 0u32;
    let received = loop {
        assert!(Instant::now() < deadline, "no gossip from C reached A");
        sent += 1;
        c.handle
            .publish("t", format!("from c #{sent}").into_bytes())
            .unwrap();
        match timeout(Duration::from_millis(500), a.events.recv()).await {
            Ok(Some(event @ NetworkEvent::Gossip { .. })) => break event,
            Ok(Some(_)) | Err(_) => {}
            Ok(None) => panic!("A's network stopped"),
        }
    };
    let NetworkEvent::Gossip {
        topic,
        source,
        data,
    } = received
    else {
        unreachable!()
    };
    assert_eq!(topic, "t");
    assert_eq!(source, c.id());
    assert!(String::from_utf8(data).unwrap().starts_with("from c #"));

    // A is not connected to C: the message came through B.
    let a_peers: Vec<_> = a
        .handle
        .peers()
        .await
        .into_iter()
        .map(|p| p.peer_id)
        .collect();
    assert_eq!(a_peers, vec![b.id()]);
    // Drain so nothing is left unread before shutdown.
    while c.events.try_recv().is_ok() {}

    for node in [&a, &b, &c] {
        node.handle.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn peers_reconnect_after_a_restart() {
    init_tracing();
    let (a, mut b) = pair(config(1), config(2)).await;
    let a_id = a.id();
    let port = a.port();

    // C remembers A through `dial`, with an address without /p2p.
    let mut c = Node::start(config(3)).await;
    let bare = format!("/ip4/127.0.0.1/tcp/{port}");
    c.handle.dial(&bare).await.unwrap();
    c.wait_connected(&a_id).await;
    assert!(
        matches!(
            c.handle.dial("/not/a/multiaddr").await,
            Err(NetworkError::InvalidAddress { .. })
        ),
        "a bad address is refused"
    );

    a.handle.shutdown().await;
    assert!(a.handle.is_stopped());
    assert!(matches!(
        a.handle.subscribe("t").await,
        Err(NetworkError::Stopped)
    ));
    drop(a);
    b.wait_for(
        "B sees A go",
        |event| matches!(event, NetworkEvent::PeerDisconnected { peer } if *peer == a_id),
    )
    .await;
    c.wait_for(
        "C sees A go",
        |event| matches!(event, NetworkEvent::PeerDisconnected { peer } if *peer == a_id),
    )
    .await;

    // The same identity on the same port.
    let mut config_a = config(1);
    config_a.listen = vec![bare.clone()];
    let deadline = Instant::now() + DEADLINE;
    let a = loop {
        match start(config_a.clone()) {
            Ok((handle, events)) => break (handle, events),
            Err(error) => {
                assert!(Instant::now() < deadline, "cannot restart A: {error}");
                tokio::time::sleep(POLL).await;
            }
        }
    };
    let a = Node {
        address: a.0.listen_addresses().await.remove(0),
        handle: a.0,
        events: a.1,
    };
    assert_eq!(a.port(), port);
    let a = a.serve(echo);

    b.wait_connected(&a_id).await;
    c.wait_connected(&a_id).await;
    let response = b.handle.request(&a_id, b"back".to_vec()).await;
    assert_eq!(response.unwrap(), b"re:back");

    a.shutdown().await;
    b.handle.shutdown().await;
    c.handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn gossip_drop_switch_drops_everything_but_requests_work() {
    init_tracing();
    let mut config_a = config(1);
    config_a.gossip_drop_percent = 100;
    let (mut a, mut b) = pair(config_a, config(2)).await;
    a.handle.subscribe("t").await.unwrap();
    b.handle.subscribe("t").await.unwrap();
    b.wait_subscribed(&a.id(), "t").await;

    for i in 0..5 {
        b.handle.publish("t", vec![i]).unwrap();
    }
    eventually("A drops the five messages", || async {
        a.handle.stats().await.gossip_dropped_test_switch == 5
    })
    .await;
    assert_eq!(a.handle.stats().await.gossip_received, 5);
    while let Ok(event) = a.events.try_recv() {
        assert!(
            !matches!(event, NetworkEvent::Gossip { .. }),
            "gossip got through: {event:?}"
        );
    }

    let a = a.serve(echo);
    let response = b.handle.request(&a.id(), b"sync".to_vec()).await;
    assert_eq!(response.unwrap(), b"re:sync");

    a.shutdown().await;
    b.handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn dropping_every_handle_stops_the_network() {
    init_tracing();
    let mut a = Node::start(config(1)).await;
    let port = a.port();
    let clone = a.handle.clone();
    drop(clone);
    drop(a.handle);
    let end = timeout(DEADLINE, async { while a.events.recv().await.is_some() {} }).await;
    assert!(end.is_ok(), "the event channel closes");
    // The port is free again.
    let mut config_a = config(1);
    config_a.listen = vec![format!("/ip4/127.0.0.1/tcp/{port}")];
    let (handle, _events) = start(config_a).unwrap();
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_configurations_are_refused() {
    init_tracing();
    let mut bad = config(1);
    bad.boot_nodes = vec!["/ip4/127.0.0.1/tcp/1".to_owned()];
    assert!(matches!(
        start(bad),
        Err(NetworkError::InvalidAddress { .. })
    ));
    let mut bad = config(1);
    bad.listen = vec!["nonsense".to_owned()];
    assert!(matches!(
        start(bad),
        Err(NetworkError::InvalidAddress { .. })
    ));
    let mut bad = config(1);
    bad.gossip_drop_percent = 101;
    assert!(matches!(start(bad), Err(NetworkError::InvalidConfig(_))));

    // A port in use.
    let a = Node::start(config(1)).await;
    let mut taken = config(2);
    taken.listen = vec![format!("/ip4/127.0.0.1/tcp/{}", a.port())];
    let error = start(taken).unwrap_err();
    assert!(matches!(error, NetworkError::Listen { .. }), "{error}");
    a.handle.shutdown().await;
}
