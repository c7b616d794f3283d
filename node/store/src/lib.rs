//! The node's store: RocksDB with one column family per kind of record (`NODE.md` §7).
//!
//! The store knows keys and bytes, not records: the node encodes those. Every execution commits
//! through one [`Batch`], so a killed process leaves either all of a call's writes or none.

use std::path::Path;

use rocksdb::{
    ColumnFamilyDescriptor, DB, Direction, IteratorMode, Options, WriteBatch, WriteOptions,
};

/// The column families.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Column {
    /// Context metadata: application, root, heads, members.
    Meta,
    /// App state: `context_id ‖ key32` → value.
    State,
    /// Node-local private app state, never replicated.
    PrivateState,
    /// Applied deltas: `context_id ‖ delta_id` → envelope (or a marker for deltas a snapshot
    /// brought in without their bodies).
    Deltas,
    /// Deltas waiting for their parents: `context_id ‖ delta_id` → envelope.
    Pending,
    /// Installed applications: id → metadata; `id ‖ "/module"` → module bytes.
    Applications,
    /// Member identities: `context_id ‖ public key` → secret key.
    Identities,
}

impl Column {
    const ALL: [Column; 7] = [
        Column::Meta,
        Column::State,
        Column::PrivateState,
        Column::Deltas,
        Column::Pending,
        Column::Applications,
        Column::Identities,
    ];

    fn name(self) -> &'static str {
        match self {
            Column::Meta => "meta",
            Column::State => "state",
            Column::PrivateState => "private_state",
            Column::Deltas => "deltas",
            Column::Pending => "pending",
            Column::Applications => "applications",
            Column::Identities => "identities",
        }
    }
}

/// Key–value pairs, in key order.
pub type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// A store error.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("RocksDB: {0}")]
    Rocks(#[from] rocksdb::Error),
    #[error("column family `{0}` is missing")]
    MissingColumn(&'static str),
}

/// The open database.
pub struct Store {
    db: DB,
}

/// Writes to apply together.
#[derive(Default)]
pub struct Batch {
    operations: Vec<(Column, Vec<u8>, Option<Vec<u8>>)>,
}

impl Batch {
    /// A new, empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key` in `column`.
    pub fn put(&mut self, column: Column, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) {
        self.operations
            .push((column, key.into(), Some(value.into())));
    }

    /// Removes `key` from `column`.
    pub fn delete(&mut self, column: Column, key: impl Into<Vec<u8>>) {
        self.operations.push((column, key.into(), None));
    }

    /// The number of operations.
    pub fn len(&self) -> usize {
        self.operations.len()
    }

    /// True if the batch does nothing.
    pub fn is_empty(&self) -> bool {
        self.operations.is_empty()
    }
}

impl Store {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let mut options = Options::default();
        options.create_if_missing(true);
        options.create_missing_column_families(true);
        let columns =
            Column::ALL.map(|c| ColumnFamilyDescriptor::new(c.name(), Options::default()));
        let db = DB::open_cf_descriptors(&options, path, columns)?;
        Ok(Self { db })
    }

    fn cf(&self, column: Column) -> Result<&rocksdb::ColumnFamily, StoreError> {
        self.db
            .cf_handle(column.name())
            .ok_or(StoreError::MissingColumn(column.name()))
    }

    /// The value of `key` in `column`.
    pub fn get(&self, column: Column, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.db.get_cf(self.cf(column)?, key)?)
    }

    /// Every entry of `column` whose key starts with `prefix`, in key order.
    pub fn scan(&self, column: Column, prefix: &[u8]) -> Result<Entries, StoreError> {
        let mut entries = Vec::new();
        let iterator = self.db.iterator_cf(
            self.cf(column)?,
            IteratorMode::From(prefix, Direction::Forward),
        );
        for item in iterator {
            let (key, value) = item?;
            if !key.starts_with(prefix) {
                break;
            }
            entries.push((key.into_vec(), value.into_vec()));
        }
        Ok(entries)
    }

    /// One page of the entries of `column` under `prefix`, starting at `start` (inclusive; the
    /// prefix itself if `None`), stopping once `max_bytes` of keys and values are collected.
    /// Returns the entries and the key the next page starts at, if any remain.
    pub fn scan_page(
        &self,
        column: Column,
        prefix: &[u8],
        start: Option<&[u8]>,
        max_bytes: usize,
    ) -> Result<(Entries, Option<Vec<u8>>), StoreError> {
        let from = start.unwrap_or(prefix);
        let mut entries = Vec::new();
        let mut size = 0;
        let iterator = self.db.iterator_cf(
            self.cf(column)?,
            IteratorMode::From(from, Direction::Forward),
        );
        for item in iterator {
            let (key, value) = item?;
            if !key.starts_with(prefix) {
                break;
            }
            if size > 0 && size + key.len() + value.len() > max_bytes {
                return Ok((entries, Some(key.into_vec())));
            }
            size += key.len() + value.len();
            entries.push((key.into_vec(), value.into_vec()));
        }
        Ok((entries, None))
    }

    /// Applies `batch` atomically. The write-ahead log is written but not fsynced, so a killed
    /// process loses nothing that was acknowledged; a power cut may lose the last writes.
    pub fn commit(&self, batch: Batch) -> Result<(), StoreError> {
        let mut write = WriteBatch::default();
        for (column, key, value) in batch.operations {
            let cf = self.cf(column)?;
            match value {
                Some(value) => write.put_cf(cf, key, value),
                None => write.delete_cf(cf, key),
            }
        }
        let mut options = WriteOptions::default();
        options.set_sync(false);
        Ok(self.db.write_opt(write, &options)?)
    }

    /// Flushes memtables to disk (on clean shutdown).
    pub fn flush(&self) -> Result<(), StoreError> {
        for column in Column::ALL {
            self.db.flush_cf(self.cf(column)?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_apply_across_columns_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            let mut batch = Batch::new();
            batch.put(Column::State, b"ctx1key1".to_vec(), b"v1".to_vec());
            batch.put(Column::State, b"ctx1key2".to_vec(), b"v2".to_vec());
            batch.put(Column::State, b"ctx2key1".to_vec(), b"other".to_vec());
            batch.put(Column::Meta, b"ctx1".to_vec(), b"meta".to_vec());
            store.commit(batch).unwrap();
            let mut batch = Batch::new();
            batch.delete(Column::State, b"ctx1key2".to_vec());
            store.commit(batch).unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(
            store.get(Column::Meta, b"ctx1").unwrap(),
            Some(b"meta".to_vec())
        );
        assert_eq!(store.get(Column::State, b"ctx1key2").unwrap(), None);
        let scanned = store.scan(Column::State, b"ctx1").unwrap();
        assert_eq!(scanned, vec![(b"ctx1key1".to_vec(), b"v1".to_vec())]);
        assert!(store.get(Column::Deltas, b"ctx1").unwrap().is_none());
    }

    #[test]
    fn pages_cover_a_prefix_exactly_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut batch = Batch::new();
        for i in 0..100u8 {
            batch.put(Column::State, vec![b'a', i], vec![i; 10]);
            batch.put(Column::State, vec![b'b', i], vec![i; 10]);
        }
        store.commit(batch).unwrap();
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let (entries, next) = store
                .scan_page(Column::State, b"a", cursor.as_deref(), 50)
                .unwrap();
            assert!(
                !entries.is_empty() && entries.len() <= 4,
                "{}",
                entries.len()
            );
            seen.extend(entries.into_iter().map(|(k, _)| k));
            match next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        let expected: Vec<Vec<u8>> = (0..100u8).map(|i| vec![b'a', i]).collect();
        assert_eq!(seen, expected);
    }
}
