//! Ordered maps and sets built by inserting one entry at a time.
//!
//! `collect()` into a `BTreeMap` or `BTreeSet`, and Borsh's decoding of them, first sort a
//! `Vec` of the entries with the standard library's stable sort, and every element type
//! instantiates its own copy of that sort: about 20 KB of wasm each, in every module that links
//! this crate. Inserting gives the same map (a key seen twice keeps its last value, as
//! `collect()` does) for a few hundred bytes.

use std::collections::{BTreeMap, BTreeSet};

use borsh::BorshDeserialize;
use borsh::io::{Read, Result};

/// The map of `entries`, as `entries.into_iter().collect()` would make it.
pub fn map_of<K: Ord, V>(entries: impl IntoIterator<Item = (K, V)>) -> BTreeMap<K, V> {
    let mut map = BTreeMap::new();
    for (key, value) in entries {
        map.insert(key, value);
    }
    map
}

/// The set of `elements`, as `elements.into_iter().collect()` would make it.
pub fn set_of<T: Ord>(elements: impl IntoIterator<Item = T>) -> BTreeSet<T> {
    let mut set = BTreeSet::new();
    for element in elements {
        set.insert(element);
    }
    set
}

/// Decodes a Borsh map (`u32` length, then key and value pairs) as Borsh's own `BTreeMap`
/// decoding does; for `#[borsh(deserialize_with = "...")]`.
pub fn read_map<R: Read, K: BorshDeserialize + Ord, V: BorshDeserialize>(
    reader: &mut R,
) -> Result<BTreeMap<K, V>> {
    read_map_with(reader, V::deserialize_reader)
}

/// [`read_map`] with the values decoded by `value`.
pub fn read_map_with<R: Read, K: BorshDeserialize + Ord, V>(
    reader: &mut R,
    mut value: impl FnMut(&mut R) -> Result<V>,
) -> Result<BTreeMap<K, V>> {
    let len = u32::deserialize_reader(reader)?;
    let mut map = BTreeMap::new();
    for _ in 0..len {
        let key = K::deserialize_reader(reader)?;
        map.insert(key, value(reader)?);
    }
    Ok(map)
}

/// Decodes a Borsh set (`u32` length, then the elements) as Borsh's own `BTreeSet` decoding
/// does; for `#[borsh(deserialize_with = "...")]`.
pub fn read_set<R: Read, T: BorshDeserialize + Ord>(reader: &mut R) -> Result<BTreeSet<T>> {
    let len = u32::deserialize_reader(reader)?;
    let mut set = BTreeSet::new();
    for _ in 0..len {
        set.insert(T::deserialize_reader(reader)?);
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_helpers_build_what_collect_and_borsh_build() {
        // Unordered, with a key and an element seen twice.
        let entries = vec![(5u8, 1u16), (2, 7), (9, 3), (2, 8), (0, 0)];
        let expected: BTreeMap<u8, u16> = entries.iter().copied().collect();
        assert_eq!(map_of(entries.clone()), expected);
        let elements = vec![[3u8; 2], [1; 2], [3; 2], [0; 2]];
        let expected_set: BTreeSet<[u8; 2]> = elements.iter().copied().collect();
        assert_eq!(set_of(elements.clone()), expected_set);

        // As written by Borsh for a `Vec` of the same entries: any order, duplicates included.
        let bytes = borsh::to_vec(&entries).unwrap();
        let borsh_map = BTreeMap::<u8, u16>::try_from_slice(&bytes).unwrap();
        assert_eq!(read_map::<_, u8, u16>(&mut &bytes[..]).unwrap(), borsh_map);
        assert_eq!(borsh_map, expected);
        let bytes = borsh::to_vec(&elements).unwrap();
        let borsh_set = BTreeSet::<[u8; 2]>::try_from_slice(&bytes).unwrap();
        assert_eq!(read_set::<_, [u8; 2]>(&mut &bytes[..]).unwrap(), borsh_set);

        // Truncated input is an error, as for Borsh.
        let bytes = borsh::to_vec(&entries).unwrap();
        assert!(read_map::<_, u8, u16>(&mut &bytes[..bytes.len() - 1]).is_err());
        assert!(BTreeMap::<u8, u16>::try_from_slice(&bytes[..bytes.len() - 1]).is_err());
    }
}
