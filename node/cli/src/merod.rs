//! `merod`: initialise and run a node.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use calimero_node::config::NodeConfig;
use calimero_node::{Node, ids, server};
use clap::{Parser, Subcommand};

/// Runs a Calimero node: an embedded RocksDB store, a wasmer runtime for app modules, and the
/// JSON-RPC and admin API.
#[derive(Parser, Debug)]
#[command(
    name = "merod",
    version,
    after_help = "Example:\n  merod --node n1 init --server-port 2528\n  merod --node n1 run"
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
    /// Create the node's home: config.toml, identity, admin token, data/ and blobs/.
    Init {
        /// Address the HTTP server listens on.
        #[arg(long, default_value = "127.0.0.1")]
        server_host: std::net::IpAddr,
        /// HTTP port (0 picks a free one at each start).
        #[arg(long, default_value_t = 2528)]
        server_port: u16,
        /// Peer-to-peer port.
        #[arg(long, default_value_t = 2428)]
        swarm_port: u16,
        /// Replace an existing node's config (its data is kept).
        #[arg(long)]
        force: bool,
    },
    /// Start the node and serve until SIGINT or SIGTERM.
    Run {
        /// Serve without the bearer token (only allowed on a loopback address).
        #[arg(long)]
        no_auth: bool,
    },
    /// Offline check (node stopped): recompute every context's state root from its stored
    /// entities and compare it with the root the node recorded.
    Verify,
}

/// Runs `merod` with parsed arguments.
pub fn main(cli: Cli) -> anyhow::Result<()> {
    let node_home = crate::home::base(cli.home).join(&cli.node);
    match cli.command {
        Command::Init {
            server_host,
            server_port,
            swarm_port,
            force,
        } => {
            if node_home.join("config.toml").exists() && !force {
                bail!(
                    "node `{}` already exists at {}; pass --force to overwrite its config",
                    cli.node,
                    node_home.display()
                );
            }
            let config =
                NodeConfig::generate(SocketAddr::new(server_host, server_port), swarm_port);
            config.save(&node_home).map_err(anyhow::Error::msg)?;
            println!("initialised node `{}` in {}", cli.node, node_home.display());
            println!("  server   http://{}", config.server.listen);
            println!("  identity {}", config.identity.public_key);
            println!("next: merod --node {} run", cli.node);
            Ok(())
        }
        Command::Run { no_auth } => run(&cli.node, node_home, no_auth),
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

fn run(name: &str, node_home: PathBuf, no_auth: bool) -> anyhow::Result<()> {
    let config = NodeConfig::load(&node_home).map_err(anyhow::Error::msg)?;
    if no_auth && !config.server.listen.ip().is_loopback() {
        bail!(
            "--no-auth is refused: the server listens on {}, which is not a loopback address",
            config.server.listen
        );
    }
    let node = Arc::new(open(&node_home, &config)?);
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
        let token = (!no_auth).then(|| config.server.auth_token.clone());
        println!(
            "merod: node `{name}` listening on http://{address} (home {})",
            node_home.display()
        );
        tracing::info!(%address, "listening");
        let router = server::router(node.clone(), token);
        server::serve(listener, router, shutdown_signal()).await?;
        anyhow::Ok(())
    })?;
    node.flush().map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("merod: node `{name}` stopped");
    Ok(())
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
        let id = ids::decode(&context.id, "context id").map_err(anyhow::Error::msg)?;
        match node.verify_root(&id) {
            Ok((recorded, recomputed)) if recorded == recomputed => {
                println!("ok       {} root {}", context.id, ids::encode(&recorded));
            }
            Ok((recorded, recomputed)) => {
                bad += 1;
                println!(
                    "MISMATCH {} recorded {} recomputed {}",
                    context.id,
                    ids::encode(&recorded),
                    ids::encode(&recomputed)
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
