//! Predicates for `#[app::migration_check]` functions.
//!
//! ```
//! use calimero_sdk::migration_check::{conservation, entity_count_parity, no_orphaned_refs};
//!
//! let old_users = vec!["ann", "bob"];
//! let new_users = vec!["ann", "bob"];
//! assert!(entity_count_parity(&old_users, &new_users, 0));
//! assert!(no_orphaned_refs(["bob"], new_users.iter().copied()));
//! assert!(conservation(10_u64, 4 + 6));
//! ```
//!
//! They are plain functions over values already read: no host calls, so they behave the same in
//! a module and in a native test.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::Hash;

/// A collection whose entities can be counted.
pub trait Count {
    /// How many entities it holds.
    fn count(&self) -> usize;
}

impl<T> Count for [T] {
    fn count(&self) -> usize {
        self.len()
    }
}

impl<T> Count for Vec<T> {
    fn count(&self) -> usize {
        self.len()
    }
}

impl<K, V, S> Count for HashMap<K, V, S> {
    fn count(&self) -> usize {
        self.len()
    }
}

impl<K, V> Count for BTreeMap<K, V> {
    fn count(&self) -> usize {
        self.len()
    }
}

impl<T, S> Count for HashSet<T, S> {
    fn count(&self) -> usize {
        self.len()
    }
}

impl<T> Count for BTreeSet<T> {
    fn count(&self) -> usize {
        self.len()
    }
}

impl<T: Count + ?Sized> Count for &T {
    fn count(&self) -> usize {
        (**self).count()
    }
}

/// True if `old` and `new` hold as many entities as each other, give or take `delta`.
pub fn entity_count_parity<A: Count, B: Count>(old: A, new: B, delta: usize) -> bool {
    old.count().abs_diff(new.count()) <= delta
}

/// True if every reference in `refs` names one of `keys`.
pub fn no_orphaned_refs<R, K>(refs: R, keys: K) -> bool
where
    R: IntoIterator,
    K: IntoIterator<Item = R::Item>,
    R::Item: Eq + Hash,
{
    let keys: HashSet<R::Item> = keys.into_iter().collect();
    refs.into_iter().all(|r| keys.contains(&r))
}

/// True if a quantity the migration must preserve (a sum, a total) is the same before and after.
pub fn conservation<T: PartialEq>(old_total: T, new_total: T) -> bool {
    old_total == new_total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parity_allows_exactly_delta() {
        let old = vec![1, 2, 3];
        assert!(entity_count_parity(&old, vec![4, 5, 6], 0));
        assert!(!entity_count_parity(&old, vec![4, 5], 0));
        assert!(entity_count_parity(&old, vec![4, 5], 1));
        assert!(!entity_count_parity(&old, Vec::<i32>::new(), 2));
        let map: BTreeMap<u8, u8> = [(1, 1)].into();
        assert!(entity_count_parity(&map, [7].as_slice(), 0));
    }

    #[test]
    fn orphaned_refs_are_found() {
        assert!(no_orphaned_refs([1, 2, 2], [1, 2, 3]));
        assert!(!no_orphaned_refs([1, 4], [1, 2, 3]));
        assert!(no_orphaned_refs(Vec::<u8>::new(), Vec::<u8>::new()));
    }

    #[test]
    fn conservation_compares_totals() {
        assert!(conservation(10, 10));
        assert!(!conservation(10, 9));
    }
}
