//! The host functions of module `env` (`HOST-ABI.md` §3) and the per-call state behind them.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use rand::RngCore;
use wasmer::{
    AsStoreRef, Function, FunctionEnv, FunctionEnvMut, Imports, Memory, MemoryView, RuntimeError,
    Store,
};

use crate::deadline::GasCell;
use crate::errors::{HostError, Location, PanicContext};
use crate::gas;
use crate::limits::Limits;
use crate::{Event, Storage, XCall};

/// What one call sees and produces; lives in the wasmer `FunctionEnv`.
pub(crate) struct HostState {
    pub memory: Option<Memory>,
    pub limits: Limits,
    pub input: Vec<u8>,
    pub context_id: [u8; 32],
    pub account_id: [u8; 32],
    pub device_id: [u8; 32],
    pub xcall_origin: Option<[u8; 32]>,
    pub storage: Arc<dyn Storage>,
    pub registers: HashMap<u64, Vec<u8>>,
    pub registers_size: u64,
    pub staged: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    pub private_staged: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    pub writes: u64,
    pub written_bytes: u64,
    pub returns: Option<Result<Vec<u8>, Vec<u8>>>,
    pub logs: Vec<String>,
    pub events: Vec<Event>,
    pub xcalls: Vec<XCall>,
    pub commit: Option<([u8; 32], Vec<u8>)>,
    /// The host error that made the call trap, if any.
    pub error: Option<HostError>,
    /// The instance's remaining gas, which host functions charge for their own work.
    pub gas: Option<GasCell>,
    /// Set by the watchdog when the call's deadline has passed.
    pub deadline_passed: Arc<AtomicBool>,
    /// Added to the wall clock `time_now` reports (see `Runtime::skew_clock`).
    pub clock_skew_ns: i64,
    /// The context's clock before the call (`Storage::clock_floor`).
    pub clock_floor: u64,
    /// The latest time `time_now` reported in this call.
    pub clock_last: u64,
    /// A fixed clock and random source for this call, if set.
    pub determinism: Option<crate::Determinism>,
    /// The seeded generator `random_bytes` draws from under `determinism`.
    pub rng: Option<rand::rngs::StdRng>,
}

impl HostState {
    /// Charges `amount` gas for host work; refuses once the deadline has passed.
    pub(crate) fn charge(&self, amount: u64) -> Result<(), HostError> {
        if self.deadline_passed.load(Ordering::Relaxed) {
            return Err(HostError::DeadlineExceeded);
        }
        match self.gas {
            Some(gas) if !gas.charge(amount) => Err(HostError::GasExhausted),
            _ => Ok(()),
        }
    }

    /// Forgets everything staged so far (a failed merge registration leaves nothing behind).
    pub(crate) fn discard_staged(&mut self) {
        self.registers.clear();
        self.registers_size = 0;
        self.staged.clear();
        self.private_staged.clear();
        self.writes = 0;
        self.written_bytes = 0;
        self.returns = None;
        self.logs.clear();
        self.events.clear();
        self.xcalls.clear();
        self.commit = None;
        self.error = None;
    }
}

type Env<'s> = FunctionEnvMut<'s, HostState>;
type HostResult<T> = Result<T, RuntimeError>;

fn trap(state: &mut HostState, error: HostError) -> RuntimeError {
    let message = error.to_string();
    state.error = Some(error);
    RuntimeError::new(message)
}

fn view<'v>(state: &HostState, store: &'v impl AsStoreRef) -> Result<MemoryView<'v>, HostError> {
    Ok(state
        .memory
        .as_ref()
        .ok_or(HostError::NoMemory)?
        .view(store))
}

/// Copies `len` guest bytes at `ptr` into the host, charging one gas unit per byte first.
fn read_bytes(
    state: &HostState,
    view: &MemoryView<'_>,
    ptr: u64,
    len: u64,
) -> Result<Vec<u8>, HostError> {
    let end = ptr.checked_add(len).ok_or(HostError::InvalidMemoryAccess)?;
    if end > view.data_size() {
        return Err(HostError::InvalidMemoryAccess);
    }
    state.charge(len.saturating_mul(gas::PER_BYTE))?;
    let mut bytes = vec![0u8; len as usize];
    view.read(ptr, &mut bytes)
        .map_err(|_| HostError::InvalidMemoryAccess)?;
    Ok(bytes)
}

fn read_u64s<const N: usize>(view: &MemoryView<'_>, ptr: u64) -> Result<[u64; N], HostError> {
    let end = ptr
        .checked_add(8 * N as u64)
        .ok_or(HostError::InvalidMemoryAccess)?;
    if end > view.data_size() {
        return Err(HostError::InvalidMemoryAccess);
    }
    let mut bytes = [0u8; 64];
    let bytes = &mut bytes[..8 * N];
    view.read(ptr, bytes)
        .map_err(|_| HostError::InvalidMemoryAccess)?;
    let mut words = [0u64; N];
    for (i, word) in words.iter_mut().enumerate() {
        *word = u64::from_le_bytes(bytes[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
    }
    Ok(words)
}

/// Reads the bytes a `Buffer` descriptor at `ptr` points at, refusing more than `limit` bytes
/// before copying any.
fn read_buffer(
    state: &HostState,
    view: &MemoryView<'_>,
    ptr: u64,
    what: &str,
    limit: u64,
) -> Result<Vec<u8>, HostError> {
    let [data, len] = read_u64s::<2>(view, ptr)?;
    check_size(what, len, limit)?;
    read_bytes(state, view, data, len)
}

/// Writes `bytes` into guest memory at `ptr`, charging one gas unit per byte first.
fn write_bytes(
    state: &HostState,
    view: &MemoryView<'_>,
    ptr: u64,
    bytes: &[u8],
) -> Result<(), HostError> {
    state.charge((bytes.len() as u64).saturating_mul(gas::PER_BYTE))?;
    view.write(ptr, bytes)
        .map_err(|_| HostError::InvalidMemoryAccess)
}

/// The `(ptr, len)` of a `BufferMut` descriptor, bounds-checked.
fn buffer_mut(view: &MemoryView<'_>, ptr: u64) -> Result<(u64, u64), HostError> {
    let [data, len] = read_u64s::<2>(view, ptr)?;
    let end = data
        .checked_add(len)
        .ok_or(HostError::InvalidMemoryAccess)?;
    if end > view.data_size() {
        return Err(HostError::InvalidMemoryAccess);
    }
    Ok((data, len))
}

fn utf8(bytes: Vec<u8>, what: &str) -> Result<String, HostError> {
    String::from_utf8(bytes).map_err(|_| HostError::BadUtf8 { what: what.into() })
}

fn check_size(what: &str, size: u64, limit: u64) -> Result<(), HostError> {
    if size > limit {
        return Err(HostError::TooLarge {
            what: what.into(),
            size,
            limit,
        });
    }
    Ok(())
}

fn set_register(state: &mut HostState, id: u64, value: Vec<u8>) -> Result<(), HostError> {
    state.charge((value.len() as u64).saturating_mul(gas::PER_BYTE))?;
    let limits = &state.limits;
    check_size("a register", value.len() as u64, limits.max_register_size)?;
    let previous = state.registers.get(&id).map(|r| r.len() as u64 + 8);
    if previous.is_none() && state.registers.len() as u64 >= limits.max_registers {
        return Err(HostError::TooMany {
            what: "registers".into(),
            limit: limits.max_registers,
        });
    }
    let size = state.registers_size - previous.unwrap_or(0) + value.len() as u64 + 8;
    check_size(
        "all registers together",
        size,
        limits.max_registers_capacity,
    )?;
    state.registers_size = size;
    state.registers.insert(id, value);
    Ok(())
}

fn location(state: &HostState, view: &MemoryView<'_>, ptr: u64) -> Result<Location, HostError> {
    let [file_ptr, file_len, line_column] = read_u64s::<3>(view, ptr)?;
    check_size(
        "a panic location's file name",
        file_len,
        state.limits.max_log_size,
    )?;
    let file = utf8(
        read_bytes(state, view, file_ptr, file_len)?,
        "the panic location's file",
    )?;
    Ok(Location {
        file,
        line: line_column as u32,
        column: (line_column >> 32) as u32,
    })
}

/// Runs `body` with the state and a memory view, after charging the cost of a host call; a
/// `HostError` traps the call.
fn with_view<T>(
    env: &mut Env<'_>,
    body: impl FnOnce(&mut HostState, &MemoryView<'_>) -> Result<T, HostError>,
) -> HostResult<T> {
    let (state, store) = env.data_and_store_mut();
    let result = state
        .charge(gas::HOST_CALL)
        .and_then(|()| view(state, &store))
        .and_then(|view| body(state, &view));
    result.map_err(|error| trap(state, error))
}

fn storage_value(
    state: &HostState,
    key: &[u8],
    private: bool,
) -> Result<Option<Vec<u8>>, HostError> {
    let staged = if private {
        &state.private_staged
    } else {
        &state.staged
    };
    if let Some(value) = staged.get(key) {
        return Ok(value.clone());
    }
    state.charge(gas::STORAGE_ACCESS)?;
    let committed = if private {
        state.storage.get_private(key)
    } else {
        state.storage.get(key)
    };
    committed.map_err(|error| HostError::StorageError {
        message: error.to_string(),
    })
}

/// Reads a storage key for a write or remove: at most the key size limit (checked before
/// copying), and exactly 32 bytes for state keys (`HOST-ABI.md` §5).
fn read_key(
    state: &HostState,
    view: &MemoryView<'_>,
    ptr: u64,
    private: bool,
) -> Result<Vec<u8>, HostError> {
    let key = read_buffer(
        state,
        view,
        ptr,
        "a storage key",
        state.limits.max_storage_key_size,
    )?;
    if !private && key.len() != 32 {
        return Err(HostError::InvalidStorageKey {
            size: key.len() as u64,
        });
    }
    Ok(key)
}

fn write_value(
    state: &mut HostState,
    key: Vec<u8>,
    value: Option<Vec<u8>>,
    private: bool,
) -> Result<Option<Vec<u8>>, HostError> {
    let limits = state.limits.clone();
    check_size(
        "a storage key",
        key.len() as u64,
        limits.max_storage_key_size,
    )?;
    let value_size = value.as_ref().map_or(0, |value| value.len() as u64);
    check_size("a storage value", value_size, limits.max_storage_value_size)?;
    // Removes count like writes: each stages its key in host memory until the call ends.
    state.writes += 1;
    if state.writes > limits.max_storage_writes {
        return Err(HostError::TooMany {
            what: "storage writes and removes".into(),
            limit: limits.max_storage_writes,
        });
    }
    state.written_bytes += key.len() as u64 + value_size;
    check_size(
        "the bytes written or removed by this call",
        state.written_bytes,
        limits.max_storage_write_bytes,
    )?;
    let previous = storage_value(state, &key, private)?;
    let staged = if private {
        &mut state.private_staged
    } else {
        &mut state.staged
    };
    staged.insert(key, value);
    Ok(previous)
}

fn identity(env: &mut Env<'_>, register: u64, pick: fn(&HostState) -> [u8; 32]) -> HostResult<()> {
    with_view(env, |state, _| {
        let id = pick(state).to_vec();
        set_register(state, register, id)
    })
}

fn record_event(env: &mut Env<'_>, event: u64, handler: Option<u64>) -> HostResult<()> {
    with_view(env, |state, view| {
        let [kind_ptr, kind_len, data_ptr, data_len] = read_u64s::<4>(view, event)?;
        let limits = state.limits.clone();
        check_size("an event kind", kind_len, limits.max_event_kind_size)?;
        check_size("an event's data", data_len, limits.max_event_data_size)?;
        let kind = utf8(
            read_bytes(state, view, kind_ptr, kind_len)?,
            "an event kind",
        )?;
        let data = read_bytes(state, view, data_ptr, data_len)?;
        let handler = match handler {
            Some(ptr) if ptr != 0 => {
                let [name_ptr, name_len] = read_u64s::<2>(view, ptr)?;
                check_size(
                    "an event handler name",
                    name_len,
                    limits.max_method_name_length,
                )?;
                Some(utf8(
                    read_bytes(state, view, name_ptr, name_len)?,
                    "an event handler name",
                )?)
            }
            _ => None,
        };
        if state.events.len() as u64 >= limits.max_events {
            return Err(HostError::TooMany {
                what: "events".into(),
                limit: limits.max_events,
            });
        }
        state.events.push(Event {
            kind,
            data,
            handler,
        });
        Ok(())
    })
}

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Builds module `env` for one call.
pub(crate) fn imports(store: &mut Store, env: &FunctionEnv<HostState>) -> Imports {
    let mut imports = Imports::new();
    let mut define = |name: &str, function: Function| imports.define("env", name, function);

    define(
        "panic",
        Function::new_typed_with_env(store, env, |mut env: Env, loc: u64| -> HostResult<()> {
            with_view(&mut env, |state, view| {
                let location = location(state, view, loc)?;
                Err(HostError::Panic {
                    context: PanicContext::Guest,
                    message: "explicit panic".into(),
                    location: Some(location),
                })
            })
        }),
    );
    define(
        "panic_utf8",
        Function::new_typed_with_env(
            store,
            env,
            |mut env: Env, msg: u64, loc: u64| -> HostResult<()> {
                with_view(&mut env, |state, view| {
                    let limit = state.limits.max_log_size;
                    let message = read_buffer(state, view, msg, "a panic message", limit)?;
                    let message = String::from_utf8_lossy(&message).into_owned();
                    let location = location(state, view, loc)?;
                    Err(HostError::Panic {
                        context: PanicContext::Guest,
                        message,
                        location: Some(location),
                    })
                })
            },
        ),
    );
    define(
        "register_len",
        Function::new_typed_with_env(
            store,
            env,
            |mut env: Env, register: u64| -> HostResult<u64> {
                with_view(&mut env, |state, _| {
                    Ok(state
                        .registers
                        .get(&register)
                        .map_or(u64::MAX, |r| r.len() as u64))
                })
            },
        ),
    );
    define(
        "read_register",
        Function::new_typed_with_env(
            store,
            env,
            |mut env: Env, register: u64, buffer: u64| -> HostResult<u32> {
                with_view(&mut env, |state, view| {
                    let value = state
                        .registers
                        .get(&register)
                        .ok_or(HostError::InvalidRegisterId { id: register })?;
                    let (ptr, len) = buffer_mut(view, buffer)?;
                    if len != value.len() as u64 {
                        return Ok(0);
                    }
                    write_bytes(state, view, ptr, value)?;
                    Ok(1)
                })
            },
        ),
    );
    define(
        "input",
        Function::new_typed_with_env(
            store,
            env,
            |mut env: Env, register: u64| -> HostResult<()> {
                with_view(&mut env, |state, _| {
                    let input = state.input.clone();
                    set_register(state, register, input)
                })
            },
        ),
    );
    define(
        "value_return",
        Function::new_typed_with_env(store, env, |mut env: Env, value: u64| -> HostResult<()> {
            with_view(&mut env, |state, view| {
                let [tag, ptr, len] = read_u64s::<3>(view, value)?;
                check_size("the return value", len, state.limits.max_return_value_size)?;
                let bytes = read_bytes(state, view, ptr, len)?;
                state.returns = Some(match tag {
                    0 => Ok(bytes),
                    1 => Err(bytes),
                    tag => return Err(HostError::InvalidValueReturnTag { tag }),
                });
                Ok(())
            })
        }),
    );
    define(
        "log_utf8",
        Function::new_typed_with_env(store, env, |mut env: Env, message: u64| -> HostResult<()> {
            with_view(&mut env, |state, view| {
                if state.logs.len() as u64 >= state.limits.max_logs {
                    return Err(HostError::TooMany {
                        what: "log lines".into(),
                        limit: state.limits.max_logs,
                    });
                }
                let limit = state.limits.max_log_size;
                let line = read_buffer(state, view, message, "a log line", limit)?;
                let line = utf8(line, "a log line")?;
                state.logs.push(line);
                Ok(())
            })
        }),
    );
    define(
        "emit",
        Function::new_typed_with_env(store, env, |mut env: Env, event: u64| -> HostResult<()> {
            record_event(&mut env, event, None)
        }),
    );
    define(
        "emit_with_handler",
        Function::new_typed_with_env(
            store,
            env,
            |mut env: Env, event: u64, handler: u64| -> HostResult<()> {
                record_event(&mut env, event, Some(handler))
            },
        ),
    );
    define(
        "commit",
        Function::new_typed_with_env(
            store,
            env,
            |mut env: Env, root: u64, artifact: u64| -> HostResult<()> {
                with_view(&mut env, |state, view| {
                    if state.commit.is_some() {
                        return Err(HostError::CommitCalledTwice);
                    }
                    let [root_ptr, root_len] = read_u64s::<2>(view, root)?;
                    if root_len != 32 {
                        return Err(HostError::InvalidRootHash { size: root_len });
                    }
                    let root: [u8; 32] = read_bytes(state, view, root_ptr, 32)?
                        .try_into()
                        .expect("32 bytes");
                    let limit = state.limits.max_artifact_size;
                    let artifact = read_buffer(state, view, artifact, "the delta artifact", limit)?;
                    state.commit = Some((root, artifact));
                    Ok(())
                })
            },
        ),
    );
    for (name, private) in [("storage_read", false), ("private_storage_read", true)] {
        define(
            name,
            Function::new_typed_with_env(
                store,
                env,
                move |mut env: Env, key: u64, register: u64| -> HostResult<u32> {
                    with_view(&mut env, |state, view| {
                        let limit = state.limits.max_storage_key_size;
                        let key = read_buffer(state, view, key, "a storage key", limit)?;
                        match storage_value(state, &key, private)? {
                            Some(value) => {
                                set_register(state, register, value)?;
                                Ok(1)
                            }
                            None => Ok(0),
                        }
                    })
                },
            ),
        );
    }
    define(
        "storage_write",
        Function::new_typed_with_env(
            store,
            env,
            |mut env: Env, key: u64, value: u64, register: u64| -> HostResult<u32> {
                with_view(&mut env, |state, view| {
                    let key = read_key(state, view, key, false)?;
                    let limit = state.limits.max_storage_value_size;
                    let value = read_buffer(state, view, value, "a storage value", limit)?;
                    match write_value(state, key, Some(value), false)? {
                        Some(old) => {
                            set_register(state, register, old)?;
                            Ok(1)
                        }
                        None => Ok(0),
                    }
                })
            },
        ),
    );
    define(
        "private_storage_write",
        Function::new_typed_with_env(
            store,
            env,
            |mut env: Env, key: u64, value: u64| -> HostResult<u32> {
                with_view(&mut env, |state, view| {
                    let key = read_key(state, view, key, true)?;
                    let limit = state.limits.max_storage_value_size;
                    let value = read_buffer(state, view, value, "a storage value", limit)?;
                    write_value(state, key, Some(value), true)?;
                    Ok(1)
                })
            },
        ),
    );
    for (name, private) in [("storage_remove", false), ("private_storage_remove", true)] {
        define(
            name,
            Function::new_typed_with_env(
                store,
                env,
                move |mut env: Env, key: u64, register: u64| -> HostResult<u32> {
                    with_view(&mut env, |state, view| {
                        let key = read_key(state, view, key, private)?;
                        match write_value(state, key, None, private)? {
                            Some(old) => {
                                set_register(state, register, old)?;
                                Ok(1)
                            }
                            None => Ok(0),
                        }
                    })
                },
            ),
        );
    }
    define(
        "storage_index_meta_clear",
        Function::new_typed_with_env(store, env, |mut env: Env, _key: u64| -> HostResult<u32> {
            with_view(&mut env, |_, _| Ok(1))
        }),
    );
    define(
        "context_id",
        Function::new_typed_with_env(store, env, |mut env: Env, r: u64| {
            identity(&mut env, r, |s| s.context_id)
        }),
    );
    define(
        "account_id",
        Function::new_typed_with_env(store, env, |mut env: Env, r: u64| {
            identity(&mut env, r, |s| s.account_id)
        }),
    );
    define(
        "executor_id",
        Function::new_typed_with_env(store, env, |mut env: Env, r: u64| {
            identity(&mut env, r, |s| s.account_id)
        }),
    );
    define(
        "device_id",
        Function::new_typed_with_env(store, env, |mut env: Env, r: u64| {
            identity(&mut env, r, |s| s.device_id)
        }),
    );
    define(
        "xcall_origin",
        Function::new_typed_with_env(
            store,
            env,
            |mut env: Env, register: u64| -> HostResult<u32> {
                with_view(&mut env, |state, _| match state.xcall_origin {
                    Some(origin) => {
                        set_register(state, register, origin.to_vec())?;
                        Ok(1)
                    }
                    None => Ok(0),
                })
            },
        ),
    );
    define(
        "xcall",
        Function::new_typed_with_env(store, env, |mut env: Env, call: u64| -> HostResult<()> {
            with_view(&mut env, |state, view| {
                let [ctx_ptr, ctx_len, fn_ptr, fn_len, params_ptr, params_len] =
                    read_u64s::<6>(view, call)?;
                let limits = state.limits.clone();
                if ctx_len != 32 {
                    return Err(HostError::InvalidContextId { size: ctx_len });
                }
                check_size(
                    "an xcall function name",
                    fn_len,
                    limits.max_xcall_function_size,
                )?;
                check_size("xcall parameters", params_len, limits.max_xcall_params_size)?;
                if state.xcalls.len() as u64 >= limits.max_xcalls {
                    return Err(HostError::TooMany {
                        what: "xcalls".into(),
                        limit: limits.max_xcalls,
                    });
                }
                let context_id: [u8; 32] = read_bytes(state, view, ctx_ptr, 32)?
                    .try_into()
                    .expect("32 bytes");
                let function = utf8(
                    read_bytes(state, view, fn_ptr, fn_len)?,
                    "an xcall function name",
                )?;
                let params = read_bytes(state, view, params_ptr, params_len)?;
                state.xcalls.push(XCall {
                    context_id,
                    function,
                    params,
                });
                Ok(())
            })
        }),
    );
    define(
        "time_now",
        Function::new_typed_with_env(store, env, |mut env: Env, buffer: u64| -> HostResult<()> {
            with_view(&mut env, |state, view| {
                let (ptr, len) = buffer_mut(view, buffer)?;
                if len != 8 {
                    return Err(HostError::InvalidTimeBuffer { size: len });
                }
                // At least one clock tick after the context's clock, and never backwards within
                // the call, whatever the wall clock does.
                let wall = match state.determinism {
                    Some(fixed) => fixed.time_ns,
                    None => now_nanos().saturating_add_signed(state.clock_skew_ns),
                };
                let now = wall
                    .max(state.clock_floor.saturating_add(crate::CLOCK_TICK_NS))
                    .max(state.clock_last);
                state.clock_last = now;
                write_bytes(state, view, ptr, &now.to_le_bytes())
            })
        }),
    );
    define(
        "random_bytes",
        Function::new_typed_with_env(store, env, |mut env: Env, buffer: u64| -> HostResult<()> {
            with_view(&mut env, |state, view| {
                let (ptr, len) = buffer_mut(view, buffer)?;
                check_size("a random_bytes buffer", len, state.limits.max_register_size)?;
                state.charge(len.saturating_mul(gas::PER_RANDOM_BYTE))?;
                let mut bytes = vec![0u8; len as usize];
                match state.determinism {
                    Some(fixed) => {
                        use rand::SeedableRng;
                        state
                            .rng
                            .get_or_insert_with(|| rand::rngs::StdRng::seed_from_u64(fixed.seed))
                            .fill_bytes(&mut bytes);
                    }
                    None => rand::thread_rng().fill_bytes(&mut bytes),
                }
                write_bytes(state, view, ptr, &bytes)
            })
        }),
    );
    define(
        "ed25519_verify",
        Function::new_typed_with_env(
            store,
            env,
            |mut env: Env, sig: u64, pk: u64, msg: u64| -> HostResult<u32> {
                with_view(&mut env, |state, view| {
                    let signature = read_buffer(state, view, sig, "a signature", 64)?;
                    let public_key = read_buffer(state, view, pk, "a public key", 32)?;
                    let limit = state.limits.max_register_size;
                    let message = read_buffer(state, view, msg, "a signed message", limit)?;
                    state.charge(gas::ED25519_VERIFY.saturating_add(
                        (message.len() as u64).saturating_mul(gas::PER_HASHED_BYTE),
                    ))?;
                    let key: [u8; 32] = public_key
                        .as_slice()
                        .try_into()
                        .map_err(|_| HostError::InvalidPublicKey)?;
                    let key = ed25519_dalek::VerifyingKey::from_bytes(&key)
                        .map_err(|_| HostError::InvalidPublicKey)?;
                    let Ok(signature) = <[u8; 64]>::try_from(signature.as_slice()) else {
                        return Ok(0);
                    };
                    let signature = ed25519_dalek::Signature::from_bytes(&signature);
                    Ok(u32::from(key.verify_strict(&message, &signature).is_ok()))
                })
            },
        ),
    );
    imports
}
