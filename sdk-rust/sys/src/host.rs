//! The native test host: an in-memory implementation of the host ABI for `cargo test`.
//!
//! A [`TestHost`] plays the node for one context: it owns committed storage, the identities the
//! app sees, a deterministic clock and RNG. [`TestHost::execute`] runs one call the way the node
//! does: fresh registers, the given input, writes staged and applied only if the call returned Ok
//! and called `commit`. Several hosts may exist at once (one per replica); each call makes its host
//! the current one for the running thread.
//!
//! Host functions are reached through [`raw`], which has the same signatures as the `wasm32`
//! imports; pointers there are native addresses of descriptors built by the SDK.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::Once;

/// Limits enforced by the test host; the same defaults as the node (`HOST-ABI.md` §6).
const MAX_LOGS: usize = 1024;
const MAX_LOG_SIZE: usize = 16 * 1024;
const MAX_EVENTS: usize = 100;
const MAX_EVENT_KIND: usize = 100;
const MAX_EVENT_DATA: usize = 16 * 1024;
const MAX_HANDLER_NAME: usize = 256;
const MAX_RETURN: usize = 16 * 1024 * 1024;
const MAX_VALUE: usize = 10 * 1024 * 1024;
const MAX_ARTIFACT: usize = 16 * 1024 * 1024;
const MAX_WRITES: usize = 100_000;
const MAX_REGISTERS: usize = 100;

/// An event as the host recorded it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmittedEvent {
    pub kind: String,
    pub data: Vec<u8>,
    pub handler: Option<String>,
}

/// Why a call trapped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Trap {
    /// The guest panicked (`panic_utf8`, `panic`, or a Rust panic in native app code).
    GuestPanic {
        message: String,
        file: String,
        line: u32,
        column: u32,
    },
    /// A host function refused the call (bad register, limit exceeded, second commit, ...).
    HostError(String),
}

impl std::fmt::Display for Trap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Trap::GuestPanic {
                message,
                file,
                line,
                column,
            } => {
                write!(f, "guest panicked: {message} at {file}:{line}:{column}")
            }
            Trap::HostError(message) => write!(f, "host error: {message}"),
        }
    }
}

/// Everything one call produced.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// `None` if the method never called `value_return`.
    pub returns: Option<Result<Vec<u8>, Vec<u8>>>,
    pub logs: Vec<String>,
    pub events: Vec<EmittedEvent>,
    /// Set if the call committed.
    pub root_hash: Option<[u8; 32]>,
    pub artifact: Vec<u8>,
    pub trap: Option<Trap>,
    /// Whether the staged writes were applied to the host's storage.
    pub persisted: bool,
}

impl Outcome {
    /// True if the call neither trapped nor returned an app error.
    pub fn is_ok(&self) -> bool {
        self.trap.is_none() && !matches!(self.returns, Some(Err(_)))
    }
}

#[derive(Default)]
struct Execution {
    input: Vec<u8>,
    registers: HashMap<u64, Vec<u8>>,
    staged: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    writes: usize,
    returns: Option<Result<Vec<u8>, Vec<u8>>>,
    logs: Vec<String>,
    events: Vec<EmittedEvent>,
    commit: Option<([u8; 32], Vec<u8>)>,
}

struct HostState {
    context_id: [u8; 32],
    account_id: [u8; 32],
    device_id: [u8; 32],
    storage: BTreeMap<Vec<u8>, Vec<u8>>,
    private_storage: BTreeMap<Vec<u8>, Vec<u8>>,
    clock_ns: u64,
    clock_step_ns: u64,
    rng: u64,
    execution: Option<Execution>,
}

/// An in-memory node for one context, for tests.
#[derive(Clone)]
pub struct TestHost {
    state: Rc<RefCell<HostState>>,
}

thread_local! {
    static CURRENT: RefCell<Option<Rc<RefCell<HostState>>>> = const { RefCell::new(None) };
    static CAPTURING: Cell<bool> = const { Cell::new(false) };
    static LAST_PANIC: RefCell<Option<Trap>> = const { RefCell::new(None) };
}

/// Payload of a host-raised trap, so that it can be told apart from a guest panic.
struct HostTrap(String);

static HOOK: Once = Once::new();

fn install_panic_hook() {
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !CAPTURING.with(Cell::get) {
                return previous(info);
            }
            let trap = if let Some(HostTrap(message)) = info.payload().downcast_ref::<HostTrap>() {
                Trap::HostError(message.clone())
            } else if let Some(trap) = info.payload().downcast_ref::<Trap>() {
                trap.clone()
            } else {
                let message = if let Some(s) = info.payload().downcast_ref::<&str>() {
                    (*s).to_owned()
                } else if let Some(s) = info.payload().downcast_ref::<String>() {
                    s.clone()
                } else {
                    "explicit panic".to_owned()
                };
                let (file, line, column) = info
                    .location()
                    .map(|l| (l.file().to_owned(), l.line(), l.column()))
                    .unwrap_or_default();
                Trap::GuestPanic {
                    message,
                    file,
                    line,
                    column,
                }
            };
            LAST_PANIC.with(|p| *p.borrow_mut() = Some(trap));
        }));
    });
}

impl TestHost {
    /// A host for context `context_id`, whose member (account and device) is `member`.
    pub fn new(context_id: [u8; 32], member: [u8; 32]) -> Self {
        let seed = member.iter().fold(0x9e37_79b9_7f4a_7c15_u64, |acc, b| {
            (acc ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
        });
        Self {
            state: Rc::new(RefCell::new(HostState {
                context_id,
                account_id: member,
                device_id: member,
                storage: BTreeMap::new(),
                private_storage: BTreeMap::new(),
                clock_ns: 1_700_000_000_000_000_000,
                clock_step_ns: 1_000,
                rng: seed | 1,
                execution: None,
            })),
        }
    }

    /// The context id the app sees.
    pub fn context_id(&self) -> [u8; 32] {
        self.state.borrow().context_id
    }

    /// The account calls run as.
    pub fn account_id(&self) -> [u8; 32] {
        self.state.borrow().account_id
    }

    /// The device (member public key) the app sees.
    pub fn device_id(&self) -> [u8; 32] {
        self.state.borrow().device_id
    }

    /// Sets the account calls run as.
    pub fn set_account_id(&self, account: [u8; 32]) {
        self.state.borrow_mut().account_id = account;
    }

    /// Sets the device (member public key) the app sees.
    pub fn set_device_id(&self, device: [u8; 32]) {
        self.state.borrow_mut().device_id = device;
    }

    /// Sets the context id the app sees.
    pub fn set_context_id(&self, context: [u8; 32]) {
        self.state.borrow_mut().context_id = context;
    }

    /// Sets the clock (Unix ns) and how far it moves on each `time_now` call.
    pub fn set_clock(&self, now_ns: u64, step_ns: u64) {
        let mut state = self.state.borrow_mut();
        state.clock_ns = now_ns;
        state.clock_step_ns = step_ns;
    }

    /// The committed storage: 32-byte keys to values.
    pub fn storage(&self) -> BTreeMap<Vec<u8>, Vec<u8>> {
        self.state.borrow().storage.clone()
    }

    /// This node's private storage (`#[app::private]` values): keys to values.
    pub fn private_storage(&self) -> BTreeMap<Vec<u8>, Vec<u8>> {
        self.state.borrow().private_storage.clone()
    }

    /// Replaces the committed storage (a snapshot from another replica).
    pub fn load_snapshot(&self, snapshot: BTreeMap<Vec<u8>, Vec<u8>>) {
        self.state.borrow_mut().storage = snapshot;
    }

    /// [`TestHost::execute`] with `account` as the account the call runs as, the way the node
    /// applies a peer's delta: as its author.
    pub fn execute_as(&self, account: [u8; 32], input: &[u8], call: impl FnOnce()) -> Outcome {
        let own = std::mem::replace(&mut self.state.borrow_mut().account_id, account);
        let outcome = self.execute(input, call);
        self.state.borrow_mut().account_id = own;
        outcome
    }

    /// Runs `call` as one execution with `input`, the way the node does.
    pub fn execute(&self, input: &[u8], call: impl FnOnce()) -> Outcome {
        install_panic_hook();
        self.state.borrow_mut().execution = Some(Execution {
            input: input.to_vec(),
            ..Execution::default()
        });
        let previous = CURRENT.with(|c| c.borrow_mut().replace(Rc::clone(&self.state)));
        CAPTURING.with(|c| c.set(true));
        let result = panic::catch_unwind(AssertUnwindSafe(call));
        CAPTURING.with(|c| c.set(false));
        CURRENT.with(|c| *c.borrow_mut() = previous);

        let trap =
            match result {
                Ok(()) => None,
                Err(_) => Some(LAST_PANIC.with(|p| p.borrow_mut().take()).unwrap_or(
                    Trap::HostError("the call unwound without a recorded panic".to_owned()),
                )),
            };

        let mut state = self.state.borrow_mut();
        let execution = state.execution.take().unwrap_or_default();
        let mut outcome = Outcome {
            returns: execution.returns,
            logs: execution.logs,
            events: execution.events,
            root_hash: execution.commit.as_ref().map(|(root, _)| *root),
            artifact: execution
                .commit
                .map(|(_, artifact)| artifact)
                .unwrap_or_default(),
            trap,
            persisted: false,
        };
        if outcome.is_ok() && outcome.root_hash.is_some() {
            for (key, value) in execution.staged {
                match value {
                    Some(value) => state.storage.insert(key, value),
                    None => state.storage.remove(&key),
                };
            }
            outcome.persisted = true;
        }
        outcome
    }
}

fn with_state<R>(f: impl FnOnce(&mut HostState) -> R) -> R {
    CURRENT.with(|current| {
        let current = current.borrow();
        let Some(state) = current.as_ref() else {
            panic::panic_any(HostTrap(
                "no test host is running: call host functions inside TestHost::execute".to_owned(),
            ))
        };
        let mut state = state.borrow_mut();
        f(&mut state)
    })
}

fn with_execution<R>(f: impl FnOnce(&mut Execution, &mut HostState) -> R) -> R {
    with_state(|state| {
        let mut execution = state.execution.take().unwrap_or_default();
        let result = f(&mut execution, state);
        state.execution = Some(execution);
        result
    })
}

fn fail(message: impl Into<String>) -> ! {
    panic::panic_any(HostTrap(message.into()))
}

/// The host functions, with the signatures of the `wasm32` imports.
///
/// # Safety
/// Every `u64` argument that names a descriptor must be the address of a live descriptor of the
/// documented type whose buffers are valid for the stated lengths, as the SDK builds them.
/// That one contract covers every function here, so they do not repeat it.
#[allow(clippy::missing_safety_doc)]
pub mod raw {
    use super::*;
    use crate::{Buffer, BufferMut, Event, Location, ValueReturn, XCall};

    unsafe fn bytes<'a>(buffer: &Buffer) -> &'a [u8] {
        if buffer.len == 0 {
            return &[];
        }
        // SAFETY: the caller guarantees that the descriptor names `len` readable bytes.
        unsafe { std::slice::from_raw_parts(buffer.ptr as usize as *const u8, buffer.len as usize) }
    }

    unsafe fn buffer_at<'a>(address: u64) -> &'a [u8] {
        // SAFETY: the caller guarantees `address` points at a `Buffer` descriptor.
        unsafe { bytes(&*(address as usize as *const Buffer)) }
    }

    unsafe fn buffer_mut_at<'a>(address: u64) -> &'a mut [u8] {
        // SAFETY: the caller guarantees `address` points at a `BufferMut` naming writable bytes.
        unsafe {
            let buffer = &*(address as usize as *const BufferMut);
            if buffer.len == 0 {
                return &mut [];
            }
            std::slice::from_raw_parts_mut(buffer.ptr as usize as *mut u8, buffer.len as usize)
        }
    }

    fn utf8(bytes: &[u8], what: &str) -> String {
        match std::str::from_utf8(bytes) {
            Ok(s) => s.to_owned(),
            Err(_) => fail(format!("{what} is not valid UTF-8")),
        }
    }

    fn set_register(execution: &mut Execution, register_id: u64, value: Vec<u8>) {
        if !execution.registers.contains_key(&register_id)
            && execution.registers.len() >= MAX_REGISTERS
        {
            fail(format!("too many registers (at most {MAX_REGISTERS})"));
        }
        execution.registers.insert(register_id, value);
    }

    unsafe fn location(address: u64) -> (String, u32, u32) {
        // SAFETY: the caller guarantees `address` points at a `Location` descriptor.
        let location = unsafe { &*(address as usize as *const Location) };
        // SAFETY: as above, the file buffer is valid.
        let file = utf8(unsafe { bytes(&location.file) }, "panic location file");
        (file, location.line, location.column)
    }

    /// Traps with "explicit panic".
    pub unsafe fn panic(location: u64) -> ! {
        // SAFETY: forwarded caller contract.
        let (file, line, column) = unsafe { self::location(location) };
        panic::panic_any(Trap::GuestPanic {
            message: "explicit panic".to_owned(),
            file,
            line,
            column,
        })
    }

    /// Traps with the given message and location.
    pub unsafe fn panic_utf8(message: u64, location: u64) -> ! {
        // SAFETY: forwarded caller contract.
        let message = utf8(unsafe { buffer_at(message) }, "panic message");
        // SAFETY: forwarded caller contract.
        let (file, line, column) = unsafe { self::location(location) };
        panic::panic_any(Trap::GuestPanic {
            message,
            file,
            line,
            column,
        })
    }

    /// Copies the call's input into the register.
    pub unsafe fn input(register_id: u64) {
        with_execution(|execution, _| {
            let input = execution.input.clone();
            set_register(execution, register_id, input);
        })
    }

    /// Sets the call's result.
    pub unsafe fn value_return(value: u64) {
        // SAFETY: caller contract: a `ValueReturn` descriptor.
        let value = unsafe { &*(value as usize as *const ValueReturn) };
        // SAFETY: caller contract.
        let bytes = unsafe { bytes(&value.value) }.to_vec();
        if bytes.len() > MAX_RETURN {
            fail(format!(
                "return value of {} bytes exceeds the {MAX_RETURN}-byte limit",
                bytes.len()
            ));
        }
        let result = match value.tag {
            ValueReturn::OK => Ok(bytes),
            ValueReturn::ERR => Err(bytes),
            other => fail(format!(
                "value_return tag {other} is neither 0 (Ok) nor 1 (Err)"
            )),
        };
        with_execution(|execution, _| execution.returns = Some(result))
    }

    /// Appends a log line.
    pub unsafe fn log_utf8(message: u64) {
        // SAFETY: caller contract.
        let bytes = unsafe { buffer_at(message) };
        if bytes.len() > MAX_LOG_SIZE {
            fail(format!(
                "log line of {} bytes exceeds the {MAX_LOG_SIZE}-byte limit",
                bytes.len()
            ));
        }
        let line = utf8(bytes, "log line");
        with_execution(|execution, _| {
            if execution.logs.len() >= MAX_LOGS {
                fail(format!("more than {MAX_LOGS} log lines"));
            }
            execution.logs.push(line);
        })
    }

    unsafe fn record_event(event: u64, handler: Option<String>) {
        // SAFETY: caller contract: an `Event` descriptor.
        let event = unsafe { &*(event as usize as *const Event) };
        // SAFETY: caller contract.
        let kind = utf8(unsafe { bytes(&event.kind) }, "event kind");
        // SAFETY: caller contract.
        let data = unsafe { bytes(&event.data) }.to_vec();
        if kind.len() > MAX_EVENT_KIND {
            fail(format!(
                "event kind of {} bytes exceeds the {MAX_EVENT_KIND}-byte limit",
                kind.len()
            ));
        }
        if data.len() > MAX_EVENT_DATA {
            fail(format!(
                "event data of {} bytes exceeds the {MAX_EVENT_DATA}-byte limit",
                data.len()
            ));
        }
        with_execution(|execution, _| {
            if execution.events.len() >= MAX_EVENTS {
                fail(format!("more than {MAX_EVENTS} events"));
            }
            execution.events.push(EmittedEvent {
                kind,
                data,
                handler,
            });
        })
    }

    /// Appends an event.
    pub unsafe fn emit(event: u64) {
        // SAFETY: forwarded caller contract.
        unsafe { record_event(event, None) }
    }

    /// Appends an event with a handler peers run.
    pub unsafe fn emit_with_handler(event: u64, handler: u64) {
        let handler = if handler == 0 {
            None
        } else {
            // SAFETY: caller contract.
            let name = utf8(unsafe { buffer_at(handler) }, "handler name");
            if name.len() > MAX_HANDLER_NAME {
                fail(format!("handler name exceeds {MAX_HANDLER_NAME} bytes"));
            }
            Some(name)
        };
        // SAFETY: forwarded caller contract.
        unsafe { record_event(event, handler) }
    }

    /// Records the state root and the delta artifact; a second call traps.
    pub unsafe fn commit(root_hash: u64, artifact: u64) {
        // SAFETY: caller contract.
        let root = unsafe { buffer_at(root_hash) };
        let Ok(root) = <[u8; 32]>::try_from(root) else {
            fail(format!(
                "commit: the root hash must be 32 bytes, got {}",
                root.len()
            ))
        };
        // SAFETY: caller contract.
        let artifact = unsafe { buffer_at(artifact) }.to_vec();
        if artifact.len() > MAX_ARTIFACT {
            fail(format!(
                "artifact of {} bytes exceeds the {MAX_ARTIFACT}-byte limit",
                artifact.len()
            ));
        }
        with_execution(|execution, _| {
            if execution.commit.is_some() {
                fail("commit called twice in one execution");
            }
            execution.commit = Some((root, artifact));
        })
    }

    /// Length of a register, or `u64::MAX` if it does not exist.
    pub unsafe fn register_len(register_id: u64) -> u64 {
        with_execution(|execution, _| {
            execution
                .registers
                .get(&register_id)
                .map_or(u64::MAX, |r| r.len() as u64)
        })
    }

    /// Copies a register into the buffer if the lengths match exactly.
    pub unsafe fn read_register(register_id: u64, buffer: u64) -> u32 {
        // SAFETY: caller contract.
        let target = unsafe { buffer_mut_at(buffer) };
        with_execution(|execution, _| {
            let Some(value) = execution.registers.get(&register_id) else {
                fail(format!(
                    "read_register: register {register_id} does not exist"
                ))
            };
            if value.len() != target.len() {
                return 0;
            }
            target.copy_from_slice(value);
            1
        })
    }

    fn identity(register_id: u64, pick: fn(&HostState) -> [u8; 32]) {
        with_execution(|execution, state| {
            let id = pick(state).to_vec();
            set_register(execution, register_id, id);
        })
    }

    /// Writes the context id to the register.
    pub unsafe fn context_id(register_id: u64) {
        identity(register_id, |s| s.context_id)
    }

    /// Writes the account id to the register.
    pub unsafe fn account_id(register_id: u64) {
        identity(register_id, |s| s.account_id)
    }

    /// Writes the device id to the register.
    pub unsafe fn device_id(register_id: u64) {
        identity(register_id, |s| s.device_id)
    }

    /// Older name of [`account_id`].
    pub unsafe fn executor_id(register_id: u64) {
        identity(register_id, |s| s.account_id)
    }

    /// The test host never dispatches cross-context calls: always 0.
    pub unsafe fn xcall_origin(_register_id: u64) -> u32 {
        0
    }

    /// Accepted and dropped: the test host has no other contexts.
    pub unsafe fn xcall(call: u64) {
        // SAFETY: caller contract: an `XCall` descriptor.
        let call = unsafe { &*(call as usize as *const XCall) };
        if call.context_id.len != 32 {
            fail("xcall: the context id must be 32 bytes");
        }
    }

    fn check_key(key: &[u8]) {
        if key.len() != 32 {
            fail(format!(
                "storage keys must be exactly 32 bytes, got {}",
                key.len()
            ));
        }
    }

    /// Reads a value into the register: 1 if found.
    pub unsafe fn storage_read(key: u64, register_id: u64) -> u32 {
        // SAFETY: caller contract.
        let key = unsafe { buffer_at(key) };
        check_key(key);
        with_execution(|execution, state| {
            let value = match execution.staged.get(key) {
                Some(staged) => staged.clone(),
                None => state.storage.get(key).cloned(),
            };
            match value {
                Some(value) => {
                    set_register(execution, register_id, value);
                    1
                }
                None => 0,
            }
        })
    }

    /// Writes a value: 1 and the old value in the register if one was replaced.
    pub unsafe fn storage_write(key: u64, value: u64, register_id: u64) -> u32 {
        // SAFETY: caller contract.
        let key = unsafe { buffer_at(key) };
        // SAFETY: caller contract.
        let value = unsafe { buffer_at(value) };
        check_key(key);
        if value.len() > MAX_VALUE {
            fail(format!(
                "storage value of {} bytes exceeds the {MAX_VALUE}-byte limit",
                value.len()
            ));
        }
        with_execution(|execution, state| {
            execution.writes += 1;
            if execution.writes > MAX_WRITES {
                fail(format!("more than {MAX_WRITES} storage writes in one call"));
            }
            let old = match execution.staged.insert(key.to_vec(), Some(value.to_vec())) {
                Some(staged) => staged,
                None => state.storage.get(key).cloned(),
            };
            match old {
                Some(old) => {
                    set_register(execution, register_id, old);
                    1
                }
                None => 0,
            }
        })
    }

    /// Removes a value: 1 and the old value in the register if it existed.
    pub unsafe fn storage_remove(key: u64, register_id: u64) -> u32 {
        // SAFETY: caller contract.
        let key = unsafe { buffer_at(key) };
        check_key(key);
        with_execution(|execution, state| {
            let old = match execution.staged.insert(key.to_vec(), None) {
                Some(staged) => staged,
                None => state.storage.get(key).cloned(),
            };
            match old {
                Some(old) => {
                    set_register(execution, register_id, old);
                    1
                }
                None => 0,
            }
        })
    }

    /// Node-local index marker: a no-op here.
    pub unsafe fn storage_index_meta_clear(_key: u64) -> u32 {
        1
    }

    /// Reads node-local private storage.
    pub unsafe fn private_storage_read(key: u64, register_id: u64) -> u32 {
        // SAFETY: caller contract.
        let key = unsafe { buffer_at(key) }.to_vec();
        with_execution(
            |execution, state| match state.private_storage.get(&key).cloned() {
                Some(value) => {
                    set_register(execution, register_id, value);
                    1
                }
                None => 0,
            },
        )
    }

    /// Writes node-local private storage (not staged, never replicated).
    pub unsafe fn private_storage_write(key: u64, value: u64) -> u32 {
        // SAFETY: caller contract.
        let key = unsafe { buffer_at(key) }.to_vec();
        // SAFETY: caller contract.
        let value = unsafe { buffer_at(value) }.to_vec();
        with_state(|state| state.private_storage.insert(key, value));
        1
    }

    /// Removes from node-local private storage.
    pub unsafe fn private_storage_remove(key: u64, register_id: u64) -> u32 {
        // SAFETY: caller contract.
        let key = unsafe { buffer_at(key) }.to_vec();
        with_execution(
            |execution, state| match state.private_storage.remove(&key) {
                Some(old) => {
                    set_register(execution, register_id, old);
                    1
                }
                None => 0,
            },
        )
    }

    /// Writes the current Unix time in ns (u64 LE) into an 8-byte buffer.
    pub unsafe fn time_now(buffer: u64) {
        // SAFETY: caller contract.
        let target = unsafe { buffer_mut_at(buffer) };
        if target.len() != 8 {
            fail(format!(
                "time_now needs an 8-byte buffer, got {}",
                target.len()
            ));
        }
        let now = with_state(|state| {
            let now = state.clock_ns;
            state.clock_ns = state.clock_ns.saturating_add(state.clock_step_ns);
            now
        });
        target.copy_from_slice(&now.to_le_bytes());
    }

    /// Fills the buffer from the host's deterministic RNG (xorshift64*).
    pub unsafe fn random_bytes(buffer: u64) {
        // SAFETY: caller contract.
        let target = unsafe { buffer_mut_at(buffer) };
        with_state(|state| {
            for chunk in target.chunks_mut(8) {
                state.rng ^= state.rng >> 12;
                state.rng ^= state.rng << 25;
                state.rng ^= state.rng >> 27;
                let word = state.rng.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes();
                chunk.copy_from_slice(&word[..chunk.len()]);
            }
        })
    }

    /// Not available on the test host: traps, so a test never trusts a fake verification.
    pub unsafe fn ed25519_verify(_signature: u64, _public_key: u64, _message: u64) -> u32 {
        fail("ed25519_verify is not available on the native test host")
    }

    /// Blobs need a node: trap.
    pub unsafe fn blob_create() -> u64 {
        fail("blobs are not supported by the native test host")
    }
    /// Blobs need a node: trap.
    pub unsafe fn blob_write(_fd: u64, _data: u64) -> u64 {
        fail("blobs are not supported by the native test host")
    }
    /// Blobs need a node: trap.
    pub unsafe fn blob_close(_fd: u64, _blob_id: u64) -> u32 {
        fail("blobs are not supported by the native test host")
    }
    /// Blobs need a node: trap.
    pub unsafe fn blob_open(_blob_id: u64) -> u64 {
        fail("blobs are not supported by the native test host")
    }
    /// Blobs need a node: trap.
    pub unsafe fn blob_read(_fd: u64, _buffer: u64) -> u64 {
        fail("blobs are not supported by the native test host")
    }
    /// Blobs need a node: trap.
    pub unsafe fn blob_announce_to_context(_blob_id: u64, _context_id: u64) -> u32 {
        fail("blobs are not supported by the native test host")
    }
}
