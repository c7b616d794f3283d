//! The runtime against a real app module and hostile ones.

use std::sync::Arc;
use std::time::{Duration, Instant};

use calimero_runtime::{
    FunctionCallError, HostError, Limits, MethodResolutionError, Outcome, Runtime,
};
use serde_json::json;

mod common;
use common::{ID, Memory, kv_store};

fn call(
    runtime: &Runtime,
    module: &[u8],
    storage: &Arc<Memory>,
    method: &str,
    args: serde_json::Value,
) -> Outcome {
    let (_, compiled) = runtime.prepare(module).expect("module compiles");
    let input = serde_json::to_vec(&args).unwrap();
    let outcome = runtime.run(&compiled, method, input, ID, storage.clone());
    storage.apply(&outcome);
    outcome
}

fn output(outcome: &Outcome) -> serde_json::Value {
    match &outcome.returns {
        Ok(Some(bytes)) => serde_json::from_slice(bytes).unwrap(),
        Ok(None) => serde_json::Value::Null,
        Err(e) => panic!("call failed: {e}"),
    }
}

#[test]
fn kv_store_runs_and_init_gives_the_reference_root() {
    let runtime = Runtime::new(Limits::default(), None);
    let storage = Arc::new(Memory::default());
    let init = call(&runtime, kv_store(), &storage, "init", json!({}));
    assert!(init.returns.is_ok(), "{:?}", init.returns);
    let root: String = init
        .root_hash
        .unwrap()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        root,
        "3bf4cb8f1bf460c294034d9eff4db8413ddafc1c63a50d3dd692216530d15391"
    );

    let set = call(
        &runtime,
        kv_store(),
        &storage,
        "set",
        json!({"key": "foo", "value": "bar"}),
    );
    assert_eq!(output(&set), json!(null));
    assert_eq!(set.events[0].kind, "Inserted");
    assert_eq!(set.events[0].data, br#"{"key":"foo","value":"bar"}"#);
    assert!(set.root_hash.is_some() && !set.artifact.is_empty());
    assert!(set.gas_used > 0);

    let get = call(&runtime, kv_store(), &storage, "get", json!({"key": "foo"}));
    assert_eq!(output(&get), json!("bar"));
    assert!(get.root_hash.is_none(), "read-only calls do not commit");
    assert_eq!(
        output(&call(&runtime, kv_store(), &storage, "entries", json!({}))),
        json!({"foo": "bar"})
    );
}

#[test]
fn app_errors_and_panics_come_back_typed() {
    let runtime = Runtime::new(Limits::default(), None);
    let storage = Arc::new(Memory::default());
    call(&runtime, kv_store(), &storage, "init", json!({}));

    let missing = call(
        &runtime,
        kv_store(),
        &storage,
        "get_result",
        json!({"key": "nope"}),
    );
    assert_eq!(
        missing.returns.unwrap_err(),
        FunctionCallError::ExecutionError(json!({"kind": "NotFound", "data": "nope"}))
    );

    let panic = call(
        &runtime,
        kv_store(),
        &storage,
        "get_unchecked",
        json!({"key": "nope"}),
    );
    match panic.returns.unwrap_err() {
        FunctionCallError::HostError(error @ HostError::Panic { .. }) => {
            let text = error.to_string();
            assert!(
                text.starts_with("guest panicked: key not found at apps/kv-store/src/lib.rs:"),
                "{text}"
            );
        }
        other => panic!("expected a guest panic, got {other:?}"),
    }

    let bad = call(&runtime, kv_store(), &storage, "set", json!({"key": 1}));
    assert!(!bad.should_persist());
    let text = bad.returns.unwrap_err().to_string();
    assert!(text.contains("set: invalid arguments"), "{text}");
}

#[test]
fn method_names_are_checked_before_running() {
    let runtime = Runtime::new(Limits::default(), None);
    let storage = Arc::new(Memory::default());
    let cases = [
        ("", MethodResolutionError::EmptyMethodName),
        (
            "no-dash",
            MethodResolutionError::InvalidMethodNameCharacter {
                name: "no-dash".into(),
            },
        ),
        (
            "nope",
            MethodResolutionError::MethodNotFound {
                name: "nope".into(),
            },
        ),
    ];
    for (name, expected) in cases {
        let outcome = call(&runtime, kv_store(), &storage, name, json!({}));
        assert_eq!(
            outcome.returns.unwrap_err(),
            FunctionCallError::MethodResolutionError(expected)
        );
    }
    let long = "a".repeat(257);
    let outcome = call(&runtime, kv_store(), &storage, &long, json!({}));
    assert!(matches!(
        outcome.returns,
        Err(FunctionCallError::MethodResolutionError(
            MethodResolutionError::MethodNameTooLong { length: 257, .. }
        ))
    ));
}

fn wat(text: &str) -> Vec<u8> {
    wat::parse_str(text).unwrap()
}

#[test]
fn unknown_imports_fail_with_a_link_error_naming_them() {
    let module = wat(
        r#"(module (import "env" "launch_missiles" (func (param i64))) (memory (export "memory") 1) (func (export "go")))"#,
    );
    let error = Runtime::new(Limits::default(), None)
        .prepare(&module)
        .err()
        .unwrap();
    match error {
        FunctionCallError::LinkError { message } => {
            assert!(message.contains("env.launch_missiles"), "{message}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn wasi_commands_and_non_modules_are_refused() {
    let runtime = Runtime::new(Limits::default(), None);
    let start = wat(r#"(module (memory (export "memory") 1) (func (export "_start")))"#);
    assert!(
        matches!(runtime.prepare(&start).err().unwrap(), FunctionCallError::ModuleValidationError { message } if message.contains("_start"))
    );
    assert!(matches!(
        runtime.prepare(b"hello, not wasm").err().unwrap(),
        FunctionCallError::CompilationError { .. }
    ));
    let no_memory = wat(r#"(module (func (export "go")))"#);
    assert!(
        matches!(runtime.prepare(&no_memory).err().unwrap(), FunctionCallError::ModuleValidationError { message } if message.contains("memory"))
    );
    let limits = Limits {
        max_module_size: 10,
        ..Limits::default()
    };
    assert!(matches!(
        Runtime::new(limits, None)
            .prepare(&no_memory)
            .err()
            .unwrap(),
        FunctionCallError::ModuleSizeLimitExceeded { .. }
    ));
}

#[test]
fn an_endless_loop_ends_with_gas_exhausted_in_bounded_time() {
    let module =
        wat(r#"(module (memory (export "memory") 1) (func (export "spin") (loop $l (br $l))))"#);
    let runtime = Runtime::new(Limits::default(), None);
    let started = Instant::now();
    let outcome = call(
        &runtime,
        &module,
        &Arc::new(Memory::default()),
        "spin",
        json!({}),
    );
    assert_eq!(
        outcome.returns.unwrap_err(),
        FunctionCallError::GasExhausted {
            limit: 1_000_000_000
        }
    );
    assert!(started.elapsed() < Duration::from_secs(60));
}

#[test]
fn memory_growth_stops_at_the_cap() {
    // Grows one page at a time until `memory.grow` fails, then reports the final size.
    let module = wat(r#"(module
        (import "env" "value_return" (func $ret (param i64)))
        (memory (export "memory") 1)
        (data (i32.const 0) "\00\00\00\00\00\00\00\00\20\00\00\00\00\00\00\00\08\00\00\00\00\00\00\00")
        (func (export "hog")
            (loop $grow (br_if $grow (i32.ne (memory.grow (i32.const 1)) (i32.const -1))))
            (i64.store (i32.const 32) (i64.extend_i32_u (memory.size)))
            (call $ret (i64.const 0))))"#);
    let runtime = Runtime::new(Limits::default(), None);
    let outcome = call(
        &runtime,
        &module,
        &Arc::new(Memory::default()),
        "hog",
        json!({}),
    );
    let bytes = outcome.returns.unwrap().unwrap();
    assert_eq!(u64::from_le_bytes(bytes.try_into().unwrap()), 1024);
}

#[test]
fn a_second_commit_traps_and_nothing_is_persisted() {
    let module = wat(r#"(module
        (import "env" "commit" (func $commit (param i64 i64)))
        (memory (export "memory") 1)
        (data (i32.const 0) "\40\00\00\00\00\00\00\00\20\00\00\00\00\00\00\00")
        (data (i32.const 16) "\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00")
        (func (export "twice") (call $commit (i64.const 0) (i64.const 16)) (call $commit (i64.const 0) (i64.const 16))))"#);
    let runtime = Runtime::new(Limits::default(), None);
    let outcome = call(
        &runtime,
        &module,
        &Arc::new(Memory::default()),
        "twice",
        json!({}),
    );
    assert_eq!(
        outcome.returns.as_ref().unwrap_err(),
        &FunctionCallError::HostError(HostError::CommitCalledTwice)
    );
    assert!(!outcome.should_persist());
}

#[test]
fn gas_counts_every_operator_once_and_no_host_function_runs_past_the_limit() {
    // 1000 iterations of 8 operators, plus the loop, its end and the function's end: 8003.
    let count = r#"(loop $l
                (local.set 0 (i32.add (local.get 0) (i32.const 1)))
                (br_if $l (i32.lt_u (local.get 0) (i32.const 1000))))"#;
    let counting = wat(&format!(
        r#"(module (memory (export "memory") 1) (func (export "go") (local i32) {count}))"#
    ));
    // The same loop, then a log of "hi" (descriptor at 0: address 16, length 2).
    let logging = wat(&format!(
        r#"(module
        (import "env" "log_utf8" (func $log (param i64)))
        (memory (export "memory") 1)
        (data (i32.const 0) "\10\00\00\00\00\00\00\00\02\00\00\00\00\00\00\00hi")
        (func (export "go") (local i32) {count} (call $log (i64.const 0))))"#
    ));
    let run = |module: &[u8], max_gas: u64| {
        let runtime = Runtime::new(
            Limits {
                max_gas,
                ..Limits::default()
            },
            None,
        );
        call(
            &runtime,
            module,
            &Arc::new(Memory::default()),
            "go",
            json!({}),
        )
    };
    let outcome = run(&counting, 1_000_000);
    assert!(outcome.returns.is_ok(), "{:?}", outcome.returns);
    assert_eq!(outcome.gas_used, 8003);
    // Exactly enough is enough; one unit less is not, although the function returns without
    // passing another check.
    assert!(run(&counting, 8003).returns.is_ok());
    let short = run(&counting, 8002);
    assert_eq!(
        short.returns.unwrap_err(),
        FunctionCallError::GasExhausted { limit: 8002 }
    );
    assert_eq!(short.gas_used, 8002);
    // The loop ends with the gas just gone: the log after it must not run.
    let logged = run(&logging, 1_000_000);
    assert!(logged.returns.is_ok(), "{:?}", logged.returns);
    assert_eq!(logged.logs, vec!["hi".to_string()]);
    let stopped = run(&logging, 8003);
    assert_eq!(
        stopped.returns.unwrap_err(),
        FunctionCallError::GasExhausted { limit: 8003 }
    );
    assert!(stopped.logs.is_empty(), "{:?}", stopped.logs);
}

#[test]
fn out_of_bounds_pointers_trap_as_invalid_memory_access() {
    let module = wat(r#"(module
        (import "env" "log_utf8" (func $log (param i64)))
        (memory (export "memory") 1)
        (func (export "wild") (call $log (i64.const 1000000000))))"#);
    let runtime = Runtime::new(Limits::default(), None);
    let outcome = call(
        &runtime,
        &module,
        &Arc::new(Memory::default()),
        "wild",
        json!({}),
    );
    assert_eq!(
        outcome.returns.unwrap_err(),
        FunctionCallError::HostError(HostError::InvalidMemoryAccess)
    );
}

#[test]
fn compiled_modules_survive_a_restart_through_the_disk_cache() {
    let dir = tempfile::tempdir().unwrap();
    let first = Runtime::new(Limits::default(), Some(dir.path().to_path_buf()));
    let (id, _) = first.prepare(kv_store()).unwrap();
    drop(first);
    let second = Runtime::new(Limits::default(), Some(dir.path().to_path_buf()));
    // No bytes given: only the disk cache can answer.
    let module = second
        .module(id, || None)
        .expect("loaded from the disk cache");
    let storage = Arc::new(Memory::default());
    let outcome = second.run(&module, "init", b"{}".to_vec(), ID, storage);
    assert!(outcome.should_persist());
}

#[test]
fn a_corrupt_or_torn_cached_artifact_is_recompiled_not_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let first = Runtime::new(Limits::default(), Some(dir.path().to_path_buf()));
    let (id, _) = first.prepare(kv_store()).unwrap();
    drop(first);
    let artifact = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|path| path.extension().is_some_and(|e| e == "bin"))
        .expect("the artifact file");
    let intact = std::fs::read(&artifact).unwrap();
    let damaged: [(&str, Vec<u8>); 2] = [
        ("one bit flipped in the machine code", {
            let mut bytes = intact.clone();
            let middle = bytes.len() / 2;
            bytes[middle] ^= 0x10;
            bytes
        }),
        ("cut short", intact[..intact.len() - 100].to_vec()),
    ];
    for (what, bytes) in damaged {
        std::fs::write(&artifact, &bytes).unwrap();
        let runtime = Runtime::new(Limits::default(), Some(dir.path().to_path_buf()));
        // With no bytes to compile from, a damaged file must not be taken for the module.
        assert!(
            runtime.module(id, || None).is_err(),
            "{what}: the damaged artifact was loaded"
        );
        assert!(!artifact.exists(), "{what}: the damaged file was kept");
        // Given the bytes, the module is compiled again, works, and its artifact is rewritten.
        let module = runtime.module(id, || Some(kv_store().to_vec())).unwrap();
        let outcome = runtime.run(
            &module,
            "init",
            b"{}".to_vec(),
            ID,
            Arc::new(Memory::default()),
        );
        assert!(outcome.should_persist(), "{what}: {:?}", outcome.returns);
        assert_eq!(
            std::fs::read(&artifact).unwrap().len(),
            intact.len(),
            "{what}"
        );
    }
}

#[test]
fn every_import_of_the_shared_table_links() {
    let mut imports = String::new();
    for import in calimero_wasm_abi::host::IMPORTS {
        let types = |list: &[calimero_wasm_abi::host::ValType]| {
            list.iter()
                .map(|t| {
                    if *t == calimero_wasm_abi::host::ValType::I32 {
                        " i32"
                    } else {
                        " i64"
                    }
                })
                .collect::<String>()
        };
        imports.push_str(&format!(
            "(import \"env\" \"{}\" (func (param{}) (result{})))\n",
            import.name,
            types(import.params),
            types(import.results)
        ));
    }
    let text =
        format!("(module {imports} (memory (export \"memory\") 1) (func (export \"noop\")))")
            .replace("(param)", "")
            .replace("(result)", "");
    let module = wat(&text);
    let runtime = Runtime::new(Limits::default(), None);
    let outcome = call(
        &runtime,
        &module,
        &Arc::new(Memory::default()),
        "noop",
        json!({}),
    );
    assert!(outcome.returns.is_ok(), "{:?}", outcome.returns);
}

/// Storage with nothing in it but a context clock.
struct Clocked(u64);

impl calimero_runtime::Storage for Clocked {
    fn get(&self, _key: &[u8]) -> Result<Option<Vec<u8>>, calimero_runtime::StorageError> {
        Ok(None)
    }
    fn get_private(&self, _key: &[u8]) -> Result<Option<Vec<u8>>, calimero_runtime::StorageError> {
        Ok(None)
    }
    fn clock_floor(&self) -> Result<u64, calimero_runtime::StorageError> {
        Ok(self.0)
    }
}

#[test]
fn time_now_is_never_at_or_before_the_contexts_clock() {
    // Returns what `time_now` reports (value_return's descriptor at 0, time_now's at 24).
    let module = wat(r#"(module
        (import "env" "time_now" (func $now (param i64)))
        (import "env" "value_return" (func $ret (param i64)))
        (memory (export "memory") 1)
        (data (i32.const 0) "\00\00\00\00\00\00\00\00\30\00\00\00\00\00\00\00\08\00\00\00\00\00\00\00")
        (data (i32.const 24) "\30\00\00\00\00\00\00\00\08\00\00\00\00\00\00\00")
        (func (export "now") (call $now (i64.const 24)) (call $ret (i64.const 0))))"#);
    let runtime = Runtime::new(Limits::default(), None);
    let (_, compiled) = runtime.prepare(&module).unwrap();
    let now = |floor: u64| {
        let outcome = runtime.run(&compiled, "now", Vec::new(), ID, Arc::new(Clocked(floor)));
        let bytes = outcome.returns.clone().unwrap().unwrap();
        (
            u64::from_le_bytes(bytes.try_into().unwrap()),
            outcome.clock_ns,
        )
    };
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;

    // No clock yet: the wall clock, reported back as the context's new clock.
    let (first, clock) = now(0);
    assert!(first >= wall, "{first} < {wall}");
    assert_eq!(clock, first);
    // A context whose clock is an hour ahead (it saw a later time before): one tick after it.
    let tick = calimero_runtime::CLOCK_TICK_NS;
    let ahead = wall + 3_600_000_000_000;
    let (later, clock) = now(ahead);
    assert_eq!(later, ahead + tick);
    assert_eq!(clock, later);
    // The wall clock set back an hour: still after the clock the context kept.
    runtime.skew_clock(-3_600_000_000_000);
    let (after_setback, clock) = now(first);
    assert_eq!(after_setback, first + tick);
    assert_eq!(clock, after_setback);
    // At the end of time it stays there instead of wrapping to zero.
    assert_eq!(now(u64::MAX).0, u64::MAX);
    // A fixed clock (for comparing two modules call by call) is what every call reads.
    runtime.set_determinism(Some(calimero_runtime::Determinism {
        time_ns: 5_000_000_000_000_000_000,
        seed: 1,
    }));
    assert_eq!(now(0).0, 5_000_000_000_000_000_000);
    assert_eq!(now(0).0, 5_000_000_000_000_000_000);
    runtime.set_determinism(None);
    assert!(now(0).0 < 5_000_000_000_000_000_000);
}
