//! Descriptor layouts shared by guest and host: little-endian, 8-byte aligned (`HOST-ABI.md` §1).

/// A read-only byte range in guest memory: `ptr: u64, len: u64` (16 bytes).
#[repr(C, align(8))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Buffer {
    pub ptr: u64,
    pub len: u64,
}

impl Buffer {
    /// Describes `bytes` (which must outlive every use of the descriptor).
    pub fn new(bytes: &[u8]) -> Self {
        Self {
            ptr: bytes.as_ptr() as usize as u64,
            len: bytes.len() as u64,
        }
    }

    /// The empty buffer (pointer 0).
    pub const fn empty() -> Self {
        Self { ptr: 0, len: 0 }
    }

    /// The address of this descriptor, as the host functions take it.
    pub fn as_arg(&self) -> u64 {
        self as *const Self as usize as u64
    }
}

/// A writable byte range in guest memory; same layout as [`Buffer`].
#[repr(C, align(8))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BufferMut {
    pub ptr: u64,
    pub len: u64,
}

impl BufferMut {
    /// Describes `bytes` for the host to fill.
    pub fn new(bytes: &mut [u8]) -> Self {
        Self {
            ptr: bytes.as_mut_ptr() as usize as u64,
            len: bytes.len() as u64,
        }
    }

    /// The address of this descriptor.
    pub fn as_arg(&self) -> u64 {
        self as *const Self as usize as u64
    }
}

/// An app event: `kind` (UTF-8) and `data` (32 bytes).
#[repr(C, align(8))]
#[derive(Clone, Copy, Debug, Default)]
pub struct Event {
    pub kind: Buffer,
    pub data: Buffer,
}

impl Event {
    /// The address of this descriptor.
    pub fn as_arg(&self) -> u64 {
        self as *const Self as usize as u64
    }
}

/// A source location for panics: `file` (UTF-8), `line`, `column` (24 bytes).
#[repr(C, align(8))]
#[derive(Clone, Copy, Debug, Default)]
pub struct Location {
    pub file: Buffer,
    pub line: u32,
    pub column: u32,
}

impl Location {
    /// The address of this descriptor.
    pub fn as_arg(&self) -> u64 {
        self as *const Self as usize as u64
    }
}

/// A method result: `tag` (0 = Ok, 1 = Err) and the JSON bytes (24 bytes).
#[repr(C, align(8))]
#[derive(Clone, Copy, Debug, Default)]
pub struct ValueReturn {
    pub tag: u64,
    pub value: Buffer,
}

impl ValueReturn {
    /// Tag of a successful result.
    pub const OK: u64 = 0;
    /// Tag of an app error.
    pub const ERR: u64 = 1;

    /// The address of this descriptor.
    pub fn as_arg(&self) -> u64 {
        self as *const Self as usize as u64
    }
}

/// A cross-context call request (48 bytes); `context_id` must be exactly 32 bytes.
#[repr(C, align(8))]
#[derive(Clone, Copy, Debug, Default)]
pub struct XCall {
    pub context_id: Buffer,
    pub function: Buffer,
    pub params: Buffer,
}

impl XCall {
    /// The address of this descriptor.
    pub fn as_arg(&self) -> u64 {
        self as *const Self as usize as u64
    }
}

const _: () = {
    assert!(core::mem::size_of::<Buffer>() == 16);
    assert!(core::mem::size_of::<BufferMut>() == 16);
    assert!(core::mem::size_of::<Event>() == 32);
    assert!(core::mem::size_of::<Location>() == 24);
    assert!(core::mem::size_of::<ValueReturn>() == 24);
    assert!(core::mem::size_of::<XCall>() == 48);
};
