//! The WASI functions the Rust standard library and QuickJS import, implemented on the host ABI.
//!
//! Each is exported as `__calimero_wasi_<name>`; `cargo calimero` replaces every
//! `wasi_snapshot_preview1` import with a call to its helper and then removes the helpers'
//! exports, so the finished module imports nothing but `env`. Pointers are wasm32 addresses.

use calimero_sys::{Buffer, BufferMut};

const SUCCESS: i32 = 0;
const BADF: i32 = 8;

/// `random_get`: a fixed pseudo-random stream, not the host's.
///
/// Only the engine's own machinery asks here (the Rust standard library's hash-map keys); an
/// app's randomness (`crypto.getRandomValues`, the ids of new vector elements) comes from the
/// host's `random_bytes` directly. Keeping the two apart means a TypeScript app draws exactly the
/// host bytes its Rust twin draws, so under one seeded source (`cargo calimero compat`) both
/// create the same ids, and the engine's internals run the same on every replica.
#[unsafe(no_mangle)]
pub extern "C" fn __calimero_wasi_random_get(buf: *mut u8, len: usize) -> i32 {
    use core::sync::atomic::{AtomicU64, Ordering};
    static STATE: AtomicU64 = AtomicU64::new(0x243f_6a88_85a3_08d3);
    // SAFETY: WASI guarantees `buf` names `len` writable bytes of this module's memory.
    let bytes = unsafe { core::slice::from_raw_parts_mut(buf, len) };
    for chunk in bytes.chunks_mut(8) {
        // SplitMix64.
        let mut z = STATE
            .fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed)
            .wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        chunk.copy_from_slice(&z.to_le_bytes()[..chunk.len()]);
    }
    SUCCESS
}

/// `environ_get`: there is no environment.
#[unsafe(no_mangle)]
pub extern "C" fn __calimero_wasi_environ_get(_environ: *mut *mut u8, _buf: *mut u8) -> i32 {
    SUCCESS
}

/// `environ_sizes_get`: zero variables, zero bytes.
#[unsafe(no_mangle)]
pub extern "C" fn __calimero_wasi_environ_sizes_get(count: *mut usize, size: *mut usize) -> i32 {
    // SAFETY: WASI guarantees both pointers are writable.
    unsafe {
        *count = 0;
        *size = 0;
    }
    SUCCESS
}

/// `clock_time_get`: every clock reads the host's `time_now`.
///
/// While the build pre-initialises the module, QuickJS's own set-up reads 0 (nothing of it
/// survives a call: `Math.random` draws from the host), and the app's top level may not read the
/// clock at all: its value would be frozen into the module.
#[unsafe(no_mangle)]
pub extern "C" fn __calimero_wasi_clock_time_get(
    _clock: u32,
    _precision: u64,
    time: *mut u64,
) -> i32 {
    match crate::phase::get() {
        crate::phase::SETUP => {
            // SAFETY: WASI guarantees `time` is writable.
            unsafe { *time = 0 };
            return SUCCESS;
        }
        crate::phase::TOP_LEVEL => crate::host::panic_with(
            "the app's top level reads the clock (Date.now(), new Date(), performance.now()); \
             top-level code runs once, when `cargo calimero build` pre-initialises the module, \
             not on each call. Move it into a method (or build with --no-snapshot)",
            "engine",
            0,
            0,
        ),
        _ => {}
    }
    let mut bytes = [0u8; 8];
    let buffer = BufferMut::new(&mut bytes);
    // SAFETY: `buffer` describes the 8 bytes `time_now` requires.
    unsafe { calimero_sys::time_now(buffer.as_arg()) };
    // SAFETY: WASI guarantees `time` is writable.
    unsafe { *time = u64::from_le_bytes(bytes) };
    SUCCESS
}

/// `fd_close`: there are no files.
#[unsafe(no_mangle)]
pub extern "C" fn __calimero_wasi_fd_close(_fd: u32) -> i32 {
    BADF
}

/// `fd_fdstat_get`: there are no files.
#[unsafe(no_mangle)]
pub extern "C" fn __calimero_wasi_fd_fdstat_get(_fd: u32, _stat: *mut u8) -> i32 {
    BADF
}

/// `fd_seek`: there are no files.
#[unsafe(no_mangle)]
pub extern "C" fn __calimero_wasi_fd_seek(
    _fd: u32,
    _offset: i64,
    _whence: u32,
    _new: *mut u64,
) -> i32 {
    BADF
}

#[repr(C)]
pub struct IoVec {
    buf: *const u8,
    len: usize,
}

/// `fd_write`: stdout and stderr become log lines; other descriptors do not exist.
#[unsafe(no_mangle)]
pub extern "C" fn __calimero_wasi_fd_write(
    fd: u32,
    iovs: *const IoVec,
    count: usize,
    written: *mut usize,
) -> i32 {
    if fd != 1 && fd != 2 {
        return BADF;
    }
    let mut text = Vec::new();
    // SAFETY: WASI guarantees `iovs` names `count` descriptors of readable buffers.
    for iov in unsafe { core::slice::from_raw_parts(iovs, count) } {
        // SAFETY: as above.
        text.extend_from_slice(unsafe { core::slice::from_raw_parts(iov.buf, iov.len) });
    }
    let line = String::from_utf8_lossy(&text);
    let line = line.trim_end_matches('\n');
    if !line.is_empty() {
        let buffer = Buffer::new(line.as_bytes());
        // SAFETY: `buffer` describes `line`.
        unsafe { calimero_sys::log_utf8(buffer.as_arg()) };
    }
    // SAFETY: WASI guarantees `written` is writable.
    unsafe { *written = text.len() };
    SUCCESS
}

/// `proc_exit`: the call ends with a trap.
#[unsafe(no_mangle)]
pub extern "C" fn __calimero_wasi_proc_exit(_code: u32) -> ! {
    core::arch::wasm32::unreachable()
}
