//! Step 2: the app's ABI manifest, from the fragments the SDK macros put in the module.

use anyhow::{anyhow, bail};
use calimero_wasm_abi::{PARTS_SECTION, SECTION, custom_sections, merge_fragments};
use serde_json::Value;

/// Merges the module's ABI fragments into its manifest.
pub fn extract(module: &[u8]) -> anyhow::Result<Value> {
    let parts = custom_sections(module, PARTS_SECTION)
        .ok_or_else(|| anyhow!("not a WebAssembly module"))?;
    if parts.is_empty() {
        if let Some(existing) =
            custom_sections(module, SECTION).and_then(|s| s.last().map(|s| s.to_vec()))
        {
            return serde_json::from_slice(&existing)
                .map_err(|e| anyhow!("the module's {SECTION} is not JSON: {e}"));
        }
        bail!(
            "the module carries no ABI: is the crate built with calimero-sdk (#[app::state] and \
             #[app::logic])?"
        );
    }
    let mut text = String::new();
    for part in parts {
        text.push_str(
            std::str::from_utf8(part).map_err(|e| anyhow!("an ABI fragment is not UTF-8: {e}"))?,
        );
    }
    let manifest = merge_fragments(text.lines()).map_err(|e| anyhow!(e))?;
    if manifest["methods"].as_array().is_none_or(Vec::is_empty) {
        bail!(
            "the app exports no methods: mark an impl with #[app::logic] and make its methods `pub`"
        );
    }
    Ok(manifest)
}
