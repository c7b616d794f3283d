//! Execution limits (`HOST-ABI.md` §6).

use serde::{Deserialize, Serialize};

/// Per-execution limits. Operators may raise the log limits in `config.toml`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Limits {
    pub max_module_size: u64,
    pub max_memory_pages: u32,
    pub max_stack_size: usize,
    pub max_gas: u64,
    pub max_registers: u64,
    pub max_register_size: u64,
    pub max_registers_capacity: u64,
    pub max_logs: u64,
    pub max_log_size: u64,
    pub max_events: u64,
    pub max_event_kind_size: u64,
    pub max_event_data_size: u64,
    pub max_xcalls: u64,
    pub max_xcall_function_size: u64,
    pub max_xcall_params_size: u64,
    pub max_storage_key_size: u64,
    pub max_storage_value_size: u64,
    pub max_storage_writes: u64,
    pub max_storage_write_bytes: u64,
    pub max_return_value_size: u64,
    pub max_method_name_length: u64,
    pub max_artifact_size: u64,
    /// Wall-clock time one call may run, in milliseconds (`DeadlineExceeded` past it).
    pub max_call_duration_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        const KIB: u64 = 1024;
        const MIB: u64 = 1024 * KIB;
        Self {
            max_module_size: 20 * MIB,
            max_memory_pages: 1024,
            max_stack_size: 200 * 1024,
            max_gas: 1_000_000_000,
            max_registers: 100,
            max_register_size: 100 * MIB,
            max_registers_capacity: 1024 * MIB,
            max_logs: 1024,
            max_log_size: 16 * KIB,
            max_events: 100,
            max_event_kind_size: 100,
            max_event_data_size: 16 * KIB,
            max_xcalls: 8,
            max_xcall_function_size: 100,
            max_xcall_params_size: 16 * KIB,
            max_storage_key_size: MIB,
            max_storage_value_size: 10 * MIB,
            max_storage_writes: 100_000,
            max_storage_write_bytes: 128 * MIB,
            max_return_value_size: 16 * MIB,
            max_method_name_length: 256,
            max_artifact_size: 16 * MIB,
            max_call_duration_ms: 5_000,
        }
    }
}
