//! kv-store on the native test host: behaviour, the reference vector, and bad calls.

use calimero_sdk::testing::{CallError, TestApp, Trap};
use kv_store::KvStore;
use serde_json::{Value, json};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn ready() -> TestApp<KvStore> {
    let app = TestApp::<KvStore>::new([7; 32]);
    app.init(json!({})).unwrap();
    app
}

fn panic_message(result: Result<Value, CallError>) -> String {
    match result {
        Err(CallError::Trap(Trap::GuestPanic { message, .. })) => message,
        other => panic!("expected a guest panic, got {other:?}"),
    }
}

#[test]
fn init_on_context_7_gives_the_reference_root() {
    let app = TestApp::<KvStore>::new([7; 32]);
    assert_eq!(app.init(json!({})).unwrap(), Value::Null);
    let root = app.last_root().expect("init commits");
    assert_eq!(
        hex(&root),
        "3bf4cb8f1bf460c294034d9eff4db8413ddafc1c63a50d3dd692216530d15391"
    );
}

#[test]
fn set_get_entries_remove() {
    let app = ready();
    assert_eq!(
        app.call("set", json!({"key": "foo", "value": "bar"}))
            .unwrap(),
        Value::Null
    );
    assert_eq!(
        app.last_events(),
        vec![("Inserted".into(), json!({"key": "foo", "value": "bar"}))]
    );
    assert_eq!(
        app.last().logs,
        vec![r#"Setting key: "foo" to value: "bar""#]
    );
    app.call("set", json!({"key": "foo", "value": "baz"}))
        .unwrap();
    assert_eq!(
        app.last_events(),
        vec![("Updated".into(), json!({"key": "foo", "value": "baz"}))]
    );
    app.call("set", json!({"key": "a", "value": "1"})).unwrap();

    assert_eq!(
        app.call("get", json!({"key": "foo"})).unwrap(),
        json!("baz")
    );
    assert_eq!(
        app.call("get", json!({"key": "nope"})).unwrap(),
        Value::Null
    );
    assert_eq!(
        app.call("entries", json!({})).unwrap(),
        json!({"a": "1", "foo": "baz"})
    );
    assert_eq!(app.call("len", json!({})).unwrap(), json!(2));

    assert_eq!(
        app.call("remove", json!({"key": "foo"})).unwrap(),
        json!("baz")
    );
    assert_eq!(
        app.last_events(),
        vec![("Removed".into(), json!({"key": "foo"}))]
    );
    assert_eq!(
        app.call("remove", json!({"key": "foo"})).unwrap(),
        Value::Null
    );
    assert!(
        app.last_events().is_empty(),
        "removing a missing key emits nothing"
    );
    assert_eq!(app.call("entries", json!({})).unwrap(), json!({"a": "1"}));
}

#[test]
fn set_then_remove_returns_to_the_same_root() {
    let app = ready();
    let initial = app.last_root();
    app.call("set", json!({"key": "k", "value": "v"})).unwrap();
    assert_ne!(app.last_root(), initial);
    app.call("remove", json!({"key": "k"})).unwrap();
    assert_eq!(app.last_root(), initial);
}

#[test]
fn get_result_returns_the_app_error_json() {
    let app = ready();
    let error = app
        .call("get_result", json!({"key": "missing"}))
        .unwrap_err();
    assert_eq!(
        error,
        CallError::App(json!({"kind": "NotFound", "data": "missing"}))
    );
    app.call("set", json!({"key": "here", "value": "yes"}))
        .unwrap();
    assert_eq!(
        app.call("get_result", json!({"key": "here"})).unwrap(),
        json!("yes")
    );
}

#[test]
fn get_unchecked_panics_with_location_in_the_app() {
    let app = ready();
    match app.call("get_unchecked", json!({"key": "missing"})) {
        Err(CallError::Trap(Trap::GuestPanic {
            message,
            file,
            line,
            ..
        })) => {
            assert_eq!(message, "key not found");
            assert!(file.ends_with("kv-store/src/lib.rs"), "{file}");
            assert!(line > 0);
        }
        other => panic!("expected a guest panic, got {other:?}"),
    }
}

#[test]
fn get_or_insert_and_update_if_exists() {
    let app = ready();
    assert_eq!(
        app.call("get_or_insert", json!({"key": "k", "value": "first"}))
            .unwrap(),
        json!("first")
    );
    assert_eq!(
        app.last_events(),
        vec![("Inserted".into(), json!({"key": "k", "value": "first"}))]
    );
    assert_eq!(
        app.call("get_or_insert", json!({"key": "k", "value": "second"}))
            .unwrap(),
        json!("first")
    );
    assert!(app.last_events().is_empty());

    assert_eq!(
        app.call("update_if_exists", json!({"key": "k", "value": "third"}))
            .unwrap(),
        json!(true)
    );
    assert_eq!(
        app.last_events(),
        vec![("Updated".into(), json!({"key": "k", "value": "third"}))]
    );
    assert_eq!(
        app.call("get", json!({"key": "k"})).unwrap(),
        json!("third")
    );
    assert_eq!(
        app.call("update_if_exists", json!({"key": "x", "value": "y"}))
            .unwrap(),
        json!(false)
    );
    assert_eq!(app.call("get", json!({"key": "x"})).unwrap(), Value::Null);
}

#[test]
fn clear_emits_only_when_something_was_there() {
    let app = ready();
    app.call("clear", json!({})).unwrap();
    assert!(app.last_events().is_empty());
    app.call("set", json!({"key": "a", "value": "1"})).unwrap();
    app.call("set", json!({"key": "b", "value": "2"})).unwrap();
    app.call("clear", json!({})).unwrap();
    assert_eq!(app.last_events(), vec![("Cleared".into(), Value::Null)]);
    assert_eq!(app.call("len", json!({})).unwrap(), json!(0));
}

#[test]
fn read_only_methods_never_commit_and_writers_always_do() {
    let app = ready();
    app.call("get", json!({"key": "a"})).unwrap();
    assert!(app.last().root_hash.is_none());
    app.call("entries", json!({})).unwrap();
    assert!(app.last().root_hash.is_none());
    app.call("set", json!({"key": "a", "value": "1"})).unwrap();
    assert!(app.last().root_hash.is_some());
    assert!(!app.last().artifact.is_empty());
}

#[test]
fn non_ascii_strings_round_trip() {
    let app = ready();
    let key = "clé-日本-🦀";
    let value = "värde — 値 — 🎉";
    app.call("set", json!({"key": key, "value": value}))
        .unwrap();
    assert_eq!(
        app.last_events(),
        vec![("Inserted".into(), json!({"key": key, "value": value}))]
    );
    assert_eq!(app.call("get", json!({"key": key})).unwrap(), json!(value));
    assert_eq!(app.call("entries", json!({})).unwrap(), json!({key: value}));
}

// ---- bad calls: each names the method and the expected shape, and changes no state ----

fn assert_unchanged(app: &TestApp<KvStore>, before: &std::collections::BTreeMap<Vec<u8>, Vec<u8>>) {
    assert!(
        !app.last().persisted,
        "a failed call must not persist anything"
    );
    assert_eq!(
        &app.host().storage(),
        before,
        "a failed call changed the state"
    );
}

#[test]
fn missing_arguments() {
    let app = ready();
    let before = app.host().storage();
    let message = panic_message(app.call("set", Value::Null));
    assert!(message.starts_with("set: missing arguments"), "{message}");
    assert!(
        message.contains(r#"{ "key": String, "value": String }"#),
        "{message}"
    );
    assert_unchanged(&app, &before);

    let message = panic_message(app.call("set", json!({"key": "a"})));
    assert!(
        message.contains("set: invalid arguments") && message.contains("missing field `value`"),
        "{message}"
    );
    assert_unchanged(&app, &before);
}

#[test]
fn extra_arguments() {
    let app = ready();
    let before = app.host().storage();
    let message = panic_message(app.call("get", json!({"key": "a", "wrong": 1})));
    assert!(
        message.contains("get: invalid arguments") && message.contains("unknown field `wrong`"),
        "{message}"
    );
    assert!(message.contains(r#"{ "key": String }"#), "{message}");
    let message = panic_message(app.call("len", json!({"unexpected": true})));
    assert!(message.starts_with("len: takes no arguments"), "{message}");
    assert_unchanged(&app, &before);
}

#[test]
fn wrong_types() {
    let app = ready();
    let before = app.host().storage();
    let message = panic_message(app.call("set", json!({"key": 5, "value": "x"})));
    assert!(
        message.contains("set: invalid arguments") && message.contains("invalid type: integer `5`"),
        "{message}"
    );
    assert_unchanged(&app, &before);
    let message = panic_message(app.call("set", json!(["key", "value"])));
    assert!(message.contains("set: invalid arguments"), "{message}");
    assert_unchanged(&app, &before);
}

#[test]
fn calling_a_method_before_init() {
    let app = TestApp::<KvStore>::new([7; 32]);
    let message = panic_message(app.call("set", json!({"key": "a", "value": "b"})));
    assert!(
        message.starts_with("set: the app state is not initialized"),
        "{message}"
    );
    assert!(app.host().storage().is_empty());
    let message = panic_message(app.call("get", json!({"key": "a"})));
    assert!(
        message.starts_with("get: the app state is not initialized"),
        "{message}"
    );
}

#[test]
fn init_twice() {
    let app = ready();
    app.call("set", json!({"key": "a", "value": "b"})).unwrap();
    let before = app.host().storage();
    let message = panic_message(app.init(json!({})));
    assert!(
        message.starts_with("init: the app state is already initialized"),
        "{message}"
    );
    assert_unchanged(&app, &before);
    assert_eq!(app.call("get", json!({"key": "a"})).unwrap(), json!("b"));
}

#[test]
fn unknown_method() {
    let app = ready();
    assert_eq!(
        app.call("nope", json!({})),
        Err(CallError::MethodNotFound("nope".into()))
    );
}

#[test]
fn abi_manifest_describes_the_app() {
    use calimero_sdk::__private::AppMethods;
    let abi: Value = serde_json::from_str(&KvStore::abi()).unwrap();
    assert_eq!(abi["schema_version"], "wasm-abi/1");
    assert_eq!(abi["state_root"], "KvStore");
    let names: Vec<&str> = abi["methods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "methods are sorted by name");
    assert_eq!(
        names,
        [
            "clear",
            "entries",
            "get",
            "get_or_insert",
            "get_result",
            "get_unchecked",
            "init",
            "len",
            "remove",
            "set",
            "update_if_exists"
        ]
    );
    let method = |name: &str| {
        abi["methods"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == name)
            .unwrap()
            .clone()
    };
    for read_only in ["get", "entries", "len"] {
        assert_eq!(method(read_only)["intent"], "read_only", "{read_only}");
    }
    assert_eq!(method("set")["intent"], "mutating");
    assert_eq!(method("get")["returns"], json!({"kind": "string"}));
    assert_eq!(method("get")["returns_nullable"], json!(true));
    assert_eq!(
        method("set")["params"],
        json!([
            {"name": "key", "type": {"kind": "string"}},
            {"name": "value", "type": {"kind": "string"}}
        ])
    );
    let events: Vec<&str> = abi["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(events, ["Cleared", "Inserted", "Removed", "Updated"]);
    assert_eq!(
        abi["types"]["KvStore"]["fields"][0]["type"]["crdt_type"],
        "unordered_map"
    );
}

#[test]
fn artifacts_of_real_calls_decode_into_the_expected_actions() {
    use calimero_storage::action::{Action, StorageDelta, decode_delta};
    use calimero_storage::address::Id;
    let app = ready();
    let init = decode_delta(&app.last().artifact).unwrap();
    let StorageDelta::Actions(actions) = init else {
        panic!("a plain Actions delta")
    };
    let ids: Vec<Id> = actions.iter().map(Action::id).collect();
    let items = Id::collection(None, "items");
    assert_eq!(
        ids,
        [Id::new([7; 32]), items, Id::ROOT_ENTRY],
        "root, collection, state"
    );

    app.call("set", json!({"key": "foo", "value": "bar"}))
        .unwrap();
    let set = decode_delta(&app.last().artifact).unwrap();
    let entry = Id::entry(items, b"foo");
    // The first entry also creates its two buckets (see calimero_storage::collections).
    match set.actions() {
        [
            Action::Add { id: upper, .. },
            Action::Add { id: lower, .. },
            Action::Add {
                id,
                data,
                ancestors,
                ..
            },
        ] => {
            assert_eq!(*id, entry);
            assert_eq!(data.len(), 102);
            assert_eq!(
                ancestors.iter().map(|a| a.id).collect::<Vec<_>>(),
                [*lower, *upper, items]
            );
        }
        other => panic!("expected the buckets and the entry, got {other:?}"),
    }
    app.call("set", json!({"key": "foo", "value": "baz"}))
        .unwrap();
    let update = decode_delta(&app.last().artifact).unwrap();
    assert!(matches!(update.actions(), [Action::Update { id, .. }] if *id == entry));

    app.call("remove", json!({"key": "foo"})).unwrap();
    let remove = decode_delta(&app.last().artifact).unwrap();
    assert!(matches!(remove.actions(), [Action::DeleteRef { id, .. }] if *id == entry));
}

#[test]
fn a_replica_applying_the_authors_artifacts_reaches_the_same_root() {
    let author = ready();
    let replica = TestApp::<KvStore>::with_member([7; 32], [2; 32]);
    replica.host().load_snapshot(author.host().storage());
    for (method, args) in [
        ("set", json!({"key": "a", "value": "1"})),
        ("set", json!({"key": "b", "value": "2"})),
        ("remove", json!({"key": "a"})),
        ("update_if_exists", json!({"key": "b", "value": "3"})),
    ] {
        author.call(method, args).unwrap();
        replica.sync(&author.last().artifact).unwrap();
        assert_eq!(replica.last_root(), author.last_root(), "after {method}");
    }
    assert_eq!(
        replica.call("entries", json!({})).unwrap(),
        json!({"b": "3"})
    );
}

#[test]
fn a_garbage_artifact_is_refused_and_changes_nothing() {
    let app = ready();
    let before = app.host().storage();
    let outcome = app.sync(&[0, 9, 9, 9]);
    assert!(
        matches!(outcome, Err(CallError::Trap(Trap::GuestPanic { ref message, .. })) if message.contains("__calimero_sync_next: cannot decode the delta artifact")),
        "{outcome:?}"
    );
    assert_eq!(app.host().storage(), before);
}
