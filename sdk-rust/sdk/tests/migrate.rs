//! Migrations: a context moves from one version of an app's state layout to the next.
//!
//! Three versions of a small library app: v1 keeps books and a title; v2 (`#[derive(Migrate)]`)
//! renames the title, converts a counter's type and adds a field; v3 (`#[app::migrate]` with a
//! witness and an `#[app::migration_check]`) seeds a vector from v2's keys. A fourth, `v3_lossy`,
//! drops a book and is refused by its check.

use calimero_sdk::testing::{CallError, TestApp};
use serde_json::{Value, json};

mod v1 {
    use calimero_sdk::app;
    use calimero_sdk::storage::collections::{LwwRegister, UnorderedMap};

    #[app::state]
    pub struct Library {
        pub books: UnorderedMap<String, LwwRegister<String>>,
        pub title: LwwRegister<String>,
        pub loans: LwwRegister<u64>,
    }

    #[app::logic]
    impl Library {
        #[app::init]
        pub fn init() -> Library {
            Library {
                books: UnorderedMap::new(),
                title: LwwRegister::new("untitled".to_owned()),
                loans: LwwRegister::new(0),
            }
        }

        pub fn add(&mut self, isbn: String, name: String) -> app::Result<()> {
            self.books.insert(isbn, name.into())?;
            Ok(())
        }

        pub fn lend(&mut self) -> app::Result<u64> {
            let next = *self.loans.get() + 1;
            self.loans.set(next);
            Ok(next)
        }

        pub fn set_title(&mut self, title: String) {
            self.title.set(title);
        }
    }
}

mod v2 {
    use calimero_sdk::app;
    use calimero_sdk::borsh::BorshDeserialize;
    use calimero_sdk::storage::collections::{LwwRegister, UnorderedMap};

    #[derive(BorshDeserialize)]
    #[borsh(crate = "calimero_sdk::borsh")]
    pub struct LibraryV1 {
        books: UnorderedMap<String, LwwRegister<String>>,
        title: LwwRegister<String>,
        loans: LwwRegister<u64>,
    }

    #[app::event]
    pub enum Event {
        Migrated { from: u32, to: u32 },
    }

    fn loans_as_text(loans: LwwRegister<u64>) -> LwwRegister<String> {
        LwwRegister::new(format!("{} loans", loans.get()))
    }

    pub type Summary = (String, String, Vec<(String, String)>, usize);

    #[app::state(version = 2, emits = Event)]
    #[derive(app::Migrate)]
    #[migrate(from = LibraryV1, emit = Event::Migrated { from: 1, to: 2 })]
    pub struct Library {
        pub books: UnorderedMap<String, LwwRegister<String>>,
        #[migrate(from = title)]
        pub heading: LwwRegister<String>,
        #[migrate(with = loans_as_text)]
        pub loans: LwwRegister<String>,
        #[migrate(new = UnorderedMap::new())]
        pub shelves: UnorderedMap<String, LwwRegister<String>>,
    }

    #[app::logic]
    impl Library {
        #[app::init]
        pub fn init() -> Library {
            Library {
                books: UnorderedMap::new(),
                heading: LwwRegister::new("untitled".to_owned()),
                loans: LwwRegister::new("0 loans".to_owned()),
                shelves: UnorderedMap::new(),
            }
        }

        pub fn shelve(&mut self, isbn: String, shelf: String) -> app::Result<()> {
            self.shelves.insert(isbn, shelf.into())?;
            Ok(())
        }

        pub fn add(&mut self, isbn: String, name: String) -> app::Result<()> {
            self.books.insert(isbn, name.into())?;
            Ok(())
        }

        /// `(heading, loans, books by isbn, shelved books)`.
        pub fn summary(&self) -> app::Result<Summary> {
            let mut books: Vec<(String, String)> = self
                .books
                .entries()?
                .map(|(k, v)| (k, v.get().clone()))
                .collect();
            books.sort();
            Ok((
                self.heading.get().clone(),
                self.loans.get().clone(),
                books,
                self.shelves.len()?,
            ))
        }
    }
}

/// v3's migration, with what its check compares.
macro_rules! v3_app {
    ($name:ident, $drop_first:expr) => {
        mod $name {
            use calimero_sdk::app;
            use calimero_sdk::borsh::{BorshDeserialize, BorshSerialize};
            use calimero_sdk::state::read_raw;
            use calimero_sdk::storage::collections::{
                LwwRegister, UnorderedMap, UnorderedSet, Vector,
            };

            // `loans` and `shelves` are dropped in this version: read only to be skipped.
            #[allow(dead_code)]
            #[derive(BorshDeserialize)]
            #[borsh(crate = "calimero_sdk::borsh")]
            pub struct LibraryV2 {
                books: UnorderedMap<String, LwwRegister<String>>,
                heading: LwwRegister<String>,
                loans: LwwRegister<String>,
                shelves: UnorderedMap<String, LwwRegister<String>>,
            }

            #[derive(BorshSerialize, BorshDeserialize)]
            #[borsh(crate = "calimero_sdk::borsh")]
            pub struct Witness {
                books_before: u64,
            }

            #[app::state(version = 3, migration = build_catalogue)]
            pub struct Library {
                pub books: UnorderedMap<String, LwwRegister<String>>,
                pub heading: LwwRegister<String>,
                pub catalogue: Vector<LwwRegister<String>>,
                /// v2 had a map of this name: this set starts empty.
                pub shelves: UnorderedSet<String>,
            }

            #[app::migrate]
            pub fn build_catalogue() -> (Library, Witness) {
                let old: LibraryV2 = BorshDeserialize::try_from_slice(&read_raw().expect("state"))
                    .expect("v2 layout");
                let mut keys: Vec<String> = old.books.keys().expect("keys").collect();
                keys.sort();
                let books_before = keys.len() as u64;
                let mut books = old.books;
                if $drop_first {
                    books.remove(&keys[0]).expect("remove");
                    keys.remove(0);
                }
                let mut catalogue = Vector::new();
                for key in keys {
                    catalogue.push(LwwRegister::new(key)).expect("push");
                }
                (
                    Library {
                        books,
                        heading: old.heading,
                        catalogue,
                        shelves: UnorderedSet::new(),
                    },
                    Witness { books_before },
                )
            }

            #[app::migration_check]
            pub fn same_books(old: LibraryV2, new: Library, witness: Witness) -> bool {
                let before = old.books.len().expect("len") as u64;
                let after = new.books.len().expect("len") as u64;
                // The old handle reads the same collection as the new one: compare with the
                // witness, taken before the migration changed anything.
                before == after && after == witness.books_before
            }

            #[app::logic]
            impl Library {
                #[app::init]
                pub fn init() -> Library {
                    Library {
                        books: UnorderedMap::new(),
                        heading: LwwRegister::new("untitled".to_owned()),
                        catalogue: Vector::new(),
                        shelves: UnorderedSet::new(),
                    }
                }

                pub fn shelves(&self) -> app::Result<Vec<String>> {
                    Ok(self.shelves.iter()?.collect())
                }

                pub fn catalogue(&self) -> app::Result<Vec<String>> {
                    Ok(self.catalogue.iter()?.map(|v| v.get().clone()).collect())
                }

                pub fn heading(&self) -> String {
                    self.heading.get().clone()
                }
            }
        }
    };
}

v3_app!(v3, false);
v3_app!(v3_lossy, true);

fn filled_v1() -> TestApp<v1::Library> {
    let app = TestApp::<v1::Library>::new([3; 32]);
    app.init(json!({})).unwrap();
    app.call("add", json!({"isbn": "978-2", "name": "Dune"}))
        .unwrap();
    app.call("add", json!({"isbn": "978-1", "name": "Emma"}))
        .unwrap();
    app.call("set_title", json!({"title": "Town library"}))
        .unwrap();
    app.call("lend", json!({})).unwrap();
    app.call("lend", json!({})).unwrap();
    app
}

#[test]
fn derived_migration_carries_renames_converts_and_adds_fields() {
    let v1 = filled_v1();
    let v2 = v1.upgrade::<v2::Library>().unwrap();
    assert_eq!(
        v2.last_events(),
        vec![("Migrated".to_owned(), json!({"from": 1, "to": 2}))]
    );
    assert!(
        !v2.last().artifact.is_empty(),
        "the migration commits a delta"
    );
    assert_eq!(
        v2.call("summary", json!({})).unwrap(),
        json!([
            "Town library",
            "2 loans",
            [["978-1", "Emma"], ["978-2", "Dune"]],
            0
        ])
    );
    // The new version works on the migrated state: old collections and new ones.
    v2.call("shelve", json!({"isbn": "978-1", "shelf": "A3"}))
        .unwrap();
    v2.call("add", json!({"isbn": "978-3", "name": "Ulysses"}))
        .unwrap();
    let summary = v2.call("summary", json!({})).unwrap();
    assert_eq!(summary[2].as_array().unwrap().len(), 3);
    assert_eq!(summary[3], json!(1));
}

#[test]
fn migration_with_witness_runs_its_check_and_commits() {
    let v2 = filled_v1().upgrade::<v2::Library>().unwrap();
    v2.call("shelve", json!({"isbn": "978-1", "shelf": "A3"}))
        .unwrap();
    let v3 = v2.upgrade::<v3::Library>().unwrap();
    assert_eq!(v3.call("shelves", json!({})).unwrap(), json!([]));
    assert_eq!(
        v3.call("catalogue", json!({})).unwrap(),
        json!(["978-1", "978-2"])
    );
    assert_eq!(
        v3.call("heading", json!({})).unwrap(),
        json!("Town library")
    );
}

#[test]
fn refused_migration_keeps_the_previous_state() {
    let v2 = filled_v1().upgrade::<v2::Library>().unwrap();
    let root = v2.last_root();
    let before = v2.call("summary", json!({})).unwrap();
    let Err(CallError::Trap(trap)) = v2.upgrade::<v3_lossy::Library>() else {
        panic!("the lossy migration should be refused by its check");
    };
    assert!(
        trap.to_string()
            .contains("build_catalogue: the app's migration check refused the migrated state"),
        "{trap}"
    );
    // Nothing was written: v2 still reads the same state, and the root did not move.
    assert_eq!(v2.call("summary", json!({})).unwrap(), before);
    v2.call("add", json!({"isbn": "978-4", "name": "Kim"}))
        .unwrap();
    assert_ne!(v2.last_root(), root);
    assert_eq!(
        v2.call("summary", json!({})).unwrap()[2]
            .as_array()
            .unwrap()
            .len(),
        3
    );
}

#[test]
fn migrating_a_context_without_state_says_so() {
    let empty = TestApp::<v1::Library>::new([4; 32]);
    let Err(CallError::Trap(trap)) = empty.upgrade::<v2::Library>() else {
        panic!("there is nothing to migrate");
    };
    assert!(
        trap.to_string()
            .contains("this context has no state to migrate yet"),
        "{trap}"
    );
}

#[test]
fn manifest_declares_the_version_and_the_migration() {
    use calimero_sdk::__private::AppMethods;
    let abi: Value = serde_json::from_str(&v2::Library::abi()).unwrap();
    assert_eq!(abi["state_version"], json!(2));
    assert_eq!(
        abi["migrations"],
        json!([{"method": "migrate_v1_to_v2", "from_version": 1}])
    );
    let abi: Value = serde_json::from_str(&v3::Library::abi()).unwrap();
    assert_eq!(
        abi["migrations"],
        json!([{"method": "build_catalogue", "from_version": 2}])
    );
    let abi: Value = serde_json::from_str(&v1::Library::abi()).unwrap();
    assert_eq!(abi.get("state_version"), None);
    assert_eq!(abi.get("migrations"), None);
    // The migration is not a method clients call.
    assert!(
        abi["methods"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["name"] != "migrate_v1_to_v2")
    );
}

#[test]
fn a_peer_applies_the_migration_delta_and_writes_concurrent_with_it_converge() {
    // Two replicas of one v1 context: `a` (member 1) and `b` (member 2).
    let a = filled_v1();
    let b = TestApp::<v1::Library>::with_member([3; 32], [2; 32]);
    b.host().load_snapshot(a.host().storage());

    // `b`, still on v1, adds a book and retitles, concurrently with `a`'s migration.
    b.call("add", json!({"isbn": "978-9", "name": "Kim"}))
        .unwrap();
    let b_book = b.last().artifact;
    b.call("set_title", json!({"title": "Retitled on v1"}))
        .unwrap();
    let b_title = b.last().artifact;
    let a2 = a.upgrade::<v2::Library>().unwrap();
    let migration = a2.last().artifact;

    // `a` receives `b`'s v1 deltas after migrating; `b` moves to v2 and receives the migration
    // after its own writes.
    a2.sync_from([2; 32], &b_book).unwrap();
    a2.sync_from([2; 32], &b_title).unwrap();
    let b2 = TestApp::<v2::Library>::on(b.host().clone());
    b2.sync_from([1; 32], &migration).unwrap();

    assert_eq!(a2.last_root(), b2.last_root());
    let summary = a2.call("summary", json!({})).unwrap();
    assert_eq!(b2.call("summary", json!({})).unwrap(), summary);
    // The book reached the carried collection; the v1 root write lost to the v2 root on both.
    assert_eq!(
        summary,
        json!([
            "Town library",
            "2 loans",
            [["978-1", "Emma"], ["978-2", "Dune"], ["978-9", "Kim"]],
            0
        ])
    );
}
