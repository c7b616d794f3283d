//! Modules that try to take the node down: unbounded host memory, unmetered host work, calls that
//! never end, failing storage, reserved exports, and merge registrations that trap.

use std::sync::Arc;
use std::time::{Duration, Instant};

use calimero_runtime::{
    FunctionCallError, HostError, Limits, MethodResolutionError, Outcome, Runtime, SYNC_NEXT,
    Storage, StorageError, gas,
};
use serde_json::json;

mod common;
use common::{ID, Memory, kv_store};

/// Storage whose disk has gone bad: every read fails.
struct Broken;

impl Storage for Broken {
    fn get(&self, _key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        Err(StorageError("IO error: input/output error".into()))
    }
    fn get_private(&self, _key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        Err(StorageError("IO error: input/output error".into()))
    }
}

fn run(runtime: &Runtime, module: &[u8], method: &str, storage: Arc<dyn Storage>) -> Outcome {
    let (_, compiled) = runtime.prepare(module).expect("module compiles");
    runtime.run(&compiled, method, b"{}".to_vec(), ID, storage)
}

/// A little-endian `u64` as a wat data string.
fn le(value: u64) -> String {
    value
        .to_le_bytes()
        .iter()
        .map(|b| format!("\\{b:02x}"))
        .collect()
}

fn wat(text: &str) -> Vec<u8> {
    wat::parse_str(text).unwrap()
}

/// Removes distinct 64 KiB private keys in a loop. Before removes were counted, every one was
/// staged in host memory until the node ran out of it.
#[test]
fn removes_count_against_the_write_limits() {
    let module = wat(&format!(
        r#"(module
        (import "env" "private_storage_remove" (func $remove (param i64 i64) (result i32)))
        (memory (export "memory") 2)
        (data (i32.const 0) "{}{}")
        (func (export "hog") (local $i i64)
            (loop $again
                (i64.store (i32.const 1024) (local.get $i))
                (local.set $i (i64.add (local.get $i) (i64.const 1)))
                (drop (call $remove (i64.const 0) (i64.const 0)))
                (br $again))))"#,
        le(1024),
        le(65536)
    ));
    let runtime = Runtime::new(Limits::default(), None);
    let outcome = run(&runtime, &module, "hog", Arc::new(Memory::default()));
    assert!(!outcome.should_persist());
    match outcome.returns.unwrap_err() {
        FunctionCallError::HostError(HostError::TooLarge { what, size, limit }) => {
            assert_eq!(what, "the bytes written or removed by this call");
            assert_eq!(limit, Limits::default().max_storage_write_bytes);
            assert_eq!(
                size,
                limit + 65536,
                "stopped at the first remove past the limit"
            );
        }
        other => panic!("expected the write-bytes limit, got {other:?}"),
    }

    // Many small removes hit the count limit instead.
    let limits = Limits {
        max_storage_writes: 1000,
        ..Limits::default()
    };
    let small = wat(&format!(
        r#"(module
        (import "env" "storage_remove" (func $remove (param i64 i64) (result i32)))
        (memory (export "memory") 1)
        (data (i32.const 0) "{}{}")
        (func (export "hog") (local $i i64)
            (loop $again
                (i64.store (i32.const 1024) (local.get $i))
                (local.set $i (i64.add (local.get $i) (i64.const 1)))
                (drop (call $remove (i64.const 0) (i64.const 0)))
                (br $again))))"#,
        le(1024),
        le(32)
    ));
    let outcome = run(
        &Runtime::new(limits, None),
        &small,
        "hog",
        Arc::new(Memory::default()),
    );
    assert_eq!(
        outcome.returns.unwrap_err(),
        FunctionCallError::HostError(HostError::TooMany {
            what: "storage writes and removes".into(),
            limit: 1000
        })
    );
}

/// A key descriptor claiming 2 MiB is refused by its length, before anything is copied (the
/// memory is only 64 KiB, so a copy would fail as an invalid access instead).
#[test]
fn oversized_and_malformed_keys_are_refused_at_write_time() {
    let call = |import: &str, len: u64| {
        let module = wat(&format!(
            r#"(module
            (import "env" "{import}" (func $remove (param i64 i64) (result i32)))
            (memory (export "memory") 1)
            (data (i32.const 0) "{}{}")
            (func (export "go") (drop (call $remove (i64.const 0) (i64.const 0)))))"#,
            le(64),
            le(len)
        ));
        let runtime = Runtime::new(Limits::default(), None);
        run(&runtime, &module, "go", Arc::new(Memory::default())).returns
    };
    assert_eq!(
        call("storage_remove", 2 << 20).unwrap_err(),
        FunctionCallError::HostError(HostError::TooLarge {
            what: "a storage key".into(),
            size: 2 << 20,
            limit: 1 << 20
        })
    );
    // A state key that is not an entity id used to be dropped silently at commit.
    assert_eq!(
        call("storage_remove", 31).unwrap_err(),
        FunctionCallError::HostError(HostError::InvalidStorageKey { size: 31 })
    );
    // Private keys are the app's own and may have any length within the limit.
    assert_eq!(call("private_storage_remove", 31), Ok(None));
}

#[test]
fn a_call_that_never_ends_stops_at_its_deadline() {
    // Each `memory.fill` costs one gas unit but touches 64 MiB: gas alone would allow hours.
    let fill = wat(r#"(module (memory (export "memory") 1024)
        (func (export "fill") (loop $l
            (memory.fill (i32.const 0) (i32.const 0) (i32.const 67108864))
            (br $l))))"#);
    // A plain loop with gas to spare: only the deadline can stop it.
    let spin =
        wat(r#"(module (memory (export "memory") 1) (func (export "spin") (loop $l (br $l))))"#);
    let limits = Limits {
        max_gas: u64::MAX / 2,
        max_call_duration_ms: 300,
        ..Limits::default()
    };
    let runtime = Runtime::new(limits, None);
    for (module, method) in [(&spin, "spin"), (&fill, "fill")] {
        let started = Instant::now();
        let outcome = run(&runtime, module, method, Arc::new(Memory::default()));
        let took = started.elapsed();
        assert_eq!(
            outcome.returns.unwrap_err(),
            FunctionCallError::DeadlineExceeded { limit_ms: 300 },
            "{method}"
        );
        assert!(
            took >= Duration::from_millis(300) && took < Duration::from_secs(5),
            "{method} ended after {took:?}"
        );
    }
    // The watchdog leaves later calls on the same runtime alone.
    let storage = Arc::new(Memory::default());
    let init = run(&runtime, kv_store(), "init", storage.clone());
    assert!(init.should_persist(), "{:?}", init.returns);
}

#[test]
fn the_deadline_also_stops_a_guest_looping_over_host_calls() {
    // `time_now` in a loop: the host refuses once the deadline flag is set.
    let module = wat(&format!(
        r#"(module
        (import "env" "time_now" (func $now (param i64)))
        (memory (export "memory") 1)
        (data (i32.const 0) "{}{}")
        (func (export "tick") (loop $l (call $now (i64.const 0)) (br $l))))"#,
        le(64),
        le(8)
    ));
    let limits = Limits {
        max_gas: u64::MAX / 2,
        max_call_duration_ms: 200,
        ..Limits::default()
    };
    let outcome = run(
        &Runtime::new(limits, None),
        &module,
        "tick",
        Arc::new(Memory::default()),
    );
    assert_eq!(
        outcome.returns.unwrap_err(),
        FunctionCallError::DeadlineExceeded { limit_ms: 200 }
    );
}

#[test]
fn host_functions_charge_gas_by_the_bytes_they_handle() {
    let random = |len: u64, looping: bool| {
        let body = if looping {
            "(loop $l (call $random (i64.const 0)) (br $l))"
        } else {
            "(call $random (i64.const 0))"
        };
        wat(&format!(
            r#"(module
            (import "env" "random_bytes" (func $random (param i64)))
            (memory (export "memory") 32)
            (data (i32.const 0) "{}{}")
            (func (export "go") {body}))"#,
            le(64),
            le(len)
        ))
    };
    // A smaller budget keeps the debug build quick; the cost per byte is what is checked.
    let limits = Limits {
        max_gas: 50_000_000,
        ..Limits::default()
    };
    let runtime = Runtime::new(limits.clone(), None);
    let mut used = Vec::new();
    for len in [1u64 << 10, 1 << 20] {
        let outcome = run(
            &runtime,
            &random(len, false),
            "go",
            Arc::new(Memory::default()),
        );
        assert!(outcome.returns.is_ok(), "{:?}", outcome.returns);
        let floor = gas::HOST_CALL + len * (gas::PER_RANDOM_BYTE + gas::PER_BYTE);
        assert!(outcome.gas_used >= floor, "{} < {floor}", outcome.gas_used);
        used.push(outcome.gas_used);
    }
    assert_eq!(
        used[1] - used[0],
        ((1 << 20) - (1 << 10)) * (gas::PER_RANDOM_BYTE + gas::PER_BYTE),
        "the cost grows exactly with the bytes"
    );
    // 1 MiB per call at five units a byte: the budget is gone after ~10 calls.
    let started = Instant::now();
    let outcome = run(
        &runtime,
        &random(1 << 20, true),
        "go",
        Arc::new(Memory::default()),
    );
    assert_eq!(
        outcome.returns.unwrap_err(),
        FunctionCallError::GasExhausted {
            limit: limits.max_gas
        }
    );
    assert!(started.elapsed() < Duration::from_secs(4));
}

#[test]
fn a_failing_storage_read_aborts_the_call_instead_of_reading_as_absent() {
    let runtime = Runtime::new(Limits::default(), None);
    let healthy = Arc::new(Memory::default());
    let init = run(&runtime, kv_store(), "init", healthy.clone());
    healthy.apply(&init);
    // With the disk failing, `init`-style code that finds "nothing" would rebuild the state
    // over the existing one; instead the call stops with the storage error and commits nothing.
    let (_, compiled) = runtime.prepare(kv_store()).unwrap();
    let input = serde_json::to_vec(&json!({"key": "a", "value": "b"})).unwrap();
    let outcome = runtime.run(&compiled, "set", input, ID, Arc::new(Broken));
    assert!(!outcome.should_persist());
    match outcome.returns.unwrap_err() {
        FunctionCallError::HostError(HostError::StorageError { message }) => {
            assert!(message.contains("input/output error"), "{message}")
        }
        other => panic!("expected a storage error, got {other:?}"),
    }
}

#[test]
fn reserved_exports_cannot_be_called_as_methods() {
    let runtime = Runtime::new(Limits::default(), None);
    for name in [SYNC_NEXT, "__calimero_register_merge"] {
        let outcome = run(&runtime, kv_store(), name, Arc::new(Memory::default()));
        assert_eq!(
            outcome.returns.unwrap_err(),
            FunctionCallError::MethodResolutionError(MethodResolutionError::ReservedMethod {
                name: name.into()
            })
        );
    }
}

#[test]
fn a_trapping_merge_registration_leaves_nothing_behind() {
    // The registration emits an event, stages a private write, burns gas, then traps.
    let module = wat(&format!(
        r#"(module
        (import "env" "emit" (func $emit (param i64)))
        (import "env" "private_storage_write" (func $write (param i64 i64) (result i32)))
        (memory (export "memory") 1)
        (data (i32.const 0) "{}{}{}{}")
        (data (i32.const 32) "{}{}")
        (data (i32.const 64) "leak")
        (func (export "__calimero_register_merge") (local $i i32)
            (call $emit (i64.const 0))
            (drop (call $write (i64.const 32) (i64.const 32)))
            (loop $burn
                (local.set $i (i32.add (local.get $i) (i32.const 1)))
                (br_if $burn (i32.lt_u (local.get $i) (i32.const 1000000))))
            unreachable)
        (func (export "method")))"#,
        le(64),
        le(4),
        le(64),
        le(4),
        le(64),
        le(4)
    ));
    let runtime = Runtime::new(Limits::default(), None);
    let outcome = run(&runtime, &module, "method", Arc::new(Memory::default()));
    assert_eq!(outcome.returns, Ok(None));
    assert!(outcome.events.is_empty(), "{:?}", outcome.events);
    assert!(outcome.private_writes.is_empty());
    assert!(
        outcome.gas_used < 100,
        "the merge's gas was charged: {}",
        outcome.gas_used
    );
}
