//! A node's home (`<home>/<node>/`) and its `config.toml` (`NODE.md` §2).

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use rand::RngCore;
use serde::{Deserialize, Serialize};

use calimero_runtime::Limits;

/// `config.toml`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NodeConfig {
    pub identity: IdentityConfig,
    pub server: ServerConfig,
    pub swarm: SwarmConfig,
    pub datastore: PathConfig,
    pub blobstore: PathConfig,
    #[serde(default)]
    pub runtime: RuntimeConfig,
    #[serde(default)]
    pub sync: SyncSettings,
}

/// The node's own keypair: its network identity (the peer id derives from it).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct IdentityConfig {
    /// Base58 public key.
    pub public_key: String,
    /// Base58 secret key.
    pub secret_key: String,
}

/// The HTTP server.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// Clients send it as `Authorization: Bearer <token>`.
    pub auth_token: String,
    /// How long JWT access tokens are valid, in seconds (default 3600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token_lifetime_secs: Option<u64>,
    /// How long JWT refresh tokens are valid, in seconds (default 30 days).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token_lifetime_secs: Option<u64>,
}

/// Peer-to-peer networking.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SwarmConfig {
    /// Multiaddrs to listen on, e.g. `/ip4/0.0.0.0/tcp/2428`.
    pub listen: Vec<String>,
    /// Multiaddrs (ending in `/p2p/<peer id>`) dialed at start and re-dialed when disconnected.
    #[serde(default)]
    pub boot_nodes: Vec<String>,
    /// Discover peers on the local network by multicast DNS (off by default).
    #[serde(default)]
    pub mdns: bool,
}

/// How replication paces itself (milliseconds).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SyncSettings {
    /// Each context syncs with a random peer this often.
    pub interval_ms: u64,
    /// Each context announces its root and heads this often.
    pub heartbeat_ms: u64,
    /// A node strictly behind by more deltas than this takes a snapshot.
    pub snapshot_threshold: u64,
}

impl Default for SyncSettings {
    fn default() -> Self {
        Self {
            interval_ms: 10_000,
            heartbeat_ms: 30_000,
            snapshot_threshold: 512,
        }
    }
}

/// A path relative to the node's home.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PathConfig {
    pub path: PathBuf,
}

/// Runtime settings operators may change.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RuntimeConfig {
    #[serde(default)]
    pub limits: LimitsConfig,
}

/// The limits operators may raise.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct LimitsConfig {
    pub max_logs: Option<u64>,
    pub max_log_size: Option<u64>,
    /// Wall-clock time one call may run, in milliseconds (default 5000).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_call_duration_ms: Option<u64>,
}

impl NodeConfig {
    /// A fresh configuration with a new identity and admin token.
    pub fn generate(server: SocketAddr, swarm_host: std::net::IpAddr, swarm_port: u16) -> Self {
        let key = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
        let mut token = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut token);
        Self {
            identity: IdentityConfig {
                public_key: bs58::encode(key.verifying_key().to_bytes()).into_string(),
                secret_key: bs58::encode(key.to_bytes()).into_string(),
            },
            server: ServerConfig {
                listen: server,
                auth_token: crate::ids::hex(&token),
                access_token_lifetime_secs: None,
                refresh_token_lifetime_secs: None,
            },
            swarm: SwarmConfig {
                listen: vec![match swarm_host {
                    std::net::IpAddr::V4(ip) => format!("/ip4/{ip}/tcp/{swarm_port}"),
                    std::net::IpAddr::V6(ip) => format!("/ip6/{ip}/tcp/{swarm_port}"),
                }],
                boot_nodes: Vec::new(),
                mdns: false,
            },
            datastore: PathConfig {
                path: "data".into(),
            },
            blobstore: PathConfig {
                path: "blobs".into(),
            },
            runtime: RuntimeConfig::default(),
            sync: SyncSettings::default(),
        }
    }

    /// The secret key of the node identity.
    pub fn secret_key(&self) -> Result<[u8; 32], String> {
        let bytes = bs58::decode(&self.identity.secret_key)
            .into_vec()
            .map_err(|e| format!("identity.secret_key in config.toml is not base58: {e}"))?;
        bytes.try_into().map_err(|b: Vec<u8>| {
            format!(
                "identity.secret_key in config.toml is {} bytes; expected 32",
                b.len()
            )
        })
    }

    /// The replication settings as the sync loop takes them.
    pub fn sync_config(&self) -> crate::sync::SyncConfig {
        use std::time::Duration;
        crate::sync::SyncConfig {
            interval: Duration::from_millis(self.sync.interval_ms.max(50)),
            heartbeat: Duration::from_millis(self.sync.heartbeat_ms.max(50)),
            snapshot_threshold: self.sync.snapshot_threshold,
            ..crate::sync::SyncConfig::default()
        }
    }

    /// The runtime limits with the operator's overrides.
    pub fn limits(&self) -> Limits {
        let mut limits = Limits::default();
        if let Some(max) = self.runtime.limits.max_logs {
            limits.max_logs = max;
        }
        if let Some(max) = self.runtime.limits.max_log_size {
            limits.max_log_size = max;
        }
        if let Some(max) = self.runtime.limits.max_call_duration_ms {
            limits.max_call_duration_ms = max.max(1);
        }
        limits
    }

    /// Reads `<node_home>/config.toml`.
    pub fn load(node_home: &Path) -> Result<Self, String> {
        let path = node_home.join("config.toml");
        let text = fs::read_to_string(&path).map_err(|e| {
            format!(
                "cannot read {}: {e}; create the node with `merod init` first",
                path.display()
            )
        })?;
        toml::from_str(&text)
            .map_err(|e| format!("{} is not a valid node config: {e}", path.display()))
    }

    /// Writes `<node_home>/config.toml` and creates the data and blob directories.
    pub fn save(&self, node_home: &Path) -> Result<(), String> {
        fs::create_dir_all(node_home.join(&self.datastore.path))
            .and_then(|()| fs::create_dir_all(node_home.join(&self.blobstore.path)))
            .map_err(|e| format!("cannot create {}: {e}", node_home.display()))?;
        let text = toml::to_string_pretty(self).map_err(|e| e.to_string())?;
        let path = node_home.join("config.toml");
        fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = fs::set_permissions(&path, fs::Permissions::from_mode(0o600));
        }
        Ok(())
    }
}
