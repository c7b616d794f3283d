//! A last-writer-wins register, stored inline in its parent's data.

use std::ops::Deref;

use borsh::{BorshDeserialize, BorshSerialize};

use crate::address::hash;
use crate::error::StoreError;
use crate::hlc::HybridTimestamp;
use crate::merge::Mergeable;
use crate::store;

/// A value with the HLC timestamp and device of its last write. Concurrent writes merge by the
/// greater timestamp; an exact tie goes to the greater `H(value bytes)`.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct LwwRegister<T> {
    value: T,
    timestamp: HybridTimestamp,
    node_id: [u8; 32],
}

/// `T::default()`, stamped at time zero: every write, on any replica, wins over it, and two
/// replicas' defaults are the same bytes.
impl<T: Default> Default for LwwRegister<T> {
    fn default() -> Self {
        Self {
            value: T::default(),
            timestamp: HybridTimestamp { time: 0, id: 1 },
            node_id: [0; 32],
        }
    }
}

impl<T> LwwRegister<T> {
    /// A register holding `value`, stamped now by this device.
    pub fn new(value: T) -> Self {
        Self {
            value,
            timestamp: store::timestamp(),
            node_id: store::device_id(),
        }
    }

    /// The current value.
    pub fn get(&self) -> &T {
        &self.value
    }

    /// Replaces the value; the new stamp is greater than the old one.
    pub fn set(&mut self, value: T) {
        let mut stamp = store::timestamp();
        if stamp <= self.timestamp {
            stamp = self.timestamp.successor(stamp.id);
        }
        self.value = value;
        self.timestamp = stamp;
        self.node_id = store::device_id();
    }

    /// The stamp of the last write.
    pub fn timestamp(&self) -> HybridTimestamp {
        self.timestamp
    }

    /// The device of the last write.
    pub fn node_id(&self) -> [u8; 32] {
        self.node_id
    }

    /// The value, consuming the register.
    pub fn into_inner(self) -> T {
        self.value
    }
}

impl<T> From<T> for LwwRegister<T> {
    fn from(value: T) -> Self {
        Self::new(value)
    }
}

impl<T> Deref for LwwRegister<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: BorshSerialize + Clone> Mergeable for LwwRegister<T> {
    fn merge(&mut self, other: &Self) -> Result<(), StoreError> {
        let take = match other.timestamp.cmp(&self.timestamp) {
            std::cmp::Ordering::Greater => true,
            std::cmp::Ordering::Less => false,
            std::cmp::Ordering::Equal => {
                let mine = borsh::to_vec(&self.value).unwrap_or_default();
                let theirs = borsh::to_vec(&other.value).unwrap_or_default();
                hash(&[&theirs]) > hash(&[&mine])
            }
        };
        if take {
            *self = other.clone();
        }
        Ok(())
    }
}
