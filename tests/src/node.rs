//! A real `merod` process for tests: started on a temporary home and a free loopback port,
//! stopped (killed if need be) when dropped.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// A running node.
pub struct TestNode {
    merod: PathBuf,
    home: tempfile::TempDir,
    child: Option<Child>,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// The admin token.
    pub token: String,
    /// The node's peer id.
    pub peer_id: String,
    /// The swarm's addresses (each ending in `/p2p/<peer id>`).
    pub swarm: Vec<String>,
    /// Extra arguments for `merod run`.
    pub run_args: Vec<String>,
    agent: ureq::Agent,
}

/// The `merod init` arguments every test node gets: loopback only, ports picked at start.
pub const LOOPBACK_INIT: &[&str] = &[
    "--server-port",
    "0",
    "--swarm-host",
    "127.0.0.1",
    "--swarm-port",
    "0",
];

impl TestNode {
    /// Initialises a node in a fresh temporary home and starts it.
    pub fn start(merod: &Path) -> Self {
        Self::start_with(merod, &[], &[])
    }

    /// [`TestNode::start`] with more `merod init` and `merod run` arguments.
    pub fn start_with(merod: &Path, init_args: &[&str], run_args: &[&str]) -> Self {
        let home = tempfile::tempdir().expect("temporary home");
        let status = Command::new(merod)
            .args(["--home"])
            .arg(home.path())
            .args(["--node", "n1", "init"])
            .args(LOOPBACK_INIT)
            .args(init_args)
            .stdout(Stdio::null())
            .status()
            .expect("merod init runs");
        assert!(status.success(), "merod init failed");
        let config = std::fs::read_to_string(home.path().join("n1/config.toml")).unwrap();
        let token = config
            .lines()
            .find_map(|l| l.strip_prefix("auth_token = "))
            .map(|t| t.trim_matches('"').to_owned())
            .expect("config has a token");
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(120)))
            .build()
            .into();
        let mut node = Self {
            merod: merod.to_owned(),
            home,
            child: None,
            url: String::new(),
            token,
            peer_id: String::new(),
            swarm: Vec::new(),
            run_args: run_args.iter().map(|a| (*a).to_owned()).collect(),
            agent,
        };
        node.run();
        node
    }

    /// The node's home directory (`<home>`; the node is `n1`).
    pub fn home(&self) -> &Path {
        self.home.path()
    }

    /// Starts `merod run` and waits until it listens.
    pub fn run(&mut self) {
        let mut child = Command::new(&self.merod)
            .arg("--home")
            .arg(self.home.path())
            .args(["--node", "n1", "run"])
            .args(&self.run_args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("merod starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            let mut swarm = None;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.split(" peer id ").nth(1) {
                    let mut words = rest.split_whitespace();
                    let peer_id = words.next().unwrap_or_default().to_owned();
                    let addresses: Vec<String> = words.skip(1).map(str::to_owned).collect();
                    swarm = Some((peer_id, addresses));
                }
                if let Some(url) = line.split("listening on ").nth(1) {
                    let url = url.split_whitespace().next().unwrap_or_default().to_owned();
                    let _ = sender.send((url, swarm.take().unwrap_or_default()));
                }
            }
        });
        self.child = Some(child);
        let (url, (peer_id, swarm)) = receiver
            .recv_timeout(Duration::from_secs(30))
            .expect("merod listens within 30 s");
        self.url = url;
        self.peer_id = peer_id;
        self.swarm = swarm;
    }

    /// Stops the node with SIGTERM and waits for a clean exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                if let Ok(Some(status)) = child.try_wait() {
                    assert!(status.success(), "merod exited with {status} on SIGTERM");
                    return;
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("merod did not stop within 30 s of SIGTERM");
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// The process id of the running `merod`.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Runs `merod verify` on the node's home (the node must be stopped); returns its success
    /// and output.
    pub fn verify(&self) -> (bool, String) {
        let output = Command::new(&self.merod)
            .arg("--home")
            .arg(self.home.path())
            .args(["--node", "n1", "verify"])
            .output()
            .expect("merod verify runs");
        (
            output.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ),
        )
    }

    /// Kills the node with SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops and starts the node again on the same home.
    pub fn restart(&mut self) {
        self.stop();
        self.run();
    }

    fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Vec<u8>>,
        content_type: &str,
    ) -> (u16, Value) {
        let url = format!("{}{path}", self.url);
        let auth = token.map(|t| format!("Bearer {t}"));
        let response = match method {
            "GET" => {
                let mut request = self.agent.get(&url);
                if let Some(auth) = &auth {
                    request = request.header("Authorization", auth);
                }
                request.call()
            }
            "DELETE" => {
                let mut request = self.agent.delete(&url);
                if let Some(auth) = &auth {
                    request = request.header("Authorization", auth);
                }
                request.call()
            }
            _ => {
                let mut request = self.agent.post(&url).header("Content-Type", content_type);
                if let Some(auth) = &auth {
                    request = request.header("Authorization", auth);
                }
                request.send(&body.unwrap_or_default()[..])
            }
        };
        let mut response = response.expect("the node answers");
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(64 * 1024 * 1024)
            .read_to_string()
            .unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// An authenticated admin call with a JSON body.
    pub fn admin(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let body = body.map(|b| serde_json::to_vec(&b).unwrap());
        self.send(method, path, Some(&self.token), body, "application/json")
    }

    /// A raw POST (any body, any token).
    pub fn post_raw(
        &self,
        path: &str,
        token: Option<&str>,
        body: Vec<u8>,
        content_type: &str,
    ) -> (u16, Value) {
        self.send("POST", path, token, Some(body), content_type)
    }

    /// Installs module bytes; returns the application id.
    pub fn install(&self, module: &[u8]) -> String {
        let (status, value) = self.post_raw(
            "/admin-api/install-application",
            Some(&self.token),
            module.to_vec(),
            "application/wasm",
        );
        assert_eq!(status, 200, "install failed: {value}");
        value["data"]["applicationId"].as_str().unwrap().to_owned()
    }

    /// An admin call that must succeed; returns its `data`.
    pub fn admin_ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, value) = self.admin(method, path, body);
        assert_eq!(status, 200, "{method} {path} failed: {value}");
        value["data"].clone()
    }

    /// An open invitation to `context`, as printed for a person.
    pub fn invite(&self, context: &str) -> String {
        let data = self.admin_ok(
            "POST",
            &format!("/admin-api/contexts/{context}/invite"),
            Some(json!({})),
        );
        data["invitation"]
            .as_str()
            .expect("an invitation")
            .to_owned()
    }

    /// Joins with an invitation; returns the join report.
    pub fn join(&self, invitation: &str) -> Value {
        self.admin_ok(
            "POST",
            "/admin-api/contexts/join",
            Some(json!({"invitation": invitation})),
        )
    }

    /// The context's root hash as this node records it.
    pub fn root(&self, context: &str) -> String {
        let data = self.admin_ok("GET", &format!("/admin-api/contexts/{context}"), None);
        data["rootHash"].as_str().unwrap_or_default().to_owned()
    }

    /// The node's counters (`node status`).
    pub fn counters(&self) -> Value {
        self.admin_ok("GET", "/admin-api/node", None)["counters"].clone()
    }

    /// Creates a context; returns its id.
    pub fn create_context(&self, application: &str) -> String {
        let (status, value) = self.admin(
            "POST",
            "/admin-api/contexts",
            Some(json!({"applicationId": application})),
        );
        assert_eq!(status, 200, "context creation failed: {value}");
        value["data"]["contextId"].as_str().unwrap().to_owned()
    }

    /// A JSON-RPC request; returns the whole response object.
    pub fn rpc(&self, method: &str, params: Value) -> Value {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let (status, value) = self.post_raw(
            "/jsonrpc",
            Some(&self.token),
            serde_json::to_vec(&body).unwrap(),
            "application/json",
        );
        assert_eq!(status, 200, "JSON-RPC answers 200 even on errors: {value}");
        value
    }

    /// `execute` that tolerates a node going away: `None` if no answer came (the process died).
    pub fn call_checked(
        &self,
        context: &str,
        method: &str,
        args: Value,
    ) -> Option<Result<Value, Value>> {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": "execute",
            "params": {"contextId": context, "method": method, "argsJson": args}});
        let response = self
            .agent
            .post(format!("{}/jsonrpc", self.url))
            .header("Authorization", &format!("Bearer {}", self.token))
            .header("Content-Type", "application/json")
            .send(&serde_json::to_vec(&body).unwrap()[..])
            .ok()?;
        let text = response.into_body().read_to_string().ok()?;
        let value: Value = serde_json::from_str(&text).ok()?;
        Some(match value.get("error") {
            Some(error) => Err(error.clone()),
            None => Ok(value["result"]["output"].clone()),
        })
    }

    /// `execute`: `Ok(output)` or `Err(error object)`.
    pub fn call(&self, context: &str, method: &str, args: Value) -> Result<Value, Value> {
        let response = self.rpc(
            "execute",
            json!({"contextId": context, "method": method, "argsJson": args}),
        );
        match response.get("error") {
            Some(error) => Err(error.clone()),
            None => Ok(response["result"]["output"].clone()),
        }
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        self.kill();
    }
}
