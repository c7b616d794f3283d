//! Fuzz targets. Each takes arbitrary bytes and must return without panicking, whatever the
//! bytes are; where a target can check more than "no panic", it asserts it (an accepted input
//! must re-encode to the same bytes, a refused host call must come back as a typed error).
//!
//! The same functions run two ways: coverage-guided under libFuzzer (`fuzz/libfuzzer`,
//! `scripts/fuzz.sh`), and for a bounded number of mutated inputs in the test suite
//! (`fuzz/tests/bounded.rs`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};

use calimero_runtime::{FunctionCallError, Identity, Limits, Runtime, Storage, StorageError};

/// A fuzz target: arbitrary bytes in, a panic if something is wrong.
pub type Target = fn(&[u8]);

/// Every target by name, for the drivers.
pub const TARGETS: &[(&str, Target)] = &[
    ("host_calls", host_calls),
    ("storage_artifact", storage_artifact),
    ("abi_manifest", abi_manifest),
    ("wire_messages", wire_messages),
    ("ts_frontend", ts_frontend),
];

// ---- host functions ----

/// A byte reader that yields zeros once the input runs out.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((first, rest)) => {
                self.0 = rest;
                *first
            }
            None => 0,
        }
    }

    fn u64(&mut self) -> u64 {
        (0..8).fold(0, |acc, i| acc | (u64::from(self.u8()) << (8 * i)))
    }
}

/// Pointers and lengths a hostile module would try: inside the data area, at the edges of
/// memory, and far outside it.
fn argument(bytes: &mut Bytes<'_>) -> u64 {
    const PAGE: u64 = 65536;
    match bytes.u8() % 8 {
        0 => u64::from(bytes.u8()) * 8, // one of the descriptors below
        1 => 256 + u64::from(bytes.u8()),
        2 => PAGE - u64::from(bytes.u8() % 32),
        3 => PAGE,
        4 => u64::MAX - u64::from(bytes.u8()),
        5 => 1 << (bytes.u8() % 64),
        6 => u64::from(bytes.u8() % 8), // a register id
        _ => bytes.u64(),
    }
}

/// A module that makes up to 32 host calls with arguments taken from the input, over a memory
/// whose first 256 bytes are (pointer, length) descriptors also taken from the input.
pub fn host_module(data: &[u8]) -> String {
    let imports = calimero_wasm_abi::host::IMPORTS;
    let mut bytes = Bytes(data);
    let mut descriptors = String::new();
    for _ in 0..16 {
        let pointer = 256 + u64::from(bytes.u8()) * 16;
        let length = match bytes.u8() % 4 {
            0 => u64::from(bytes.u8() % 33),
            1 => u64::from(bytes.u8()) * 64,
            2 => 1 << (bytes.u8() % 40),
            _ => bytes.u64(),
        };
        for word in [pointer, length] {
            for byte in word.to_le_bytes() {
                descriptors.push_str(&format!("\\{byte:02x}"));
            }
        }
    }
    let mut body = String::new();
    for _ in 0..32 {
        if bytes.0.is_empty() {
            break;
        }
        let import = &imports[usize::from(bytes.u8()) % imports.len()];
        let mut call = format!("(call ${}", import.name);
        for param in import.params {
            let value = argument(&mut bytes);
            match param {
                calimero_wasm_abi::host::ValType::I32 => {
                    call.push_str(&format!(" (i32.const {})", value as u32 as i32))
                }
                calimero_wasm_abi::host::ValType::I64 => {
                    call.push_str(&format!(" (i64.const {})", value as i64))
                }
            }
        }
        call.push(')');
        for _ in import.results {
            call = format!("(drop {call})");
        }
        body.push_str(&call);
        body.push('\n');
    }
    let mut declarations = String::new();
    for import in imports {
        let types = |list: &[calimero_wasm_abi::host::ValType]| -> String {
            list.iter()
                .map(|t| match t {
                    calimero_wasm_abi::host::ValType::I32 => " i32",
                    calimero_wasm_abi::host::ValType::I64 => " i64",
                })
                .collect()
        };
        let params = types(import.params);
        let results = types(import.results);
        declarations.push_str(&format!(
            "(import \"env\" \"{0}\" (func ${0}{1}{2}))\n",
            import.name,
            if params.is_empty() {
                String::new()
            } else {
                format!(" (param{params})")
            },
            if results.is_empty() {
                String::new()
            } else {
                format!(" (result{results})")
            },
        ));
    }
    format!(
        "(module\n{declarations}(memory (export \"memory\") 1 2)\n(data (i32.const 0) \"{descriptors}\")\n(func (export \"go\")\n{body}))"
    )
}

#[derive(Default)]
struct MemoryStorage(Mutex<BTreeMap<Vec<u8>, Vec<u8>>>);

impl Storage for MemoryStorage {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        Ok(map.get(key).cloned())
    }
    fn get_private(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        self.get(key)
    }
}

fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        Runtime::new(
            Limits {
                max_gas: 50_000_000,
                max_call_duration_ms: 2_000,
                ..Limits::default()
            },
            None,
        )
    })
}

/// Host calls with hostile pointers, lengths and sequences: every call ends with a value or a
/// typed error, and the host never keeps more than the limits allow.
pub fn host_calls(data: &[u8]) {
    let text = host_module(data);
    let module = wat::parse_str(&text).expect("the generated module is valid text");
    let runtime = runtime();
    let (_, compiled) = runtime
        .prepare(&module)
        .expect("the generated module only imports host functions");
    let identity = Identity {
        context_id: [7; 32],
        account_id: [1; 32],
        device_id: [1; 32],
        xcall_origin: None,
    };
    let storage = Arc::new(MemoryStorage::default());
    let outcome = runtime.run(&compiled, "go", Vec::new(), identity, storage);
    let limits = runtime.limits();
    assert!(outcome.logs.len() as u64 <= limits.max_logs);
    assert!(outcome.events.len() as u64 <= limits.max_events);
    assert!(
        outcome.writes.len() + outcome.private_writes.len() <= limits.max_storage_writes as usize
    );
    assert!(outcome.gas_used <= limits.max_gas);
    if let Err(error) = &outcome.returns {
        assert!(
            !matches!(error, FunctionCallError::LinkError { .. }),
            "the module links: {error}"
        );
    }
    for key in outcome.writes.keys() {
        assert_eq!(key.len(), 32, "only 32-byte state keys are ever staged");
    }
}

// ---- storage ----

/// Artifact decoding, and applying arbitrary bytes as a peer's delta through the app's
/// `__calimero_sync_next` on the native host: refused or applied, never a crash, and a refused
/// artifact leaves the state untouched.
pub fn storage_artifact(data: &[u8]) {
    if let Ok(delta) = calimero_storage::action::decode_delta(data) {
        let again = borsh::to_vec(&delta).expect("encoding into a Vec cannot fail");
        assert_eq!(
            calimero_storage::action::decode_delta(&again).ok().as_ref(),
            Some(&delta),
            "a decoded artifact re-encodes to an equal one"
        );
    }
    let app =
        calimero_sdk::testing::TestApp::<nested_crdt::Collections>::with_member([9; 32], [1; 32]);
    app.init(serde_json::json!({})).expect("init runs");
    let before = app.host().storage();
    if app.sync(data).is_err() {
        assert_eq!(
            app.host().storage(),
            before,
            "a refused artifact changes nothing"
        );
    }
}

// ---- ABI ----

/// The ABI manifest reader on arbitrary modules, and the inspector on arbitrary bytes.
pub fn abi_manifest(data: &[u8]) {
    let _ = calimero_wasm_abi::read_manifest(data);
    let _ = calimero_wasm_abi::module::inspect(data);
    // The same bytes as a manifest inside an otherwise valid module.
    let mut module = b"\0asm\x01\0\0\0".to_vec();
    module.extend(calimero_wasm_abi::custom_section("calimero_abi", data));
    let _ = calimero_wasm_abi::read_manifest(&module);
}

// ---- wire ----

/// Every message a peer can send: decoded within bounds, and anything accepted re-encodes to
/// the same bytes (no two encodings of one message).
pub fn wire_messages(data: &[u8]) {
    use calimero_wire::{
        DeltaEnvelope, GossipMessage, Invitation, MAX_GOSSIP_SIZE, MAX_REQUEST_SIZE,
        MAX_RESPONSE_SIZE, SyncRequest, SyncResponse, decode, encode,
    };
    fn round_trip<T: borsh::BorshDeserialize + borsh::BorshSerialize>(
        data: &[u8],
        limit: usize,
        what: &'static str,
    ) -> Option<T> {
        let value: T = decode(data, limit, what).ok()?;
        assert_eq!(encode(&value), data, "{what} re-encodes to the same bytes");
        Some(value)
    }
    if let Some(GossipMessage::Delta(delta)) =
        round_trip::<GossipMessage>(data, MAX_GOSSIP_SIZE, "gossip")
    {
        let _ = delta.verify();
    }
    if let Some(delta) = round_trip::<DeltaEnvelope>(data, MAX_GOSSIP_SIZE, "delta") {
        let _ = delta.verify();
        let _ = delta.open(&calimero_wire::ContextKey([3; 32]));
    }
    let _ = round_trip::<SyncRequest>(data, MAX_REQUEST_SIZE, "sync request");
    let _ = round_trip::<SyncResponse>(data, MAX_RESPONSE_SIZE, "sync response");
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(invitation) = Invitation::from_text(text)
    {
        let _ = invitation.verify(0);
    }
}

// ---- TypeScript front end ----

/// The TypeScript front end on arbitrary source: parsed, transpiled and its methods extracted,
/// or refused with a syntax error, never a crash.
pub fn ts_frontend(data: &[u8]) {
    let source = String::from_utf8_lossy(data);
    use cargo_calimero::ts::front;
    if let Ok(parsed) = front::parse("app.ts", &source, true) {
        let _ = cargo_calimero::ts::extract::extract(std::slice::from_ref(&parsed));
    }
    let _ = front::transpile("app.ts", &source);
}
