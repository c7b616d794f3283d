//! Gas metering: one unit per wasm operator (`HOST-ABI.md`: 10^9 per call, deterministic), added
//! to every function by the compiler.
//!
//! The remaining gas is one mutable `i64` global the module gets, exported as [`REMAINING`]. At
//! the end of every straight-line run of operators (before each branch, block end, loop, call and
//! return) the run's cost is subtracted from it. The count is exact: every operator executed is
//! charged once.
//!
//! Where it is *checked* is what makes this cheaper than checking at every subtraction: only at
//! the top of every loop iteration and before every call (host functions included). An instance
//! whose gas ran out stops at the next check with a trap, having run at most one straight-line
//! stretch of its code past the limit, and never reaching a host function on borrowed gas: no
//! storage access, log or event happens after the limit. A call that returns while its gas is
//! negative counts as having run out, so the outcome does not depend on where the checks are.
//!
//! The interpreter of a TypeScript app (QuickJS) ends a straight-line run every few operators;
//! checking at each one cost more time than the interpreter's own work.
//!
//! The watchdog of a call's deadline sets the global to zero: the next stretch makes it
//! negative and the next check stops the instance.

use std::fmt;
use std::sync::Mutex;

use wasmer::sys::{FunctionMiddleware, MiddlewareError, MiddlewareReaderState, ModuleMiddleware};
use wasmer::wasmparser::{BlockType, Operator};
use wasmer::{
    AsStoreMut, ExportIndex, GlobalInit, GlobalType, Instance, LocalFunctionIndex, ModuleInfo,
    Mutability, Type, Value,
};

/// The export of the remaining-gas global.
pub const REMAINING: &str = "calimero_gas_remaining";

/// The module-level middleware: one per compilation (it records the module's global).
pub struct GasMetering {
    limit: u64,
    global: Mutex<Option<u32>>,
}

impl GasMetering {
    /// Metering with `limit` units per call (the global's initial value; each call sets it).
    pub fn new(limit: u64) -> Self {
        Self {
            limit,
            global: Mutex::new(None),
        }
    }
}

impl fmt::Debug for GasMetering {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GasMetering")
            .field("limit", &self.limit)
            .finish()
    }
}

impl ModuleMiddleware for GasMetering {
    fn generate_function_middleware(&self, _: LocalFunctionIndex) -> Box<dyn FunctionMiddleware> {
        let global = self
            .global
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .expect("transform_module_info runs before any function is compiled");
        Box::new(FunctionGas { global, run: 0 })
    }

    fn transform_module_info(&self, info: &mut ModuleInfo) -> Result<(), MiddlewareError> {
        let mut global = self.global.lock().unwrap_or_else(|e| e.into_inner());
        if global.is_some() {
            return Err(MiddlewareError::new(
                "gas metering",
                "one metering middleware was given two modules",
            ));
        }
        if info.exports.contains_key(REMAINING) {
            return Err(MiddlewareError::new(
                "gas metering",
                format!("the module exports `{REMAINING}`, which the runtime reserves"),
            ));
        }
        let index = info
            .globals
            .push(GlobalType::new(Type::I64, Mutability::Var));
        info.global_initializers.push(GlobalInit::I64Const(
            i64::try_from(self.limit).unwrap_or(i64::MAX),
        ));
        info.exports
            .insert(REMAINING.to_string(), ExportIndex::Global(index));
        *global = Some(index.as_u32());
        Ok(())
    }
}

/// The function-level middleware.
#[derive(Debug)]
struct FunctionGas {
    global: u32,
    /// The cost of the straight-line run so far.
    run: u64,
}

/// Operators that end a straight-line run: control may leave or enter after them.
fn ends_run(operator: &Operator) -> bool {
    matches!(
        operator,
        Operator::Loop { .. }
            | Operator::End
            | Operator::If { .. }
            | Operator::Else
            | Operator::Br { .. }
            | Operator::BrTable { .. }
            | Operator::BrIf { .. }
            | Operator::Call { .. }
            | Operator::CallIndirect { .. }
            | Operator::Return
            | Operator::Throw { .. }
            | Operator::ThrowRef
            | Operator::Rethrow { .. }
            | Operator::Delegate { .. }
            | Operator::Catch { .. }
            | Operator::ReturnCall { .. }
            | Operator::ReturnCallIndirect { .. }
            | Operator::BrOnCast { .. }
            | Operator::BrOnCastFail { .. }
            | Operator::CallRef { .. }
            | Operator::ReturnCallRef { .. }
            | Operator::BrOnNull { .. }
            | Operator::BrOnNonNull { .. }
    )
}

/// Operators before which the gas is checked: every way into other code.
fn calls(operator: &Operator) -> bool {
    matches!(
        operator,
        Operator::Call { .. }
            | Operator::CallIndirect { .. }
            | Operator::ReturnCall { .. }
            | Operator::ReturnCallIndirect { .. }
            | Operator::CallRef { .. }
            | Operator::ReturnCallRef { .. }
    )
}

impl FunctionGas {
    /// `remaining -= run`.
    fn charge<'a>(&self, run: u64, state: &mut MiddlewareReaderState<'a>) {
        state.extend(&[
            Operator::GlobalGet {
                global_index: self.global,
            },
            Operator::I64Const {
                value: i64::try_from(run).unwrap_or(i64::MAX),
            },
            Operator::I64Sub,
            Operator::GlobalSet {
                global_index: self.global,
            },
        ]);
    }

    /// `if remaining < 0 { unreachable }`.
    fn check<'a>(&self, state: &mut MiddlewareReaderState<'a>) {
        state.extend(&[
            Operator::GlobalGet {
                global_index: self.global,
            },
            Operator::I64Const { value: 0 },
            Operator::I64LtS,
            Operator::If {
                blockty: BlockType::Empty,
            },
            Operator::Unreachable,
            Operator::End,
        ]);
    }
}

impl FunctionMiddleware for FunctionGas {
    fn feed<'a>(
        &mut self,
        operator: Operator<'a>,
        state: &mut MiddlewareReaderState<'a>,
    ) -> Result<(), MiddlewareError> {
        // The operator that ends a run is part of it (a call is paid before it is made).
        self.run += 1;
        if ends_run(&operator) {
            let run = std::mem::take(&mut self.run);
            self.charge(run, state);
            if calls(&operator) {
                self.check(state);
            }
            let is_loop = matches!(operator, Operator::Loop { .. });
            state.push_operator(operator);
            if is_loop {
                // Every iteration starts here, having paid for the one before at its branch.
                self.check(state);
            }
        } else {
            state.push_operator(operator);
        }
        Ok(())
    }
}

/// Sets the remaining gas of `instance` (compiled with [`GasMetering`]).
pub fn set_remaining(store: &mut impl AsStoreMut, instance: &Instance, gas: u64) -> bool {
    let Ok(global) = instance.exports.get_global(REMAINING) else {
        return false;
    };
    global
        .set(store, Value::I64(i64::try_from(gas).unwrap_or(i64::MAX)))
        .is_ok()
}

/// The remaining gas of `instance`: negative once it ran out.
pub fn remaining(store: &mut impl AsStoreMut, instance: &Instance) -> Option<i64> {
    match instance.exports.get_global(REMAINING).ok()?.get(store) {
        Value::I64(left) => Some(left),
        _ => None,
    }
}
