//! `cargo calimero abi` and `cargo calimero inspect`.

use std::path::Path;

use anyhow::{Context, anyhow};
use calimero_wasm_abi::host;
use calimero_wasm_abi::module::{check_host_abi, inspect as surface, signature_is};
use serde_json::Value;
use wasmparser::ExternalKind;

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

/// The module's embedded ABI manifest.
pub fn abi(path: &Path) -> anyhow::Result<Value> {
    let module = read(path)?;
    calimero_wasm_abi::read_manifest(&module)
        .map_err(|e| anyhow!("{}: {e}", path.display()))?
        .ok_or_else(|| {
            anyhow!(
                "{} carries no ABI (build it with `cargo calimero build`)",
                path.display()
            )
        })
}

/// A human report of the module's exports, imports, sections and ABI.
pub fn inspect(path: &Path) -> anyhow::Result<String> {
    let module = read(path)?;
    let surface = surface(&module).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    let mut out = format!("module {} ({} bytes)\n", path.display(), module.len());

    out.push_str("\nexports\n");
    for (name, kind, _) in &surface.exports {
        let kind = match kind {
            ExternalKind::Func => "method",
            ExternalKind::Memory => "memory",
            ExternalKind::Global => "global",
            ExternalKind::Table => "table",
            ExternalKind::Tag => "tag",
            _ => "other",
        };
        out.push_str(&format!("  {kind:<8} {name}\n"));
    }

    out.push_str("\nimports\n");
    for (module_name, name, signature) in &surface.imports {
        let provided = module_name == "env"
            && host::find(name).is_some_and(|known| {
                signature
                    .as_ref()
                    .is_some_and(|s| signature_is(s, known.params, known.results))
            });
        let mark = if provided { "provided" } else { "MISSING " };
        out.push_str(&format!("  {mark} {module_name}.{name}\n"));
    }

    out.push_str("\nsections\n");
    for (name, size) in &surface.sections {
        out.push_str(&format!("  {name:<20} {size:>9} bytes\n"));
    }

    match calimero_wasm_abi::read_manifest(&module) {
        Ok(Some(manifest)) => {
            let names = |key: &str| -> Vec<String> {
                manifest[key]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|m| m["name"].as_str().map(str::to_owned))
                    .collect()
            };
            let read_only: Vec<String> = manifest["methods"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|m| m["intent"] == "read_only")
                .filter_map(|m| m["name"].as_str().map(str::to_owned))
                .collect();
            out.push_str(&format!(
                "\nabi ({})\n  state    {}\n  methods  {}\n  read-only {}\n  events   {}\n",
                manifest["schema_version"].as_str().unwrap_or("?"),
                manifest["state_root"].as_str().unwrap_or("?"),
                names("methods").join(", "),
                read_only.join(", "),
                names("events").join(", ")
            ));
        }
        Ok(None) => out.push_str("\nabi: none embedded\n"),
        Err(error) => out.push_str(&format!("\nabi: unreadable ({error})\n")),
    }

    let problems = check_host_abi(&surface, false);
    if problems.is_empty() {
        out.push_str("\nthe node would accept this module\n");
    } else {
        out.push_str(&format!(
            "\nthe node would refuse this module:\n  - {}\n",
            problems.join("\n  - ")
        ));
    }
    Ok(out)
}
