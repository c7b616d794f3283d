//! The host functions a node provides to app modules (`HOST-ABI.md` §3): the one table the
//! runtime, the toolchain and the tests all read.

/// A WebAssembly value type used by the host ABI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValType {
    I32,
    I64,
}

use ValType::{I32, I64};

/// One import of module `env`.
#[derive(Clone, Copy, Debug)]
pub struct HostImport {
    pub name: &'static str,
    pub params: &'static [ValType],
    pub results: &'static [ValType],
    /// In the core set every node implements (what the upstream kv-store imports).
    pub core: bool,
}

const fn import(
    name: &'static str,
    params: &'static [ValType],
    results: &'static [ValType],
    core: bool,
) -> HostImport {
    HostImport {
        name,
        params,
        results,
        core,
    }
}

/// Every import this project's node provides.
pub const IMPORTS: &[HostImport] = &[
    import("input", &[I64], &[], true),
    import("register_len", &[I64], &[I64], true),
    import("read_register", &[I64, I64], &[I32], true),
    import("value_return", &[I64], &[], true),
    import("log_utf8", &[I64], &[], true),
    import("panic_utf8", &[I64, I64], &[], true),
    import("panic", &[I64], &[], true),
    import("emit", &[I64], &[], true),
    import("emit_with_handler", &[I64, I64], &[], true),
    import("storage_read", &[I64, I64], &[I32], true),
    import("storage_write", &[I64, I64, I64], &[I32], true),
    import("storage_remove", &[I64, I64], &[I32], true),
    import("commit", &[I64, I64], &[], true),
    import("context_id", &[I64], &[], true),
    import("account_id", &[I64], &[], true),
    import("device_id", &[I64], &[], true),
    import("time_now", &[I64], &[], true),
    import("random_bytes", &[I64], &[], true),
    import("ed25519_verify", &[I64, I64, I64], &[I32], true),
    import("storage_index_meta_clear", &[I64], &[I32], true),
    import("executor_id", &[I64], &[], false),
    import("xcall_origin", &[I64], &[I32], false),
    import("xcall", &[I64], &[], false),
    import("private_storage_read", &[I64, I64], &[I32], false),
    import("private_storage_write", &[I64, I64], &[I32], false),
    import("private_storage_remove", &[I64, I64], &[I32], false),
];

/// The import called `name`, if the node provides it.
pub fn find(name: &str) -> Option<&'static HostImport> {
    IMPORTS.iter().find(|i| i.name == name)
}

/// Checks a method name the way the node does: 1–256 bytes of `[A-Za-z0-9_]`.
pub fn valid_method_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 256
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}
