//! Copy-on-write initial memories: after the first instance of a module with large data
//! segments, new instances map a recorded image of them instead of copying. Every instance must
//! still start from exactly the data segments (overlaps in order, zeroes elsewhere), keep its
//! writes to itself, grow, and carry out `memory.init` at run time.

use std::sync::Arc;

use calimero_runtime::{Limits, Runtime};

mod common;
use common::{ID, Memory};

const BIG_AT: usize = 4096;
const BIG_LEN: usize = 100_000;
const OVERLAP_AT: usize = 50_000;
const OVERLAP: &[u8] = b"overlapping segment";
const INIT_AT: usize = 200_000;
const PASSIVE: &[u8] = b"passive";
const PAGE: usize = 65536;

/// `$hash`: the same fold as [`hash`] over memory `[32, end)`.
const HASH: &str = r#"(func $hash (param $end i32) (result i64)
            (local $i i32) (local $h i64)
            (i32.const 32) (local.set $i)
            (block $done (loop $next
                (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
                (local.set $h (i64.add (i64.mul (local.get $h) (i64.const 31))
                    (i64.load8_u (local.get $i))))
                (local.set $i (i32.add (local.get $i) (i32.const 1)))
                (br $next)))
            (local.get $h))"#;

/// What both test modules start with: `value_return`, 4 pages of memory, the return descriptor
/// at 0 (tag 0, the value at 24, 8 bytes) and the big segment.
fn head() -> String {
    format!(
        r#"(import "env" "value_return" (func $ret (param i64)))
        (memory (export "memory") 4)
        (data (i32.const 0) "\00\00\00\00\00\00\00\00\18\00\00\00\00\00\00\00\08\00\00\00\00\00\00\00")
        (data (i32.const {BIG_AT}) "{}")"#,
        escaped(&big())
    )
}

fn big() -> Vec<u8> {
    (0..BIG_LEN).map(|i| ((i * 7 + 3) % 251) as u8).collect()
}

fn escaped(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("\\{b:02x}")).collect()
}

/// The module: `sum` hashes memory `[0, 4 pages)` after a `memory.init`; `scribble` first writes
/// into the image's pages and the zero pages, grows by a page and writes there, then hashes
/// `[0, 5 pages)`. The hash goes back through `value_return` (its descriptor at 0: tag, address,
/// length).
fn module() -> Vec<u8> {
    let text = format!(
        r#"(module
        {head}
        (data (i32.const {OVERLAP_AT}) "{overlap}")
        (data $passive "{passive}")
        {HASH}
        (func $finish (param $h i64)
            (i64.store (i32.const 24) (local.get $h))
            (call $ret (i64.const 0)))
        (func (export "sum")
            (memory.init $passive (i32.const {INIT_AT}) (i32.const 0) (i32.const {passive_len}))
            (call $finish (call $hash (i32.const {four_pages}))))
        (func (export "scribble")
            (i32.store8 (i32.const {BIG_AT}) (i32.const 255))
            (i32.store8 (i32.const 150000) (i32.const 119))
            (drop (memory.grow (i32.const 1)))
            (i32.store8 (i32.const {new_page}) (i32.const 66))
            (call $finish (call $hash (i32.const {five_pages})))))"#,
        head = head(),
        overlap = escaped(OVERLAP),
        passive = escaped(PASSIVE),
        passive_len = PASSIVE.len(),
        four_pages = 4 * PAGE,
        five_pages = 5 * PAGE,
        new_page = 4 * PAGE + 10,
    );
    wat::parse_str(text).unwrap()
}

/// The memory a fresh instance starts with (5 pages, the fifth for `scribble`'s growth).
fn initial() -> Vec<u8> {
    let mut memory = vec![0u8; 5 * PAGE];
    memory[8] = 24; // the return descriptor: tag 0, at 24, 8 bytes
    memory[16] = 8;
    memory[BIG_AT..BIG_AT + BIG_LEN].copy_from_slice(&big());
    memory[OVERLAP_AT..OVERLAP_AT + OVERLAP.len()].copy_from_slice(OVERLAP);
    memory
}

fn hash(memory: &[u8], end: usize) -> u64 {
    memory[32..end]
        .iter()
        .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(*b)))
}

#[test]
fn mapped_initial_memories_start_from_the_data_segments_and_keep_their_writes_private() {
    let mut pristine = initial();
    pristine[INIT_AT..INIT_AT + PASSIVE.len()].copy_from_slice(PASSIVE);
    let sum = hash(&pristine, 4 * PAGE);
    let mut scribbled = initial();
    scribbled[BIG_AT] = 255;
    scribbled[150_000] = 119;
    scribbled[4 * PAGE + 10] = 66;
    let scribble = hash(&scribbled, 5 * PAGE);

    let runtime = Runtime::new(Limits::default(), None);
    let (_, compiled) = runtime.prepare(&module()).expect("module compiles");
    let storage = Arc::new(Memory::default());
    let run = |method: &str| {
        let outcome = runtime.run(&compiled, method, Vec::new(), ID, storage.clone());
        let bytes = outcome
            .returns
            .unwrap_or_else(|e| panic!("{method}: {e}"))
            .unwrap();
        u64::from_le_bytes(bytes.try_into().unwrap())
    };

    assert!(!compiled.maps_initial_memory(), "no instance has been made");
    // The first instance copies and records; the others map.
    assert_eq!(run("sum"), sum, "first instance");
    assert!(
        compiled.maps_initial_memory(),
        "100 KB of data segments are mapped from the second instance on"
    );
    for round in 0..3 {
        assert_eq!(run("scribble"), scribble, "round {round}");
        // The writes of the instance before are not in the image, nor in its memory, which
        // this instance got cleaned.
        assert_eq!(run("sum"), sum, "round {round}");
    }
    // The second instance mapped a new memory; each one after it reused the one before's.
    assert_eq!(compiled.reused_memories(), 5);
}

/// Cleaning a memory for reuse must undo every kind of write: many pages of the image and
/// beyond it, pages only read, whole-page overwrites, and growth by several pages.
#[test]
fn a_reused_memory_holds_nothing_of_the_call_before() {
    // `dirty` writes a byte to every other OS page of the first 4 pages, reads the rest, grows by
    // 3 pages and fills them, and returns nothing; `sum` checks the memory is 4 pages again,
    // grows it by 3 and hashes all 7.
    let text = format!(
        r#"(module
        {head}
        {HASH}
        (func (export "dirty")
            (local $at i32) (local $sink i32)
            (i32.const 4096) (local.set $at)
            (block $done (loop $next
                (br_if $done (i32.ge_u (local.get $at) (i32.const {last_read})))
                (i32.store8 (local.get $at) (i32.add (local.get $at) (i32.const 1)))
                (local.set $sink (i32.load8_u (i32.add (local.get $at) (i32.const 4096))))
                (local.set $at (i32.add (local.get $at) (i32.const 8192)))
                (br $next)))
            (drop (memory.grow (i32.const 3)))
            (memory.fill (i32.const {four_pages}) (i32.const 90) (i32.const {three_pages})))
        (func (export "sum")
            (if (i32.ne (memory.size) (i32.const 4)) (then unreachable))
            (drop (memory.grow (i32.const 3)))
            (i64.store (i32.const 24) (call $hash (i32.const {seven_pages})))
            (call $ret (i64.const 0))))"#,
        head = head(),
        four_pages = 4 * PAGE,
        three_pages = 3 * PAGE,
        last_read = 4 * PAGE - 4096,
        seven_pages = 7 * PAGE,
    );
    let module = wat::parse_str(text).unwrap();
    // Grown pages read as zeroes, whatever the call before wrote there.
    let mut pristine = vec![0u8; 7 * PAGE];
    pristine[BIG_AT..BIG_AT + BIG_LEN].copy_from_slice(&big());
    let sum = hash(&pristine, 7 * PAGE);

    let runtime = Runtime::new(Limits::default(), None);
    let (_, compiled) = runtime.prepare(&module).expect("module compiles");
    let storage = Arc::new(Memory::default());
    let run = |method: &str| {
        runtime
            .run(&compiled, method, Vec::new(), ID, storage.clone())
            .returns
            .unwrap_or_else(|e| panic!("{method}: {e}"))
    };
    for round in 0..4 {
        run("dirty");
        let bytes = run("sum").expect("sum returns the hash");
        assert_eq!(
            u64::from_le_bytes(bytes.try_into().unwrap()),
            sum,
            "round {round}"
        );
    }
    assert!(compiled.maps_initial_memory());
    assert_eq!(compiled.reused_memories(), 6);
}

#[test]
fn small_data_segments_are_copied_as_before() {
    let module = wat::parse_str(
        r#"(module
        (import "env" "value_return" (func $ret (param i64)))
        (memory (export "memory") 1)
        (data (i32.const 0) "\00\00\00\00\00\00\00\00\18\00\00\00\00\00\00\00\08\00\00\00\00\00\00\00\2a")
        (func (export "get") (call $ret (i64.const 0))))"#,
    )
    .unwrap();
    let runtime = Runtime::new(Limits::default(), None);
    let (_, compiled) = runtime.prepare(&module).expect("module compiles");
    for _ in 0..2 {
        let outcome = runtime.run(
            &compiled,
            "get",
            Vec::new(),
            ID,
            Arc::new(Memory::default()),
        );
        assert_eq!(outcome.returns.unwrap().unwrap()[0], 0x2a);
    }
    assert!(!compiled.maps_initial_memory());
}
