//! Grow-only and positive-negative counters: one slot entity per device and sign.

use std::cell::Cell;
use std::io;
use std::rc::Rc;

use borsh::{BorshDeserialize, BorshSerialize};

use super::{Handle, Staged};
use crate::address::Id;
use crate::entities::{COUNTER_SLOT, CrdtType};
use crate::error::StoreError;
use crate::merge::Mergeable;
use crate::store::{self, EntityKind};

/// A counter. `Counter` (= `Counter<false>`) only grows; `Counter<true>` can also decrement.
/// Each device writes only its own slots, and slots merge by maximum, so concurrent increments
/// all count.
#[derive(Clone, Debug, Default)]
pub struct Counter<const ALLOW_DECREMENT: bool = false> {
    handle: Handle,
    /// Increments and decrements made while detached (shared by clones).
    staged: Rc<Cell<(u64, u64)>>,
}

/// A grow-only counter.
pub type GCounter = Counter<false>;
/// A counter that can go down.
pub type PNCounter = Counter<true>;

const POSITIVE: &str = "+";
const NEGATIVE: &str = "-";

impl<const ALLOW_DECREMENT: bool> Counter<ALLOW_DECREMENT> {
    /// A new, detached counter.
    pub fn new() -> Self {
        Self::default()
    }

    /// The staged counts as this device's writes once bound.
    fn staged_writes(&self) -> Vec<Staged> {
        let (up, down) = self.staged.take();
        [(false, up), (true, down)]
            .into_iter()
            .filter(|&(_, by)| by > 0)
            .map(|(negative, by)| Staged::Count { negative, by })
            .collect()
    }

    fn crdt_type() -> CrdtType {
        if ALLOW_DECREMENT {
            CrdtType::PnCounter
        } else {
            CrdtType::GCounter
        }
    }

    fn bump(&mut self, sign: &'static str, by: u64) -> Result<(), StoreError> {
        let negative = sign == NEGATIVE;
        match self.handle.get() {
            Some(counter) => bump(counter, negative, by),
            None => {
                let (up, down) = self.staged.get();
                self.staged.set(if negative {
                    (up, down.saturating_add(by))
                } else {
                    (up.saturating_add(by), down)
                });
                Ok(())
            }
        }
    }

    /// Adds one.
    pub fn increment(&mut self) -> Result<(), StoreError> {
        self.bump(POSITIVE, 1)
    }

    /// Adds `by`.
    pub fn increment_by(&mut self, by: u64) -> Result<(), StoreError> {
        self.bump(POSITIVE, by)
    }

    fn totals(&self) -> Result<(u128, u128), StoreError> {
        match self.handle.get() {
            Some(counter) => totals(counter),
            None => {
                let (up, down) = self.staged.get();
                Ok((u128::from(up), u128::from(down)))
            }
        }
    }
}

impl Counter<false> {
    /// The sum of every device's increments.
    pub fn value(&self) -> Result<u64, StoreError> {
        let (up, _) = self.totals()?;
        Ok(u64::try_from(up).unwrap_or(u64::MAX))
    }
}

impl Counter<true> {
    /// Subtracts one.
    pub fn decrement(&mut self) -> Result<(), StoreError> {
        self.bump(NEGATIVE, 1)
    }

    /// Subtracts `by`.
    pub fn decrement_by(&mut self, by: u64) -> Result<(), StoreError> {
        self.bump(NEGATIVE, by)
    }

    /// Increments minus decrements, over every device.
    pub fn value(&self) -> Result<i64, StoreError> {
        let (up, down) = self.totals()?;
        let value = up as i128 - down as i128;
        Ok(value.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64)
    }
}

/// Adds `by` to this device's slot of `counter` (the negative slot if `negative`).
pub(crate) fn bump(counter: Id, negative: bool, by: u64) -> Result<(), StoreError> {
    let sign = if negative { NEGATIVE } else { POSITIVE };
    let mut key = sign.as_bytes().to_vec();
    key.extend_from_slice(&store::device_id());
    let slot = Id::entry(counter, &key);
    let current = match store::data(slot)? {
        Some(bytes) => u64::try_from_slice(&bytes).map_err(|source| StoreError::Decode {
            what: "a counter slot",
            source,
        })?,
        None => 0,
    };
    let kind = EntityKind {
        crdt_type: Some(CrdtType::Custom(COUNTER_SLOT.to_owned())),
        field_name: Some(sign.to_owned()),
    };
    let next = current.saturating_add(by);
    let parent = super::element_parent(counter, slot)?;
    store::save(
        slot,
        Some(parent),
        borsh::to_vec(&next).unwrap_or_default(),
        kind,
    )
}

/// The sums of every device's increments and decrements of `counter`.
pub(crate) fn totals(counter: Id) -> Result<(u128, u128), StoreError> {
    let (mut up, mut down) = (0u128, 0u128);
    for child in super::elements(counter)? {
        let Some(bytes) = store::data(child.id)? else {
            continue;
        };
        let count = u64::try_from_slice(&bytes).map_err(|source| StoreError::Decode {
            what: "a counter slot",
            source,
        })?;
        match child.metadata.field_name.as_deref() {
            Some(NEGATIVE) => down += u128::from(count),
            _ => up += u128::from(count),
        }
    }
    Ok((up, down))
}

impl<const D: bool> BorshSerialize for Counter<D> {
    fn serialize<W: io::Write>(&self, writer: &mut W) -> io::Result<()> {
        if super::encoding_inline() {
            if self.handle.get().is_some() {
                return Err(super::bound_in_private());
            }
            return self.staged.get().serialize(writer);
        }
        self.handle
            .serialize(Self::crdt_type, |_| Ok(self.staged_writes()), writer)
    }
}

impl<const D: bool> BorshDeserialize for Counter<D> {
    fn deserialize_reader<R: io::Read>(reader: &mut R) -> io::Result<Self> {
        if super::encoding_inline() {
            return Ok(Self {
                handle: Handle::default(),
                staged: Rc::new(Cell::new(<(u64, u64)>::deserialize_reader(reader)?)),
            });
        }
        Ok(Self {
            handle: Handle::deserialize(reader)?,
            staged: Rc::default(),
        })
    }
}

impl<const D: bool> Mergeable for Counter<D> {
    fn merge(&mut self, _other: &Self) -> Result<(), StoreError> {
        Ok(())
    }

    fn attach_field(&self, name: &str) -> Result<(), StoreError> {
        self.handle
            .attach_field(name, Self::crdt_type(), |_| Ok(self.staged_writes()))
    }
}
