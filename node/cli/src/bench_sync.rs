//! The replication rows of the benchmark suite: B7 (catch-up after missing 10,000 deltas), B8
//! (remote deltas applied per second, causal and reverse order), B9 (memory per context) and
//! propagation (a `set` on one node until another reports the new root, 2 and 5 nodes).
//!
//! Nodes here are real `Node`s on RocksDB in temporary directories with real libp2p networks on
//! loopback, in one process; only B8 and B9 run without a network.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use calimero_network::{NetworkConfig, NetworkHandle};
use calimero_node::Node;
use calimero_node::sync::{Replicator, SyncConfig};
use calimero_node::testing::{join_in_process, sync_in_process};
use calimero_runtime::Limits;
use calimero_wire::{ContextId, DeltaEnvelope};
use rand::RngCore;
use serde_json::{Value, json};

fn open(dir: &Path) -> anyhow::Result<Arc<Node>> {
    Ok(Arc::new(
        Node::open(&dir.join("data"), &dir.join("compiled"), Limits::default())
            .map_err(|e| anyhow!("{e}"))?,
    ))
}

fn err(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("{e}")
}

/// Makes `joiner` a member of `context` on `creator` with its state, without a network.
fn join_directly(creator: &Node, joiner: &Node, context: &ContextId) -> anyhow::Result<()> {
    join_in_process(creator, joiner, context, "bench").map_err(err)?;
    sync_in_process(creator, joiner, context, "bench").map_err(err)?;
    Ok(())
}

fn set(node: &Node, context: &ContextId, i: usize) -> anyhow::Result<()> {
    let args = serde_json::to_vec(&json!({"key": format!("key-{i:06}"), "value": "value"}))?;
    node.execute(context, "set", args).map_err(err)?;
    Ok(())
}

/// B8: remote deltas applied per second on one node, in causal and in reverse order.
pub fn b8(module: &[u8], deltas: usize) -> anyhow::Result<Value> {
    let dirs = [
        tempfile::tempdir()?,
        tempfile::tempdir()?,
        tempfile::tempdir()?,
    ];
    let author = open(dirs[0].path())?;
    let app = author.install_application(module, "bench").map_err(err)?;
    let (context, _) = author.create_context(&app, b"{}".to_vec()).map_err(err)?;
    let mut rates = serde_json::Map::new();
    let causal_node = open(dirs[1].path())?;
    let reverse_node = open(dirs[2].path())?;
    for node in [&causal_node, &reverse_node] {
        node.install_application(module, "bench").map_err(err)?;
        join_directly(&author, node, &context)?;
    }
    let (_, known) = causal_node.heads(&context).map_err(err)?;
    for i in 0..deltas {
        set(&author, &context, i)?;
    }
    let (chain, _) = author
        .deltas_since(&context, &known, usize::MAX)
        .map_err(err)?;
    let (root, _) = author.heads(&context).map_err(err)?;
    for (name, node, order) in [
        ("causal", &causal_node, chain.clone()),
        (
            "reverse",
            &reverse_node,
            chain.iter().rev().cloned().collect::<Vec<DeltaEnvelope>>(),
        ),
    ] {
        let count = order.len();
        let started = Instant::now();
        node.receive_deltas(order);
        let elapsed = started.elapsed();
        let (reached, _) = node.heads(&context).map_err(err)?;
        if reached != root {
            bail!("B8 {name}: the node did not reach the author's root");
        }
        rates.insert(
            name.into(),
            json!({"deltas": count, "seconds": elapsed.as_secs_f64(),
                   "per_second": count as f64 / elapsed.as_secs_f64()}),
        );
    }
    Ok(Value::Object(rates))
}

/// Resident memory of this process, in bytes.
fn rss() -> anyhow::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS in /proc/self/status")?;
    Ok(kib * 1024)
}

/// B9: memory per context once its DAG of `deltas` deltas is loaded, over `contexts` contexts,
/// measured after reopening the node so only what loading a context costs counts: live heap
/// bytes (exact, from the counting allocator) and RSS growth (which understates when the
/// allocator reuses pages freed earlier).
pub fn b9(module: &[u8], contexts: usize, deltas: usize) -> anyhow::Result<Value> {
    let dir = tempfile::tempdir()?;
    let mut ids = Vec::new();
    {
        let node = open(dir.path())?;
        let app = node.install_application(module, "bench").map_err(err)?;
        for _ in 0..contexts {
            let (context, _) = node.create_context(&app, b"{}".to_vec()).map_err(err)?;
            for i in 0..deltas {
                set(&node, &context, i)?;
            }
            ids.push(context);
        }
        node.flush().map_err(err)?;
    }
    let node = open(dir.path())?;
    // Warm the module and RocksDB with one context, so the figure is per additional context.
    node.sync_status(&ids[0]).map_err(err)?;
    let before = rss()?;
    let heap_before = crate::bench::live_heap_bytes();
    for context in &ids[1..] {
        node.sync_status(context).map_err(err)?;
    }
    let heap_after = crate::bench::live_heap_bytes();
    let after = rss()?;
    let loaded = (ids.len() - 1).max(1) as f64;
    Ok(json!({"contexts": contexts, "deltas_per_context": deltas,
              "rss_before": before, "rss_after": after,
              "rss_bytes_per_context": after.saturating_sub(before) as f64 / loaded,
              "heap_bytes_per_context": heap_after.saturating_sub(heap_before) as f64 / loaded}))
}

struct Peer {
    node: Arc<Node>,
    network: NetworkHandle,
    replicator: Replicator,
}

fn sync_config() -> SyncConfig {
    SyncConfig {
        interval: Duration::from_secs(1),
        heartbeat: Duration::from_secs(1),
        ..SyncConfig::default()
    }
}

async fn start_peer(node: Arc<Node>, secret: [u8; 32], boot: Vec<String>) -> anyhow::Result<Peer> {
    let mut config = NetworkConfig::new(secret);
    config.listen = vec!["/ip4/127.0.0.1/tcp/0".into()];
    config.boot_nodes = boot;
    let replicator = Replicator::connect(node.clone(), config, sync_config()).map_err(err)?;
    let network = replicator.network().clone();
    Ok(Peer {
        node,
        network,
        replicator,
    })
}

fn secret() -> [u8; 32] {
    let mut secret = [0; 32];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    secret
}

async fn wait_root(
    node: &Node,
    context: &ContextId,
    root: calimero_wire::Hash,
    within: Duration,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    loop {
        if node.heads(context).map_err(err)?.0 == root {
            return Ok(started.elapsed());
        }
        if started.elapsed() > within {
            bail!("no convergence within {within:?}");
        }
        tokio::time::sleep(Duration::from_micros(100)).await;
    }
}

/// A network of `count` peers in one context, all joined to the first by invitation.
async fn network_of(
    module: &[u8],
    count: usize,
) -> anyhow::Result<(Vec<Peer>, ContextId, Vec<tempfile::TempDir>)> {
    let mut dirs = Vec::new();
    let mut peers = Vec::new();
    for i in 0..count {
        let dir = tempfile::tempdir()?;
        let node = open(dir.path())?;
        let boot = if i == 0 {
            Vec::new()
        } else {
            peers
                .first()
                .map(|p: &Peer| p.network.clone())
                .ok_or_else(|| anyhow!("no first peer"))?
                .listen_addresses()
                .await
        };
        peers.push(start_peer(node, secret(), boot).await?);
        dirs.push(dir);
    }
    let app = peers[0]
        .node
        .install_application(module, "bench")
        .map_err(err)?;
    let (context, _) = peers[0]
        .node
        .create_context(&app, b"{}".to_vec())
        .map_err(err)?;
    for peer in &peers[1..] {
        let invitation = peers[0]
            .replicator
            .invite(context, None, Duration::from_secs(60))
            .await
            .map_err(err)?;
        peer.replicator
            .join(&invitation.to_text())
            .await
            .map_err(err)?;
    }
    let (root, _) = peers[0].node.heads(&context).map_err(err)?;
    for peer in &peers[1..] {
        wait_root(&peer.node, &context, root, Duration::from_secs(30)).await?;
    }
    // Let every gossip mesh form before measuring.
    tokio::time::sleep(Duration::from_secs(2)).await;
    Ok((peers, context, dirs))
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1000.0
}

/// Propagation: a `set` on the first node until the last node reports the new root.
pub fn propagation(module: &[u8], nodes: usize, samples: usize) -> anyhow::Result<Value> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let (peers, context, _dirs) = network_of(module, nodes).await?;
        let mut times = Vec::with_capacity(samples);
        let last = &peers[nodes - 1];
        for i in 0..samples {
            let author = peers[0].node.clone();
            let root = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
                let started = Instant::now();
                set(&author, &context, i)?;
                Ok((author.heads(&context).map_err(err)?.0, started))
            })
            .await??;
            let (root, started) = root;
            wait_root(&last.node, &context, root, Duration::from_secs(30)).await?;
            times.push(started.elapsed());
        }
        times.sort();
        for peer in &peers {
            peer.network.shutdown().await;
        }
        Ok(json!({"nodes": nodes, "samples": samples,
                  "p50_ms": percentile(&times, 0.5), "p99_ms": percentile(&times, 0.99)}))
    })
}

/// B6: a `set` on the first of `nodes` nodes until a WebSocket subscriber of the last node
/// receives its `StateMutation` (the last node serves the real HTTP router on loopback; the
/// subscriber is a real WebSocket client on its own thread).
pub fn b6(module: &[u8], nodes: usize, samples: usize) -> anyhow::Result<Value> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let (peers, context, _dirs) = network_of(module, nodes).await?;
        let last = peers[nodes - 1].node.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(calimero_server::serve(
            listener,
            calimero_server::router(last, None, None),
            async {
                let _ = stopped.await;
            },
        ));

        // The subscriber: reports the arrival time of every pushed mutation.
        let (arrived, arrivals) = std::sync::mpsc::channel::<Instant>();
        let url = format!("ws://{address}/ws");
        let subscription =
            json!({"id": 1, "method": "subscribe", "params": {"contextIds": [context]}});
        let client = std::thread::spawn(move || -> anyhow::Result<()> {
            let (mut socket, _) = tungstenite::connect(url.as_str())?;
            socket.send(tungstenite::Message::text(subscription.to_string()))?;
            loop {
                let tungstenite::Message::Text(text) = socket.read()? else {
                    continue;
                };
                let at = Instant::now();
                let push: Value = serde_json::from_str(&text)?;
                let counts = push["id"] == json!(1) || push["result"]["type"] == "StateMutation";
                if counts && arrived.send(at).is_err() {
                    return Ok(());
                }
            }
        });
        arrivals
            .recv_timeout(Duration::from_secs(30))
            .context("the WebSocket subscription was not acknowledged")?;

        let mut times = Vec::with_capacity(samples);
        for i in 0..samples {
            let author = peers[0].node.clone();
            let started = tokio::task::spawn_blocking(move || -> anyhow::Result<Instant> {
                let started = Instant::now();
                set(&author, &context, i)?;
                Ok(started)
            })
            .await??;
            let at = tokio::task::block_in_place(|| arrivals.recv_timeout(Duration::from_secs(30)))
                .context("the subscriber of the last node got no event within 30 s")?;
            times.push(at.saturating_duration_since(started));
        }
        times.sort();
        drop(arrivals);
        // A graceful stop would wait for the subscriber's connection: end the server outright.
        // The subscriber's thread ends when the runtime (and with it the connection) is dropped.
        let _ = stop.send(());
        server.abort();
        drop(client);
        for peer in &peers {
            peer.network.shutdown().await;
        }
        Ok(json!({"nodes": nodes, "samples": samples,
                  "p50_ms": percentile(&times, 0.5), "p99_ms": percentile(&times, 0.99)}))
    })
}

/// B7: a node misses `deltas` deltas while stopped, restarts, and catches up.
pub fn b7(module: &[u8], deltas: usize) -> anyhow::Result<Value> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let (mut peers, context, dirs) = network_of(module, 2).await?;
        let behind = peers.pop().ok_or_else(|| anyhow!("two peers"))?;
        behind.network.shutdown().await;
        drop(behind);
        let author = peers[0].node.clone();
        let writer = author.clone();
        tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            for i in 0..deltas {
                set(&writer, &context, i)?;
            }
            Ok(())
        })
        .await??;
        let (root, _) = author.heads(&context).map_err(err)?;
        // Reopen the stopped node's store (its Node is released once its tasks end).
        let reopened = {
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                match open(dirs[1].path()) {
                    Ok(node) => break node,
                    Err(_) if Instant::now() < deadline => {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    Err(e) => return Err(e.context("reopening the stopped node")),
                }
            }
        };
        let boot = peers[0].network.listen_addresses().await;
        let started = Instant::now();
        let restarted = start_peer(reopened, secret(), boot).await?;
        let caught_up = wait_root(&restarted.node, &context, root, Duration::from_secs(120))
            .await
            .map_err(|e| e.context("the restarted node never caught up"))?;
        let total = started.elapsed();
        restarted.network.shutdown().await;
        peers[0].network.shutdown().await;
        Ok(
            json!({"missed_deltas": deltas, "catch_up_seconds": total.as_secs_f64(),
                  "after_network_start_seconds": caught_up.as_secs_f64()}),
        )
    })
}
