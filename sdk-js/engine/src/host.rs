//! The host ABI calls the engine makes on its own behalf.

use calimero_sys::{Buffer, Event, Location, ValueReturn};

pub fn log(message: &str) {
    let buffer = Buffer::new(message.as_bytes());
    // SAFETY: `buffer` describes `message`, alive for the call.
    unsafe { calimero_sys::log_utf8(buffer.as_arg()) };
}

/// Returns `bytes` as the call's value, or as its error when `ok` is false.
pub fn value_return(ok: bool, bytes: &[u8]) {
    let value = ValueReturn {
        tag: if ok { ValueReturn::OK } else { ValueReturn::ERR },
        value: Buffer::new(bytes),
    };
    // SAFETY: `value` and the bytes it describes are alive for the call.
    unsafe { calimero_sys::value_return(value.as_arg()) };
}

pub fn emit(kind: &str, data: &[u8], handler: Option<&str>) {
    let event = Event {
        kind: Buffer::new(kind.as_bytes()),
        data: Buffer::new(data),
    };
    match handler {
        // SAFETY: the descriptors and their bytes are alive for the call.
        None => unsafe { calimero_sys::emit(event.as_arg()) },
        Some(handler) => {
            let handler = Buffer::new(handler.as_bytes());
            // SAFETY: as above.
            unsafe { calimero_sys::emit_with_handler(event.as_arg(), handler.as_arg()) }
        }
    }
}

pub fn panic_with(message: &str, file: &str, line: u32, column: u32) -> ! {
    let message = Buffer::new(message.as_bytes());
    let location = Location {
        file: Buffer::new(file.as_bytes()),
        line,
        column,
    };
    // SAFETY: both descriptors and their bytes are alive; the call does not return.
    unsafe { calimero_sys::panic_utf8(message.as_arg(), location.as_arg()) }
}

pub fn input() -> Vec<u8> {
    // SAFETY: `input` takes a plain register id.
    unsafe { calimero_sys::input(calimero_sys::DATA_REGISTER) };
    calimero_sys::register_bytes(calimero_sys::DATA_REGISTER).unwrap_or_default()
}

fn register(fetch: unsafe extern "C" fn(u64)) -> [u8; 32] {
    // SAFETY: the host writes 32 bytes into the register.
    unsafe { fetch(calimero_sys::DATA_REGISTER) };
    let bytes = calimero_sys::register_bytes(calimero_sys::DATA_REGISTER).unwrap_or_default();
    let mut id = [0u8; 32];
    let n = bytes.len().min(32);
    id[..n].copy_from_slice(&bytes[..n]);
    id
}

pub fn context_id() -> [u8; 32] {
    register(calimero_sys::context_id)
}

pub fn executor_id() -> [u8; 32] {
    register(calimero_sys::executor_id)
}
