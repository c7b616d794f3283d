//! Safe wrappers over the host functions storage needs.

use calimero_sys::{Buffer, BufferMut, DATA_REGISTER};

/// Reads a 32-byte storage key.
pub fn storage_read(key: &[u8; 32]) -> Option<Vec<u8>> {
    let key = Buffer::new(key);
    // SAFETY: `key` describes a live 32-byte array.
    if unsafe { calimero_sys::storage_read(key.as_arg(), DATA_REGISTER) } == 1 {
        calimero_sys::register_bytes(DATA_REGISTER)
    } else {
        None
    }
}

/// Writes a 32-byte storage key.
pub fn storage_write(key: &[u8; 32], value: &[u8]) {
    let (key, value) = (Buffer::new(key), Buffer::new(value));
    // SAFETY: both descriptors describe live slices.
    unsafe { calimero_sys::storage_write(key.as_arg(), value.as_arg(), DATA_REGISTER) };
}

/// Removes a 32-byte storage key.
pub fn storage_remove(key: &[u8; 32]) {
    let key = Buffer::new(key);
    // SAFETY: `key` describes a live 32-byte array.
    unsafe { calimero_sys::storage_remove(key.as_arg(), DATA_REGISTER) };
}

/// Unix time in nanoseconds.
pub fn time_now() -> u64 {
    let mut bytes = [0u8; 8];
    let buffer = BufferMut::new(&mut bytes);
    // SAFETY: `buffer` describes the 8 live bytes the host requires.
    unsafe { calimero_sys::time_now(buffer.as_arg()) };
    u64::from_le_bytes(bytes)
}

/// Fills `bytes` from the host RNG.
pub fn random_bytes(bytes: &mut [u8]) {
    let buffer = BufferMut::new(bytes);
    // SAFETY: `buffer` describes `bytes`.
    unsafe { calimero_sys::random_bytes(buffer.as_arg()) };
}

fn id_from(read: impl FnOnce(u64)) -> [u8; 32] {
    read(DATA_REGISTER);
    let bytes = calimero_sys::register_bytes(DATA_REGISTER).unwrap_or_default();
    let mut id = [0u8; 32];
    let n = bytes.len().min(32);
    id[..n].copy_from_slice(&bytes[..n]);
    id
}

/// The context this call runs in.
pub fn context_id() -> [u8; 32] {
    // SAFETY: the identity functions take a plain register id.
    id_from(|r| unsafe { calimero_sys::context_id(r) })
}

/// The executing member's device key.
pub fn device_id() -> [u8; 32] {
    // SAFETY: the identity functions take a plain register id.
    id_from(|r| unsafe { calimero_sys::device_id(r) })
}

/// The account the call runs as.
pub fn account_id() -> [u8; 32] {
    // SAFETY: the identity functions take a plain register id.
    id_from(|r| unsafe { calimero_sys::account_id(r) })
}

/// Records the state root and artifact with the host.
pub fn commit(root_hash: &[u8; 32], artifact: &[u8]) {
    let (root, artifact) = (Buffer::new(root_hash), Buffer::new(artifact));
    // SAFETY: both descriptors describe live slices.
    unsafe { calimero_sys::commit(root.as_arg(), artifact.as_arg()) };
}
