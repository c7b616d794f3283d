//! Actions and the delta artifact passed to `commit` (`STORAGE.md` §4).
//!
//! Borsh tags are fixed by hand: tag 1 (the retired `Compare`) is rejected on decode.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};

use borsh::{BorshDeserialize, BorshSerialize};

use crate::address::Id;
use crate::entities::{ChildInfo, Metadata};
use crate::hlc::HybridTimestamp;

/// The largest artifact `decode_delta` accepts (the node's artifact limit).
pub const MAX_ARTIFACT_SIZE: usize = 16 * 1024 * 1024;

/// One recorded change to one entity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// A new entity (tag 0). `ancestors` runs from the parent up to, not including, the root.
    Add {
        id: Id,
        data: Vec<u8>,
        ancestors: Vec<ChildInfo>,
        metadata: Metadata,
    },
    /// A deletion (tag 2).
    DeleteRef {
        id: Id,
        deleted_at: u64,
        metadata: Metadata,
    },
    /// New data for an existing entity (tag 3).
    Update {
        id: Id,
        data: Vec<u8>,
        ancestors: Vec<ChildInfo>,
        metadata: Metadata,
    },
}

impl Action {
    /// The entity the action is about.
    pub fn id(&self) -> Id {
        match self {
            Action::Add { id, .. } | Action::DeleteRef { id, .. } | Action::Update { id, .. } => {
                *id
            }
        }
    }
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

impl BorshSerialize for Action {
    fn serialize<W: Write>(&self, writer: &mut W) -> io::Result<()> {
        match self {
            Action::Add {
                id,
                data,
                ancestors,
                metadata,
            } => {
                0u8.serialize(writer)?;
                (id, data, ancestors, metadata).serialize(writer)
            }
            Action::DeleteRef {
                id,
                deleted_at,
                metadata,
            } => {
                2u8.serialize(writer)?;
                (id, deleted_at, metadata).serialize(writer)
            }
            Action::Update {
                id,
                data,
                ancestors,
                metadata,
            } => {
                3u8.serialize(writer)?;
                (id, data, ancestors, metadata).serialize(writer)
            }
        }
    }
}

impl BorshDeserialize for Action {
    fn deserialize_reader<R: Read>(reader: &mut R) -> io::Result<Self> {
        match u8::deserialize_reader(reader)? {
            0 => {
                let (id, data, ancestors, metadata) = BorshDeserialize::deserialize_reader(reader)?;
                Ok(Action::Add {
                    id,
                    data,
                    ancestors,
                    metadata,
                })
            }
            1 => Err(invalid(
                "action tag 1 (Compare) is retired and no longer accepted".into(),
            )),
            2 => {
                let (id, deleted_at, metadata) = BorshDeserialize::deserialize_reader(reader)?;
                Ok(Action::DeleteRef {
                    id,
                    deleted_at,
                    metadata,
                })
            }
            3 => {
                let (id, data, ancestors, metadata) = BorshDeserialize::deserialize_reader(reader)?;
                Ok(Action::Update {
                    id,
                    data,
                    ancestors,
                    metadata,
                })
            }
            tag => Err(invalid(format!("unknown action tag {tag}"))),
        }
    }
}

/// The artifact of one execution.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StorageDelta {
    /// Tag 0: the actions, as they cross the network.
    Actions(Vec<Action>),
    /// Tag 2: the same actions with the delta's id and HLC, built by the applying node.
    CausalActions {
        actions: Vec<Action>,
        delta_id: [u8; 32],
        delta_hlc: HybridTimestamp,
        effective_writers: BTreeMap<Id, BTreeMap<[u8; 32], u8>>,
        signer_account: Option<[u8; 32]>,
    },
}

impl StorageDelta {
    /// The actions, whatever the variant.
    pub fn actions(&self) -> &[Action] {
        match self {
            StorageDelta::Actions(actions) | StorageDelta::CausalActions { actions, .. } => actions,
        }
    }
}

impl BorshSerialize for StorageDelta {
    fn serialize<W: Write>(&self, writer: &mut W) -> io::Result<()> {
        match self {
            StorageDelta::Actions(actions) => {
                0u8.serialize(writer)?;
                actions.serialize(writer)
            }
            StorageDelta::CausalActions {
                actions,
                delta_id,
                delta_hlc,
                effective_writers,
                signer_account,
            } => {
                2u8.serialize(writer)?;
                (
                    actions,
                    delta_id,
                    delta_hlc,
                    effective_writers,
                    signer_account,
                )
                    .serialize(writer)
            }
        }
    }
}

impl BorshDeserialize for StorageDelta {
    fn deserialize_reader<R: Read>(reader: &mut R) -> io::Result<Self> {
        match u8::deserialize_reader(reader)? {
            0 => Ok(StorageDelta::Actions(BorshDeserialize::deserialize_reader(
                reader,
            )?)),
            1 => Err(invalid(
                "storage delta tag 1 is retired and no longer accepted".into(),
            )),
            2 => {
                let actions = BorshDeserialize::deserialize_reader(reader)?;
                let delta_id = BorshDeserialize::deserialize_reader(reader)?;
                let delta_hlc = BorshDeserialize::deserialize_reader(reader)?;
                let effective_writers =
                    crate::btree::read_map_with(reader, crate::btree::read_map)?;
                let signer_account = BorshDeserialize::deserialize_reader(reader)?;
                Ok(StorageDelta::CausalActions {
                    actions,
                    delta_id,
                    delta_hlc,
                    effective_writers,
                    signer_account,
                })
            }
            tag => Err(invalid(format!("unknown storage delta tag {tag}"))),
        }
    }
}

/// Decodes an artifact: empty means no actions; oversized or trailing bytes are errors.
pub fn decode_delta(artifact: &[u8]) -> io::Result<StorageDelta> {
    if artifact.is_empty() {
        return Ok(StorageDelta::Actions(Vec::new()));
    }
    if artifact.len() > MAX_ARTIFACT_SIZE {
        return Err(invalid(format!(
            "artifact of {} bytes exceeds the {MAX_ARTIFACT_SIZE}-byte limit",
            artifact.len()
        )));
    }
    StorageDelta::try_from_slice(artifact)
}

/// Encodes the artifact for `commit`: empty when there are no actions.
pub fn encode_delta(actions: Vec<Action>) -> Vec<u8> {
    if actions.is_empty() {
        return Vec::new();
    }
    // Writing to a Vec cannot fail.
    borsh::to_vec(&StorageDelta::Actions(actions)).unwrap_or_default()
}
