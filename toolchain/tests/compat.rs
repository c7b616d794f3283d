//! `cargo calimero compat` and `cargo calimero test` on the twin pairs in `apps/` (a Rust app
//! and its TypeScript twin), on twins made to diverge on purpose, and through the command line.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use cargo_calimero::compat::{self, Options, Report, Step};
use common::{app_with, build_repo_ts, build_ts, text};
use serde_json::Value;

fn run(a: &[u8], b: &[u8], scenario: &[Step], generated: usize) -> Report {
    compat::run(a, b, scenario, Options { seed: 7, generated }).expect("compat runs")
}

fn scenario(path: &str) -> Vec<Step> {
    compat::load_scenario(&calimero_tests::workspace_root().join(path)).unwrap()
}

/// The Rust and TypeScript builds of one twin pair, built once per test binary.
struct Twins {
    rust: Vec<u8>,
    ts: Vec<u8>,
}

fn twins(name: &'static str) -> &'static Twins {
    static KV: OnceLock<Twins> = OnceLock::new();
    static COUNTER: OnceLock<Twins> = OnceLock::new();
    static BOARD: OnceLock<Twins> = OnceLock::new();
    static TODO: OnceLock<Twins> = OnceLock::new();
    let cell = match name {
        "kv-store" => &KV,
        "counter" => &COUNTER,
        "board" => &BOARD,
        "todo" => &TODO,
        other => panic!("no twin pair {other}"),
    };
    cell.get_or_init(|| Twins {
        rust: calimero_tests::build_app(name),
        ts: build_repo_ts(&format!("{name}-ts")),
    })
}

#[test]
fn every_twin_pair_passes_its_scenario_then_1000_generated_calls_and_cross_apply() {
    for (name, file) in [
        ("kv-store", "apps/kv-store/scenario.json"),
        ("counter", "apps/counter/scenario.json"),
        ("board", "apps/board/scenario.yaml"),
        ("todo", "apps/todo/scenario.json"),
    ] {
        let steps = scenario(file);
        let pair = twins(name);
        let report = run(&pair.rust, &pair.ts, &steps, 1000);
        assert_eq!(report.difference, None, "{name}: {:?}", report.difference);
        assert_eq!(report.calls, steps.len() + 1000, "{name}");
    }
}

#[test]
fn a_module_matches_itself_and_unrelated_apps_differ_at_the_abi() {
    let kv = twins("kv-store");
    let report = run(
        &kv.ts,
        &kv.ts,
        &scenario("apps/kv-store/scenario.json"),
        200,
    );
    assert_eq!(report.difference, None, "{:?}", report.difference);

    let counter = twins("counter");
    let report = run(&kv.rust, &counter.rust, &[], 10);
    let difference = report.difference.expect("different apps");
    assert_eq!(difference.at, "ABI", "{difference:?}");
    assert!(
        difference.what.contains("do not declare the same app"),
        "{difference:?}"
    );
    assert_eq!(report.calls, 0, "no call runs after an ABI difference");
}

/// A copy of `apps/<name>-ts` with `edit` applied to its source, built; `package` is its
/// package.json.
fn divergent(name: &str, package: &str, edit: &[(&str, &str)]) -> Vec<u8> {
    let path = calimero_tests::workspace_root().join(format!("apps/{name}-ts/src/index.ts"));
    let mut source = std::fs::read_to_string(path).unwrap();
    for (from, to) in edit {
        assert!(source.contains(from), "the twin's source has {from:?}");
        source = source.replace(from, to);
    }
    let app = app_with(&source);
    std::fs::write(app.path().join("package.json"), package).unwrap();
    let built = build_ts(app.path(), &app.path().join("res"));
    assert!(built.status.success(), "{}", text(&built));
    std::fs::read(
        app.path()
            .join(format!("res/{}_ts.wasm", name.replace('-', "_"))),
    )
    .unwrap()
}

const TODO_PACKAGE: &str = r#"{"name": "todo-ts", "calimero": {"crate": "todo"}}"#;

#[test]
fn a_twin_storing_f64_where_rust_has_u64_is_caught_with_the_call_the_entity_and_both_values() {
    let ts = divergent(
        "todo",
        TODO_PACKAGE,
        &[
            ("emit, u32, u64 }", "emit, f64, u32, u64 }"),
            (
                "public due: LwwRegister<u64>,",
                "public due: LwwRegister<f64>,",
            ),
            ("new LwwRegister(due)));", "new LwwRegister(Number(due))));"),
            ("todo.due.set(due);", "todo.due.set(Number(due));"),
        ],
    );
    let report = run(
        &twins("todo").rust,
        &ts,
        &scenario("apps/todo/scenario.json"),
        0,
    );
    let d = report.difference.expect("an f64 field is not a u64 field");
    assert!(d.at.starts_with("call 1 `add`"), "{d:?}");
    assert!(
        d.what.contains("storage: the data of `items` element"),
        "{d:?}"
    );
    assert!(
        d.a.contains(r#"{title: "write the report", done: false, due: 1767312000}"#),
        "{d:?}"
    );
    assert!(
        d.b.contains(r#"{title: "write the report", done: false, due: 1767312000.0}"#),
        "{d:?}"
    );
    let hint = d.hint.expect("the state types differ too");
    assert!(hint.contains(r#""u64" vs "f64""#), "{hint}");
}

#[test]
fn a_twin_with_reordered_record_fields_is_caught_with_both_layouts() {
    let ts = divergent(
        "todo",
        TODO_PACKAGE,
        &[
            (
                "    public title: LwwRegister<string>,\n    public done: LwwRegister<boolean>,",
                "    public done: LwwRegister<boolean>,\n    public title: LwwRegister<string>,",
            ),
            (
                "new Todo(new LwwRegister(title), new LwwRegister(false),",
                "new Todo(new LwwRegister(false), new LwwRegister(title),",
            ),
        ],
    );
    let report = run(
        &twins("todo").rust,
        &ts,
        &scenario("apps/todo/scenario.json"),
        0,
    );
    let d = report
        .difference
        .expect("reordered fields are another layout");
    assert!(d.at.starts_with("call 1 `add`"), "{d:?}");
    assert!(d.what.contains("`items` element"), "{d:?}");
    assert!(
        d.a.contains(r#"{title: "write the report", done: false"#),
        "{d:?}"
    );
    assert!(
        d.b.contains(r#"{done: false, title: "write the report""#),
        "{d:?}"
    );
    assert!(d.hint.is_some_and(|h| h.contains("abi.types.Todo")));
}

#[test]
fn a_twin_emitting_another_event_payload_is_caught_with_both_events() {
    let ts = divergent(
        "kv-store",
        r#"{"name": "kv-store-ts"}"#,
        &[(
            "emit(new Inserted(key, value));",
            "emit(new Inserted(key, value + \"!\"));",
        )],
    );
    let report = run(
        &twins("kv-store").rust,
        &ts,
        &scenario("apps/kv-store/scenario.json"),
        0,
    );
    let d = report.difference.expect("a divergent twin");
    assert!(d.at.starts_with("call 1 `set`"), "{d:?}");
    assert_eq!(d.what, "the events", "{d:?}");
    assert!(d.a.contains(r#""value":"1""#), "{d:?}");
    assert!(d.b.contains(r#""value":"1!""#), "{d:?}");
}

fn cargo_calimero(args: &[&str], paths: &[&Path]) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cargo-calimero"));
    command.arg("calimero").args(args);
    for path in paths {
        command.arg(path);
    }
    command.output().unwrap()
}

#[test]
fn cargo_calimero_compat_exits_zero_only_when_the_twins_match() {
    let dir = tempfile::tempdir().unwrap();
    let (rust, ts, counter, saved) = (
        dir.path().join("todo.wasm"),
        dir.path().join("todo_ts.wasm"),
        dir.path().join("counter.wasm"),
        dir.path().join("calls.json"),
    );
    std::fs::write(&rust, &twins("todo").rust).unwrap();
    std::fs::write(&ts, &twins("todo").ts).unwrap();
    std::fs::write(&counter, &twins("counter").rust).unwrap();
    let scenario = calimero_tests::workspace_root().join("apps/todo/scenario.json");
    let scenario_arg = scenario.to_str().unwrap();

    let same = cargo_calimero(
        &[
            "compat",
            "--scenario",
            scenario_arg,
            "--calls",
            "50",
            "--message-format",
            "json",
        ],
        &[&rust, &ts],
    );
    assert!(same.status.success(), "{}", text(&same));
    let report: Value = serde_json::from_slice(&same.stdout).unwrap();
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["calls"], 64, "{report}");

    let human = cargo_calimero(
        &["compat", "--calls", "30", "--seed", "5", "--save-calls"],
        &[&saved, &rust, &ts],
    );
    assert!(
        text(&human)
            .contains("compatible: 30 calls (30 generated), cross-applied both ways (seed 5)"),
        "{}",
        text(&human)
    );
    // The saved calls are a scenario that replays the same run.
    let replay = compat::load_scenario(&saved).unwrap();
    assert_eq!(replay.len(), 30);
    assert_eq!(
        replay,
        compat::generate::calls(
            &calimero_wasm_abi::read_manifest(&twins("todo").rust)
                .unwrap()
                .unwrap(),
            30,
            5
        )
    );

    let different = cargo_calimero(&["compat", "--calls", "5"], &[&rust, &counter]);
    assert_eq!(different.status.code(), Some(1));
    let shown = text(&different);
    assert!(shown.contains("the modules differ at ABI"), "{shown}");
    assert!(shown.contains("counter.wasm"), "{shown}");
    assert!(shown.contains("reproduce with --seed 1"), "{shown}");
}

#[test]
fn cargo_calimero_test_lists_every_failing_expectation_with_both_values() {
    let dir = tempfile::tempdir().unwrap();
    let module = dir.path().join("todo.wasm");
    std::fs::write(&module, &twins("todo").rust).unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        r#"
- method: add
  args: {title: "a", due: 5}
  expect: {output: 0}
- method: get
  args: {index: 0}
  expect: {output: {title: "a", done: true, due: 5}}
- method: complete
  args: {index: 3}
  expect: {output: true}
- method: due_by
  args: {by: 10}
  expect: {output: 1}
"#,
    )
    .unwrap();
    let failed = cargo_calimero(
        &["test", "--module", module.to_str().unwrap(), "--scenario"],
        &[&bad],
    );
    assert_eq!(failed.status.code(), Some(1), "{}", text(&failed));
    let shown = text(&failed);
    assert!(shown.contains("FAIL"), "{shown}");
    assert!(shown.contains("(2 of 4 calls)"), "{shown}");
    assert!(shown.contains("call 2 `get` {\"index\":0}"), "{shown}");
    assert!(
        shown.contains(r#"got:      {"output":{"done":false,"due":5,"title":"a"}}"#),
        "{shown}"
    );
    assert!(
        shown.contains(r#"expected: {"output":{"done":true,"due":5,"title":"a"}}"#),
        "{shown}"
    );
    assert!(shown.contains("call 3 `complete`"), "{shown}");
    assert!(
        shown.contains(r#"{"error":{"data":3,"kind":"NoSuchTodo"}}"#),
        "{shown}"
    );
    assert!(
        !shown.contains("call 4"),
        "call 4 met its expectation: {shown}"
    );

    // The app's own scenario files, found from its manifest.
    let manifest = calimero_tests::workspace_root().join("apps/todo/Cargo.toml");
    let passed = cargo_calimero(
        &[
            "test",
            "--module",
            module.to_str().unwrap(),
            "--manifest-path",
        ],
        &[&manifest],
    );
    assert!(passed.status.success(), "{}", text(&passed));
    assert!(
        text(&passed).contains("1 scenario(s), 14 calls: all as expected"),
        "{}",
        text(&passed)
    );
}

#[test]
fn cargo_calimero_test_builds_a_typescript_app_and_runs_its_scenarios() {
    let app = app_with(
        r#"import { State, Logic, Init, View, u64 } from "@calimero/sdk";
import { Counter } from "@calimero/sdk/collections";

@State
export class Tally {
  hits: Counter = new Counter();
}

@Logic(Tally)
export class TallyLogic extends Tally {
  @Init
  static init(): Tally {
    return new Tally();
  }

  hit(): u64 {
    this.hits.increment();
    return this.hits.value();
  }

  @View()
  total(): u64 {
    return this.hits.value();
  }
}
"#,
    );
    std::fs::create_dir_all(app.path().join("scenarios")).unwrap();
    std::fs::write(
        app.path().join("scenarios/hits.yml"),
        "- {method: hit, expect: {output: 1}}\n- {method: hit, as: bob, expect: {output: 2}}\n- {method: total, expect: {output: 2}}\n",
    )
    .unwrap();
    let manifest = app.path().join("package.json");
    let passed = cargo_calimero(&["test", "--manifest-path"], &[&manifest]);
    assert!(passed.status.success(), "{}", text(&passed));
    assert!(
        text(&passed).contains("hits.yml (3 calls)"),
        "{}",
        text(&passed)
    );
    assert!(app.path().join("res/broken_app.wasm").is_file());

    std::fs::remove_dir_all(app.path().join("scenarios")).unwrap();
    let none = cargo_calimero(&["test", "--manifest-path"], &[&manifest]);
    assert_eq!(none.status.code(), Some(1));
    assert!(
        text(&none).contains("no scenario to run"),
        "{}",
        text(&none)
    );
}

#[test]
fn a_typescript_init_that_fills_its_collections_before_returning_them_stores_every_element() {
    let app = app_with(
        r#"import { State, Logic, Init, View, u32, u64 } from "@calimero/sdk";
import { Counter, UnorderedMap, UnorderedSet, Vector } from "@calimero/sdk/collections";

@State
export class Seeded {
  items: UnorderedMap<string, UnorderedSet<string>> = new UnorderedMap();
  log: Vector<string> = new Vector();
  hits: Counter = new Counter();
}

@Logic(Seeded)
export class SeededLogic extends Seeded {
  @Init
  static init(): Seeded {
    const state = new Seeded();
    const fruit = new UnorderedSet<string>();
    fruit.add("apple");
    fruit.add("pear");
    fruit.add("apple");
    state.items.set("fruit", fruit);
    state.items.set("empty", new UnorderedSet<string>());
    state.items.set("gone", new UnorderedSet<string>());
    if (state.items.remove("gone") === null) throw new Error("staged remove lost the entry");
    state.log.push("a");
    state.log.push("b");
    state.log.push("c");
    state.log.update(0, "z");
    state.log.pop();
    state.hits.incrementBy(3);
    if (state.hits.value() !== 3n || state.items.size() !== 2 || state.log.len() !== 2) {
      throw new Error("a detached collection does not read back what it was given");
    }
    return state;
  }

  @View()
  items(): [string, string[]][] {
    return this.items.entries().map(([k, v]): [string, string[]] => [k, v.toArray()]);
  }

  @View()
  log_and_hits(): [string[], u64] {
    return [this.log.toArray(), this.hits.value()];
  }

  add(item: string, tag: string): u32 {
    const set = this.items.get(item);
    if (set === null) return 0;
    set.add(tag);
    return set.size();
  }
}
"#,
    );
    std::fs::write(
        app.path().join("scenario.yml"),
        r#"- {method: items, expect: {output: [["fruit", ["apple", "pear"]], ["empty", []]]}}
- {method: log_and_hits, expect: {output: [["z", "b"], 3]}}
- {method: add, args: {item: "fruit", tag: "fig"}, expect: {output: 3}}
- {method: add, args: {item: "empty", tag: "x"}, expect: {output: 1}}
- {method: items, expect: {output: [["fruit", ["apple", "pear", "fig"]], ["empty", ["x"]]]}}
"#,
    )
    .unwrap();
    let manifest = app.path().join("package.json");
    let passed = cargo_calimero(&["test", "--manifest-path"], &[&manifest]);
    assert!(passed.status.success(), "{}", text(&passed));
    assert!(
        text(&passed).contains("scenario.yml (5 calls)"),
        "{}",
        text(&passed)
    );
}

#[test]
fn bigint_literal_types_and_unions_of_one_type_build_and_run_as_their_kind() {
    let app = app_with(
        r#"import { State, Logic, Init, View, i64 } from "@calimero/sdk";
import { LwwRegister } from "@calimero/sdk/collections";

type Mode = "fast" | "slow";

@State
export class Dial {
  total: LwwRegister<bigint> = new LwwRegister(0n);
  mode: LwwRegister<Mode> = new LwwRegister<Mode>("slow");
}

@Logic(Dial)
export class DialLogic extends Dial {
  @Init
  static init(): Dial {
    return new Dial();
  }

  add(by: bigint): bigint {
    this.total.set(this.total.get() + by);
    return this.total.get();
  }

  switch_to(mode: Mode, loud: true | false | null): string {
    this.mode.set(mode);
    return loud ? mode.toUpperCase() : mode;
  }

  @View()
  state(): [bigint, Mode] {
    return [this.total.get(), this.mode.get()];
  }

  @View()
  echo(text: string, below: i64): string {
    return `${text}|${below}`;
  }
}
"#,
    );
    std::fs::write(
        app.path().join("scenario.yml"),
        r#"- {method: add, args: {by: 18446744073709551610}, expect: {output: 18446744073709551610}}
- {method: add, args: {by: "5"}, expect: {output: 18446744073709551615}}
- {method: switch_to, args: {mode: "fast", loud: true}, expect: {output: "FAST"}}
- {method: switch_to, args: {mode: "slow", loud: null}, expect: {output: "slow"}}
- {method: state, expect: {output: [18446744073709551615, "slow"]}}
- {method: echo, args: {text: "12345678901234567890 \" -99999999999999999 é\\", below: -9223372036854775807}, expect: {output: "12345678901234567890 \" -99999999999999999 é\\|-9223372036854775807"}}
"#,
    )
    .unwrap();
    let manifest = app.path().join("package.json");
    let passed = cargo_calimero(&["test", "--manifest-path"], &[&manifest]);
    assert!(passed.status.success(), "{}", text(&passed));
    let abi: Value = serde_json::from_slice(
        &std::fs::read(app.path().join("res/abi.json")).expect("the build writes res/abi.json"),
    )
    .unwrap();
    let method = |name: &str| {
        abi["methods"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(
        method("add")["params"][0]["type"],
        serde_json::json!({"kind": "u64"})
    );
    assert_eq!(
        method("switch_to")["params"][0]["type"],
        serde_json::json!({"kind": "string"})
    );
    assert_eq!(
        method("switch_to")["params"][1],
        serde_json::json!({"name": "loud", "type": {"kind": "bool"}, "nullable": true})
    );
}

#[test]
fn upstream_factories_the_env_namespace_and_vector_from_array_work_in_a_typescript_app() {
    let app = app_with(
        r#"import { State, Logic, Init, View, env, createUnorderedMap, createVector, createLwwRegister } from "@calimero/sdk";
import { LwwRegister, UnorderedMap, Vector } from "@calimero/sdk/collections";
import { toBase58, toHex } from "@calimero/sdk/env";

@State
export class Notes {
  tags: UnorderedMap<string, string> = createUnorderedMap();
  lines: Vector<string> = createVector();
  title: LwwRegister<string> = createLwwRegister({ initialValue: "untitled" });
}

@Logic(Notes)
export class NotesLogic extends Notes {
  @Init
  static init(): Notes {
    const notes = new Notes();
    notes.lines = Vector.fromArray(["a", "b"]);
    return notes;
  }

  @View()
  lines_all(): [string[], string] {
    return [this.lines.toArray(), this.title.get()];
  }

  /** The known vectors of base58 and hex, and the executor's forms agreeing. */
  @View()
  encodings(): [string, string, string, boolean, number] {
    const hello = new Uint8Array([104, 101, 108, 108, 111, 32, 119, 111, 114, 108, 100]);
    const id = env.executorId();
    const agree = env.executorIdHex() === toHex(id) && env.executorIdHex().length === 64
      && env.executorIdBase58() === toBase58(id);
    return [toBase58(hello), toBase58(new Uint8Array([0, 0, 1])), toHex(new Uint8Array([0, 171])), agree,
      env.randomBytes(new Uint8Array(5)).length];
  }
}
"#,
    );
    std::fs::write(
        app.path().join("scenario.yml"),
        r#"- {method: lines_all, expect: {output: [["a", "b"], "untitled"]}}
- {method: encodings, expect: {output: ["StV1DL6CwTryKyV", "112", "00ab", true, 5]}}
"#,
    )
    .unwrap();
    let manifest = app.path().join("package.json");
    let passed = cargo_calimero(&["test", "--manifest-path"], &[&manifest]);
    assert!(passed.status.success(), "{}", text(&passed));
    assert!(
        text(&passed).contains("scenario.yml (2 calls)"),
        "{}",
        text(&passed)
    );
}

#[test]
fn a_typescript_user_storage_keeps_one_value_per_caller_and_refuses_setting_another_s() {
    let app = app_with(
        r#"import { State, Logic, Init, View, createUserStorage } from "@calimero/sdk";
import { UserStorage } from "@calimero/sdk/collections";
import { toHex } from "@calimero/sdk/env";

@State
export class Names {
  names: UserStorage<string> = createUserStorage();
}

@Logic(Names)
export class NamesLogic extends Names {
  @Init
  static init(): Names {
    const state = new Names();
    // Filled before it is stored: the creator's value.
    state.names.insert("founder");
    return state;
  }

  set(text: string): string | null {
    return this.names.insert(text);
  }

  /** What `setForUser` says when the caller names another account. */
  set_for(user: string, text: string): string {
    const bytes = new Uint8Array(32);
    for (let i = 0; i < 32; i++) bytes[i] = parseInt(user.slice(2 * i, 2 * i + 2), 16);
    try {
      this.names.setForUser(bytes, text);
      return "set";
    } catch (e) {
      return (e as Error).message;
    }
  }

  drop(): string | null {
    return this.names.remove();
  }

  @View()
  mine(): [string | null, boolean] {
    return [this.names.get(), this.names.containsCurrentUser()];
  }

  @View()
  all(): [string, string][] {
    return this.names.entries().map(([user, name]): [string, string] => [toHex(user), name]);
  }
}
"#,
    );
    let creator = "01".repeat(32);
    let bob = "81b637d8fcd2c6da6359e6963113a1170de795e4b725b84d1e0b4cfd9ec58ce9";
    std::fs::write(
        app.path().join("scenario.yml"),
        format!(
            r#"- {{method: mine, expect: {{output: ["founder", true]}}}}
- {{method: mine, as: bob, expect: {{output: [null, false]}}}}
- {{method: set, args: {{text: "bob"}}, as: bob, expect: {{output: null}}}}
- {{method: set, args: {{text: "robert"}}, as: bob, expect: {{output: "bob"}}}}
- {{method: all, expect: {{output: [["{creator}", "founder"], ["{bob}", "robert"]]}}}}
- {{method: set_for, args: {{user: "{creator}", text: "mallory"}}, as: bob, expect: {{output: "only account {creator} may set its own value (the caller is {bob})"}}}}
- {{method: set_for, args: {{user: "{bob}", text: "bobby"}}, as: bob, expect: {{output: "set"}}}}
- {{method: drop, expect: {{output: "founder"}}}}
- {{method: all, expect: {{output: [["{bob}", "bobby"]]}}}}
"#
        ),
    )
    .unwrap();
    let manifest = app.path().join("package.json");
    let passed = cargo_calimero(&["test", "--manifest-path"], &[&manifest]);
    assert!(passed.status.success(), "{}", text(&passed));
    assert!(
        text(&passed).contains("scenario.yml (9 calls)"),
        "{}",
        text(&passed)
    );
}

#[test]
fn upstream_call_conventions_union_parameters_and_register_options_work_in_a_typescript_app() {
    let app = app_with(
        r#"import { State, Logic, Init, View } from "@calimero/sdk";
import { LwwRegister, UnorderedMap, UnorderedSet } from "@calimero/sdk/collections";

@State
export class Shelf {
  items: UnorderedMap<string, LwwRegister<string>> = new UnorderedMap();
  tags: UnorderedMap<string, UnorderedSet<string>> = new UnorderedMap();
}

@Logic(Shelf)
export class ShelfLogic extends Shelf {
  @Init
  static init(): Shelf {
    return new Shelf();
  }

  /** Upstream style: one object, or the key and the value. */
  put(arg: { key: string; value: string } | string, maybeValue?: string): string | null {
    const key = typeof arg === "string" ? arg : arg.key;
    const value = typeof arg === "string" ? (maybeValue ?? "") : arg.value;
    let register = this.items.get(key);
    if (!register) register = new LwwRegister<string>();
    const previous = register.get();
    register.set(value);
    this.items.set(key, register);
    return previous;
  }

  tag(key: string, tags: string[] | string): number {
    const list = typeof tags === "string" ? [tags] : tags;
    this.tags.set(key, new UnorderedSet<string>({ initialValues: list }));
    return list.length;
  }

  @View()
  get(key: string): string | null {
    return this.items.get(key)?.get() ?? null;
  }

  @View()
  tags_of(key: string): string[] {
    return this.tags.get(key)?.toArray() ?? [];
  }

  @View()
  registers(): string[] {
    const given = new LwwRegister({ initialValue: "x" });
    const empty = new LwwRegister<string>();
    const cleared = new LwwRegister("y");
    cleared.clear();
    return [given.get(), String(empty.get()), String(cleared.get())];
  }

  /** Storing a register that was never set: refused, nothing written. */
  store_empty(): string {
    try {
      this.items.set("empty", new LwwRegister<string>());
      return "stored";
    } catch (e) {
      return (e as Error).message;
    }
  }
}
"#,
    );
    std::fs::write(
        app.path().join("scenario.yml"),
        r#"- {method: put, args: {key: "a", value: "1"}, expect: {output: null}}
- {method: put, args: ["b", "2"], expect: {output: null}}
- {method: put, args: {arg: "c", maybeValue: "3"}, expect: {output: null}}
- {method: put, args: {key: "a", value: "1b"}, expect: {output: "1"}}
- {method: get, args: {key: "b"}, expect: {output: "2"}}
- {method: get, args: ["c"], expect: {output: "3"}}
- {method: get, args: {key: "a"}, expect: {output: "1b"}}
- {method: tag, args: {key: "a", tags: ["x", "y"]}, expect: {output: 2}}
- {method: tag, args: {key: "b", tags: "solo"}, expect: {output: 1}}
- {method: tags_of, args: {key: "a"}, expect: {output: ["x", "y"]}}
- {method: tags_of, args: {key: "b"}, expect: {output: ["solo"]}}
- {method: registers, expect: {output: ["x", "null", "null"]}}
- {method: store_empty, expect: {output: "an LwwRegister with no value cannot be stored (its type is not nullable): set it first"}}
- {method: get, args: {key: "empty"}, expect: {output: null}}
"#,
    )
    .unwrap();
    let manifest = app.path().join("package.json");
    let passed = cargo_calimero(&["test", "--manifest-path"], &[&manifest]);
    assert!(passed.status.success(), "{}", text(&passed));
    assert!(
        text(&passed).contains("scenario.yml (14 calls)"),
        "{}",
        text(&passed)
    );

    // The ABI declares a union parameter as its first member (as upstream) and lists them all.
    let abi: Value = serde_json::from_slice(
        &std::fs::read(app.path().join("res/abi.json")).expect("the build writes res/abi.json"),
    )
    .unwrap();
    let put = abi["methods"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "put")
        .unwrap();
    assert_eq!(put["params"][0]["type"]["kind"], "record", "{put}");
    assert_eq!(
        put["params"][0]["type"]["variants"][1],
        serde_json::json!({"kind": "string"}),
        "{put}"
    );
    assert_eq!(put["params"][1]["nullable"], true, "{put}");
}

/// Writes `files` (path → text) under `root`.
fn write_tree(root: &Path, files: &[(&str, &str)]) {
    for (path, text) in files {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

#[test]
fn commonjs_and_es_packages_from_node_modules_bundle_and_run() {
    let app = app_with(
        r#"import { State, Logic, Init, View } from "@calimero/sdk";
import { UnorderedMap } from "@calimero/sdk/collections";
import codec from "shout";
import { whisper } from "shout";
import greet from "hello-esm";

@State
export class Words {
  said: UnorderedMap<string, string> = new UnorderedMap();
}

@Logic(Words)
export class WordsLogic extends Words {
  @Init
  static init(): Words {
    return new Words();
  }

  @View()
  words(text: string): string[] {
    return [codec.loud(text), whisper(text), codec.name, greet(text)];
  }
}
"#,
    );
    write_tree(
        app.path(),
        &[
            // CommonJS: `module.exports` replaced, a nested `require`, and `exports.x` too.
            (
                "node_modules/shout/package.json",
                r#"{"name": "shout", "main": "lib/index.js"}"#,
            ),
            (
                "node_modules/shout/lib/index.js",
                "'use strict'\nconst case_ = require('./case')\nconst make = require('letters')\nmodule.exports = make(case_.upper)\nmodule.exports.whisper = (t) => case_.lower(t) + '...'\n",
            ),
            (
                "node_modules/shout/lib/case.js",
                "exports.upper = (t) => t.toUpperCase()\nexports.lower = (t) => t.toLowerCase()\n",
            ),
            (
                "node_modules/letters/package.json",
                r#"{"name": "letters", "main": "index.js"}"#,
            ),
            (
                "node_modules/letters/index.js",
                "function make (transform) { return { name: 'shout', loud: (t) => transform(t) + '!' } }\nif (typeof module === 'object' && module.exports) module.exports = make\n",
            ),
            // ES, with `export default <expression>`.
            (
                "node_modules/hello-esm/package.json",
                r#"{"name": "hello-esm", "type": "module", "exports": {"import": "./index.js"}}"#,
            ),
            (
                "node_modules/hello-esm/index.js",
                "const prefix = 'hi ';\nexport default (name) => prefix + name;\n",
            ),
        ],
    );
    std::fs::write(
        app.path().join("scenario.yml"),
        r#"- {method: words, args: {text: "Hey"}, expect: {output: ["HEY!", "hey...", "shout", "hi Hey"]}}
"#,
    )
    .unwrap();
    let manifest = app.path().join("package.json");
    let passed = cargo_calimero(&["test", "--manifest-path"], &[&manifest]);
    assert!(passed.status.success(), "{}", text(&passed));
    assert!(
        text(&passed).contains("scenario.yml (1 calls)"),
        "{}",
        text(&passed)
    );
}

#[test]
fn a_name_read_off_a_namespace_import_that_the_sdk_lacks_fails_the_build_with_its_place() {
    let app = app_with(
        r#"import { State, Logic, Init } from "@calimero/sdk";
import { UnorderedMap } from "@calimero/sdk/collections";
import * as env from "@calimero/sdk/env";

@State
export class S {
  items: UnorderedMap<string, string> = new UnorderedMap();
}

@Logic(S)
export class L extends S {
  @Init
  static init(): S {
    env.log("fine");
    return new S();
  }

  join(key: string): void {
    env.contextAddMember(new Uint8Array(32));
  }
}
"#,
    );
    let built = build_ts(app.path(), &app.path().join("res"));
    assert!(!built.status.success());
    let log = text(&built);
    assert!(
        log.contains("src/index.ts:19:9: `@calimero/sdk/env` does not export `contextAddMember`"),
        "{log}"
    );
    assert!(!log.contains("`log`"), "{log}");
}

#[test]
fn typescript_private_entries_stay_per_key_and_come_back_as_they_were() {
    let app = app_with(
        r#"import { State, Logic, Init, View, createPrivateEntry } from "@calimero/sdk";
import { UnorderedMap } from "@calimero/sdk/collections";
import { executorId, toHex } from "@calimero/sdk/env";

interface Draft { text: string; edits: bigint; }

function mine() {
  return createPrivateEntry<Draft>("draft:" + toHex(executorId()));
}

@State
export class Pad {
  shared: UnorderedMap<string, string> = new UnorderedMap();
}

@Logic(Pad)
export class PadLogic extends Pad {
  @Init
  static init(): Pad {
    return new Pad();
  }

  edit(text: string): string {
    const draft = mine().modify(
      (d) => { d.text = text; d.edits += 1n; },
      () => ({ text: "", edits: 0n }),
    );
    return `${draft.text}/${draft.edits}/${typeof draft.edits}`;
  }

  @View()
  draft(): [string, string] | null {
    const d = mine().get();
    return d === null ? null : [d.text, d.edits.toString()];
  }

  @View()
  fallback(): string {
    return mine().getOrDefault({ text: "none", edits: 0n }).text;
  }

  discard(): boolean {
    return mine().remove();
  }
}
"#,
    );
    std::fs::write(
        app.path().join("scenario.yml"),
        r#"- {method: draft, expect: {output: null}}
- {method: fallback, expect: {output: "none"}}
- {method: edit, args: {text: "a"}, expect: {output: "a/1/bigint"}}
- {method: edit, args: {text: "ab"}, expect: {output: "ab/2/bigint"}}
- {method: draft, expect: {output: ["ab", "2"]}}
- {method: draft, as: bob, expect: {output: null}}
- {method: edit, args: {text: "b"}, as: bob, expect: {output: "b/1/bigint"}}
- {method: discard, expect: {output: true}}
- {method: discard, expect: {output: false}}
- {method: draft, expect: {output: null}}
- {method: draft, as: bob, expect: {output: ["b", "1"]}}
"#,
    )
    .unwrap();
    let manifest = app.path().join("package.json");
    let passed = cargo_calimero(&["test", "--manifest-path"], &[&manifest]);
    assert!(passed.status.success(), "{}", text(&passed));
    assert!(
        text(&passed).contains("scenario.yml (11 calls)"),
        "{}",
        text(&passed)
    );
}

#[test]
fn a_typescript_xcall_reaches_the_host_with_its_target_function_and_json_and_the_origin_is_read() {
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};

    use calimero_runtime::{Identity, Limits, Runtime, Storage, StorageError};

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

    let app = app_with(
        r#"import { State, Logic, Init, View } from "@calimero/sdk";
import { UnorderedMap } from "@calimero/sdk/collections";
import { xcall, xcallOrigin, toHex } from "@calimero/sdk/env";

@State
export class Relay {
  seen: UnorderedMap<string, string> = new UnorderedMap();
}

@Logic(Relay)
export class RelayLogic extends Relay {
  @Init
  static init(): Relay {
    return new Relay();
  }

  ping(target: Uint8Array, note: string): void {
    xcall(target, "pong", { note });
  }

  @View()
  origin(): string | null {
    const from = xcallOrigin();
    return from === null ? null : toHex(from);
  }
}
"#,
    );
    let built = build_ts(app.path(), &app.path().join("res"));
    assert!(built.status.success(), "{}", text(&built));
    let module = std::fs::read(app.path().join("res/broken_app.wasm")).unwrap();
    let runtime = Runtime::new(Limits::default(), None);
    let (_, module) = runtime.prepare(&module).unwrap();
    let store = Arc::new(Mem::default());
    let identity = |origin: Option<[u8; 32]>| Identity {
        context_id: [3; 32],
        account_id: [1; 32],
        device_id: [1; 32],
        xcall_origin: origin,
    };
    let init = runtime.run(
        &module,
        "init",
        b"{}".to_vec(),
        identity(None),
        store.clone(),
    );
    assert!(init.returns.is_ok(), "{:?}", init.returns);
    store
        .0
        .lock()
        .unwrap()
        .extend(init.writes.into_iter().filter_map(|(k, v)| Some((k, v?))));

    let target: Vec<u8> = (0..32).collect();
    let args = serde_json::json!({"target": target, "note": "hi"}).to_string();
    let ping = runtime.run(
        &module,
        "ping",
        args.into_bytes(),
        identity(None),
        store.clone(),
    );
    assert!(ping.returns.is_ok(), "{:?}", ping.returns);
    assert_eq!(ping.xcalls.len(), 1, "{:?}", ping.xcalls);
    assert_eq!(ping.xcalls[0].context_id.to_vec(), target);
    assert_eq!(ping.xcalls[0].function, "pong");
    assert_eq!(ping.xcalls[0].params, br#"{"note":"hi"}"#);

    let asked = runtime.run(
        &module,
        "origin",
        b"{}".to_vec(),
        identity(Some([0xab; 32])),
        store.clone(),
    );
    assert_eq!(
        asked.returns.unwrap().as_deref(),
        Some(format!("\"{}\"", "ab".repeat(32)).as_bytes())
    );
    let direct = runtime.run(&module, "origin", b"{}".to_vec(), identity(None), store);
    assert_eq!(direct.returns.unwrap().as_deref(), Some(&b"null"[..]));
}
