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

/// Asks the node to call `function` with `params` in context `context_id` after this call
/// commits.
pub fn xcall(context_id: &[u8], function: &str, params: &[u8]) {
    let call = calimero_sys::XCall {
        context_id: Buffer::new(context_id),
        function: Buffer::new(function.as_bytes()),
        params: Buffer::new(params),
    };
    // SAFETY: `call` describes three live buffers for the duration of the host call.
    unsafe { calimero_sys::xcall(call.as_arg()) };
}

/// The context whose xcall started this call, if one did.
pub fn xcall_origin() -> Option<Vec<u8>> {
    // SAFETY: `xcall_origin` takes a plain register id.
    if unsafe { calimero_sys::xcall_origin(calimero_sys::DATA_REGISTER) } == 1 {
        calimero_sys::register_bytes(calimero_sys::DATA_REGISTER)
    } else {
        None
    }
}

/// Reads `key` from this node's private storage.
pub fn private_read(key: &[u8]) -> Option<Vec<u8>> {
    let key = Buffer::new(key);
    // SAFETY: `key` describes a live slice.
    if unsafe { calimero_sys::private_storage_read(key.as_arg(), calimero_sys::DATA_REGISTER) } == 1
    {
        calimero_sys::register_bytes(calimero_sys::DATA_REGISTER)
    } else {
        None
    }
}

/// Writes `key` in this node's private storage; false if the node keeps none for this call.
pub fn private_write(key: &[u8], value: &[u8]) -> bool {
    let (key, value) = (Buffer::new(key), Buffer::new(value));
    // SAFETY: both descriptors describe live slices.
    unsafe { calimero_sys::private_storage_write(key.as_arg(), value.as_arg()) == 1 }
}

/// Removes `key` from this node's private storage; true if it was there.
pub fn private_remove(key: &[u8]) -> bool {
    let key = Buffer::new(key);
    // SAFETY: `key` describes a live slice.
    unsafe {
        calimero_sys::private_storage_remove(key.as_arg(), calimero_sys::DATA_REGISTER) == 1
    }
}
