//! Step 5: the final module against the host ABI, and against its own manifest.

use anyhow::bail;
use calimero_wasm_abi::host;
use calimero_wasm_abi::module::{check_host_abi, inspect_trusting};
use serde_json::Value;
use wasmparser::ExternalKind;

/// Fails listing every problem the node would refuse the module for.
pub fn validate(module: &[u8], manifest: &Value) -> anyhow::Result<()> {
    validate_trusting(module, manifest, 0)
}

/// [`validate`] for a module linked from a validated template whose first `trusted` function
/// bodies it copies unchanged: those are not validated again (see
/// [`calimero_wasm_abi::module::inspect_trusting`]).
pub fn validate_trusting(module: &[u8], manifest: &Value, trusted: u32) -> anyhow::Result<()> {
    let surface = inspect_trusting(module, trusted).map_err(anyhow::Error::msg)?;
    let mut problems = check_host_abi(&surface, false);
    let exported: Vec<&str> = surface
        .exports
        .iter()
        .filter(|(_, kind, _)| *kind == ExternalKind::Func)
        .map(|(name, _, _)| name.as_str())
        .collect();
    for method in manifest["methods"].as_array().into_iter().flatten() {
        let name = method["name"].as_str().unwrap_or_default();
        if !host::valid_method_name(name) {
            problems.push(format!(
                "method `{name}` cannot be called: the node accepts names of 1–256 bytes of [A-Za-z0-9_]; rename it"
            ));
        } else if !exported.contains(&name) {
            problems.push(format!(
                "method `{name}` is in the ABI but not exported by the module"
            ));
        }
    }
    if !problems.is_empty() {
        bail!(
            "the module would be refused by the node:\n  - {}",
            problems.join("\n  - ")
        );
    }
    Ok(())
}
