//! The pre-initialised snapshot (`cargo calimero build` runs a TypeScript app's top level once and
//! stores the resulting memory in the module): nothing an app can observe changes, the set-up
//! leaves the call path, and a top level that would freeze the clock, randomness, logs or state
//! into the module is refused with a message saying where and what to do.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use calimero_runtime::{Identity, Limits, Runtime, Storage, StorageError};
use cargo_calimero::compat::{self, Options, Step};
use common::{app_with, build_ts_in, build_ts_with, shared_cache, text};

/// `apps/<name>` built with the snapshot (the default) and with `--no-snapshot`.
fn both(name: &str) -> (Vec<u8>, Vec<u8>) {
    let app = calimero_tests::workspace_root().join("apps").join(name);
    let file = format!("{}.wasm", name.replace('-', "_"));
    let build = |args: &[&str]| {
        let out = tempfile::tempdir().unwrap();
        let built = build_ts_with(&app, out.path(), args);
        assert!(built.status.success(), "{}", text(&built));
        (std::fs::read(out.path().join(&file)).unwrap(), text(&built))
    };
    // A build the cache answers made the same bytes the first time (the key holds the option).
    let reused = |log: &str| log.contains("module reused");
    let (snapshot, log) = build(&[]);
    assert!(
        log.contains("app set up at build time") || reused(&log),
        "{log}"
    );
    let (plain, log) = build(&["--no-snapshot"]);
    assert!(
        log.contains("skipped (--no-snapshot)") || reused(&log),
        "{log}"
    );
    (snapshot, plain)
}

/// The scenario of the app's Rust twin, when it has one.
fn scenario(rust_app: &str) -> Vec<Step> {
    let dir = calimero_tests::workspace_root().join("apps").join(rust_app);
    ["scenario.json", "scenario.yaml"]
        .iter()
        .map(|f| dir.join(f))
        .find(|p| p.exists())
        .map(|p| compat::load_scenario(&p).unwrap())
        .unwrap_or_default()
}

#[test]
fn with_and_without_the_snapshot_every_result_event_error_and_stored_byte_is_the_same() {
    // kv-store: maps and errors; todo: records merged by the app's own JavaScript on sync (the
    // merge runs in the snapshot's context); board: nested collections; counter: counters.
    for (ts, rust) in [
        ("kv-store-ts", "kv-store"),
        ("todo-ts", "todo"),
        ("board-ts", "board"),
        ("counter-ts", "counter"),
    ] {
        let (snapshot, plain) = both(ts);
        assert_ne!(snapshot, plain, "{ts}: the snapshot changed nothing");
        let steps = scenario(rust);
        let report = compat::run(
            &snapshot,
            &plain,
            &steps,
            Options {
                seed: 11,
                generated: 300,
            },
        )
        .unwrap();
        assert!(
            report.difference.is_none(),
            "{ts}: the snapshot changes what the app does:\n{}",
            report.to_json()
        );
        assert_eq!(report.calls, steps.len() + 300, "{ts}");
    }
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

/// Who calls the methods these tests run.
const IDENTITY: Identity = Identity {
    context_id: [3; 32],
    account_id: [1; 32],
    device_id: [1; 32],
    xcall_origin: None,
};

/// Gas (one unit per wasm operator, deterministic) of `init`, then `set`, then `get` on a fresh
/// in-memory store.
fn gas(module: &[u8]) -> [u64; 3] {
    let runtime = Runtime::new(Limits::default(), None);
    let (_, module) = runtime.prepare(module).unwrap();
    let store = Arc::new(Mem::default());
    let identity = IDENTITY;
    let mut used = [0; 3];
    for (i, (method, args)) in [
        ("init", "{}"),
        ("set", r#"{"key": "a", "value": "b"}"#),
        ("get", r#"{"key": "a"}"#),
    ]
    .into_iter()
    .enumerate()
    {
        let outcome = runtime.run(
            &module,
            method,
            args.as_bytes().to_vec(),
            identity,
            store.clone(),
        );
        assert!(outcome.returns.is_ok(), "{method}: {:?}", outcome.returns);
        if method == "get" {
            assert_eq!(outcome.returns.unwrap().as_deref(), Some(&b"\"b\""[..]));
        }
        store.0.lock().unwrap().extend(
            outcome
                .writes
                .into_iter()
                .filter_map(|(k, v)| Some((k, v?))),
        );
        used[i] = outcome.gas_used;
    }
    used
}

#[test]
fn a_call_on_the_snapshot_only_runs_its_method() {
    let (snapshot, plain) = both("kv-store-ts");
    let (with, without) = (gas(&snapshot), gas(&plain));
    for (i, method) in ["init", "set", "get"].iter().enumerate() {
        eprintln!(
            "{method}: {} gas with the snapshot, {} without ({:.1}x)",
            with[i],
            without[i],
            without[i] as f64 / with[i] as f64
        );
        // Without the snapshot each call first loads the bytecode and evaluates the SDK and the
        // app; with it, that work was done at build time.
        assert!(
            with[i] * 4 < without[i],
            "{method}: {} units with the snapshot, {} without",
            with[i],
            without[i]
        );
    }
}

fn refused(source: &str, expect: &[&str]) {
    let app = app_with(source);
    let out = app.path().join("res");
    let built = build_ts_with(app.path(), &out, &[]);
    let log = text(&built);
    assert!(!built.status.success(), "the build should fail:\n{log}");
    for needle in expect {
        assert!(log.contains(needle), "missing {needle:?} in:\n{log}");
    }
    assert!(
        log.contains("--no-snapshot") && log.contains("into a method"),
        "{log}"
    );
    let plain = build_ts_with(app.path(), &out, &["--no-snapshot"]);
    assert!(plain.status.success(), "{}", text(&plain));
}

const APP: &str = r#"import { State, Logic, View } from "@calimero/sdk";
import { UnorderedMap } from "@calimero/sdk/collections";
@State
export class S { items: UnorderedMap<string, string> = new UnorderedMap(); }
@Logic(S)
export class L extends S { @View() size(): number { return 0; } }
"#;

#[test]
fn a_top_level_that_would_be_frozen_into_the_module_is_refused_naming_what_and_where() {
    // Line 7 of each app is the offending statement.
    refused(
        &format!("{APP}console.log(\"starting\");\n"),
        &[
            "src/index.ts:7",
            "the app's top level: it calls `log`, which logs",
        ],
    );
    refused(
        &format!("{APP}const picked = Math.random();\nexport const seed = picked;\n"),
        &["src/index.ts:7", "`randomBytes`, which draws random bytes"],
    );
    refused(
        &format!("{APP}export const started = Date.now();\n"),
        &["the app's top level reads the clock (Date.now()"],
    );
    // What only computes is fine at top level, and its result is in the snapshot.
    let fine = app_with(&format!(
        "{APP}const table = new TextEncoder().encode(\"abc\").map((b) => b * 2);\nexport const t = table;\n"
    ));
    let built = build_ts_with(fine.path(), &fine.path().join("res"), &[]);
    assert!(built.status.success(), "{}", text(&built));
}

#[test]
fn no_snapshot_is_documented_in_build_help() {
    let help = std::process::Command::new(env!("CARGO_BIN_EXE_cargo-calimero"))
        .args(["calimero", "build", "--help"])
        .output()
        .unwrap();
    let help = text(&help);
    assert!(help.contains("--no-snapshot"), "{help}");
    assert!(help.contains("pre-initialise"), "{help}");
}

#[test]
fn a_second_build_of_the_same_sources_reuses_the_module_and_an_edit_does_not() {
    // Sources no earlier run of this test built (the cache outlives a run).
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let source = format!("{APP}export const answer = 42;\nexport const stamp = \"{stamp}\";\n");
    let app = app_with(&source);
    let out = app.path().join("res");
    let module = || std::fs::read(out.join("broken_app.wasm")).unwrap();
    let first = build_ts_with(app.path(), &out, &[]);
    assert!(first.status.success(), "{}", text(&first));
    assert!(
        text(&first).contains("app set up at build time"),
        "{}",
        text(&first)
    );
    let built = module();
    let second = build_ts_with(app.path(), &out, &[]);
    assert!(text(&second).contains("module reused"), "{}", text(&second));
    assert_eq!(module(), built);
    std::fs::write(app.path().join("src/index.ts"), source.replace("42", "43")).unwrap();
    let edited = build_ts_with(app.path(), &out, &[]);
    assert!(
        !text(&edited).contains("module reused"),
        "{}",
        text(&edited)
    );
    assert_ne!(module(), built);
}

#[test]
fn the_build_cache_keeps_the_most_recently_used_modules() {
    // A cache of its own, so no other test's build prunes it meanwhile; the engine and its
    // compiled form are copied from the shared one, which this first build fills.
    let app = app_with(&format!("{APP}export const kept = 1;\n"));
    let out = app.path().join("res");
    let warm = build_ts_with(app.path(), &out, &[]);
    assert!(warm.status.success(), "{}", text(&warm));
    let cache = tempfile::tempdir().unwrap();
    for dir in ["engine", "wasmer"] {
        std::fs::create_dir_all(cache.path().join(dir)).unwrap();
        for entry in std::fs::read_dir(shared_cache().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                std::fs::copy(
                    &path,
                    cache.path().join(dir).join(path.file_name().unwrap()),
                )
                .unwrap();
            }
        }
    }
    let builds = cache.path().join("ts-builds");
    std::fs::create_dir_all(&builds).unwrap();
    let at = |seconds: u64| std::time::UNIX_EPOCH + std::time::Duration::from_secs(seconds);
    let age = |path: &std::path::Path, when| {
        std::fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(when)
            .unwrap()
    };
    // More old modules than the cache keeps.
    let kept = cargo_calimero::pipeline::KEPT_BUILDS;
    let filler: Vec<std::path::PathBuf> = (0..kept + 8)
        .map(|i| {
            let path = builds.join(format!("filler-{i:03}.wasm"));
            std::fs::write(&path, b"\0asm\x01\0\0\0").unwrap();
            age(&path, at(1_000_000 + i as u64));
            path
        })
        .collect();

    let build = || {
        let built = build_ts_in(app.path(), &out, &[], cache.path());
        assert!(built.status.success(), "{}", text(&built));
        text(&built)
    };
    let log = build();
    assert!(!log.contains("module reused"), "{log}");
    let module = std::fs::read(out.join("broken_app.wasm")).unwrap();
    let count = || std::fs::read_dir(&builds).unwrap().count();
    assert_eq!(count(), kept, "a build prunes the cache to what it keeps");
    assert!(
        !filler[0].exists(),
        "the least recently used module was kept"
    );
    let ours: Vec<std::path::PathBuf> = std::fs::read_dir(&builds)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| std::fs::read(p).is_ok_and(|bytes| bytes == module))
        .collect();
    let [ours] = &ours[..] else {
        panic!("the build is cached once, found {ours:?}");
    };

    // Made the oldest of all, then reused: that makes it the most recently used again, so the
    // next new build (an edit) prunes a filler module instead.
    age(ours, at(1));
    let log = build();
    assert!(log.contains("module reused"), "{log}");
    std::fs::write(
        app.path().join("src/index.ts"),
        format!("{APP}export const kept = 2;\n"),
    )
    .unwrap();
    let log = build();
    assert!(!log.contains("module reused"), "{log}");
    assert_eq!(count(), kept);
    assert!(ours.exists(), "the module just reused was pruned");
}

/// The size of `module`'s code section.
fn code_size(module: &[u8]) -> usize {
    wasmparser::Parser::new(0)
        .parse_all(module)
        .find_map(|payload| match payload.unwrap() {
            wasmparser::Payload::CodeSectionStart { size, .. } => Some(size as usize),
            _ => None,
        })
        .expect("a code section")
}

const EVAL_APP: &str = r#"import { Init, Logic, State, View } from "@calimero/sdk";
@State
export class S { n: number = 0; }
@Logic(S)
export class L extends S {
  @Init
  static init(): S { return new S(); }
  @View()
  compile(): string {
    const attempts = [
      () => eval("6 * 7"),
      () => (0, eval)("6 * 7"),
      () => new Function("return 6 * 7")(),
      () => Function("a", "return a")(1),
    ];
    return attempts
      .map((attempt) => {
        try {
          return `ran: ${attempt()}`;
        } catch (e) {
          return `${(e as Error).name}: ${(e as Error).message}`;
        }
      })
      .join("; ");
  }
}
"#;

#[test]
fn apps_compile_no_javascript_at_run_time_and_snapshot_modules_carry_no_compiler() {
    let app = app_with(EVAL_APP);
    let build = |args: &[&str]| {
        let out = tempfile::tempdir().unwrap();
        let built = build_ts_with(app.path(), out.path(), args);
        assert!(built.status.success(), "{}", text(&built));
        std::fs::read(out.path().join("broken_app.wasm")).unwrap()
    };
    let (snapshot, plain) = (build(&[]), build(&["--no-snapshot"]));
    let refused = "TypeError: eval is not supported";
    for module in [&snapshot, &plain] {
        let runtime = Runtime::new(Limits::default(), None);
        let (_, module) = runtime.prepare(module).unwrap();
        let store = Arc::new(Mem::default());
        let identity = IDENTITY;
        let run =
            |method: &str| runtime.run(&module, method, b"{}".to_vec(), identity, store.clone());
        let init = run("init");
        assert!(init.returns.is_ok(), "{:?}", init.returns);
        store
            .0
            .lock()
            .unwrap()
            .extend(init.writes.into_iter().filter_map(|(k, v)| Some((k, v?))));
        let outcome = run("compile");
        let result = outcome.returns.expect("the method returns").unwrap();
        let result: String = serde_json::from_slice(&result).unwrap();
        assert_eq!(result, [refused; 4].join("; "));
    }
    // QuickJS's parser and compiler are about a ninth of the engine's code: a module with a
    // snapshot leaves them out; one without needs them for its set-up in every call.
    let (with, without) = (code_size(&snapshot), code_size(&plain));
    assert!(
        with + 64 * 1024 < without,
        "code: {with} bytes with the snapshot, {without} without"
    );
}
