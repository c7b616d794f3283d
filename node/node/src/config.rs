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
}

/// The node's own keypair (libp2p identity, later).
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
}

/// Peer-to-peer listening addresses (used once networking exists).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SwarmConfig {
    pub listen: Vec<String>,
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
}

impl NodeConfig {
    /// A fresh configuration with a new identity and admin token.
    pub fn generate(server: SocketAddr, swarm_port: u16) -> Self {
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
            },
            swarm: SwarmConfig {
                listen: vec![format!("/ip4/0.0.0.0/tcp/{swarm_port}")],
            },
            datastore: PathConfig {
                path: "data".into(),
            },
            blobstore: PathConfig {
                path: "blobs".into(),
            },
            runtime: RuntimeConfig::default(),
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
