//! A replicated growable array: text that several members edit at once.
//!
//! Every character ever inserted is an element with a unique id (the HLC stamp of its insert
//! and its offset in that insert) and the id of the character it was typed after. The text is a
//! walk of that tree: after each character come the characters typed after it, newest first;
//! deleted characters stay as tombstones so that what was typed after them keeps its place.
//! Concurrent inserts at one place therefore come out in one order on every replica, and a run
//! of characters typed in one insert stays together unless someone types inside it.

use std::collections::BTreeMap;
use std::io;

use borsh::{BorshDeserialize, BorshSerialize};

use super::unordered_map::UnorderedMap;
use crate::entities::CrdtType;
use crate::error::StoreError;
use crate::merge::Mergeable;
use crate::store;

/// A character's id: HLC time, HLC id and offset, big-endian, so byte order is stamp order.
pub type CharId = [u8; 28];

/// The id standing for the start of the text.
pub const START: CharId = [0; 28];

/// One character as stored: `(code point, id of the character before it, deleted)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Glyph {
    ch: u32,
    left: CharId,
    deleted: bool,
}

#[diagnostic::do_not_recommend]
impl Mergeable for Glyph {
    /// A glyph only ever changes from live to deleted.
    fn merge(&mut self, other: &Self) -> Result<(), StoreError> {
        self.deleted |= other.deleted;
        Ok(())
    }
}

/// Collaborative text. Positions count characters (Unicode scalar values), not bytes.
pub struct ReplicatedGrowableArray {
    chars: UnorderedMap<CharId, Glyph>,
}

fn char_id(time: u64, id: u128, offset: u32) -> CharId {
    let mut out = [0u8; 28];
    out[..8].copy_from_slice(&time.to_be_bytes());
    out[8..24].copy_from_slice(&id.to_be_bytes());
    out[24..].copy_from_slice(&offset.to_be_bytes());
    out
}

impl ReplicatedGrowableArray {
    /// A new, detached text.
    pub fn new() -> Self {
        Self {
            chars: UnorderedMap::new(),
        }
    }

    fn crdt_type() -> CrdtType {
        CrdtType::Rga
    }

    /// Every character in text order, tombstones included.
    fn ordered(&self) -> Result<Vec<(CharId, Glyph)>, StoreError> {
        let mut after: BTreeMap<CharId, Vec<(CharId, Glyph)>> = BTreeMap::new();
        for (id, glyph) in self.chars.entries()? {
            after.entry(glyph.left).or_default().push((id, glyph));
        }
        for children in after.values_mut() {
            // Newest first: a character typed later at the same place comes first.
            children.sort_by_key(|c| std::cmp::Reverse(c.0));
        }
        let mut out = Vec::new();
        let mut stack: Vec<CharId> = Vec::new();
        // Depth-first from the start, visiting each character before what was typed after it.
        if let Some(children) = after.get(&START) {
            stack.extend(children.iter().rev().map(|(id, _)| *id));
        }
        let glyphs: BTreeMap<CharId, Glyph> =
            crate::btree::map_of(after.values().flatten().copied());
        while let Some(id) = stack.pop() {
            if let Some(glyph) = glyphs.get(&id) {
                out.push((id, *glyph));
            }
            if let Some(children) = after.get(&id) {
                stack.extend(children.iter().rev().map(|(id, _)| *id));
            }
        }
        Ok(out)
    }

    /// The live characters in text order.
    fn visible(&self) -> Result<Vec<(CharId, Glyph)>, StoreError> {
        Ok(self
            .ordered()?
            .into_iter()
            .filter(|(_, glyph)| !glyph.deleted)
            .collect())
    }

    /// Inserts `text` so that its first character is at position `pos` (0 ..= len).
    pub fn insert_str(&mut self, pos: usize, text: &str) -> Result<(), StoreError> {
        let all = self.ordered()?;
        let visible: Vec<&(CharId, Glyph)> = all.iter().filter(|(_, g)| !g.deleted).collect();
        if pos > visible.len() {
            return Err(StoreError::IndexOutOfBounds {
                index: pos,
                len: visible.len(),
            });
        }
        let mut left = if pos == 0 { START } else { visible[pos - 1].0 };
        // After every character this replica has seen, so an insert comes before what it
        // was typed in front of even when two calls read the same clock.
        let stamp = store::timestamp();
        let seen = all
            .iter()
            .map(|(id, _)| u64::from_be_bytes(id[..8].try_into().expect("8 bytes")))
            .max()
            .unwrap_or(0);
        let time = stamp.time.max(seen.saturating_add(1));
        for (offset, ch) in text.chars().enumerate() {
            let id = char_id(time, stamp.id, offset as u32);
            self.chars.insert(
                id,
                Glyph {
                    ch: u32::from(ch),
                    left,
                    deleted: false,
                },
            )?;
            left = id;
        }
        Ok(())
    }

    /// Inserts one character at position `pos` (0 ..= len).
    pub fn insert(&mut self, pos: usize, ch: char) -> Result<(), StoreError> {
        self.insert_str(pos, ch.encode_utf8(&mut [0; 4]))
    }

    /// Deletes the characters at positions `start .. end`.
    pub fn delete_range(&mut self, start: usize, end: usize) -> Result<(), StoreError> {
        let visible = self.visible()?;
        if start > end || end > visible.len() {
            return Err(StoreError::IndexOutOfBounds {
                index: end.max(start),
                len: visible.len(),
            });
        }
        for (id, glyph) in &visible[start..end] {
            self.chars.insert(
                *id,
                Glyph {
                    deleted: true,
                    ..*glyph
                },
            )?;
        }
        Ok(())
    }

    /// Deletes the character at position `pos`.
    pub fn delete(&mut self, pos: usize) -> Result<(), StoreError> {
        self.delete_range(pos, pos + 1)
    }

    /// The text.
    pub fn get_text(&self) -> Result<String, StoreError> {
        Ok(self
            .visible()?
            .into_iter()
            .filter_map(|(_, glyph)| char::from_u32(glyph.ch))
            .collect())
    }

    /// The number of characters.
    pub fn len(&self) -> Result<usize, StoreError> {
        Ok(self.visible()?.len())
    }

    /// True if the text is empty.
    pub fn is_empty(&self) -> Result<bool, StoreError> {
        Ok(self.len()? == 0)
    }
}

impl Default for ReplicatedGrowableArray {
    fn default() -> Self {
        Self::new()
    }
}

impl Clone for ReplicatedGrowableArray {
    fn clone(&self) -> Self {
        Self {
            chars: self.chars.clone(),
        }
    }
}

impl std::fmt::Debug for ReplicatedGrowableArray {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("ReplicatedGrowableArray")
            .field(&self.chars)
            .finish()
    }
}

impl BorshSerialize for ReplicatedGrowableArray {
    fn serialize<W: io::Write>(&self, writer: &mut W) -> io::Result<()> {
        self.chars.serialize_as(Self::crdt_type, writer)
    }
}

impl BorshDeserialize for ReplicatedGrowableArray {
    fn deserialize_reader<R: io::Read>(reader: &mut R) -> io::Result<Self> {
        Ok(Self {
            chars: UnorderedMap::deserialize_reader(reader)?,
        })
    }
}

impl Mergeable for ReplicatedGrowableArray {
    fn merge(&mut self, _other: &Self) -> Result<(), StoreError> {
        Ok(())
    }

    fn attach_field(&self, name: &str) -> Result<(), StoreError> {
        self.chars.attach_field_as(name, Self::crdt_type())
    }
}
