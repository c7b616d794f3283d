//! Safe access to the host: input, results, logs, events, identity, time and randomness.

use calimero_sys::{Buffer, BufferMut, DATA_REGISTER, Event, Location, ValueReturn};

use crate::event::AppEvent;

pub use calimero_storage::env::{account_id, context_id, device_id, random_bytes, time_now};

/// The call's input bytes (the JSON arguments, or a delta artifact for sync).
pub fn input() -> Vec<u8> {
    // SAFETY: `input` takes a plain register id.
    unsafe { calimero_sys::input(DATA_REGISTER) };
    calimero_sys::register_bytes(DATA_REGISTER).unwrap_or_default()
}

/// The account the call runs as (older name of [`account_id`]).
pub fn executor_id() -> [u8; 32] {
    account_id()
}

/// Sets the call's result: `Ok` JSON bytes or `Err` JSON bytes.
pub fn value_return(result: Result<&[u8], &[u8]>) {
    let (tag, bytes) = match result {
        Ok(bytes) => (ValueReturn::OK, bytes),
        Err(bytes) => (ValueReturn::ERR, bytes),
    };
    let value = ValueReturn {
        tag,
        value: Buffer::new(bytes),
    };
    // SAFETY: `value` and the bytes it points at live across the call.
    unsafe { calimero_sys::value_return(value.as_arg()) };
}

/// Appends a log line.
pub fn log(message: &str) {
    let buffer = Buffer::new(message.as_bytes());
    // SAFETY: `buffer` describes `message`.
    unsafe { calimero_sys::log_utf8(buffer.as_arg()) };
}

fn event_descriptor<'a>(kind: &'a str, data: &'a [u8]) -> Event {
    Event {
        kind: Buffer::new(kind.as_bytes()),
        data: Buffer::new(data),
    }
}

/// Emits an event.
pub fn emit<E: AppEvent + ?Sized>(event: &E) {
    let (kind, data) = (event.kind(), event.data());
    let descriptor = event_descriptor(&kind, &data);
    // SAFETY: the descriptor and its buffers live across the call.
    unsafe { calimero_sys::emit(descriptor.as_arg()) };
}

/// Emits an event whose `handler` method peers run when they apply it.
pub fn emit_with_handler<E: AppEvent + ?Sized>(event: &E, handler: &str) {
    let (kind, data) = (event.kind(), event.data());
    let descriptor = event_descriptor(&kind, &data);
    let handler = Buffer::new(handler.as_bytes());
    // SAFETY: the descriptors and their buffers live across the call.
    unsafe { calimero_sys::emit_with_handler(descriptor.as_arg(), handler.as_arg()) };
}

/// Traps the call with `message` at the given location.
pub fn panic_at(message: &str, file: &str, line: u32, column: u32) -> ! {
    let message = Buffer::new(message.as_bytes());
    let location = Location {
        file: Buffer::new(file.as_bytes()),
        line,
        column,
    };
    // SAFETY: the descriptors and their buffers live across the call, which does not return.
    unsafe { calimero_sys::panic_utf8(message.as_arg(), location.as_arg()) }
}

/// Routes Rust panics to `panic_utf8`, so the node reports the message and location.
/// On native targets the test host captures panics itself, so this does nothing there.
pub fn setup_panic_hook() {
    #[cfg(target_arch = "wasm32")]
    std::panic::set_hook(Box::new(|info| {
        let message = if let Some(s) = info.payload().downcast_ref::<&str>() {
            s
        } else if let Some(s) = info.payload().downcast_ref::<String>() {
            s.as_str()
        } else {
            "explicit panic"
        };
        let (file, line, column) = info
            .location()
            .map_or(("", 0, 0), |l| (l.file(), l.line(), l.column()));
        panic_at(message, file, line, column)
    }));
}

/// Fills a fresh buffer of `len` random bytes.
pub fn random_vec(len: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    let buffer = BufferMut::new(&mut bytes);
    // SAFETY: `buffer` describes `bytes`.
    unsafe { calimero_sys::random_bytes(buffer.as_arg()) };
    bytes
}

/// Queues a call of `function` with JSON `params` on context `context_id` (32 bytes), run by
/// the node after this call commits, as the node's own member of that context. Fire and
/// forget: this call's result does not wait for it or see its outcome. The node runs it only
/// if it holds that context, the target method is `#[app::xcall]` (when the target app marks
/// any), the caller is allowed (`from_same_app`), and the chain of xcalls is at most 3 deep.
pub fn xcall(context_id: &[u8], function: &str, params: &[u8]) {
    let call = calimero_sys::XCall {
        context_id: Buffer::new(context_id),
        function: Buffer::new(function.as_bytes()),
        params: Buffer::new(params),
    };
    // SAFETY: `call` describes three live buffers for the duration of the host call.
    unsafe { calimero_sys::xcall(call.as_arg()) };
}

/// The context whose `xcall` started this call, or `None` for a call from a client.
pub fn xcall_origin() -> Option<[u8; 32]> {
    // SAFETY: `xcall_origin` takes a plain register id.
    if unsafe { calimero_sys::xcall_origin(DATA_REGISTER) } == 0 {
        return None;
    }
    calimero_sys::register_bytes(DATA_REGISTER).and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
}

/// Reads `key` from this node's private storage (node-local, never replicated).
pub fn private_storage_read(key: &[u8]) -> Option<Vec<u8>> {
    let key = Buffer::new(key);
    // SAFETY: `key` describes a live slice.
    if unsafe { calimero_sys::private_storage_read(key.as_arg(), DATA_REGISTER) } == 1 {
        calimero_sys::register_bytes(DATA_REGISTER)
    } else {
        None
    }
}

/// Writes `key` in this node's private storage; false if the node has none for this call.
pub fn private_storage_write(key: &[u8], value: &[u8]) -> bool {
    let (key, value) = (Buffer::new(key), Buffer::new(value));
    // SAFETY: both descriptors describe live slices.
    unsafe { calimero_sys::private_storage_write(key.as_arg(), value.as_arg()) == 1 }
}

#[cfg(feature = "tracing")]
pub use crate::log_tracing::set_log_level;
/// The levels [`set_log_level`] takes: `env::LevelFilter::DEBUG`.
#[cfg(feature = "tracing")]
pub use tracing::level_filters::LevelFilter;
