//! Typed ids of the node: every 32-byte identifier it handles has its own type, so a context id
//! cannot be passed where an application id is expected, and every one of them reads and prints
//! as base58 text (the form clients and operators see).
//!
//! ```
//! use calimero_primitives::ContextId;
//!
//! let id: ContextId = "11111111111111111111111111111111".parse().unwrap();
//! assert_eq!(id.as_bytes(), &[0; 32]);
//! assert_eq!(id.to_string(), "11111111111111111111111111111111");
//! assert!("not base58!".parse::<ContextId>().is_err());
//! ```

use std::fmt;
use std::str::FromStr;

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a text is not an id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{what} `{text}` is not valid base58: {reason}")]
    NotBase58 {
        what: &'static str,
        text: String,
        reason: String,
    },
    #[error("{what} `{text}` decodes to {length} bytes; expected 32")]
    WrongLength {
        what: &'static str,
        text: String,
        length: usize,
    },
}

/// Decodes base58 `text` into 32 bytes; `what` names the id in the error.
pub fn decode_base58(text: &str, what: &'static str) -> Result<[u8; 32], IdError> {
    let bytes = bs58::decode(text)
        .into_vec()
        .map_err(|e| IdError::NotBase58 {
            what,
            text: text.to_owned(),
            reason: e.to_string(),
        })?;
    let length = bytes.len();
    bytes.try_into().map_err(|_| IdError::WrongLength {
        what,
        text: text.to_owned(),
        length,
    })
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(
            Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, BorshSerialize,
            BorshDeserialize,
        )]
        pub struct $name([u8; 32]);

        impl $name {
            /// What this id is, as error messages name it.
            pub const WHAT: &'static str = $what;

            /// The id with these bytes.
            pub const fn new(bytes: [u8; 32]) -> Self {
                Self(bytes)
            }

            /// The raw bytes.
            pub const fn as_bytes(&self) -> &[u8; 32] {
                &self.0
            }

            /// The raw bytes, by value.
            pub const fn to_bytes(self) -> [u8; 32] {
                self.0
            }

            /// Parses base58 text.
            pub fn parse(text: &str) -> Result<Self, IdError> {
                decode_base58(text, $what).map(Self)
            }
        }

        impl From<[u8; 32]> for $name {
            fn from(bytes: [u8; 32]) -> Self {
                Self(bytes)
            }
        }

        impl From<$name> for [u8; 32] {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl AsRef<[u8]> for $name {
            fn as_ref(&self) -> &[u8] {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&bs58::encode(&self.0).into_string())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self)
            }
        }

        impl FromStr for $name {
            type Err = IdError;

            fn from_str(text: &str) -> Result<Self, IdError> {
                Self::parse(text)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <String as Deserialize>::deserialize(deserializer)?;
                Self::parse(&text).map_err(serde::de::Error::custom)
            }
        }
    };
}

id_type!(
    /// A context: one running instance of an application with its own replicated state.
    ContextId,
    "context id"
);
id_type!(
    /// An installed application: the SHA-256 of its module bytes.
    ApplicationId,
    "application id"
);
id_type!(
    /// An Ed25519 public key: a member identity in a context.
    PublicKey,
    "public key"
);
id_type!(
    /// A delta: `SHA-256(parents ‖ sealed artifact)`.
    DeltaId,
    "delta id"
);
id_type!(
    /// A SHA-256 digest, such as a context's state root.
    Hash,
    "hash"
);

impl DeltaId {
    /// The parent of a context's first delta; it always counts as applied.
    pub const GENESIS: DeltaId = DeltaId([0; 32]);
}

impl Hash {
    /// The root of a context with no state yet.
    pub const ZERO: Hash = Hash([0; 32]);
}

/// An Ed25519 signature.
#[derive(Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Signature(pub [u8; 64]);

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({})", bs58::encode(&self.0).into_string())
    }
}

/// Milliseconds since the Unix epoch, from the system clock.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base58_round_trips_and_errors_name_the_id() {
        let id = ApplicationId::new([42; 32]);
        let text = id.to_string();
        assert_eq!(text.parse::<ApplicationId>().unwrap(), id);
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{text}\""));
        assert_eq!(serde_json::from_str::<ApplicationId>(&json).unwrap(), id);
        let short = bs58::encode([1u8; 31]).into_string();
        let error = short.parse::<ContextId>().unwrap_err().to_string();
        assert!(error.starts_with("context id `"), "{error}");
        assert!(
            error.ends_with("decodes to 31 bytes; expected 32"),
            "{error}"
        );
        let error = "0OIl".parse::<DeltaId>().unwrap_err().to_string();
        assert!(
            error.contains("delta id `0OIl` is not valid base58"),
            "{error}"
        );
        assert_eq!(borsh::to_vec(&id).unwrap(), vec![42; 32]);
    }
}
