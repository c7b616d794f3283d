//! The app's root state as stored, for migrations.
//!
//! A new version of an app whose state layout changed declares a migration
//! (`#[app::state(version = 2, migration = migrate_v1_to_v2)]` with an `#[app::migrate]`
//! function, or `#[derive(app::Migrate)]`). The migration reads the previous version's state
//! with [`read_raw`], decodes it as a struct listing the old fields, and returns the new state.

use calimero_storage::{StoreError, root};

/// The stored root state's encoding (Borsh of the state struct, collections as their ids), or
/// `None` if the context has no state yet.
///
/// # Panics
/// If storage cannot be read or the root entry is malformed (corrupt storage).
pub fn read_raw() -> Option<Vec<u8>> {
    match root::load_raw() {
        Ok(bytes) => Some(bytes),
        Err(StoreError::Uninitialized) => None,
        Err(error) => panic!("cannot read the stored state: {error}"),
    }
}

/// A check of a migration's result, implemented for the new state type by
/// `#[app::migration_check]`. The migration returning that type runs it before committing.
pub trait MigrationCheck {
    /// Judges the migrated state (`new`) against the previous one (`old`), both encoded as
    /// stored, with the witness the migration returned, if any. `false` refuses the migration.
    fn check_migration(old: &[u8], new: &[u8], witness: Option<&[u8]>) -> bool;
}
