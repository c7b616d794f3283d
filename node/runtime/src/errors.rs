//! Execution errors, serialized as `{"type": ..., "data": ...}` (`HOST-ABI.md` §7).

use std::fmt;

use serde::Serialize;

/// Where a panic happened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Location {
    pub file: String,
    pub line: u32,
    pub column: u32,
}

/// Who panicked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum PanicContext {
    Guest,
    Host,
}

/// A host function refused the call; the call traps with this.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "type", content = "data")]
pub enum HostError {
    #[error("{}", panic_display(*context, message, location.as_ref()))]
    Panic {
        context: PanicContext,
        message: String,
        location: Option<Location>,
    },
    #[error("invalid memory access: the guest passed a pointer or length outside its memory")]
    InvalidMemoryAccess,
    #[error("register {id} does not exist")]
    InvalidRegisterId { id: u64 },
    #[error("{what} is not valid UTF-8")]
    BadUtf8 { what: String },
    #[error("{what} is {size} bytes; the limit is {limit}")]
    TooLarge { what: String, size: u64, limit: u64 },
    #[error("too many {what}: the limit is {limit} per call")]
    TooMany { what: String, limit: u64 },
    #[error("value_return got tag {tag}; it must be 0 (Ok) or 1 (Err)")]
    InvalidValueReturnTag { tag: u64 },
    #[error("commit was called twice in one execution")]
    CommitCalledTwice,
    #[error("commit needs a 32-byte root hash, got {size} bytes")]
    InvalidRootHash { size: u64 },
    #[error("time_now needs an 8-byte buffer, got {size} bytes")]
    InvalidTimeBuffer { size: u64 },
    #[error("ed25519_verify got a malformed public key")]
    InvalidPublicKey,
    #[error("xcall needs a 32-byte context id, got {size} bytes")]
    InvalidContextId { size: u64 },
    #[error("the module has no memory export called `memory`")]
    NoMemory,
    #[error(
        "the node could not read its storage ({message}); the call was stopped and nothing it did \
         was kept"
    )]
    StorageError { message: String },
    #[error("a state key must be 32 bytes (an entity id), got {size} bytes")]
    InvalidStorageKey { size: u64 },
    /// Host work used up the gas; reported as [`FunctionCallError::GasExhausted`].
    #[error("the call ran out of gas")]
    GasExhausted,
    /// The call's deadline passed; reported as [`FunctionCallError::DeadlineExceeded`].
    #[error("the call ran past its deadline")]
    DeadlineExceeded,
}

fn panic_display(context: PanicContext, message: &str, location: Option<&Location>) -> String {
    let who = match context {
        PanicContext::Guest => "guest",
        PanicContext::Host => "host",
    };
    match location {
        Some(l) => format!(
            "{who} panicked: {message} at {}:{}:{}",
            l.file, l.line, l.column
        ),
        None => format!("{who} panicked: {message}"),
    }
}

/// Why a method name was refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "type", content = "data")]
pub enum MethodResolutionError {
    #[error("method `{name}` not found: the module exports no such method")]
    MethodNotFound { name: String },
    #[error("export `{name}` is not a method: app methods take no parameters and return nothing")]
    InvalidSignature { name: String },
    #[error("method name is {length} bytes; the limit is {limit}")]
    MethodNameTooLong { length: u64, limit: u64 },
    #[error("method name `{name}` has a character outside [A-Za-z0-9_]")]
    InvalidMethodNameCharacter { name: String },
    #[error("method name is empty")]
    EmptyMethodName,
    #[error(
        "`{name}` is reserved for the node (names starting with `__calimero_`); it cannot be \
         called directly"
    )]
    ReservedMethod { name: String },
}

/// Everything an execution can fail with.
#[derive(Clone, Debug, PartialEq, Serialize, thiserror::Error)]
#[serde(tag = "type", content = "data")]
pub enum FunctionCallError {
    #[error("the module does not compile: {message}")]
    CompilationError { message: String },
    #[error("the module does not link: {message}")]
    LinkError { message: String },
    #[error("{0}")]
    MethodResolutionError(MethodResolutionError),
    #[error("the guest trapped: {message}")]
    WasmTrap { message: String },
    #[error("{0}")]
    HostError(HostError),
    /// The app returned `Err`: its error JSON.
    #[error("the method returned an error: {0}")]
    ExecutionError(serde_json::Value),
    #[error("the module is {size} bytes; the limit is {limit}")]
    ModuleSizeLimitExceeded { size: u64, limit: u64 },
    #[error("the module is not a valid app module: {message}")]
    ModuleValidationError { message: String },
    #[error("the call ran out of gas after {limit} units (an endless loop?)")]
    GasExhausted { limit: u64 },
    #[error(
        "the call ran longer than {limit_ms} ms and was stopped; nothing it did was kept \
         (raise `max_call_duration_ms` in the node's config if the method is meant to be slow)"
    )]
    DeadlineExceeded { limit_ms: u64 },
}

impl fmt::Display for PanicContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PanicContext::Guest => "Guest",
            PanicContext::Host => "Host",
        })
    }
}
