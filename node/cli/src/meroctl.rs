//! `meroctl`: operate a node over its HTTP API.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use clap::{Parser, Subcommand, ValueEnum};
use serde_json::{Value, json};

/// Operates a Calimero node: install apps, create contexts, invite and join peers, call methods.
#[derive(Parser, Debug)]
#[command(
    name = "meroctl",
    version,
    after_help = "Examples:\n  \
        meroctl --node n1 app install --path res/kv_store.wasm\n  \
        meroctl --node n1 context create --application-id <APP>\n  \
        meroctl --node n1 call set --context <CTX> --args '{\"key\":\"a\",\"value\":\"b\"}'\n  \
        meroctl --node n1 context invite <CTX>          # prints an invitation string\n  \
        meroctl --node n2 context join <INVITATION>     # n2 becomes a member and syncs\n  \
        meroctl --node n2 peers"
)]
pub struct Cli {
    /// Directory holding the nodes' homes [env: CALIMERO_HOME] [default: ~/.calimero]
    #[arg(long, global = true)]
    pub home: Option<PathBuf>,
    /// The node to talk to; its address and token come from <home>/<node>/config.toml
    #[arg(long, short = 'n', global = true, default_value = "default")]
    pub node: String,
    /// The node's URL, instead of reading it from the node's config
    #[arg(long, global = true)]
    pub api: Option<String>,
    /// The admin token (or a JWT access token), instead of reading it from the node's config
    #[arg(long, global = true, env = "MEROCTL_TOKEN")]
    pub token: Option<String>,
    /// How to print results
    #[arg(long, global = true, value_enum, default_value = "human")]
    pub output_format: Format,
    #[command(subcommand)]
    pub command: Command,
}

/// Output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Human,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Applications: install, list, inspect.
    #[command(subcommand)]
    App(AppCommand),
    /// Contexts: create, list, inspect, delete, invite, join, sync, members.
    #[command(subcommand)]
    Context(ContextCommand),
    /// Member identities held by the node.
    #[command(subcommand)]
    Identity(IdentityCommand),
    /// Call a method of a context.
    Call {
        /// The app method.
        method: String,
        /// The context (base58 id).
        #[arg(long)]
        context: String,
        /// The arguments, a JSON object keyed by parameter name.
        #[arg(long, default_value = "{}")]
        args: String,
    },
    /// The peers this node is connected to.
    Peers,
    /// The node itself.
    #[command(subcommand)]
    Node(NodeCommand),
    /// JWT access tokens: mint (needs the admin token or an admin JWT) and refresh.
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Subcommand, Debug)]
pub enum AppCommand {
    /// Install a module from a file (sent to the node as bytes).
    Install {
        #[arg(long)]
        path: PathBuf,
    },
    /// List installed applications.
    Ls,
    /// Show one application.
    Get { id: String },
}

#[derive(Subcommand, Debug)]
pub enum ContextCommand {
    /// Create a context of an application (runs its `init`).
    Create {
        #[arg(long)]
        application_id: String,
        /// Parameters for `init`, as JSON.
        #[arg(long, default_value = "{}")]
        params: String,
    },
    /// List contexts.
    Ls,
    /// Show one context.
    Get { id: String },
    /// Delete a context and its state.
    Delete { id: String },
    /// Print an invitation (one string) another node can join this context with.
    ///
    /// The invitation is signed by this node's member identity and carries this node's peer
    /// addresses, so the invitee's node can dial it without boot nodes. Without --invitee anyone
    /// holding the string may join until it expires.
    Invite {
        /// The context (base58 id).
        context: String,
        /// Only this public key may use the invitation: the joining node creates it with
        /// `meroctl identity new`.
        #[arg(long)]
        invitee: Option<String>,
        /// How long the invitation stays valid, in seconds.
        #[arg(long, default_value_t = 86_400)]
        valid_for: u64,
    },
    /// Join a context with an invitation string (from `context invite` on a member's node).
    ///
    /// The node dials the inviter, becomes a member, fetches the application module if it lacks
    /// it, takes a snapshot of the state and from then on receives every delta.
    Join {
        /// The invitation string.
        invitation: String,
    },
    /// Move a context to a new version of its app (installed on this node first, with `app
    /// install`): runs the migration the new version declares from the context's state version,
    /// then every member moves too, once it has the new version installed.
    Upgrade {
        /// The context (base58 id).
        context: String,
        /// The new version's application id (base58, from `app install`).
        application: String,
    },
    /// Sync a context with a peer now (otherwise it happens periodically).
    Sync {
        /// The context (base58 id).
        context: String,
    },
    /// List a context's members.
    Members {
        /// The context (base58 id).
        context: String,
    },
    /// Print the context's changes as they happen (local calls and applied peer deltas), one
    /// per line, until interrupted: the new root and each event with its data and handler.
    /// With --output-format json, each line is the node's push as JSON.
    Watch {
        /// The context (base58 id).
        context: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum IdentityCommand {
    /// Create an identity for a context this node will join: give its public key to a member,
    /// who runs `context invite <CTX> --invitee <KEY>`; joining with that invitation uses it.
    New,
}

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Mint an access token (valid an hour by default) and its refresh token, and print both.
    Create {
        /// Only reads: GET routes, `sync_status` and methods the app marks read-only.
        #[arg(long)]
        read_only: bool,
    },
    /// Exchange a refresh token (each works once) for a new pair, and print it.
    Refresh {
        /// The refresh token.
        refresh_token: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum NodeCommand {
    /// Is the node up, and what does it hold?
    Status,
}

struct Client {
    base: String,
    token: Option<String>,
    node: String,
    agent: ureq::Agent,
}

/// One event of a push, for a person: `Inserted {"key":"a","value":"b"} -> insert_handler`.
fn describe_event(event: &Value) -> String {
    let bytes: Vec<u8> = serde_json::from_value(event["data"].clone()).unwrap_or_default();
    let data = String::from_utf8_lossy(&bytes);
    let mut line = text(&event["kind"]);
    if !data.is_empty() {
        line.push(' ');
        line.push_str(&data);
    }
    if let Some(handler) = event["handler"].as_str() {
        line.push_str(" -> ");
        line.push_str(handler);
    }
    line
}

impl Client {
    /// Subscribes to `context` over the node's WebSocket and prints every push until the
    /// connection ends (or the process is interrupted).
    fn watch(&self, context: &str, json_output: bool) -> anyhow::Result<()> {
        use tungstenite::client::IntoClientRequest;
        let url = format!(
            "{}/ws",
            self.base
                .replacen("https://", "wss://", 1)
                .replacen("http://", "ws://", 1)
        );
        let mut request = url
            .as_str()
            .into_client_request()
            .with_context(|| format!("{url} is not a WebSocket URL"))?;
        if let Some(token) = &self.token {
            request
                .headers_mut()
                .insert("Authorization", format!("Bearer {token}").parse()?);
        }
        let (mut socket, _) = tungstenite::connect(request).map_err(|error| match error {
            tungstenite::Error::Http(response) => anyhow!(
                "the node refused the WebSocket: HTTP {}{}",
                response.status(),
                if response.status() == 401 {
                    " (check the token: --token or the node's config)"
                } else {
                    ""
                }
            ),
            other => anyhow!("cannot reach {url}: {other}; is the node running?"),
        })?;
        let subscribe =
            json!({"id": 1, "method": "subscribe", "params": {"contextIds": [context]}});
        socket.send(tungstenite::Message::text(subscribe.to_string()))?;
        loop {
            let message = match socket.read() {
                Ok(message) => message,
                Err(tungstenite::Error::ConnectionClosed) => return Ok(()),
                Err(error) => bail!("the connection to the node broke: {error}"),
            };
            let text_frame = match message {
                tungstenite::Message::Text(text) => text,
                tungstenite::Message::Close(frame) => {
                    let reason = frame.map(|f| f.reason.to_string()).unwrap_or_default();
                    bail!("the node closed the connection: {reason}");
                }
                _ => continue,
            };
            let push: Value = serde_json::from_str(&text_frame)?;
            if let Some(error) = push.get("error") {
                bail!("the node refused the subscription: {error}");
            }
            if push["id"] == json!(1) {
                if !json_output {
                    eprintln!("watching {context} (Ctrl-C to stop)");
                }
                continue;
            }
            if json_output {
                println!("{push}");
            } else {
                let mutation = &push["result"];
                let events: Vec<String> = mutation["data"]["events"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(describe_event)
                    .collect();
                println!(
                    "root {}{}{}",
                    text(&mutation["data"]["newRoot"]),
                    if events.is_empty() { "" } else { "  " },
                    events.join("; ")
                );
            }
            use std::io::Write;
            std::io::stdout().flush()?;
        }
    }

    fn new(cli: &Cli) -> anyhow::Result<Self> {
        let node_home = crate::home::base(cli.home.clone()).join(&cli.node);
        let config = calimero_node::config::NodeConfig::load(&node_home);
        let base = match (&cli.api, &config) {
            (Some(api), _) => api.trim_end_matches('/').to_owned(),
            (None, Ok(config)) => format!("http://{}", config.server.listen),
            (None, Err(error)) => bail!("{error}\n(or pass --api http://host:port)"),
        };
        let token = cli
            .token
            .clone()
            .or_else(|| config.ok().map(|c| c.server.auth_token));
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(120)))
            .build()
            .into();
        Ok(Self {
            base,
            token,
            node: cli.node.clone(),
            agent,
        })
    }

    fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        bytes: Option<Vec<u8>>,
    ) -> anyhow::Result<(u16, Value)> {
        let url = format!("{}{path}", self.base);
        let auth = self.token.as_ref().map(|t| format!("Bearer {t}"));
        let result = match (method, body, bytes) {
            ("GET", ..) => {
                let mut request = self.agent.get(&url);
                if let Some(auth) = &auth {
                    request = request.header("Authorization", auth);
                }
                request.call()
            }
            ("DELETE", ..) => {
                let mut request = self.agent.delete(&url);
                if let Some(auth) = &auth {
                    request = request.header("Authorization", auth);
                }
                request.call()
            }
            (_, _, Some(bytes)) => {
                let mut request = self
                    .agent
                    .post(&url)
                    .header("Content-Type", "application/wasm");
                if let Some(auth) = &auth {
                    request = request.header("Authorization", auth);
                }
                request.send(&bytes[..])
            }
            (_, body, None) => {
                let mut request = self.agent.post(&url);
                if let Some(auth) = &auth {
                    request = request.header("Authorization", auth);
                }
                request.send_json(body.cloned().unwrap_or(Value::Null))
            }
        };
        let mut response = result.map_err(|e| match e {
            ureq::Error::Io(_) | ureq::Error::ConnectionFailed | ureq::Error::HostNotFound => {
                anyhow!(
                    "no node at {}: is merod running? start it with `merod --node {} run`",
                    self.base,
                    self.node
                )
            }
            other => anyhow!("request to {url} failed: {other}"),
        })?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .read_to_string()
            .context("reading the node's answer")?;
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok((status, value))
    }

    /// An admin call: the `data` of a success, or the node's error as an error.
    fn admin(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        bytes: Option<Vec<u8>>,
    ) -> anyhow::Result<Value> {
        let (status, value) = self.request(method, path, body, bytes)?;
        if (200..300).contains(&status) {
            return Ok(value.get("data").cloned().unwrap_or(value));
        }
        let message = value
            .get("error")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| value.to_string());
        if status == 401 {
            bail!(
                "{message}\n(meroctl reads the token from the node's config.toml; pass --token to override)"
            );
        }
        bail!("the node answered {status}: {message}")
    }
}

fn table(rows: &[Vec<String>]) -> String {
    let mut widths = vec![0; rows.first().map_or(0, Vec::len)];
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let line: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Runs `meroctl`; returns the process exit code.
pub fn main(cli: Cli) -> anyhow::Result<i32> {
    let client = Client::new(&cli)?;
    let json_output = cli.output_format == Format::Json;
    let print = |value: &Value, human: String| {
        if json_output {
            println!(
                "{}",
                serde_json::to_string_pretty(value).unwrap_or_default()
            );
        } else {
            print!("{human}");
        }
    };
    match &cli.command {
        Command::App(AppCommand::Install { path }) => {
            let bytes =
                std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            let data = client.admin("POST", "/admin-api/install-application", None, Some(bytes))?;
            print(
                &data,
                format!("installed application {}\n", text(&data["applicationId"])),
            );
        }
        Command::App(AppCommand::Ls) => {
            let data = client.admin("GET", "/admin-api/applications", None, None)?;
            let mut rows = vec![vec!["ID".into(), "SIZE".into(), "SOURCE".into()]];
            for app in data["apps"].as_array().into_iter().flatten() {
                rows.push(vec![
                    text(&app["id"]),
                    text(&app["size"]),
                    text(&app["source"]),
                ]);
            }
            print(&data, table(&rows));
        }
        Command::App(AppCommand::Get { id }) => {
            let data = client.admin("GET", &format!("/admin-api/applications/{id}"), None, None)?;
            let methods: Vec<String> = data["methods"]
                .as_array()
                .into_iter()
                .flatten()
                .map(text)
                .collect();
            print(
                &data,
                format!(
                    "id       {}\nsize     {}\nsource   {}\nmethods  {}\n",
                    text(&data["id"]),
                    text(&data["size"]),
                    text(&data["source"]),
                    methods.join(", ")
                ),
            );
        }
        Command::Context(ContextCommand::Create {
            application_id,
            params,
        }) => {
            let params: Value =
                serde_json::from_str(params).context("--params must be JSON, e.g. '{}'")?;
            let body = json!({"applicationId": application_id, "initializationParams": params});
            let data = client.admin("POST", "/admin-api/contexts", Some(&body), None)?;
            print(
                &data,
                format!(
                    "created context {} (member {})\n",
                    text(&data["contextId"]),
                    text(&data["memberPublicKey"])
                ),
            );
        }
        Command::Context(ContextCommand::Ls) => {
            let data = client.admin("GET", "/admin-api/contexts", None, None)?;
            let mut rows = vec![vec!["ID".into(), "APPLICATION".into(), "ROOT".into()]];
            for context in data["contexts"].as_array().into_iter().flatten() {
                rows.push(vec![
                    text(&context["id"]),
                    text(&context["applicationId"]),
                    text(&context["rootHash"]),
                ]);
            }
            print(&data, table(&rows));
        }
        Command::Context(ContextCommand::Get { id }) => {
            let data = client.admin("GET", &format!("/admin-api/contexts/{id}"), None, None)?;
            print(
                &data,
                format!(
                    "id           {}\napplication  {}\nroot         {}\nmember       {}\n",
                    text(&data["id"]),
                    text(&data["applicationId"]),
                    text(&data["rootHash"]),
                    text(&data["memberPublicKey"])
                ),
            );
        }
        Command::Context(ContextCommand::Watch { context }) => {
            client.watch(context, json_output)?;
        }
        Command::Context(ContextCommand::Delete { id }) => {
            let data = client.admin("DELETE", &format!("/admin-api/contexts/{id}"), None, None)?;
            print(&data, format!("deleted context {id}\n"));
        }
        Command::Context(ContextCommand::Invite {
            context,
            invitee,
            valid_for,
        }) => {
            let body = json!({"invitee": invitee, "validForSeconds": valid_for});
            let data = client.admin(
                "POST",
                &format!("/admin-api/contexts/{context}/invite"),
                Some(&body),
                None,
            )?;
            print(
                &json!({"invitation": data["invitation"]}),
                format!("{}\n", text(&data["invitation"])),
            );
        }
        Command::Context(ContextCommand::Join { invitation }) => {
            let body = json!({"invitation": invitation});
            let data = client.admin("POST", "/admin-api/contexts/join", Some(&body), None)?;
            let sync = match data["sync"].get("Ok") {
                Some(report) => format!(
                    "synced from {} (root {})",
                    text(&report["peer"]),
                    text(&report["rootHash"])
                ),
                None => format!("not synced yet: {}", text(&data["sync"]["Err"])),
            };
            print(
                &data,
                format!(
                    "joined context {} as member {}; {sync}\n",
                    text(&data["contextId"]),
                    text(&data["memberPublicKey"])
                ),
            );
        }
        Command::Context(ContextCommand::Upgrade {
            context,
            application,
        }) => {
            let body = json!({"applicationId": application});
            let data = client.admin(
                "POST",
                &format!("/admin-api/contexts/{context}/upgrade"),
                Some(&body),
                None,
            )?;
            let migration = match data["migration"].as_str() {
                Some(method) => format!(
                    "ran migration `{method}` (state version {} to {})",
                    text(&data["fromVersion"]),
                    text(&data["toVersion"])
                ),
                None => "no migration (same state version)".to_owned(),
            };
            print(
                &data,
                format!(
                    "context {context} now runs application {}: {migration}; root {}\n",
                    text(&data["application"]),
                    text(&data["rootHash"])
                ),
            );
        }
        Command::Context(ContextCommand::Sync { context }) => {
            let data = client.admin(
                "POST",
                &format!("/admin-api/contexts/{context}/sync"),
                None,
                None,
            )?;
            let human = match data["peer"].as_str() {
                Some(peer) => format!(
                    "synced with {peer}: {} delta(s) applied{}, root {}\n",
                    text(&data["applied"]),
                    if data["snapshot"] == true {
                        " after a snapshot"
                    } else {
                        ""
                    },
                    text(&data["rootHash"])
                ),
                None => format!(
                    "no peer of the context is connected; root {}\n",
                    text(&data["rootHash"])
                ),
            };
            print(&data, human);
        }
        Command::Context(ContextCommand::Members { context }) => {
            let data = client.admin(
                "GET",
                &format!("/admin-api/contexts/{context}/members"),
                None,
                None,
            )?;
            let members: Vec<String> = data["members"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|m| format!("{}\n", text(m)))
                .collect();
            print(&data, members.concat());
        }
        Command::Identity(IdentityCommand::New) => {
            let data = client.admin("POST", "/admin-api/identity", None, None)?;
            print(&data, format!("{}\n", text(&data["publicKey"])));
        }
        Command::Peers => {
            let data = client.admin("GET", "/admin-api/peers", None, None)?;
            let mut rows = vec![vec!["PEER".into(), "ADDRESSES".into()]];
            for peer in data["peers"].as_array().into_iter().flatten() {
                let addresses: Vec<String> = peer["addresses"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(text)
                    .collect();
                rows.push(vec![text(&peer["peerId"]), addresses.join(" ")]);
            }
            print(&data, table(&rows));
        }
        Command::Call {
            method,
            context,
            args,
        } => {
            let args: Value = serde_json::from_str(args)
                .context("--args must be a JSON object, e.g. '{\"key\":\"a\"}'")?;
            let body = json!({"jsonrpc": "2.0", "id": 1, "method": "execute", "params": {"contextId": context, "method": method, "argsJson": args}});
            let (status, value) = client.request("POST", "/jsonrpc", Some(&body), None)?;
            if status == 401 {
                bail!("{}", text(&value["error"]));
            }
            if let Some(error) = value.get("error") {
                if json_output {
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&json!({"error": error})).unwrap_or_default()
                    );
                } else {
                    // `<category> (<kind>): <method>: <message>`.
                    let kind = text(&error["data"]["type"]);
                    let category = text(&error["type"]);
                    let shown = match error["data"]["data"]["type"].as_str() {
                        Some(shown) => shown.to_owned(),
                        None => text(&error["data"]),
                    };
                    if kind.is_empty() || kind == category {
                        eprintln!("error: {category}: {shown}");
                    } else {
                        eprintln!("error: {category} ({kind}): {shown}");
                    }
                }
                return Ok(1);
            }
            let output = &value["result"]["output"];
            print(
                &value["result"],
                format!(
                    "{}\n",
                    serde_json::to_string_pretty(output).unwrap_or_default()
                ),
            );
        }
        Command::Token(command) => {
            let data = match command {
                TokenCommand::Create { read_only } => {
                    let permission = if *read_only { "read" } else { "admin" };
                    let body = json!({"permissions": [permission]});
                    client.admin("POST", "/admin-api/token", Some(&body), None)?
                }
                TokenCommand::Refresh { refresh_token } => {
                    let body = json!({"refreshToken": refresh_token});
                    client.admin("POST", "/admin-api/refresh-jwt-token", Some(&body), None)?
                }
            };
            print(
                &data,
                format!(
                    "access_token   {}\nrefresh_token  {}\nexpires_in     {} s\n",
                    text(&data["access_token"]),
                    text(&data["refresh_token"]),
                    text(&data["expires_in"])
                ),
            );
        }
        Command::Node(NodeCommand::Status) => {
            let (status, _) = client.request("GET", "/admin-api/health", None, None)?;
            if status != 200 {
                bail!(
                    "the node at {} answered {status} to a health check",
                    client.base
                );
            }
            let mut summary = client.admin("GET", "/admin-api/node", None, None)?;
            summary["url"] = json!(client.base);
            summary["status"] = json!("alive");
            let mut human = format!(
                "node at {}: alive, {} application(s), {} context(s), {} peer(s)\n",
                client.base, summary["applications"], summary["contexts"], summary["peers"]
            );
            if let Some(peer_id) = summary["peerId"].as_str() {
                human.push_str(&format!("peer id  {peer_id}\n"));
            }
            for address in summary["listenAddresses"].as_array().into_iter().flatten() {
                human.push_str(&format!("swarm    {}\n", text(address)));
            }
            let mut rows = Vec::new();
            for (name, value) in summary["counters"].as_object().into_iter().flatten() {
                rows.push(vec![name.clone(), text(value)]);
            }
            human.push_str(&table(&rows));
            print(&summary, human);
        }
    }
    Ok(0)
}
