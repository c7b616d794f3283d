//! Memory and stack limits enforced by wasmer itself.

use std::ptr::NonNull;

use wasmer::sys::vm::{
    MemoryError, MemoryStyle, TableStyle, VMConfig, VMMemory, VMMemoryDefinition, VMTable,
    VMTableDefinition,
};
use wasmer::sys::{BaseTunables, Target, Tunables};
use wasmer::{MemoryType, Pages, TableType};

/// Caps every memory at `limit` pages (a hard cap on `memory.grow`, whatever the module
/// declares) and sets the wasm stack size; everything else is wasmer's default.
pub struct LimitingTunables {
    base: BaseTunables,
    limit: Pages,
    vm_config: VMConfig,
}

impl LimitingTunables {
    /// Tunables for the host target.
    pub fn new(limit_pages: u32, stack_size: usize) -> Self {
        Self {
            base: BaseTunables::for_target(&Target::default()),
            limit: Pages(limit_pages),
            vm_config: VMConfig {
                wasm_stack_size: Some(stack_size),
            },
        }
    }

    fn adjust(&self, requested: &MemoryType) -> MemoryType {
        let mut adjusted = *requested;
        adjusted.maximum = Some(requested.maximum.map_or(self.limit, |m| m.min(self.limit)));
        adjusted
    }

    fn validate(&self, ty: &MemoryType) -> Result<(), MemoryError> {
        if ty.minimum > self.limit {
            return Err(MemoryError::Generic(format!(
                "the module asks for {} initial memory pages; the limit is {}",
                ty.minimum.0, self.limit.0
            )));
        }
        Ok(())
    }
}

impl Tunables for LimitingTunables {
    fn memory_style(&self, memory: &MemoryType) -> MemoryStyle {
        self.base.memory_style(&self.adjust(memory))
    }

    fn table_style(&self, table: &TableType) -> TableStyle {
        self.base.table_style(table)
    }

    fn create_host_memory(
        &self,
        ty: &MemoryType,
        style: &MemoryStyle,
    ) -> Result<VMMemory, MemoryError> {
        let adjusted = self.adjust(ty);
        self.validate(&adjusted)?;
        self.base.create_host_memory(&adjusted, style)
    }

    unsafe fn create_vm_memory(
        &self,
        ty: &MemoryType,
        style: &MemoryStyle,
        vm_definition_location: NonNull<VMMemoryDefinition>,
    ) -> Result<VMMemory, MemoryError> {
        let adjusted = self.adjust(ty);
        self.validate(&adjusted)?;
        // A module image, if the runtime has one for the instance being made (see `image`).
        crate::image::adopt(&adjusted, style, vm_definition_location, || {
            // SAFETY: forwarded unchanged from wasmer, which guarantees the location is valid.
            unsafe {
                self.base
                    .create_vm_memory(&adjusted, style, vm_definition_location)
            }
        })
    }

    fn create_host_table(&self, ty: &TableType, style: &TableStyle) -> Result<VMTable, String> {
        self.base.create_host_table(ty, style)
    }

    unsafe fn create_vm_table(
        &self,
        ty: &TableType,
        style: &TableStyle,
        vm_definition_location: NonNull<VMTableDefinition>,
    ) -> Result<VMTable, String> {
        // SAFETY: forwarded unchanged from wasmer, which guarantees the location is valid.
        unsafe { self.base.create_vm_table(ty, style, vm_definition_location) }
    }

    fn vmconfig(&self) -> &VMConfig {
        &self.vm_config
    }
}
