//! The benchmark suite's node rows (`BENCHMARKS.md`): B3 in-process call latency, B5 JSON-RPC
//! throughput, B11 first call after a restart. Figures go to `docs/benchmarks.md`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use calimero_node::Node;
use calimero_runtime::{Identity, Limits, Outcome, Runtime, Storage, StorageError};
use calimero_server as server;
use calimero_wire::ContextId;
use clap::Parser;
use serde_json::{Value, json};

/// The system allocator, counting the bytes currently allocated (the benchmark binary installs
/// it as the global allocator; elsewhere [`live_heap_bytes`] stays at zero).
pub struct CountingAllocator;

static LIVE_HEAP: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator, which upholds the
// `GlobalAlloc` contract; the counter is only bookkeeping.
unsafe impl std::alloc::GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        LIVE_HEAP.fetch_add(layout.size(), std::sync::atomic::Ordering::Relaxed);
        // SAFETY: same layout as given, forwarded.
        unsafe { std::alloc::System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        LIVE_HEAP.fetch_sub(layout.size(), std::sync::atomic::Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` with this layout.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        LIVE_HEAP.fetch_add(new_size, std::sync::atomic::Ordering::Relaxed);
        LIVE_HEAP.fetch_sub(layout.size(), std::sync::atomic::Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` with `layout`; forwarded unchanged.
        unsafe { std::alloc::System.realloc(ptr, layout, new_size) }
    }
}

/// Heap bytes currently allocated through [`CountingAllocator`].
pub fn live_heap_bytes() -> usize {
    LIVE_HEAP.load(std::sync::atomic::Ordering::Relaxed)
}

/// Runs the node benchmarks against an app module (the Rust kv-store).
#[derive(Parser, Debug)]
#[command(name = "calimero-bench", version)]
pub struct Cli {
    /// The kv-store module to measure.
    #[arg(long)]
    pub module: PathBuf,
    /// The TypeScript twin of the kv-store (`apps/kv-store-ts`, built by `cargo calimero build`),
    /// for rows b2 and b4.
    #[arg(long)]
    pub ts_module: Option<PathBuf>,
    /// Rows to run: b2 (TS module size), b3, b4 (TS/Rust latency), b5, b5-node (diagnostic: no
    /// HTTP), b6 (a set until a WebSocket subscriber of another node has the event, 2 and 5
    /// nodes), b7 (catch-up), b8 (remote apply rate), b9 (memory per context), propagation (2 and
    /// 5 nodes), b11 (default: b3, b5, b6, b7, b8, b9, propagation, b11, and b2 and b4 when
    /// --ts-module is given).
    #[arg(long, value_delimiter = ',')]
    pub rows: Vec<String>,
    /// Calls per latency sample set (B3).
    #[arg(long, default_value_t = 2000)]
    pub calls: usize,
    /// Total `set` calls for the throughput run (B5).
    #[arg(long, default_value_t = 20000)]
    pub rpc_calls: usize,
    /// Concurrent clients for the throughput run (B5).
    #[arg(long, default_value_t = 8)]
    pub clients: usize,
    /// Repetitions of the cold-start measurement (B11).
    #[arg(long, default_value_t = 5)]
    pub restarts: usize,
    /// Deltas the stopped node misses (B7).
    #[arg(long, default_value_t = 10_000)]
    pub missed: usize,
    /// Remote deltas applied per order (B8).
    #[arg(long, default_value_t = 5_000)]
    pub apply_deltas: usize,
    /// Contexts loaded (B9).
    #[arg(long, default_value_t = 100)]
    pub contexts: usize,
    /// Deltas per context (B9).
    #[arg(long, default_value_t = 1_000)]
    pub deltas_per_context: usize,
    /// Samples per propagation run.
    #[arg(long, default_value_t = 200)]
    pub samples: usize,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

#[derive(Default)]
struct MemoryStorage(Mutex<BTreeMap<Vec<u8>, Vec<u8>>>);

impl Storage for MemoryStorage {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        Ok(map.get(key).cloned())
    }
    fn get_private(&self, _key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(None)
    }
}

impl MemoryStorage {
    fn apply(&self, outcome: &Outcome) {
        if !outcome.should_persist() {
            return;
        }
        if let Ok(mut map) = self.0.lock() {
            for (key, value) in &outcome.writes {
                match value {
                    Some(value) => map.insert(key.clone(), value.clone()),
                    None => map.remove(key),
                };
            }
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// B3: fresh instance per call, in-memory store.
/// A runtime with `module` compiled, an empty in-memory store and a member's identity.
fn one_member(
    module: &[u8],
) -> anyhow::Result<(
    Runtime,
    Arc<calimero_runtime::CompiledModule>,
    Arc<MemoryStorage>,
    Identity,
)> {
    let runtime = Runtime::new(Limits::default(), None);
    let (_, compiled) = runtime
        .prepare(module)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let identity = Identity {
        context_id: [7; 32],
        account_id: [1; 32],
        device_id: [1; 32],
        xcall_origin: None,
    };
    Ok((
        runtime,
        compiled,
        Arc::new(MemoryStorage::default()),
        identity,
    ))
}

fn b3(module: &[u8], calls: usize) -> anyhow::Result<Value> {
    let [result] = latencies([module], calls)?;
    Ok(result)
}

/// `set` then `get` latencies of each module, `calls` of each with fresh keys. The modules take
/// turns in blocks of [`BLOCK`] calls, so that whatever else the machine does meanwhile weighs on
/// them alike and their ratio holds still; within a block each module runs warm, as a node
/// calling one app does (one call each in turn would make every call a cold one).
/// Calls a module makes in a row before the next module's turn (see [`latencies`]).
const BLOCK: usize = 25;

fn latencies<const N: usize>(modules: [&[u8]; N], calls: usize) -> anyhow::Result<[Value; N]> {
    let mut members = Vec::with_capacity(N);
    for module in modules {
        let (runtime, compiled, storage, identity) = one_member(module)?;
        let init = runtime.run(&compiled, "init", b"{}".to_vec(), identity, storage.clone());
        storage.apply(&init);
        members.push((runtime, compiled, storage, identity));
    }
    // Per module, per method: times, and wasm operators executed (the gas meter: what the
    // times measure, without their noise).
    let mut sets = vec![(Vec::with_capacity(calls), Vec::with_capacity(calls)); N];
    let mut gets = sets.clone();
    for method in ["set", "get"] {
        for block in (0..calls).step_by(BLOCK) {
            for (k, (runtime, compiled, storage, identity)) in members.iter().enumerate() {
                for i in block..(block + BLOCK).min(calls) {
                    let args = if method == "set" {
                        json!({"key": format!("key-{i}"), "value": "value"})
                    } else {
                        json!({"key": format!("key-{i}")})
                    };
                    let args = serde_json::to_vec(&args)?;
                    let started = Instant::now();
                    let outcome = runtime.run(compiled, method, args, *identity, storage.clone());
                    if method == "set" {
                        storage.apply(&outcome);
                    }
                    let elapsed = started.elapsed();
                    if outcome.returns.is_err() {
                        bail!("{method} failed: {:?}", outcome.returns);
                    }
                    let (times, gas) = if method == "set" {
                        &mut sets[k]
                    } else {
                        &mut gets[k]
                    };
                    times.push(elapsed);
                    gas.push(outcome.gas_used);
                }
            }
        }
    }
    let mut results = Vec::with_capacity(N);
    for k in 0..N {
        for (times, gas) in [&mut sets[k], &mut gets[k]] {
            times.sort();
            gas.sort();
        }
        let ((sets, set_gas), (gets, get_gas)) = (&sets[k], &gets[k]);
        results.push(json!({
            "set_median_operators": set_gas[calls / 2],
            "get_median_operators": get_gas[calls / 2],
            "set_median_ms": ms(percentile(sets, 0.5)),
            "set_p99_ms": ms(percentile(sets, 0.99)),
            "get_median_ms": ms(percentile(gets, 0.5)),
            "get_p99_ms": ms(percentile(gets, 0.99)),
            "calls": calls,
        }));
    }
    results
        .try_into()
        .map_err(|_| anyhow::anyhow!("one result per module"))
}

/// The median time of a call that does next to nothing: `__calimero_sync_next` with an empty
/// artifact, which the module refuses at once. What remains is instantiation: memory, data
/// segments, globals, imports.
fn instantiation(module: &[u8], calls: usize) -> anyhow::Result<f64> {
    let (runtime, compiled, storage, identity) = one_member(module)?;
    let mut times = Vec::with_capacity(calls);
    for _ in 0..calls {
        let started = Instant::now();
        let outcome = runtime.apply_artifact(&compiled, Vec::new(), identity, storage.clone());
        times.push(started.elapsed());
        if outcome.returns.is_ok() {
            bail!("an empty artifact was accepted");
        }
    }
    times.sort();
    Ok(ms(percentile(&times, 0.5)))
}

fn open_node(dir: &std::path::Path) -> anyhow::Result<Node> {
    Node::open(&dir.join("data"), &dir.join("compiled"), Limits::default())
        .map_err(|e| anyhow::anyhow!("{e}"))
}

/// Installs `module` on `node` and creates a context of it; returns the context (base58, raw).
fn install_and_create(node: &Node, module: &[u8]) -> anyhow::Result<(String, ContextId)> {
    let app = node
        .install_application(module, "bench")
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let (context, _) = node
        .create_context(&app, b"{}".to_vec())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok((context.to_string(), context))
}

/// B5: `set` with distinct keys over JSON-RPC from concurrent clients on loopback.
fn b5(module: &[u8], total: usize, clients: usize) -> anyhow::Result<Value> {
    let dir = tempfile::tempdir()?;
    let node = Arc::new(open_node(dir.path())?);
    let (context, _) = install_and_create(&node, module)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let address = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = runtime.spawn(server::serve(
        listener,
        server::router(node.clone(), None, None),
        async {
            let _ = stopped.await;
        },
    ));
    let per_client = total / clients;
    let started = Instant::now();
    let workers: Vec<_> = (0..clients)
        .map(|client| {
            let context = context.clone();
            std::thread::spawn(move || -> anyhow::Result<()> {
                let agent: ureq::Agent = ureq::Agent::config_builder().build().into();
                for n in 0..per_client {
                    let body = json!({"jsonrpc": "2.0", "id": n, "method": "execute", "params": {
                        "contextId": context, "method": "set",
                        "argsJson": {"key": format!("c{client}-{n}"), "value": "value"}}});
                    let answer: Value = agent
                        .post(format!("http://{address}/jsonrpc"))
                        .send_json(&body)?
                        .body_mut()
                        .read_json()?;
                    if answer.get("result").is_none() {
                        bail!("set failed: {answer}");
                    }
                }
                Ok(())
            })
        })
        .collect();
    for worker in workers {
        worker
            .join()
            .map_err(|_| anyhow::anyhow!("a client crashed"))??;
    }
    let elapsed = started.elapsed();
    let _ = stop.send(());
    let _ = runtime.block_on(serving);
    let calls = per_client * clients;
    Ok(
        json!({"calls": calls, "clients": clients, "seconds": elapsed.as_secs_f64(), "calls_per_second": calls as f64 / elapsed.as_secs_f64()}),
    )
}

/// B5 without HTTP: `Node::execute` in a loop, to split node time from transport time.
fn b5_in_process(module: &[u8], total: usize) -> anyhow::Result<Value> {
    let dir = tempfile::tempdir()?;
    let node = open_node(dir.path())?;
    let (_, context) = install_and_create(&node, module)?;
    let started = Instant::now();
    for n in 0..total {
        let args = serde_json::to_vec(&json!({"key": format!("k{n}"), "value": "value"}))?;
        node.execute(&context, "set", args)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let elapsed = started.elapsed();
    Ok(
        json!({"calls": total, "seconds": elapsed.as_secs_f64(), "calls_per_second": total as f64 / elapsed.as_secs_f64()}),
    )
}

/// B11: the first call after a restart, with the compiled module on disk; and without it.
fn b11(module: &[u8], restarts: usize) -> anyhow::Result<Value> {
    let dir = tempfile::tempdir()?;
    let context = {
        let node = open_node(dir.path())?;
        let (_, context) = install_and_create(&node, module)?;
        node.execute(&context, "set", br#"{"key":"k","value":"v"}"#.to_vec())
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        node.flush().map_err(|e| anyhow::anyhow!("{e}"))?;
        context
    };
    let mut warm = Vec::new();
    let mut cold = Vec::new();
    for round in 0..restarts * 2 {
        let without_cache = round % 2 == 1;
        if without_cache {
            std::fs::remove_dir_all(dir.path().join("compiled"))
                .context("clearing the compiled cache")?;
        }
        let node = open_node(dir.path())?;
        let started = Instant::now();
        let execution = node
            .execute(&context, "get", br#"{"key":"k"}"#.to_vec())
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let elapsed = started.elapsed();
        if execution.output != json!("v") {
            bail!("unexpected output {}", execution.output);
        }
        if without_cache {
            cold.push(elapsed)
        } else {
            warm.push(elapsed)
        }
    }
    warm.sort();
    cold.sort();
    Ok(json!({
        "first_call_with_disk_cache_median_ms": ms(percentile(&warm, 0.5)),
        "first_call_compiling_median_ms": ms(percentile(&cold, 0.5)),
        "restarts": restarts,
    }))
}

/// Runs the selected rows and prints a table.
pub fn main(cli: Cli) -> anyhow::Result<()> {
    let module =
        std::fs::read(&cli.module).with_context(|| format!("reading {}", cli.module.display()))?;
    let ts_module = match &cli.ts_module {
        Some(path) => {
            Some(std::fs::read(path).with_context(|| format!("reading {}", path.display()))?)
        }
        None => None,
    };
    let rows: Vec<String> = if cli.rows.is_empty() {
        let mut rows: Vec<String> = ["b3", "b5", "b6", "b7", "b8", "b9", "propagation", "b11"]
            .map(String::from)
            .to_vec();
        if ts_module.is_some() {
            rows.splice(0..0, ["b2".into(), "b4".into()]);
        }
        rows
    } else {
        cli.rows.clone()
    };
    let mut results = serde_json::Map::new();
    println!("module: {} ({} bytes)", cli.module.display(), module.len());
    println!(
        "{:<5} {:<52} {:>12} {:>14}",
        "row", "measure", "value", "goal"
    );
    for row in &rows {
        match row.as_str() {
            "b3" => {
                let r = b3(&module, cli.calls)?;
                println!(
                    "{:<5} {:<52} {:>9.3} ms {:>14}",
                    "B3",
                    "set, median (fresh instance, in-memory store)",
                    r["set_median_ms"].as_f64().unwrap_or(0.0),
                    "<= 0.3 ms"
                );
                println!(
                    "{:<5} {:<52} {:>9.3} ms {:>14}",
                    "B3",
                    "set, p99",
                    r["set_p99_ms"].as_f64().unwrap_or(0.0),
                    ""
                );
                println!(
                    "{:<5} {:<52} {:>9.3} ms {:>14}",
                    "B3",
                    "get, median",
                    r["get_median_ms"].as_f64().unwrap_or(0.0),
                    "<= 0.1 ms"
                );
                println!(
                    "{:<5} {:<52} {:>9.3} ms {:>14}",
                    "B3",
                    "get, p99",
                    r["get_p99_ms"].as_f64().unwrap_or(0.0),
                    ""
                );
                results.insert("b3".into(), r);
            }
            "b2" => {
                let Some(ts) = &ts_module else {
                    bail!("row b2 needs --ts-module");
                };
                println!(
                    "{:<5} {:<52} {:>9} B  {:>14}",
                    "B2",
                    "TypeScript kv-store module size",
                    ts.len(),
                    "<= 500 KB"
                );
                results.insert("b2".into(), json!({"bytes": ts.len()}));
            }
            "b4" => {
                let Some(ts) = &ts_module else {
                    bail!("row b4 needs --ts-module");
                };
                let calls = cli.calls.min(500);
                let [rust, typescript] = latencies([&module, ts], calls)?;
                let ratio = |key: &str| {
                    typescript[key].as_f64().unwrap_or(0.0) / rust[key].as_f64().unwrap_or(1.0)
                };
                for (what, key) in [("set", "set_median_ms"), ("get", "get_median_ms")] {
                    println!(
                        "{:<5} {:<52} {:>9.3} ms {:>14}",
                        "B4",
                        format!("{what}, median, TypeScript twin"),
                        typescript[key].as_f64().unwrap_or(0.0),
                        ""
                    );
                    let operators = format!("{what}_median_operators");
                    println!(
                        "{:<5} {:<52} {:>9} ops {:>13}",
                        "B4",
                        format!(
                            "{what}, wasm operators, TypeScript (Rust {})",
                            rust[&operators]
                        ),
                        typescript[&operators],
                        ""
                    );
                    println!(
                        "{:<5} {:<52} {:>9.2} x  {:>14}",
                        "B4",
                        format!("{what}, TypeScript / Rust"),
                        ratio(key),
                        "<= 2x"
                    );
                }
                // What a call costs before the app runs at all: instantiating the module (its
                // memory and data segments), measured with an empty delta artifact.
                let (rust_start, ts_start) =
                    (instantiation(&module, calls)?, instantiation(ts, calls)?);
                for (what, value) in [("Rust", rust_start), ("TypeScript", ts_start)] {
                    println!(
                        "{:<5} {:<52} {:>9.3} ms {:>14}",
                        "B4",
                        format!("instantiation alone, median, {what}"),
                        value,
                        ""
                    );
                }
                results.insert(
                    "b4".into(),
                    json!({"rust": rust, "typescript": typescript,
                           "set_ratio": ratio("set_median_ms"), "get_ratio": ratio("get_median_ms"),
                           "rust_instantiation_ms": rust_start, "ts_instantiation_ms": ts_start}),
                );
            }
            "b5" => {
                let r = b5(&module, cli.rpc_calls, cli.clients)?;
                println!(
                    "{:<5} {:<52} {:>9.0} /s {:>14}",
                    "B5",
                    format!("set over JSON-RPC, {} clients", cli.clients),
                    r["calls_per_second"].as_f64().unwrap_or(0.0),
                    ">= 5000 /s"
                );
                results.insert("b5".into(), r);
            }
            "b5-node" => {
                let r = b5_in_process(&module, cli.rpc_calls)?;
                println!(
                    "{:<5} {:<52} {:>9.0} /s {:>14}",
                    "B5",
                    "set through Node::execute, no HTTP (one thread)",
                    r["calls_per_second"].as_f64().unwrap_or(0.0),
                    "(diagnostic)"
                );
                results.insert("b5_node".into(), r);
            }
            "b11" => {
                let r = b11(&module, cli.restarts)?;
                println!(
                    "{:<5} {:<52} {:>9.3} ms {:>14}",
                    "B11",
                    "first call after restart, disk cache (median)",
                    r["first_call_with_disk_cache_median_ms"]
                        .as_f64()
                        .unwrap_or(0.0),
                    "<= 5 ms"
                );
                println!(
                    "{:<5} {:<52} {:>9.3} ms {:>14}",
                    "B11",
                    "first call after restart, compiling (median)",
                    r["first_call_compiling_median_ms"].as_f64().unwrap_or(0.0),
                    ""
                );
                results.insert("b11".into(), r);
            }
            "b7" => {
                let r = crate::bench_sync::b7(&module, cli.missed)?;
                println!(
                    "{:<5} {:<52} {:>9.3} s  {:>14}",
                    "B7",
                    format!("catch-up after missing {} deltas", cli.missed),
                    r["catch_up_seconds"].as_f64().unwrap_or(0.0),
                    "<= 2 s"
                );
                results.insert("b7".into(), r);
            }
            "b8" => {
                let r = crate::bench_sync::b8(&module, cli.apply_deltas)?;
                for order in ["causal", "reverse"] {
                    println!(
                        "{:<5} {:<52} {:>9.0} /s {:>14}",
                        "B8",
                        format!("remote deltas applied, {order} order"),
                        r[order]["per_second"].as_f64().unwrap_or(0.0),
                        ">= 10000 /s"
                    );
                }
                results.insert("b8".into(), r);
            }
            "b9" => {
                let r = crate::bench_sync::b9(&module, cli.contexts, cli.deltas_per_context)?;
                println!(
                    "{:<5} {:<52} {:>9.0} KB {:>14}",
                    "B9",
                    format!(
                        "heap per context ({} deltas, {} contexts)",
                        cli.deltas_per_context, cli.contexts
                    ),
                    r["heap_bytes_per_context"].as_f64().unwrap_or(0.0) / 1024.0,
                    "<= 1 MB"
                );
                println!(
                    "{:<5} {:<52} {:>9.0} KB {:>14}",
                    "B9",
                    "RSS growth per context (allocator may reuse pages)",
                    r["rss_bytes_per_context"].as_f64().unwrap_or(0.0) / 1024.0,
                    ""
                );
                results.insert("b9".into(), r);
            }
            "b6" => {
                let runs = latency_row("B6", "a WS subscriber of node {n} has it", |nodes| {
                    crate::bench_sync::b6(&module, nodes, cli.samples)
                })?;
                results.insert("b6".into(), runs);
            }
            "propagation" => {
                let runs = latency_row("PROP", "node {n} has the root", |nodes| {
                    crate::bench_sync::propagation(&module, nodes, cli.samples)
                })?;
                results.insert("propagation".into(), runs);
            }
            other => bail!(
                "unknown row `{other}`; use b2, b3, b4, b5, b5-node, b6, b7, b8, b9, propagation or b11"
            ),
        }
    }
    if let Some(path) = &cli.json {
        std::fs::write(path, serde_json::to_string_pretty(&Value::Object(results))?)?;
    }
    Ok(())
}

/// Runs a latency row on 2 and 5 nodes and prints its p50 and p99 against the goals (10 ms,
/// 50 ms); `until` names what ends a sample, `{n}` standing for the node count.
fn latency_row(
    row: &str,
    until: &str,
    run: impl Fn(usize) -> anyhow::Result<Value>,
) -> anyhow::Result<Value> {
    let mut runs = Vec::new();
    for nodes in [2, 5] {
        let r = run(nodes)?;
        for (what, key, goal) in [("p50", "p50_ms", "<= 10 ms"), ("p99", "p99_ms", "<= 50 ms")] {
            println!(
                "{:<5} {:<52} {:>9.3} ms {:>14}",
                row,
                format!(
                    "set on A until {}, {what}",
                    until.replace("{n}", &nodes.to_string())
                ),
                r[key].as_f64().unwrap_or(0.0),
                goal
            );
        }
        runs.push(r);
    }
    Ok(Value::Array(runs))
}
