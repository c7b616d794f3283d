//! Borsh formats: round-trips of every stored and transmitted type, real artifacts decode,
//! retired tags are rejected.

use std::collections::BTreeMap;

use borsh::BorshDeserialize;
use calimero_storage::action::{Action, StorageDelta, decode_delta, encode_delta};
use calimero_storage::address::Id;
use calimero_storage::entities::{
    ChildInfo, CrdtType, EntityIndex, Metadata, SignatureData, StorageType,
};
use calimero_storage::hlc::HybridTimestamp;
use proptest::prelude::*;

fn id() -> impl Strategy<Value = Id> {
    any::<[u8; 32]>().prop_map(Id::new)
}

fn signature() -> impl Strategy<Value = Option<SignatureData>> {
    prop::option::of(
        (
            any::<[u8; 32]>(),
            any::<[u8; 32]>(),
            any::<u64>(),
            prop::option::of(any::<[u8; 32]>()),
        )
            .prop_map(|(a, b, nonce, signer)| {
                let mut signature = [0u8; 64];
                signature[..32].copy_from_slice(&a);
                signature[32..].copy_from_slice(&b);
                SignatureData {
                    signature,
                    nonce,
                    signer,
                }
            }),
    )
}

fn storage_type() -> impl Strategy<Value = StorageType> {
    prop_oneof![
        Just(StorageType::Public),
        (any::<[u8; 32]>(), signature()).prop_map(|(owner, signature_data)| StorageType::User {
            owner,
            signature_data
        }),
        Just(StorageType::Frozen),
        (
            prop::collection::btree_map(any::<[u8; 32]>(), any::<u8>(), 0..3),
            signature()
        )
            .prop_map(|(writers, signature_data)| StorageType::Shared {
                writers,
                signature_data
            }),
        (id(), signature()).prop_map(|(anchor, signature_data)| StorageType::SharedMember {
            anchor,
            signature_data
        }),
    ]
}

fn crdt_type() -> impl Strategy<Value = CrdtType> {
    let s = || "[a-z:<>]{0,12}";
    prop_oneof![
        s().prop_map(|inner_type| CrdtType::LwwRegister { inner_type }),
        Just(CrdtType::GCounter),
        Just(CrdtType::PnCounter),
        Just(CrdtType::Rga),
        (s(), s()).prop_map(|(key_type, value_type)| CrdtType::UnorderedMap {
            key_type,
            value_type
        }),
        (s(), s()).prop_map(|(key_type, value_type)| CrdtType::SortedMap {
            key_type,
            value_type
        }),
        s().prop_map(|element_type| CrdtType::UnorderedSet { element_type }),
        s().prop_map(|element_type| CrdtType::SortedSet { element_type }),
        s().prop_map(|element_type| CrdtType::Vector { element_type }),
        Just(CrdtType::UserStorage),
        Just(CrdtType::FrozenStorage),
        Just(CrdtType::SharedStorage),
        s().prop_map(CrdtType::Custom),
        Just(CrdtType::RotationLog),
    ]
}

fn metadata() -> impl Strategy<Value = Metadata> {
    (
        any::<u64>(),
        any::<u64>(),
        storage_type(),
        prop::option::of(crdt_type()),
        prop::option::of("[a-z]{0,8}"),
        prop::option::of(any::<u32>()),
    )
        .prop_map(
            |(created_at, updated_at, storage_type, crdt_type, field_name, schema_version)| {
                Metadata {
                    created_at,
                    updated_at,
                    storage_type,
                    crdt_type,
                    field_name,
                    schema_version,
                }
            },
        )
}

fn child() -> impl Strategy<Value = ChildInfo> {
    (id(), any::<[u8; 32]>(), metadata()).prop_map(|(id, merkle_hash, metadata)| ChildInfo {
        id,
        merkle_hash,
        metadata,
    })
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        (
            id(),
            prop::collection::vec(any::<u8>(), 0..64),
            prop::collection::vec(child(), 0..3),
            metadata()
        )
            .prop_map(|(id, data, ancestors, metadata)| Action::Add {
                id,
                data,
                ancestors,
                metadata
            }),
        (id(), any::<u64>(), metadata()).prop_map(|(id, deleted_at, metadata)| Action::DeleteRef {
            id,
            deleted_at,
            metadata
        }),
        (
            id(),
            prop::collection::vec(any::<u8>(), 0..64),
            prop::collection::vec(child(), 0..3),
            metadata()
        )
            .prop_map(|(id, data, ancestors, metadata)| Action::Update {
                id,
                data,
                ancestors,
                metadata
            }),
    ]
}

proptest! {
    #[test]
    fn index_records_round_trip(
        id in id(), parent in prop::option::of(id()), children in prop::option::of(prop::collection::vec(child(), 0..4)),
        full in any::<[u8; 32]>(), own in any::<[u8; 32]>(), metadata in metadata(),
        deleted_at in prop::option::of(any::<u64>()), deleted_children in prop::collection::vec(id(), 0..3),
    ) {
        let index = EntityIndex { id, parent_id: parent, children, full_hash: full, own_hash: own, metadata, deleted_at, deleted_children };
        let bytes = borsh::to_vec(&index).unwrap();
        prop_assert_eq!(EntityIndex::try_from_slice(&bytes).unwrap(), index);
    }

    #[test]
    fn actions_and_deltas_round_trip(actions in prop::collection::vec(action(), 0..5), delta_id in any::<[u8; 32]>(), time in any::<u64>(), hlc_id in 1..u128::MAX) {
        for action in &actions {
            let bytes = borsh::to_vec(action).unwrap();
            prop_assert_eq!(&Action::try_from_slice(&bytes).unwrap(), action);
        }
        let plain = StorageDelta::Actions(actions.clone());
        prop_assert_eq!(decode_delta(&borsh::to_vec(&plain).unwrap()).unwrap(), plain);
        let mut writers = BTreeMap::new();
        writers.insert(Id::new(delta_id), BTreeMap::from([([1u8; 32], 7u8)]));
        let causal = StorageDelta::CausalActions {
            actions, delta_id, delta_hlc: HybridTimestamp { time, id: hlc_id },
            effective_writers: writers, signer_account: Some([2; 32]),
        };
        prop_assert_eq!(decode_delta(&borsh::to_vec(&causal).unwrap()).unwrap(), causal);
    }

    #[test]
    fn truncated_artifacts_are_errors_not_panics(actions in prop::collection::vec(action(), 1..4), cut in any::<prop::sample::Index>()) {
        let bytes = encode_delta(actions);
        let cut = cut.index(bytes.len() - 1).max(1);
        prop_assert!(decode_delta(&bytes[..cut]).is_err());
    }
}

#[test]
fn action_tags_are_0_2_3_and_tag_1_is_rejected() {
    let metadata = Metadata::default();
    let add = Action::Add {
        id: Id::new([1; 32]),
        data: vec![],
        ancestors: vec![],
        metadata: metadata.clone(),
    };
    let delete = Action::DeleteRef {
        id: Id::new([1; 32]),
        deleted_at: 5,
        metadata: metadata.clone(),
    };
    let update = Action::Update {
        id: Id::new([1; 32]),
        data: vec![],
        ancestors: vec![],
        metadata,
    };
    assert_eq!(borsh::to_vec(&add).unwrap()[0], 0);
    assert_eq!(borsh::to_vec(&delete).unwrap()[0], 2);
    assert_eq!(borsh::to_vec(&update).unwrap()[0], 3);

    let mut retired = borsh::to_vec(&add).unwrap();
    retired[0] = 1;
    let error = Action::try_from_slice(&retired).unwrap_err();
    assert!(error.to_string().contains("retired"), "{error}");

    // Inside an artifact: tag 0, one action, that action with tag 1.
    let mut artifact = vec![0, 1, 0, 0, 0];
    artifact.extend_from_slice(&retired);
    assert!(
        decode_delta(&artifact)
            .unwrap_err()
            .to_string()
            .contains("retired")
    );
    // The retired storage-delta tag 1 too.
    assert!(
        decode_delta(&[1, 0, 0, 0, 0])
            .unwrap_err()
            .to_string()
            .contains("retired")
    );
}

#[test]
fn empty_artifact_is_no_actions_and_oversized_is_refused() {
    assert_eq!(decode_delta(&[]).unwrap(), StorageDelta::Actions(vec![]));
    assert!(encode_delta(vec![]).is_empty());
    let huge = vec![0u8; calimero_storage::action::MAX_ARTIFACT_SIZE + 1];
    assert!(
        decode_delta(&huge)
            .unwrap_err()
            .to_string()
            .contains("exceeds")
    );
}

#[test]
fn a_lying_length_prefix_does_not_allocate_gigabytes() {
    // Tag 0 and a claimed 4 billion actions, with no bytes behind the claim.
    let artifact = [0u8, 0xff, 0xff, 0xff, 0xff];
    assert!(decode_delta(&artifact).is_err());
}
