//! Helpers the storage-rule tests share: taking a delta artifact apart, editing its actions, and
//! putting it back together.

// Each test binary uses some of these.
#![allow(dead_code)]

use calimero_sdk::storage::action::{Action, StorageDelta, decode_delta};
use calimero_sdk::storage::entities::Metadata;

/// The actions of an artifact, and a way to put edited ones back (same delta otherwise).
pub fn actions(artifact: &[u8]) -> (Vec<Action>, impl Fn(Vec<Action>) -> Vec<u8> + use<>) {
    let delta = decode_delta(artifact).unwrap();
    let actions = delta.actions().to_vec();
    (actions, move |actions| {
        let mut delta = delta.clone();
        match &mut delta {
            StorageDelta::Actions(list) | StorageDelta::CausalActions { actions: list, .. } => {
                *list = actions
            }
        }
        borsh::to_vec(&delta).unwrap()
    })
}

/// An action's metadata.
pub fn metadata(action: &Action) -> &Metadata {
    match action {
        Action::Add { metadata, .. }
        | Action::Update { metadata, .. }
        | Action::DeleteRef { metadata, .. } => metadata,
    }
}

/// An action's metadata, to edit.
pub fn metadata_mut(action: &mut Action) -> &mut Metadata {
    match action {
        Action::Add { metadata, .. }
        | Action::Update { metadata, .. }
        | Action::DeleteRef { metadata, .. } => metadata,
    }
}
