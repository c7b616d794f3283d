//! The 32-byte identities apps name: accounts, member keys, contexts and blobs.
//!
//! Each is Borsh-encoded as its 32 raw bytes (so it stores like `[u8; 32]`), keys maps and sets
//! by those bytes, and crosses JSON as a string: an [`AccountId`] in hex (64 characters), the
//! others in base58, the forms `meroctl` prints. The ABI manifest describes them as
//! `{"kind": "bytes", "size": 32, "encoding": "hex" | "base58"}`.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use crate::collections::StorageKey;
use crate::{Mergeable, StoreError};
use borsh::{BorshDeserialize, BorshSerialize};

/// A string that is not the text form of a 32-byte id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdParseError {
    what: &'static str,
    expected: &'static str,
}

impl fmt::Display for IdParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not {}: expected {}", self.what, self.expected)
    }
}

impl std::error::Error for IdParseError {}

fn to_hex(bytes: &[u8; 32]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(64);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0x0f)] as char);
    }
    out
}

fn from_hex(text: &str) -> Option<[u8; 32]> {
    let text = text.as_bytes();
    if text.len() != 64 {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = [0u8; 32];
    for (i, pair) in text.chunks(2).enumerate() {
        out[i] = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(out)
}

fn from_base58(text: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    match bs58::decode(text).onto(&mut out) {
        Ok(32) => Some(out),
        _ => None,
    }
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $what:literal, $encoding:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize)]
        pub struct $name([u8; 32]);

        impl $name {
            /// The id with these raw bytes, in a `const` context.
            pub const fn from_raw(bytes: [u8; 32]) -> Self {
                Self(bytes)
            }

            /// The raw 32 bytes.
            pub const fn as_bytes(&self) -> &[u8; 32] {
                &self.0
            }

            /// The raw 32 bytes (upstream's name for [`Self::as_bytes`]).
            pub const fn digest(&self) -> &[u8; 32] {
                &self.0
            }

            /// The text form: hex for accounts, base58 for the others.
            pub fn to_text(&self) -> String {
                match $encoding {
                    "hex" => to_hex(&self.0),
                    _ => bs58::encode(&self.0).into_string(),
                }
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

        impl From<$name> for String {
            fn from(id: $name) -> Self {
                id.to_text()
            }
        }

        impl AsRef<[u8]> for $name {
            fn as_ref(&self) -> &[u8] {
                &self.0
            }
        }

        impl AsRef<[u8; 32]> for $name {
            fn as_ref(&self) -> &[u8; 32] {
                &self.0
            }
        }

        impl std::ops::Deref for $name {
            type Target = [u8; 32];
            fn deref(&self) -> &[u8; 32] {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_text())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self)
            }
        }

        impl FromStr for $name {
            type Err = IdParseError;
            fn from_str(text: &str) -> Result<Self, IdParseError> {
                let bytes = match $encoding {
                    "hex" => from_hex(text),
                    _ => from_base58(text),
                };
                bytes.map(Self).ok_or(IdParseError {
                    what: $what,
                    expected: match $encoding {
                        "hex" => "64 hex characters (32 bytes)",
                        _ => "a base58 string of 32 bytes",
                    },
                })
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }

        impl StorageKey for $name {
            fn key_bytes(&self) -> Cow<'_, [u8]> {
                Cow::Borrowed(&self.0)
            }
        }

        impl crate::collections::UserKey for $name {
            fn account_bytes(&self) -> [u8; 32] {
                self.0
            }
        }

        /// Stored as a whole: as an element it is last-writer-wins; two versions of one field
        /// merge to the greater bytes, deterministically.
        impl Mergeable for $name {
            fn merge(&mut self, other: &Self) -> Result<(), StoreError> {
                if other.0 > self.0 {
                    self.0 = other.0;
                }
                Ok(())
            }
        }
    };
}

id_type!(
    /// An account: a person or agent, however many devices it uses (hex in JSON).
    AccountId,
    "an account id",
    "hex"
);
id_type!(
    /// A member's public key (base58 in JSON).
    PublicKey,
    "a public key",
    "base58"
);
id_type!(
    /// A context (base58 in JSON).
    ContextId,
    "a context id",
    "base58"
);
id_type!(
    /// A blob's content id (base58 in JSON).
    BlobId,
    "a blob id",
    "base58"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_forms_round_trip_and_bad_text_is_refused() {
        let bytes: [u8; 32] = std::array::from_fn(|i| (i * 7) as u8);
        let account = AccountId::from(bytes);
        assert_eq!(
            account.to_string(),
            "00070e151c232a31383f464d545b626970777e858c939aa1a8afb6bdc4cbd2d9"
        );
        assert_eq!(account.to_string().parse::<AccountId>(), Ok(account));
        let key = PublicKey::from(bytes);
        assert_eq!(key.to_string(), bs58::encode(bytes).into_string());
        assert_eq!(key.to_string().parse::<PublicKey>(), Ok(key));
        assert_eq!(
            serde_json::to_string(&ContextId::from([0; 32])).unwrap(),
            "\"11111111111111111111111111111111\""
        );
        let error = "abc".parse::<AccountId>().unwrap_err();
        assert_eq!(
            error.to_string(),
            "not an account id: expected 64 hex characters (32 bytes)"
        );
        assert!("0OIl".parse::<BlobId>().is_err(), "not base58");
        assert!(
            bs58::encode([1u8; 31])
                .into_string()
                .parse::<BlobId>()
                .is_err(),
            "31 bytes"
        );
        assert!(serde_json::from_str::<PublicKey>("[1,2]").is_err());
    }

    #[test]
    fn borsh_is_the_raw_bytes() {
        let id = BlobId::from([9; 32]);
        assert_eq!(borsh::to_vec(&id).unwrap(), vec![9; 32]);
        assert_eq!(BlobId::try_from_slice(&[9; 32]).unwrap(), id);
    }
}
