//! Helpers for the cross-crate tests: building app modules and checking them against the
//! host ABI contract (`HOST-ABI.md` §3–§4).

use std::path::{Path, PathBuf};
use std::process::Command;

use wasmparser::{ExternalKind, FuncType, Parser, Payload, TypeRef, ValType, Validator};

use ValType::{I32, I64};

pub mod node;

/// The core imports (`HOST-ABI.md` §3) with their exact signatures.
pub const CORE_IMPORTS: &[(&str, &[ValType], &[ValType])] = &[
    ("input", &[I64], &[]),
    ("register_len", &[I64], &[I64]),
    ("read_register", &[I64, I64], &[I32]),
    ("value_return", &[I64], &[]),
    ("log_utf8", &[I64], &[]),
    ("panic_utf8", &[I64, I64], &[]),
    ("panic", &[I64], &[]),
    ("emit", &[I64], &[]),
    ("emit_with_handler", &[I64, I64], &[]),
    ("storage_read", &[I64, I64], &[I32]),
    ("storage_write", &[I64, I64, I64], &[I32]),
    ("storage_remove", &[I64, I64], &[I32]),
    ("commit", &[I64, I64], &[]),
    ("context_id", &[I64], &[]),
    ("account_id", &[I64], &[]),
    ("device_id", &[I64], &[]),
    ("time_now", &[I64], &[]),
    ("random_bytes", &[I64], &[]),
    ("ed25519_verify", &[I64, I64, I64], &[I32]),
    ("storage_index_meta_clear", &[I64], &[I32]),
];

/// The repository root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// Builds `package` with `cargo build --release --target wasm32-unknown-unknown` into a target
/// directory of its own (so it never waits on the running test's build lock) and returns the
/// module bytes.
pub fn build_app(package: &str) -> Vec<u8> {
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
        .join("wasm-apps");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(workspace_root())
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-unknown-unknown",
            "-p",
            package,
        ])
        .arg("--target-dir")
        .arg(&target_dir)
        .env_remove("RUSTFLAGS")
        .status()
        .expect("cargo runs");
    assert!(
        status.success(),
        "building {package} for wasm32-unknown-unknown failed"
    );
    let file = target_dir
        .join("wasm32-unknown-unknown/release")
        .join(format!("{}.wasm", package.replace('-', "_")));
    std::fs::read(&file).unwrap_or_else(|e| panic!("reading {}: {e}", file.display()))
}

/// What a module imports and exports.
#[derive(Debug, Default)]
pub struct ModuleSurface {
    /// `(module, name, signature)`; memory or table imports have no signature.
    pub imports: Vec<(String, String, Option<FuncType>)>,
    /// `(name, kind, signature for functions)`.
    pub exports: Vec<(String, ExternalKind, Option<FuncType>)>,
    /// Custom sections `(name, payload)`.
    pub custom_sections: Vec<(String, Vec<u8>)>,
}

/// Validates `module` and lists its imports and exports.
pub fn inspect(module: &[u8]) -> Result<ModuleSurface, String> {
    Validator::new()
        .validate_all(module)
        .map_err(|e| format!("invalid module: {e}"))?;
    let mut types: Vec<FuncType> = Vec::new();
    let mut functions: Vec<u32> = Vec::new();
    let mut surface = ModuleSurface::default();
    let mut pending_exports = Vec::new();
    for payload in Parser::new(0).parse_all(module) {
        match payload.map_err(|e| e.to_string())? {
            Payload::TypeSection(reader) => {
                for group in reader {
                    for ty in group.map_err(|e| e.to_string())?.into_types() {
                        types.push(ty.unwrap_func().clone());
                    }
                }
            }
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    let import = import.map_err(|e| e.to_string())?;
                    let signature = match import.ty {
                        TypeRef::Func(index) => {
                            functions.push(index);
                            Some(types[index as usize].clone())
                        }
                        _ => None,
                    };
                    surface
                        .imports
                        .push((import.module.into(), import.name.into(), signature));
                }
            }
            Payload::FunctionSection(reader) => {
                for index in reader {
                    functions.push(index.map_err(|e| e.to_string())?);
                }
            }
            Payload::ExportSection(reader) => {
                for export in reader {
                    let export = export.map_err(|e| e.to_string())?;
                    pending_exports.push((export.name.to_owned(), export.kind, export.index));
                }
            }
            Payload::CustomSection(reader) => {
                surface
                    .custom_sections
                    .push((reader.name().into(), reader.data().to_vec()));
            }
            _ => {}
        }
    }
    for (name, kind, index) in pending_exports {
        let signature =
            (kind == ExternalKind::Func).then(|| types[functions[index as usize] as usize].clone());
        surface.exports.push((name, kind, signature));
    }
    Ok(surface)
}

/// Checks a module against `HOST-ABI.md`: core imports only (with their signatures), exports
/// of `() -> ()` with valid names, `memory` exported, no `_start`/`_initialize`, no memory import.
pub fn check_host_abi(surface: &ModuleSurface) -> Vec<String> {
    let mut problems = Vec::new();
    for (module, name, signature) in &surface.imports {
        if module != "env" {
            problems.push(format!("import {module}.{name} is not from module `env`"));
            continue;
        }
        let Some(signature) = signature else {
            problems.push(format!(
                "import env.{name} is not a function (a module must not import memory)"
            ));
            continue;
        };
        match CORE_IMPORTS.iter().find(|(n, _, _)| n == name) {
            None => problems.push(format!("import env.{name} is not in the core set")),
            Some((_, params, results)) => {
                if signature.params() != *params || signature.results() != *results {
                    problems.push(format!(
                        "import env.{name} has signature {signature:?}, expected {params:?} -> {results:?}"
                    ));
                }
            }
        }
    }
    let mut has_memory = false;
    for (name, kind, signature) in &surface.exports {
        match kind {
            ExternalKind::Memory => has_memory |= name == "memory",
            ExternalKind::Func => {
                if name == "_start" || name == "_initialize" {
                    problems.push(format!("module exports `{name}`"));
                }
                let valid = !name.is_empty()
                    && name.len() <= 256
                    && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
                if !valid {
                    problems.push(format!("export `{name}` is not a valid method name"));
                }
                if let Some(signature) = signature
                    && (!signature.params().is_empty() || !signature.results().is_empty())
                {
                    problems.push(format!("export `{name}` is {signature:?}, not () -> ()"));
                }
            }
            _ => {}
        }
    }
    if !has_memory {
        problems.push("module does not export its memory as `memory`".into());
    }
    problems
}
