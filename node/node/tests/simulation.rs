//! A network of nodes simulated in one process, without sockets: the real node logic (RocksDB,
//! wasmer, the DAG, the sync sessions) with a seeded scheduler standing in for libp2p. Gossip is
//! flooded to every member with random loss and delay; requests can be lost (the session then
//! times out); a partition splits the network for a while; nodes crash and restart from their
//! store. The run asserts that every node ends with the same root and exactly the entries every
//! acknowledged write put there, and reports what the protocol cost: messages and bytes per
//! delta, and the virtual time to converge.
//!
//! `SIM_NODES` (default 20 so the test command stays short; `scripts/simulate.sh` runs 50 on a
//! release build), `SIM_SEED` (default 7) and `SIM_WRITES` (default 3 per node)
//! change the run. The schedule is a function of the seed; delta ids, nonces and clocks are not.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::sync::Arc;

use calimero_network::{Command, NetworkHandle, PeerId};
use calimero_node::Node;
use calimero_node::session::{Step, SyncSession};
use calimero_node::sync::SyncConfig;
use calimero_node::testing::join_in_process;
use calimero_runtime::Limits;
use calimero_wire::{ContextId, SyncResponse, decode, encode};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use tokio::sync::mpsc;

const SYNC_INTERVAL_MS: u64 = 1_000;
const REQUEST_TIMEOUT_MS: u64 = 2_000;
const GOSSIP_LOSS: f64 = 0.10;
const REQUEST_LOSS: f64 = 0.02;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

enum Event {
    Gossip {
        to: usize,
        from: usize,
        data: Vec<u8>,
    },
    Request {
        to: usize,
        from: usize,
        session: u64,
        data: Vec<u8>,
    },
    Response {
        to: usize,
        session: u64,
        data: Vec<u8>,
    },
    Timeout {
        node: usize,
        session: u64,
    },
    Tick {
        node: usize,
    },
    Write {
        node: usize,
        key: String,
    },
    Crash {
        node: usize,
    },
    Restart {
        node: usize,
    },
    Partition {
        group: Vec<bool>,
    },
    Heal,
}

struct SimNode {
    node: Option<Arc<Node>>,
    commands: Option<mpsc::Receiver<Command>>,
    dir: tempfile::TempDir,
    peer: String,
    /// The session this node runs, if any: (id, peer, session).
    session: Option<(u64, usize, SyncSession)>,
}

#[derive(Default, Debug)]
struct Cost {
    gossip_messages: u64,
    gossip_bytes: u64,
    sync_messages: u64,
    sync_bytes: u64,
    dropped: u64,
}

struct Sim {
    nodes: Vec<SimNode>,
    context: ContextId,
    queue: BinaryHeap<Reverse<(u64, u64)>>,
    events: HashMap<u64, Event>,
    seq: u64,
    now: u64,
    rng: StdRng,
    partition: Option<Vec<bool>>,
    cost: Cost,
    next_session: u64,
    config: SyncConfig,
}

fn open(dir: &std::path::Path) -> (Arc<Node>, mpsc::Receiver<Command>, PeerId) {
    let node = Node::open(&dir.join("data"), &dir.join("compiled"), Limits::default()).unwrap();
    let (sender, receiver) = mpsc::channel(100_000);
    let peer = PeerId::from_secret_key(rand::random());
    let _notices = node.attach_network(NetworkHandle::new(peer.clone(), sender));
    (Arc::new(node), receiver, peer)
}

impl Sim {
    fn at(&mut self, delay: u64, event: Event) {
        self.seq += 1;
        self.queue.push(Reverse((self.now + delay, self.seq)));
        self.events.insert(self.seq, event);
    }

    fn cut(&self, a: usize, b: usize) -> bool {
        self.partition
            .as_ref()
            .is_some_and(|group| group[a] != group[b])
            || self.nodes[a].node.is_none()
            || self.nodes[b].node.is_none()
    }

    /// Turns what a node published into gossip deliveries to every other node.
    fn drain(&mut self, from: usize) {
        let mut published = Vec::new();
        if let Some(commands) = self.nodes[from].commands.as_mut() {
            while let Ok(command) = commands.try_recv() {
                if let Command::Publish { data, .. } = command {
                    published.push(data);
                }
            }
        }
        for data in published {
            for to in 0..self.nodes.len() {
                if to == from {
                    continue;
                }
                self.cost.gossip_messages += 1;
                self.cost.gossip_bytes += data.len() as u64;
                if self.rng.gen_bool(GOSSIP_LOSS) {
                    self.cost.dropped += 1;
                    continue;
                }
                let delay = self.rng.gen_range(1..50);
                self.at(
                    delay,
                    Event::Gossip {
                        to,
                        from,
                        data: data.clone(),
                    },
                );
            }
        }
    }

    fn start_session(&mut self, node: usize, peer: usize) {
        let Some(handle) = self.nodes[node].node.clone() else {
            return;
        };
        if self.nodes[node].session.is_some() || peer == node {
            return;
        }
        let (session, step) = SyncSession::start(
            &handle,
            self.context,
            &self.nodes[peer].peer,
            &self.nodes[node].peer,
            &self.config,
        );
        self.next_session += 1;
        let id = self.next_session;
        self.nodes[node].session = Some((id, peer, session));
        self.step(node, id, step);
    }

    fn step(&mut self, node: usize, id: u64, step: Step) {
        self.drain(node);
        match step {
            Step::Send(request) => {
                let Some((_, peer, _)) = &self.nodes[node].session else {
                    return;
                };
                let peer = *peer;
                let data = encode(&request);
                self.cost.sync_messages += 1;
                self.cost.sync_bytes += data.len() as u64;
                self.at(REQUEST_TIMEOUT_MS, Event::Timeout { node, session: id });
                if self.rng.gen_bool(REQUEST_LOSS) {
                    self.cost.dropped += 1;
                    return;
                }
                let delay = self.rng.gen_range(1..20);
                self.at(
                    delay,
                    Event::Request {
                        to: peer,
                        from: node,
                        session: id,
                        data,
                    },
                );
            }
            Step::Done(_) | Step::Failed(_) => self.nodes[node].session = None,
        }
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Gossip { to, from, data } => {
                if self.cut(to, from) {
                    self.cost.dropped += 1;
                    return;
                }
                let node = self.nodes[to].node.clone().unwrap();
                let topic = calimero_wire::topic(&self.context);
                if node
                    .receive_gossip(&topic, &data, &self.nodes[from].peer)
                    .is_some()
                {
                    self.start_session(to, from);
                }
                self.drain(to);
            }
            Event::Request {
                to,
                from,
                session,
                data,
            } => {
                if self.cut(to, from) {
                    self.cost.dropped += 1;
                    return;
                }
                let node = self.nodes[to].node.clone().unwrap();
                let answer = node.answer_bytes(&data, &self.nodes[from].peer);
                self.drain(to);
                if let Some(data) = answer {
                    self.cost.sync_messages += 1;
                    self.cost.sync_bytes += data.len() as u64;
                    let delay = self.rng.gen_range(1..20);
                    self.at(
                        delay,
                        Event::Response {
                            to: from,
                            session,
                            data,
                        },
                    );
                }
            }
            Event::Response { to, session, data } => {
                let Some(node) = self.nodes[to].node.clone() else {
                    return;
                };
                let Some((id, peer, mut running)) = self.nodes[to].session.take() else {
                    return;
                };
                if id != session || self.cut(to, peer) {
                    self.nodes[to].session = Some((id, peer, running));
                    return;
                }
                let response: SyncResponse = decode(&data, usize::MAX, "response").unwrap();
                let step = running.on_response(&node, response);
                self.nodes[to].session = Some((id, peer, running));
                self.step(to, id, step);
            }
            Event::Timeout { node, session } => {
                if self.nodes[node]
                    .session
                    .as_ref()
                    .is_some_and(|(id, ..)| *id == session)
                {
                    // Still waiting on this request: the session failed; the next tick retries.
                    self.nodes[node].session = None;
                }
            }
            Event::Tick { node } => {
                if self.nodes[node].node.is_some() {
                    let peer = self.rng.gen_range(0..self.nodes.len());
                    self.start_session(node, peer);
                }
                let jitter = self.rng.gen_range(0..SYNC_INTERVAL_MS / 2);
                self.at(SYNC_INTERVAL_MS + jitter, Event::Tick { node });
            }
            Event::Write { node, key } => {
                // A node that is down cannot take the write: nothing is acknowledged.
                if let Some(handle) = self.nodes[node].node.clone()
                    && handle.is_initialized(&self.context).unwrap()
                {
                    let args = serde_json::to_vec(&json!({"key": key, "value": "v"})).unwrap();
                    handle.execute(&self.context, "set", args).unwrap();
                    ACKED.with(|acked| acked.borrow_mut().push(key));
                    self.drain(node);
                }
            }
            Event::Crash { node } => {
                self.nodes[node].node = None;
                self.nodes[node].commands = None;
                self.nodes[node].session = None;
            }
            Event::Restart { node } => {
                if self.nodes[node].node.is_none() {
                    let (handle, commands, _) = open(self.nodes[node].dir.path());
                    self.nodes[node].node = Some(handle);
                    self.nodes[node].commands = Some(commands);
                }
            }
            Event::Partition { group } => self.partition = Some(group),
            Event::Heal => self.partition = None,
        }
    }

    fn run_until(&mut self, deadline: u64, mut done: impl FnMut(&Sim) -> bool) -> Option<u64> {
        let mut last_check = 0;
        while let Some(Reverse((time, seq))) = self.queue.pop() {
            if time > deadline {
                return None;
            }
            self.now = time;
            if let Some(event) = self.events.remove(&seq) {
                self.handle(event);
            }
            if self.now >= last_check + 100 {
                last_check = self.now;
                if done(self) {
                    return Some(self.now);
                }
            }
        }
        None
    }
}

thread_local! {
    static ACKED: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn roots(sim: &Sim) -> Vec<Option<calimero_wire::Hash>> {
    sim.nodes
        .iter()
        .map(|n| {
            let node = n.node.as_ref()?;
            node.is_initialized(&sim.context)
                .ok()?
                .then(|| node.heads(&sim.context).ok().map(|(root, _)| root))
                .flatten()
        })
        .collect()
}

#[test]
fn nodes_converge_through_loss_delay_partitions_and_restarts() {
    let count = env("SIM_NODES", 20) as usize;
    let seed = env("SIM_SEED", 7);
    let writes = env("SIM_WRITES", 3 * count as u64);
    let module = calimero_tests::build_app("kv-store");

    let mut nodes = Vec::new();
    for _ in 0..count {
        let dir = tempfile::tempdir().unwrap();
        let (node, commands, peer) = open(dir.path());
        nodes.push(SimNode {
            node: Some(node),
            commands: Some(commands),
            dir,
            peer: peer.to_string(),
            session: None,
        });
    }
    // Node 0 creates the context; the others join it (the join exchange, called directly).
    let creator = nodes[0].node.clone().unwrap();
    let app = creator.install_application(&module, "sim").unwrap();
    let (context, _) = creator.create_context(&app, b"{}".to_vec()).unwrap();
    for joiner in &nodes[1..] {
        let node = joiner.node.clone().unwrap();
        node.install_application(&module, "sim").unwrap();
        join_in_process(&creator, &node, &context, &joiner.peer).unwrap();
    }
    let mut sim = Sim {
        nodes,
        context,
        queue: BinaryHeap::new(),
        events: HashMap::new(),
        seq: 0,
        now: 0,
        rng: StdRng::seed_from_u64(seed),
        partition: None,
        cost: Cost::default(),
        next_session: 0,
        config: SyncConfig {
            page: 200,
            snapshot_threshold: 64,
            ..SyncConfig::default()
        },
    };
    for node in 0..count {
        sim.drain(node);
        let first = sim.rng.gen_range(0..SYNC_INTERVAL_MS);
        sim.at(first, Event::Tick { node });
    }
    // Writes spread over 30 virtual seconds, with faults in the middle.
    for i in 0..writes {
        let node = sim.rng.gen_range(0..count);
        let at = 2_000 + sim.rng.gen_range(0..30_000);
        sim.at(
            at,
            Event::Write {
                node,
                key: format!("n{node}-w{i}"),
            },
        );
    }
    let group: Vec<bool> = (0..count).map(|_| sim.rng.gen_bool(0.5)).collect();
    sim.at(8_000, Event::Partition { group });
    sim.at(18_000, Event::Heal);
    for _ in 0..(count / 10).max(1) {
        let node = sim.rng.gen_range(1..count);
        let crash = 5_000 + sim.rng.gen_range(0..20_000);
        sim.at(crash, Event::Crash { node });
        let down_for = 3_000 + sim.rng.gen_range(0..5_000);
        sim.at(crash + down_for, Event::Restart { node });
    }

    // Run through the writes and faults, then until every node has the same root.
    sim.run_until(33_000, |_| false);
    let writes_done = sim.now;
    let converged = sim.run_until(33_000 + 120_000, |sim| {
        let roots = roots(sim);
        roots.iter().all(|r| r.is_some() && *r == roots[0])
    });
    let roots = roots(&sim);
    let converged = converged.unwrap_or_else(|| panic!("no convergence: roots {roots:?}"));

    // Every node holds exactly the acknowledged writes (the model: a set of distinct keys).
    let acked: Vec<String> = ACKED.with(|a| a.borrow().clone());
    let model: BTreeMap<String, String> =
        acked.iter().map(|k| (k.clone(), "v".to_owned())).collect();
    for (i, n) in sim.nodes.iter().enumerate() {
        let node = n.node.as_ref().unwrap();
        let entries = node
            .execute(&context, "entries", b"{}".to_vec())
            .unwrap()
            .output;
        let entries: BTreeMap<String, String> = serde_json::from_value(entries).unwrap();
        assert_eq!(
            entries, model,
            "node {i} differs from the acknowledged writes"
        );
    }
    let deltas = acked.len().max(1) as f64;
    let report = json!({
        "nodes": count,
        "seed": seed,
        "acknowledged_writes": acked.len(),
        "virtual_ms_to_converge_after_writes": converged - writes_done,
        "gossip_messages_per_delta": sim.cost.gossip_messages as f64 / deltas,
        "gossip_bytes_per_delta": sim.cost.gossip_bytes as f64 / deltas,
        "sync_messages_per_delta": sim.cost.sync_messages as f64 / deltas,
        "sync_bytes_per_delta": sim.cost.sync_bytes as f64 / deltas,
        "dropped_messages": sim.cost.dropped,
    });
    println!("simulation: {report}");
    assert!(
        acked.len() as u64 > writes / 2,
        "too few writes landed: {report}"
    );
}
