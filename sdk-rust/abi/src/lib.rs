//! The ABI manifest an app module carries (schema `wasm-abi/1`, custom section `calimero_abi_v1`).
//!
//! The SDK macros emit the manifest in fragments (one per `#[app::state]`, `#[app::event]` and
//! `#[app::logic]`); on `wasm32` they land, one per line, in the custom section
//! [`PARTS_SECTION`]. [`merge_fragments`] turns them into one manifest with methods and events
//! sorted by name, as readers require.

pub mod host;
pub mod module;

use serde_json::{Map, Value, json};

/// The custom section holding the final manifest.
pub const SECTION: &str = "calimero_abi_v1";
/// The custom section holding the macros' fragments, one JSON object per line.
pub const PARTS_SECTION: &str = "calimero_abi_parts";
/// What the macros write where a method's error is the app's `#[app::error]` type.
pub const APP_ERROR_MARKER: &str = "@app_error";
/// The schema version this crate writes.
pub const SCHEMA_VERSION: &str = "wasm-abi/1";

/// Merges fragments into one manifest: types united, methods and events sorted by name.
pub fn merge_fragments<'a>(fragments: impl IntoIterator<Item = &'a str>) -> Result<Value, String> {
    let mut types = Map::new();
    let mut methods = Vec::new();
    let mut events = Vec::new();
    let mut state_root = None;
    let mut state_version = None;
    let mut migrations = Vec::new();
    let mut app_error = None;
    for fragment in fragments {
        let fragment = fragment.trim();
        if fragment.is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(fragment)
            .map_err(|e| format!("invalid ABI fragment ({e}): {fragment}"))?;
        if let Some(Value::Object(t)) = value.get("types") {
            types.extend(t.clone());
        }
        if let Some(Value::Array(m)) = value.get("methods") {
            methods.extend(m.iter().cloned());
        }
        if let Some(Value::Array(e)) = value.get("events") {
            events.extend(e.iter().cloned());
        }
        if let Some(Value::String(root)) = value.get("state_root") {
            state_root = Some(root.clone());
        }
        if let Some(version) = value.get("state_version") {
            state_version = Some(version.clone());
        }
        if let Some(Value::Array(m)) = value.get("migrations") {
            migrations.extend(m.iter().cloned());
        }
        if let Some(Value::String(error)) = value.get("app_error") {
            app_error = Some(error.clone());
        }
    }
    // Methods returning `app::Result<T>` name the app's `#[app::error]` type, if it has one.
    for method in &mut methods {
        if method["errors"]["$ref"] == APP_ERROR_MARKER {
            match &app_error {
                Some(error) => method["errors"] = json!({ "$ref": error }),
                None => {
                    if let Some(object) = method.as_object_mut() {
                        object.remove("errors");
                    }
                }
            }
        }
    }
    let by_name = |a: &Value, b: &Value| a["name"].as_str().cmp(&b["name"].as_str());
    methods.sort_by(by_name);
    events.sort_by(by_name);
    let mut manifest = json!({
        "schema_version": SCHEMA_VERSION,
        "types": types,
        "methods": methods,
        "events": events,
    });
    if let Some(root) = state_root {
        manifest["state_root"] = Value::String(root);
    }
    if let Some(version) = state_version {
        manifest["state_version"] = version;
    }
    if !migrations.is_empty() {
        manifest["migrations"] = Value::Array(migrations);
    }
    Ok(manifest)
}

/// The version of the state layout a manifest declares (`state_version`, 1 when absent).
pub fn state_version(manifest: &Value) -> u64 {
    manifest
        .get("state_version")
        .and_then(Value::as_u64)
        .unwrap_or(1)
}

/// The migrations a manifest declares: `(export, from_version)`.
pub fn migrations(manifest: &Value) -> Vec<(String, u64)> {
    manifest
        .get("migrations")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|m| {
                    Some((
                        m["method"].as_str()?.to_owned(),
                        m["from_version"].as_u64()?,
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The export a module with `manifest` runs to take over a state of layout version `from`:
/// `Ok(Some(export))`, `Ok(None)` if it declares no migration and has the same version (it reads
/// the state as it is), or why it cannot take that state.
pub fn migration_from(manifest: &Value, from: u64) -> Result<Option<String>, String> {
    let version = state_version(manifest);
    let migrations = migrations(manifest);
    if let Some((method, _)) = migrations.iter().find(|(_, f)| *f == from) {
        return Ok(Some(method.clone()));
    }
    if migrations.is_empty() {
        if version == from {
            return Ok(None);
        }
        return Err(format!(
            "the new version's state is version {version}, the context's is {from}, and the new \
             version declares no migration"
        ));
    }
    let froms: Vec<String> = migrations.iter().map(|(_, f)| f.to_string()).collect();
    Err(format!(
        "the new version migrates from state version{} {}, not from the context's {from}",
        if froms.len() > 1 { "s" } else { "" },
        froms.join(", ")
    ))
}

/// Reads a LEB128 u32 at `*at`.
pub fn leb_u32(bytes: &[u8], at: &mut usize) -> Option<u32> {
    let mut result = 0u32;
    for shift in (0..35).step_by(7) {
        let byte = *bytes.get(*at)?;
        *at += 1;
        result |= u32::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(result);
        }
    }
    None
}

/// The payloads of every custom section called `name`, in order. `None` if not a wasm module.
pub fn custom_sections<'a>(module: &'a [u8], name: &str) -> Option<Vec<&'a [u8]>> {
    if module.get(..8)? != b"\0asm\x01\0\0\0" {
        return None;
    }
    let mut at = 8;
    let mut found = Vec::new();
    while at < module.len() {
        let id = module[at];
        at += 1;
        let size = leb_u32(module, &mut at)? as usize;
        let end = at.checked_add(size)?;
        let body = module.get(at..end)?;
        if id == 0 {
            let mut inner = 0;
            let len = leb_u32(body, &mut inner)? as usize;
            let section_name = body.get(inner..inner + len)?;
            if section_name == name.as_bytes() {
                found.push(&body[inner + len..]);
            }
        }
        at = end;
    }
    Some(found)
}

/// Appends `value` as a LEB128 u32.
pub fn write_leb_u32(mut value: u32, out: &mut Vec<u8>) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// A custom section named `name` with `payload`, encoded, ready to append to a module.
pub fn custom_section(name: &str, payload: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    write_leb_u32(name.len() as u32, &mut body);
    body.extend_from_slice(name.as_bytes());
    body.extend_from_slice(payload);
    let mut section = vec![0u8];
    write_leb_u32(body.len() as u32, &mut section);
    section.extend(body);
    section
}

/// `module` without the custom sections whose names `drop` returns true for; every other byte
/// is kept as it was.
pub fn remove_custom_sections(
    module: &[u8],
    drop: impl Fn(&str) -> bool,
) -> Result<Vec<u8>, String> {
    if module.get(..8) != Some(b"\0asm\x01\0\0\0") {
        return Err("not a WebAssembly module".into());
    }
    let mut out = module[..8].to_vec();
    let mut at = 8;
    while at < module.len() {
        let start = at;
        let id = module[at];
        at += 1;
        let size = leb_u32(module, &mut at).ok_or("truncated section header")? as usize;
        let end = at
            .checked_add(size)
            .filter(|&e| e <= module.len())
            .ok_or("truncated section")?;
        let keep = if id == 0 {
            let mut inner = at;
            let len = leb_u32(module, &mut inner).ok_or("truncated section name")? as usize;
            let name = module
                .get(inner..inner + len)
                .ok_or("truncated section name")?;
            !drop(std::str::from_utf8(name).map_err(|_| "section name is not UTF-8")?)
        } else {
            true
        };
        if keep {
            out.extend_from_slice(&module[start..end]);
        }
        at = end;
    }
    Ok(out)
}

/// The manifest of a module: its `calimero_abi_v1` section, or else its merged fragments.
pub fn read_manifest(module: &[u8]) -> Result<Option<Value>, String> {
    let sections = custom_sections(module, SECTION).ok_or("not a wasm module")?;
    if let Some(last) = sections.last() {
        return serde_json::from_slice(last)
            .map(Some)
            .map_err(|e| format!("invalid {SECTION}: {e}"));
    }
    let parts = custom_sections(module, PARTS_SECTION).ok_or("not a wasm module")?;
    if parts.is_empty() {
        return Ok(None);
    }
    let mut text = String::new();
    for part in parts {
        text.push_str(
            std::str::from_utf8(part).map_err(|e| format!("invalid {PARTS_SECTION}: {e}"))?,
        );
    }
    merge_fragments(text.lines()).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_sorts_methods_and_unites_types() {
        let manifest = merge_fragments([
            r#"{"state_root":"S","types":{"S":{"kind":"record","fields":[]}}}"#,
            r#"{"methods":[{"name":"set"},{"name":"get"}]}"#,
            r#"{"events":[{"name":"B"},{"name":"A"}]}"#,
        ])
        .unwrap();
        assert_eq!(manifest["schema_version"], "wasm-abi/1");
        assert_eq!(manifest["state_root"], "S");
        assert_eq!(manifest["methods"][0]["name"], "get");
        assert_eq!(manifest["events"][0]["name"], "A");
        assert!(manifest["types"]["S"].is_object());
    }

    #[test]
    fn bad_fragment_is_an_error() {
        assert!(merge_fragments(["{nope"]).is_err());
    }

    #[test]
    fn sections_are_removed_and_appended() {
        let mut module = b"\0asm\x01\0\0\0".to_vec();
        module.extend(custom_section("keep", b"a"));
        module.extend(custom_section("drop", b"bb"));
        let mut trimmed = remove_custom_sections(&module, |n| n == "drop").unwrap();
        trimmed.extend(custom_section("new", b"ccc"));
        assert_eq!(custom_sections(&trimmed, "keep").unwrap(), [b"a"]);
        assert!(custom_sections(&trimmed, "drop").unwrap().is_empty());
        assert_eq!(custom_sections(&trimmed, "new").unwrap(), [b"ccc"]);
        assert!(remove_custom_sections(b"nope", |_| true).is_err());
    }

    #[test]
    fn custom_sections_are_found_in_order() {
        // Header, then two custom sections "x" with payloads "ab" and "c".
        let mut module = b"\0asm\x01\0\0\0".to_vec();
        module.extend_from_slice(&[0, 4, 1, b'x', b'a', b'b']);
        module.extend_from_slice(&[0, 3, 1, b'x', b'c']);
        let found = custom_sections(&module, "x").unwrap();
        assert_eq!(found, vec![&b"ab"[..], &b"c"[..]]);
        assert!(custom_sections(b"not wasm", "x").is_none());
    }
}
