//! Raw bindings to the node's host functions (`HOST-ABI.md` §3) and the descriptor types they take.
//!
//! Every pointer, length and register id crosses the boundary as an `i64` (here `u64`), and every
//! aggregate is passed as the guest address of a `#[repr(C)]` descriptor. On `wasm32` the
//! functions below are imports from module `env`. On every other target they are implemented by
//! [`host`], an in-memory test host with the same semantics, so that apps and the storage crate
//! can be unit-tested with plain `cargo test`.
//!
//! Nothing here is safe to call with made-up pointers: the safe wrappers live in
//! `calimero-storage` (storage, clock, identity) and `calimero-sdk` (input, return, events, logs).

mod types;

pub use types::{Buffer, BufferMut, Event, Location, ValueReturn, XCall};

/// A host-side register id. The SDK uses one data register for everything.
pub type RegisterId = u64;

/// The register the SDK uses for all host → guest data.
pub const DATA_REGISTER: RegisterId = u32::MAX as u64 - 1;

#[cfg(target_arch = "wasm32")]
mod imports {
    #[link(wasm_import_module = "env")]
    unsafe extern "C" {
        // -- execution --
        pub fn panic(location: u64) -> !;
        pub fn panic_utf8(message: u64, location: u64) -> !;
        pub fn input(register_id: u64);
        pub fn value_return(value: u64);
        pub fn log_utf8(message: u64);
        pub fn emit(event: u64);
        pub fn emit_with_handler(event: u64, handler: u64);
        pub fn commit(root_hash: u64, artifact: u64);
        // -- registers --
        pub fn register_len(register_id: u64) -> u64;
        pub fn read_register(register_id: u64, buffer: u64) -> u32;
        // -- identity --
        pub fn context_id(register_id: u64);
        pub fn account_id(register_id: u64);
        pub fn device_id(register_id: u64);
        pub fn executor_id(register_id: u64);
        pub fn xcall_origin(register_id: u64) -> u32;
        pub fn xcall(call: u64);
        // -- storage --
        pub fn storage_read(key: u64, register_id: u64) -> u32;
        pub fn storage_write(key: u64, value: u64, register_id: u64) -> u32;
        pub fn storage_remove(key: u64, register_id: u64) -> u32;
        pub fn storage_index_meta_clear(key: u64) -> u32;
        pub fn private_storage_read(key: u64, register_id: u64) -> u32;
        pub fn private_storage_write(key: u64, value: u64) -> u32;
        pub fn private_storage_remove(key: u64, register_id: u64) -> u32;
        // -- system --
        pub fn time_now(buffer: u64);
        pub fn random_bytes(buffer: u64);
        pub fn ed25519_verify(signature: u64, public_key: u64, message: u64) -> u32;
        // -- blobs --
        pub fn blob_create() -> u64;
        pub fn blob_write(fd: u64, data: u64) -> u64;
        pub fn blob_close(fd: u64, blob_id: u64) -> u32;
        pub fn blob_open(blob_id: u64) -> u64;
        pub fn blob_read(fd: u64, buffer: u64) -> u64;
        pub fn blob_announce_to_context(blob_id: u64, context_id: u64) -> u32;
    }
}

#[cfg(target_arch = "wasm32")]
pub use imports::*;

#[cfg(not(target_arch = "wasm32"))]
pub mod host;

#[cfg(not(target_arch = "wasm32"))]
pub use host::raw::*;

/// Reads a register into a fresh vector; `None` if the register does not exist.
pub fn register_bytes(register_id: RegisterId) -> Option<Vec<u8>> {
    // SAFETY: `register_len` takes a plain id.
    let len = unsafe { register_len(register_id) };
    if len == u64::MAX {
        return None;
    }
    let mut bytes = vec![0u8; len as usize];
    let buffer = BufferMut::new(&mut bytes);
    // SAFETY: `buffer` describes `bytes`, which lives until after the call.
    let copied = unsafe { read_register(register_id, buffer.as_arg()) };
    // The register cannot change between the two calls: nothing else runs in between.
    debug_assert_eq!(copied, 1);
    Some(bytes)
}
