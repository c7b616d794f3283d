//! Making the JavaScript engine a module the node accepts: no `wasi_snapshot_preview1` imports.
//!
//! The engine implements every WASI function it needs on top of the host ABI and exports each as
//! `__calimero_wasi_<name>`. This step replaces each WASI import with a local function that calls
//! that helper (walrus keeps the function id, so every existing call now lands in the helper), then
//! removes the helpers' exports. A WASI import without a helper is an error naming it.

use anyhow::{Context, anyhow, bail};
use walrus::{ExportItem, ImportKind, Module};

/// The prefix of the engine's WASI helper exports.
pub const HELPER_PREFIX: &str = "__calimero_wasi_";
const WASI_MODULE: &str = "wasi_snapshot_preview1";

/// Returns `module` with every WASI import served by the engine's own helpers.
pub fn replace_wasi_imports(module: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut module = Module::from_buffer(module).context("reading the engine module")?;
    let wasi: Vec<(String, walrus::FunctionId)> = module
        .imports
        .iter()
        .filter(|import| import.module == WASI_MODULE)
        .map(|import| match import.kind {
            ImportKind::Function(function) => Ok((import.name.clone(), function)),
            _ => Err(anyhow!(
                "the engine imports {WASI_MODULE}.{} which is not a function",
                import.name
            )),
        })
        .collect::<Result<_, _>>()?;
    let mut missing = Vec::new();
    for (name, imported) in wasi {
        let Ok(helper) = module.exports.get_func(format!("{HELPER_PREFIX}{name}")) else {
            missing.push(name);
            continue;
        };
        let helper_type = module.funcs.get(helper).ty();
        let import_type = module.funcs.get(imported).ty();
        if module.types.get(helper_type) != module.types.get(import_type) {
            bail!(
                "the engine's {HELPER_PREFIX}{name} does not have the signature of {WASI_MODULE}.{name}"
            );
        }
        module
            .replace_imported_func(imported, |(body, arguments)| {
                for argument in arguments {
                    body.local_get(*argument);
                }
                body.call(helper);
            })
            .map_err(|e| anyhow!("replacing {WASI_MODULE}.{name}: {e}"))?;
    }
    if !missing.is_empty() {
        bail!(
            "the engine imports {} from {WASI_MODULE} without a {HELPER_PREFIX}* helper; implement them in sdk-js/engine/src/wasi.rs",
            missing.join(", ")
        );
    }
    let helpers: Vec<walrus::ExportId> = module
        .exports
        .iter()
        .filter(|export| {
            export.name.starts_with(HELPER_PREFIX) && matches!(export.item, ExportItem::Function(_))
        })
        .map(|export| export.id())
        .collect();
    for export in helpers {
        module.exports.delete(export);
    }
    Ok(module.emit_wasm())
}
