//! `merod`: initialise and run a node.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use calimero_node::Node;
use calimero_node::config::NodeConfig;
use calimero_node::sync::Replicator;
use calimero_server as server;
use clap::{Parser, Subcommand};

/// Runs a Calimero node: an embedded RocksDB store, a wasmer runtime for app modules, libp2p
/// replication with its peers, and the JSON-RPC and admin API.
#[derive(Parser, Debug)]
#[command(
    name = "merod",
    version,
    after_help = "Example (two nodes on one machine):\n  \
        merod --node n1 init --server-port 2528 --swarm-port 2428\n  \
        merod --node n2 init --server-port 2529 --swarm-port 2429\n  \
        merod --node n1 run &\n  \
        merod --node n2 run &\n  \
        then invite n2 into a context of n1: see `meroctl context invite --help`"
)]
pub struct Cli {
    /// Directory holding the nodes' homes [env: CALIMERO_HOME] [default: ~/.calimero]
    #[arg(long, global = true)]
    pub home: Option<PathBuf>,
    /// The node's name: its home is <home>/<node>
    #[arg(
        long,
        short = 'n',
        alias = "node-name",
        global = true,
        default_value = "default"
    )]
    pub node: String,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create the node's home: config.toml, identity, admin token, JWT secret, data/ and blobs/.
    Init {
        /// Address the HTTP server listens on.
        #[arg(long, default_value = "127.0.0.1")]
        server_host: std::net::IpAddr,
        /// HTTP port (0 picks a free one at each start).
        #[arg(long, default_value_t = 2528)]
        server_port: u16,
        /// Address the peer-to-peer swarm listens on.
        #[arg(long, default_value = "0.0.0.0")]
        swarm_host: std::net::IpAddr,
        /// Peer-to-peer port (0 picks a free one at each start).
        #[arg(long, default_value_t = 2428)]
        swarm_port: u16,
        /// Peers to dial at every start (multiaddrs ending in /p2p/<peer id>).
        #[arg(long, num_args = 1.., value_name = "MULTIADDR")]
        boot_nodes: Vec<String>,
        /// Sync every context with a random peer this often (milliseconds).
        #[arg(long, default_value_t = 10_000)]
        sync_interval_ms: u64,
        /// Announce every context's root and heads this often (milliseconds).
        #[arg(long, default_value_t = 30_000)]
        heartbeat_ms: u64,
        /// Replace an existing node's config and JWT secret (its data is kept).
        #[arg(long)]
        force: bool,
    },
    /// Start the node and serve until SIGINT or SIGTERM.
    Run {
        /// Serve without the bearer token or JWTs (only allowed on a loopback address).
        #[arg(long)]
        no_auth: bool,
        /// Listen for peers on this address instead of the configured one.
        #[arg(long)]
        swarm_host: Option<std::net::IpAddr>,
        /// Listen for peers on this port instead of the configured one.
        #[arg(long)]
        swarm_port: Option<u16>,
        /// More peers to dial (multiaddrs ending in /p2p/<peer id>), added to the configured ones.
        #[arg(long, num_args = 1.., value_name = "MULTIADDR")]
        boot_nodes: Vec<String>,
        /// Discover peers on the local network with multicast DNS (off by default; it sends
        /// multicast traffic, so keep it off where only loopback is allowed).
        #[arg(long)]
        mdns: bool,
        /// Test switch: drop this percentage of incoming gossip messages at random, to show that
        /// periodic sync repairs what gossip loses. Never use it in production.
        #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=100), hide = true)]
        test_drop_gossip_percent: u8,
    },
    /// Offline check (node stopped): recompute every context's state root from its stored
    /// entities and compare it with the root the node recorded.
    Verify,
}

/// Runs `merod` with parsed arguments.
pub fn main(cli: Cli) -> anyhow::Result<()> {
    let home_arg = cli
        .home
        .as_ref()
        .map(|home| format!(" --home {}", home.display()))
        .unwrap_or_default();
    let node_home = crate::home::base(cli.home).join(&cli.node);
    match cli.command {
        Command::Init {
            server_host,
            server_port,
            swarm_host,
            swarm_port,
            boot_nodes,
            sync_interval_ms,
            heartbeat_ms,
            force,
        } => {
            if node_home.join("config.toml").exists() && !force {
                bail!(
                    "node `{}` already exists at {}; pass --force to overwrite its config",
                    cli.node,
                    node_home.display()
                );
            }
            let mut config = NodeConfig::generate(
                SocketAddr::new(server_host, server_port),
                swarm_host,
                swarm_port,
            );
            config.swarm.boot_nodes = boot_nodes;
            config.sync.interval_ms = sync_interval_ms;
            config.sync.heartbeat_ms = heartbeat_ms;
            config.save(&node_home).map_err(anyhow::Error::msg)?;
            // A new secret: tokens signed for a previous incarnation of the node stop working,
            // as its admin token does.
            server::auth::Secret::create(&node_home).map_err(anyhow::Error::msg)?;
            println!("initialised node `{}` in {}", cli.node, node_home.display());
            println!("  server   http://{}", config.server.listen);
            println!("  swarm    {}", config.swarm.listen.join(", "));
            println!("  identity {}", config.identity.public_key);
            println!("next: merod{home_arg} --node {} run", cli.node);
            Ok(())
        }
        Command::Run {
            no_auth,
            swarm_host,
            swarm_port,
            boot_nodes,
            mdns,
            test_drop_gossip_percent,
        } => {
            let mut config = NodeConfig::load(&node_home).map_err(anyhow::Error::msg)?;
            if swarm_host.is_some() || swarm_port.is_some() {
                let (host, port) = configured_swarm(&config);
                let host = swarm_host.unwrap_or(host);
                let port = swarm_port.unwrap_or(port);
                config.swarm.listen = vec![match host {
                    std::net::IpAddr::V4(ip) => format!("/ip4/{ip}/tcp/{port}"),
                    std::net::IpAddr::V6(ip) => format!("/ip6/{ip}/tcp/{port}"),
                }];
            }
            config.swarm.boot_nodes.extend(boot_nodes);
            config.swarm.mdns |= mdns;
            run(
                &cli.node,
                node_home,
                config,
                no_auth,
                test_drop_gossip_percent,
            )
        }
        Command::Verify => verify(node_home),
    }
}

fn open(node_home: &std::path::Path, config: &NodeConfig) -> anyhow::Result<Node> {
    let data = node_home.join(&config.datastore.path);
    let compiled = node_home.join(&config.blobstore.path).join("compiled");
    Node::open(&data, &compiled, config.limits())
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| {
            format!(
                "opening the store at {} (is another merod using it?)",
                data.display()
            )
        })
}

/// The host and port of the first configured swarm address.
fn configured_swarm(config: &NodeConfig) -> (std::net::IpAddr, u16) {
    let mut host = std::net::IpAddr::from([0, 0, 0, 0]);
    let mut port = 2428;
    if let Some(address) = config.swarm.listen.first() {
        let parts: Vec<&str> = address.split('/').collect();
        if let [_, _, ip, "tcp", p, ..] = parts.as_slice() {
            host = ip.parse().unwrap_or(host);
            port = p.parse().unwrap_or(port);
        }
    }
    (host, port)
}

fn run(
    name: &str,
    node_home: PathBuf,
    config: NodeConfig,
    no_auth: bool,
    drop_gossip_percent: u8,
) -> anyhow::Result<()> {
    if no_auth && !config.server.listen.ip().is_loopback() {
        bail!(
            "--no-auth is refused: the server listens on {}, which is not a loopback address",
            config.server.listen
        );
    }
    let node = Arc::new(open(&node_home, &config)?);
    let auth = if no_auth {
        None
    } else {
        let jwt = server::auth::Jwt::for_node(
            &node_home,
            config.server.access_token_lifetime_secs,
            config.server.refresh_token_lifetime_secs,
        )
        .map_err(anyhow::Error::msg)?;
        Some(server::auth::Authenticator::new(
            config.server.auth_token.clone(),
            Some(jwt),
        ))
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(config.server.listen)
            .await
            .with_context(|| {
                format!(
                    "cannot listen on {}; is another node using that port?",
                    config.server.listen
                )
            })?;
        let address = listener.local_addr()?;

        let secret_key = config.secret_key().map_err(anyhow::Error::msg)?;
        let mut network_config = calimero_network::NetworkConfig::new(secret_key);
        network_config.listen = config.swarm.listen.clone();
        network_config.boot_nodes = config.swarm.boot_nodes.clone();
        network_config.mdns = config.swarm.mdns;
        network_config.gossip_drop_percent = drop_gossip_percent;
        let replicator = Replicator::connect(node.clone(), network_config, config.sync_config())
            .map_err(|e| anyhow::anyhow!("{e}"))
            .context("starting the peer-to-peer network")?;
        let network = replicator.network().clone();
        let swarm = wait_for_swarm(&network).await;
        println!(
            "merod: node `{name}` peer id {} swarm {}",
            network.local_peer_id(),
            swarm.join(" ")
        );
        if drop_gossip_percent > 0 {
            println!("merod: TEST SWITCH: dropping {drop_gossip_percent}% of incoming gossip");
        }
        println!(
            "merod: node `{name}` listening on http://{address} (home {})",
            node_home.display()
        );
        tracing::info!(%address, "listening");
        let router = server::router_with_auth(node.clone(), auth, Some(replicator));
        server::serve(listener, router, shutdown_signal()).await?;
        anyhow::Ok(())
    })?;
    node.flush().map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("merod: node `{name}` stopped");
    Ok(())
}

/// The swarm's bound addresses, once it has bound (a port of 0 resolves at start).
async fn wait_for_swarm(network: &calimero_network::NetworkHandle) -> Vec<String> {
    for _ in 0..100 {
        let addresses = network.listen_addresses().await;
        if !addresses.is_empty() {
            return addresses;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    Vec::new()
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => return interrupt.await.unwrap_or(()),
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    interrupt.await.unwrap_or(());
}

fn verify(node_home: PathBuf) -> anyhow::Result<()> {
    let config = NodeConfig::load(&node_home).map_err(anyhow::Error::msg)?;
    let node = open(&node_home, &config)?;
    let contexts = node.contexts().map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut bad = 0;
    for context in &contexts {
        if !context.is_initialized {
            println!("empty    {} (joined, no state synced yet)", context.id);
            continue;
        }
        match node.verify_root(&context.id) {
            Ok((recorded, recomputed)) if recorded == recomputed => {
                println!("ok       {} root {recorded}", context.id);
            }
            Ok((recorded, recomputed)) => {
                bad += 1;
                println!(
                    "MISMATCH {} recorded {recorded} recomputed {recomputed}",
                    context.id
                );
            }
            Err(error) => {
                bad += 1;
                println!("CORRUPT  {} {error}", context.id);
            }
        }
    }
    if bad > 0 {
        bail!("{bad} of {} contexts failed verification", contexts.len());
    }
    println!("{} contexts verified", contexts.len());
    Ok(())
}
