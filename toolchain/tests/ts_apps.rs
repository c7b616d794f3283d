//! TypeScript apps end to end: `cargo calimero build` with no clang, qjsc or node on `PATH`, the
//! module installed on a real merod next to its Rust twin, the same calls giving the same JSON
//! results, errors and events; errors carry TypeScript locations.

mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};

use calimero_runtime::{
    FunctionCallError, HostError, Identity, Limits, Outcome, Runtime, Storage, StorageError,
};
use calimero_tests::node::TestNode;
use common::{app_with, build_ts, text};
use serde_json::{Value, json};

fn kv_store_ts() -> &'static [u8] {
    static MODULE: OnceLock<Vec<u8>> = OnceLock::new();
    MODULE.get_or_init(|| {
        let out = tempfile::tempdir().unwrap();
        let app = calimero_tests::workspace_root().join("apps/kv-store-ts");
        let built = build_ts(&app, out.path());
        assert!(built.status.success(), "{}", text(&built));
        std::fs::read(out.path().join("kv_store_ts.wasm")).unwrap()
    })
}

fn kv_store_rust() -> &'static [u8] {
    static MODULE: OnceLock<Vec<u8>> = OnceLock::new();
    MODULE.get_or_init(|| calimero_tests::build_app("kv-store"))
}

/// The call sequence of the Rust kv-store's tests, with non-ASCII keys and values.
fn calls() -> Vec<(&'static str, Value)> {
    vec![
        ("set", json!({"key": "foo", "value": "bar"})),
        ("set", json!({"key": "baz", "value": "qux"})),
        ("get", json!({"key": "foo"})),
        ("entries", json!({})),
        ("len", json!({})),
        ("set", json!({"key": "foo", "value": "bar2"})),
        ("remove", json!({"key": "baz"})),
        ("remove", json!({"key": "baz"})),
        ("get_result", json!({"key": "missing"})),
        ("get_result", json!({"key": "foo"})),
        (
            "set",
            json!({"key": "café ☕", "value": "naïve — 東京 🌍🎉"}),
        ),
        ("get", json!({"key": "café ☕"})),
        ("get_or_insert", json!({"key": "clé", "value": "välue"})),
        ("get_or_insert", json!({"key": "clé", "value": "other"})),
        ("update_if_exists", json!({"key": "clé", "value": "日本語"})),
        ("update_if_exists", json!({"key": "absent", "value": "x"})),
        ("entries", json!({})),
        ("get", json!({"key": "nothing"})),
        ("clear", json!({})),
        ("clear", json!({})),
        ("len", json!({})),
        ("entries", json!({})),
    ]
}

#[test]
fn kv_store_ts_builds_without_clang_qjsc_or_node_and_matches_its_rust_twin_on_merod() {
    let ts = kv_store_ts();
    // Only the node's imports remain: no WASI, no engine tools.
    let surface = calimero_wasm_abi::module::inspect(ts).unwrap();
    assert!(
        surface.imports.iter().all(|(module, _, _)| module == "env"),
        "{:?}",
        surface.imports
    );
    let problems = calimero_wasm_abi::module::check_host_abi(&surface, false);
    assert!(problems.is_empty(), "{problems:?}");
    let mut exports: Vec<&str> = surface
        .exports
        .iter()
        .filter(|(_, kind, _)| *kind == wasmparser::ExternalKind::Func)
        .map(|(name, _, _)| name.as_str())
        .collect();
    exports.sort();
    assert_eq!(
        exports,
        [
            "__calimero_register_merge",
            "__calimero_sync_next",
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
            "update_if_exists",
        ]
    );

    let node = TestNode::start(&calimero_tests::merod());
    let rust = node.create_context(&node.install(kv_store_rust()));
    let typescript = node.create_context(&node.install(ts));
    for (method, args) in calls() {
        let expected = node.call(&rust, method, args.clone());
        let got = node.call(&typescript, method, args.clone());
        assert_eq!(got, expected, "{method}({args})");
    }

    // A panic: same kind of error, the TypeScript one naming the method and its source line.
    let rust_panic = node
        .call(&rust, "get_unchecked", json!({"key": "nope"}))
        .unwrap_err();
    let ts_panic = node
        .call(&typescript, "get_unchecked", json!({"key": "nope"}))
        .unwrap_err();
    assert_eq!(
        rust_panic["type"], ts_panic["type"],
        "{rust_panic} vs {ts_panic}"
    );
    let shown = ts_panic.to_string();
    assert!(shown.contains("get_unchecked: key not found"), "{shown}");
    assert!(shown.contains("src/index.ts"), "{shown}");
}

/// Runs modules under the node's runtime with an in-memory store, to see events and writes.
struct Harness {
    runtime: Runtime,
    store: Arc<Mem>,
    module: Arc<calimero_runtime::CompiledModule>,
    device: [u8; 32],
}

#[derive(Default)]
struct Mem(Mutex<BTreeMap<Vec<u8>, Vec<u8>>>);

impl Storage for Mem {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.0.lock().unwrap().get(key).cloned())
    }
    fn get_private(&self, _key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(None)
    }
}

impl Harness {
    fn new(module: &[u8]) -> Self {
        let runtime = Runtime::new(Limits::default(), None);
        let (_, module) = runtime.prepare(module).unwrap();
        Self {
            runtime,
            store: Arc::default(),
            module,
            device: [1; 32],
        }
    }

    /// Another member on a copy of this one's state.
    fn replica(&self, device: u8) -> Self {
        let store = Mem(Mutex::new(self.store.0.lock().unwrap().clone()));
        Self {
            runtime: Runtime::new(Limits::default(), None),
            store: Arc::new(store),
            module: self.module.clone(),
            device: [device; 32],
        }
    }

    fn call(&self, method: &str, args: &Value) -> Outcome {
        self.raw(method, serde_json::to_vec(args).unwrap())
    }

    fn raw(&self, method: &str, input: Vec<u8>) -> Outcome {
        let identity = Identity {
            context_id: [7; 32],
            account_id: self.device,
            device_id: self.device,
            xcall_origin: None,
        };
        let outcome = if method == calimero_runtime::SYNC_NEXT {
            self.runtime
                .apply_artifact(&self.module, input, identity, self.store.clone())
        } else {
            self.runtime
                .run(&self.module, method, input, identity, self.store.clone())
        };
        if outcome.should_persist() {
            let mut store = self.store.0.lock().unwrap();
            for (key, value) in &outcome.writes {
                match value {
                    Some(value) => store.insert(key.clone(), value.clone()),
                    None => store.remove(key),
                };
            }
        }
        outcome
    }

    fn keys(&self) -> Vec<Vec<u8>> {
        self.store.0.lock().unwrap().keys().cloned().collect()
    }
}

fn result(outcome: &Outcome) -> Result<Value, String> {
    match &outcome.returns {
        Ok(Some(bytes)) => Ok(serde_json::from_slice(bytes).unwrap()),
        Ok(None) => Ok(Value::Null),
        Err(FunctionCallError::ExecutionError(value)) => Err(value.to_string()),
        Err(other) => Err(format!("{other:?}")),
    }
}

#[test]
fn the_twins_emit_the_same_events_and_create_the_same_entities() {
    let rust = Harness::new(kv_store_rust());
    let ts = Harness::new(kv_store_ts());
    for (method, args) in std::iter::once(("init", json!({}))).chain(calls()) {
        let (a, b) = (rust.call(method, &args), ts.call(method, &args));
        assert_eq!(result(&b), result(&a), "{method}({args})");
        let events = |o: &Outcome| -> Vec<(String, Value)> {
            o.events
                .iter()
                .map(|e| {
                    let data = if e.data.is_empty() {
                        Value::Null
                    } else {
                        serde_json::from_slice(&e.data).unwrap()
                    };
                    (e.kind.clone(), data)
                })
                .collect()
        };
        assert_eq!(events(&b), events(&a), "events of {method}({args})");
        assert_eq!(
            a.root_hash.is_some(),
            b.root_hash.is_some(),
            "{method} commits in one twin only"
        );
    }
    // Every entity id is derived (fields, entries, buckets), so both twins wrote the same keys.
    assert_eq!(ts.keys(), rust.keys());
}

#[test]
fn bad_arguments_are_refused_naming_the_field_and_good_ones_in_any_form_are_taken() {
    let ts = Harness::new(kv_store_ts());
    assert!(result(&ts.call("init", &json!({}))).is_ok());
    assert!(result(&ts.call("set", &json!({"key": "k", "value": "v"}))).is_ok());
    for (args, expected) in [
        (
            json!({"key": 5}),
            "get: invalid arguments (key: expected string, got number 5)",
        ),
        (json!({}), "get: invalid arguments (missing field `key`)"),
        (
            json!({"key": "k", "extra": 1}),
            "get: invalid arguments (unknown field `extra`)",
        ),
        (
            json!({"key": null}),
            "get: invalid arguments (key: expected string, got null)",
        ),
        (json!("k"), "get: invalid arguments (not a JSON object"),
    ] {
        let refused = result(&ts.call("get", &args)).unwrap_err();
        assert!(refused.contains(expected), "{args}: {refused}");
    }
    let refused = result(&ts.call("set", &json!({"key": "k", "value": true}))).unwrap_err();
    assert!(
        refused.contains("set: invalid arguments (value: expected string, got boolean true)"),
        "{refused}"
    );
    // Positional arguments, and fields in any order, are taken.
    assert_eq!(result(&ts.call("get", &json!(["k"]))), Ok(json!("v")));
    assert!(result(&ts.call("set", &json!({"value": "w", "key": "k"}))).is_ok());
    assert_eq!(
        result(&ts.call("get", &json!({"key": "k"}))),
        Ok(json!("w"))
    );
}

#[test]
fn a_throw_is_a_guest_panic_naming_the_method_and_the_typescript_line() {
    let ts = Harness::new(kv_store_ts());
    // Before `init` there is no state to call a method on.
    let early = result(&ts.call("get", &json!({"key": "k"}))).unwrap_err();
    assert!(
        early.contains(
            "get: storage: the app state is not initialized: create the context (which runs `init`) first"
        ),
        "{early}"
    );
    assert!(result(&ts.call("init", &json!({}))).is_ok());
    let outcome = ts.call("get_unchecked", &json!({"key": "nope"}));
    let Err(FunctionCallError::HostError(HostError::Panic {
        message, location, ..
    })) = &outcome.returns
    else {
        panic!("expected a guest panic, got {:?}", outcome.returns);
    };
    assert!(
        message.starts_with("get_unchecked: key not found"),
        "{message}"
    );
    let source = std::fs::read_to_string(
        calimero_tests::workspace_root().join("apps/kv-store-ts/src/index.ts"),
    )
    .unwrap();
    let throw_line = source
        .lines()
        .position(|l| l.contains("throw new Error(\"key not found\")"))
        .unwrap()
        + 1;
    let location = location.as_ref().expect("a location");
    assert_eq!(location.file, "src/index.ts", "{message}");
    assert_eq!(location.line as usize, throw_line, "{message}");
    assert!(
        message.contains("src/index.ts:"),
        "the stack is mapped too: {message}"
    );
}

const GOOD_HEAD: &str = r#"import { State, Logic, View } from "@calimero/sdk";
import { UnorderedMap } from "@calimero/sdk/collections";
"#;

#[test]
fn a_syntax_error_names_file_line_column_and_shows_the_line() {
    let app = app_with(&format!(
        "{GOOD_HEAD}@State\nexport class S {{ items: UnorderedMap<string, string> = new UnorderedMap(); }}\nconst broken: number = ;\n"
    ));
    let built = build_ts(app.path(), &app.path().join("res"));
    assert!(!built.status.success());
    let log = text(&built);
    assert!(log.contains("src/index.ts:5:24: syntax error"), "{log}");
    assert!(log.contains("const broken: number = ;"), "{log}");
    assert!(log.contains('^'), "{log}");
}

#[test]
fn an_unsupported_type_names_the_field_or_parameter_and_the_type() {
    let field = app_with(&format!(
        "{GOOD_HEAD}@State\nexport class S {{\n  items: UnorderedMap<string, string> = new UnorderedMap();\n  when: Date = new Date();\n}}\n@Logic(S)\nexport class L extends S {{ @View() size(): number {{ return 0; }} }}\n"
    ));
    let built = build_ts(field.path(), &field.path().join("res"));
    assert!(!built.status.success());
    let log = text(&built);
    assert!(
        log.contains(
            "src/index.ts:6:9: unsupported type `Date` for field `when` of @State class S"
        ),
        "{log}"
    );

    let parameter = app_with(&format!(
        "{GOOD_HEAD}@State\nexport class S {{ items: UnorderedMap<string, string> = new UnorderedMap(); }}\n@Logic(S)\nexport class L extends S {{\n  pick(choice: Date): void {{}}\n}}\n"
    ));
    let built = build_ts(parameter.path(), &parameter.path().join("res"));
    assert!(!built.status.success());
    let log = text(&built);
    assert!(
        log.contains("unsupported type `Date` for parameter `choice` of method `pick`"),
        "{log}"
    );
    assert!(log.contains("src/index.ts:7:"), "{log}");

    // A parameter may be a union (nothing stores it); stored state may not.
    let stored = app_with(&format!(
        "{GOOD_HEAD}@State\nexport class S {{\n  items: UnorderedMap<string, string> = new UnorderedMap();\n  choice: string | number = 0;\n}}\n@Logic(S)\nexport class L extends S {{ pick(choice: string | number): void {{}} }}\n"
    ));
    let built = build_ts(stored.path(), &stored.path().join("res"));
    assert!(!built.status.success());
    let log = text(&built);
    assert!(
        log.contains("unsupported type `string | number` for field `choice` of @State class S"),
        "{log}"
    );
    assert!(
        log.contains("a union of different types: a value is stored as one type"),
        "{log}"
    );
}

#[test]
fn inspect_shows_only_env_imports_for_a_typescript_module() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kv_store_ts.wasm");
    std::fs::write(&path, kv_store_ts()).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_cargo-calimero"))
        .args(["calimero", "inspect"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output));
    let shown = text(&output);
    assert!(!shown.contains("wasi"), "{shown}");
    assert!(shown.contains("env.storage_read"), "{shown}");
    assert!(
        !shown.contains("calimero_app") && !shown.contains("calimero_js_"),
        "{shown}"
    );
}

#[test]
fn counter_ts_increments_from_two_members_converge_through_sync() {
    let out = tempfile::tempdir().unwrap();
    let app = calimero_tests::workspace_root().join("apps/counter-ts");
    let built = build_ts(&app, out.path());
    assert!(built.status.success(), "{}", text(&built));
    let module = std::fs::read(out.path().join("counter_ts.wasm")).unwrap();

    let a = Harness::new(&module);
    assert_eq!(result(&a.call("init", &json!({}))), Ok(Value::Null));
    let b = a.replica(2);
    let first = a.call("increment", &json!({}));
    assert_eq!(result(&first), Ok(json!(1)));
    let from_a = a.call("increment_by", &json!({"amount": 4}));
    assert_eq!(result(&from_a), Ok(json!(5)));
    let from_b = b.call("increment_by", &json!({"amount": "7"}));
    assert_eq!(result(&from_b), Ok(json!(7)));

    // Each applies the other's deltas, in causal order, natively (`__calimero_sync_next`).
    assert!(
        b.raw(calimero_runtime::SYNC_NEXT, first.artifact.clone())
            .should_persist()
    );
    let synced_b = b.raw(calimero_runtime::SYNC_NEXT, from_a.artifact.clone());
    assert!(synced_b.should_persist(), "{:?}", synced_b.returns);
    let synced_a = a.raw(calimero_runtime::SYNC_NEXT, from_b.artifact.clone());
    assert!(synced_a.should_persist(), "{:?}", synced_a.returns);
    assert_eq!(synced_a.root_hash, synced_b.root_hash);
    assert_eq!(result(&a.call("value", &json!({}))), Ok(json!(12)));
    assert_eq!(result(&b.call("value", &json!({}))), Ok(json!(12)));
    // A view never commits.
    assert!(a.call("value", &json!({})).root_hash.is_none());
    // Bad arguments are refused with the method and the expected shape.
    let refused = a.call("increment_by", &json!({"amount": "lots"}));
    let Err(FunctionCallError::HostError(HostError::Panic { message, .. })) = &refused.returns
    else {
        panic!("expected a panic, got {:?}", refused.returns);
    };
    assert!(
        message.starts_with("increment_by: invalid arguments"),
        "{message}"
    );
    assert!(message.contains(r#"{ "amount": u64 }"#), "{message}");
}

/// A TypeScript app with a `@Mergeable` record as map values and a register in its root state.
const PROFILES_TS: &str = r#"import { State, Logic, View, Mergeable, u64 } from "@calimero/sdk";
import { Counter, LwwRegister, UnorderedMap } from "@calimero/sdk/collections";

@Mergeable()
export class Profile {
  name: LwwRegister<string> = new LwwRegister("");
  age: LwwRegister<u64> = new LwwRegister(0n);
  visits: Counter = new Counter();
}

@State
export class Directory {
  title: LwwRegister<string> = new LwwRegister("");
  motto: LwwRegister<string> = new LwwRegister("");
  people: UnorderedMap<string, Profile> = new UnorderedMap();
}

@Logic(Directory)
export class DirectoryLogic extends Directory {
  rename(who: string, name: string): void {
    const profile = this.people.get(who) ?? new Profile();
    profile.name.set(name);
    this.people.set(who, profile);
  }

  set_age(who: string, age: u64): void {
    const profile = this.people.get(who) ?? new Profile();
    profile.age.set(age);
    this.people.set(who, profile);
  }

  visit(who: string): void {
    const profile = this.people.get(who) ?? new Profile();
    this.people.set(who, profile);
    profile.visits.increment();
  }

  retitle(title: string): void {
    this.title.set(title);
  }

  set_motto(motto: string): void {
    this.motto.set(motto);
  }

  @View()
  show(who: string): string {
    const profile = this.people.get(who);
    if (profile === null) return "none";
    return `${this.title.get()} (${this.motto.get()}): ${profile.name.get()}, ${profile.age.get()}, ${profile.visits.value()}`;
  }
}
"#;

#[test]
fn ts_records_and_root_registers_merge_field_by_field_through_sync() {
    let app = app_with(PROFILES_TS);
    let built = build_ts(app.path(), &app.path().join("res"));
    assert!(built.status.success(), "{}", text(&built));
    let module = std::fs::read(app.path().join("res/broken_app.wasm")).unwrap();

    let a = Harness::new(&module);
    assert_eq!(result(&a.call("init", &json!({}))), Ok(Value::Null));
    assert_eq!(
        result(&a.call("visit", &json!({"who": "p"}))),
        Ok(Value::Null)
    );
    let b = a.replica(2);

    // Concurrently: A renames p and sets the title; B, later, sets p's age, visits it and sets
    // the motto. A whole-value merge would keep only one version of p, and of the root state.
    let renamed = a.call("rename", &json!({"who": "p", "name": "Ada"}));
    let titled = a.call("retitle", &json!({"title": "first"}));
    let aged = b.call("set_age", &json!({"who": "p", "age": 36}));
    let visited = b.call("visit", &json!({"who": "p"}));
    let motto = b.call("set_motto", &json!({"motto": "hi"}));
    for outcome in [&renamed, &titled, &aged, &visited, &motto] {
        assert!(outcome.should_persist(), "{:?}", outcome.returns);
    }
    for artifact in [&aged.artifact, &visited.artifact, &motto.artifact] {
        let synced = a.raw(calimero_runtime::SYNC_NEXT, artifact.clone());
        assert!(synced.should_persist(), "{:?}", synced.returns);
    }
    for artifact in [&renamed.artifact, &titled.artifact] {
        let synced = b.raw(calimero_runtime::SYNC_NEXT, artifact.clone());
        assert!(synced.should_persist(), "{:?}", synced.returns);
    }
    let expected = Ok(json!("first (hi): Ada, 36, 2"));
    assert_eq!(result(&a.call("show", &json!({"who": "p"}))), expected);
    assert_eq!(result(&b.call("show", &json!({"who": "p"}))), expected);
    assert_eq!(a.keys(), b.keys());
    let state = |h: &Harness| h.store.0.lock().unwrap().clone();
    assert_eq!(state(&a), state(&b), "both replicas hold the same bytes");
}

#[test]
fn ts_handlers_run_on_every_member_but_the_author_on_real_nodes() {
    let out = tempfile::tempdir().unwrap();
    let app = calimero_tests::workspace_root().join("apps/kv-store-with-handlers-ts");
    let built = build_ts(&app, out.path());
    assert!(built.status.success(), "{}", text(&built));
    let module = std::fs::read(out.path().join("kv_store_with_handlers_ts.wasm")).unwrap();

    let merod = calimero_tests::merod();
    let fast = || {
        TestNode::start_with(
            &merod,
            &["--sync-interval-ms", "500", "--heartbeat-ms", "500"],
            &[],
        )
    };
    let (a, b, c) = (fast(), fast(), fast());
    let application = a.install(&module);
    let context = a.create_context(&application);
    for node in [&b, &c] {
        let report = node.join(&a.invite(&context));
        assert!(report["sync"].get("Ok").is_some(), "join failed: {report}");
    }
    a.call(&context, "set", json!({"key": "k", "value": "v"}))
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let counts: Vec<Value> = [&a, &b, &c]
            .iter()
            .map(|n| n.call(&context, "handler_counts", json!({})).unwrap())
            .collect();
        if counts.iter().all(|c| *c == json!({"insert_handler": 2})) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "handler counts did not converge: {counts:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let ran = |node: &TestNode| node.counters()["handlers_run"].as_u64().unwrap_or(0);
    assert_eq!((ran(&a), ran(&b), ran(&c)), (0, 1, 1));
}

#[test]
fn an_import_of_a_name_nobody_exports_fails_the_build_naming_it_and_where() {
    let app = app_with(
        // Imports only types use are dropped with the types; these names are used as values.
        "import { State, Logic, View } from \"@calimero/sdk\";\nimport { UnorderedMap, createUnorderedMap } from \"@calimero/sdk/collections\";\nimport { helper, missing } from \"./util\";\n@State\nexport class S { items: UnorderedMap<string, string> = new UnorderedMap(); }\n@Logic(S)\nexport class L extends S { @View() size(): number { return helper() + missing(); } }\nexport const factory = createUnorderedMap;\n",
    );
    std::fs::write(
        app.path().join("src/util.ts"),
        "export function helper(): number { return 1; }\n",
    )
    .unwrap();
    let built = build_ts(app.path(), &app.path().join("res"));
    let log = text(&built);
    assert!(!built.status.success(), "{log}");
    assert!(
        log.contains(
            "src/index.ts:2:24: `@calimero/sdk/collections` does not export `createUnorderedMap`"
        ),
        "{log}"
    );
    assert!(log.contains("this SDK does not have it"), "{log}");
    assert!(
        log.contains("UnorderedMap"),
        "the exports are listed: {log}"
    );
    assert!(
        log.contains("src/index.ts:3:18: `./util` does not export `missing`; it exports: helper"),
        "{log}"
    );
    // With the names fixed, the same app builds.
    std::fs::write(
        app.path().join("src/index.ts"),
        "import { State, Logic, View } from \"@calimero/sdk\";\nimport { UnorderedMap } from \"@calimero/sdk/collections\";\nimport { helper } from \"./util\";\n@State\nexport class S { items: UnorderedMap<string, string> = new UnorderedMap(); }\n@Logic(S)\nexport class L extends S { @View() size(): number { return helper(); } }\n",
    )
    .unwrap();
    let built = build_ts(app.path(), &app.path().join("res"));
    assert!(built.status.success(), "{}", text(&built));
}
