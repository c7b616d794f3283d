//! Reading a module's surface (imports, exports, sections) and checking it against the host ABI.

use wasmparser::{ExternalKind, FuncType, Parser, Payload, TypeRef, ValidPayload, Validator};

use crate::host::{self, ValType};

/// What a module imports and exports, and its sections.
#[derive(Debug, Default)]
pub struct ModuleSurface {
    /// `(module, name, signature)`; memory, table or global imports have no signature.
    pub imports: Vec<(String, String, Option<FuncType>)>,
    /// `(name, kind, signature for functions)`.
    pub exports: Vec<(String, ExternalKind, Option<FuncType>)>,
    /// Every section in order: `(name, size in bytes)`; custom sections by their own name.
    pub sections: Vec<(String, usize)>,
    /// Custom sections `(name, payload)`.
    pub custom_sections: Vec<(String, Vec<u8>)>,
}

fn val(t: &wasmparser::ValType) -> Option<ValType> {
    match t {
        wasmparser::ValType::I32 => Some(ValType::I32),
        wasmparser::ValType::I64 => Some(ValType::I64),
        _ => None,
    }
}

/// Whether `signature` is exactly `params -> results`.
pub fn signature_is(signature: &FuncType, params: &[ValType], results: &[ValType]) -> bool {
    let same = |a: &[wasmparser::ValType], b: &[ValType]| {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| val(x) == Some(*y))
    };
    same(signature.params(), params) && same(signature.results(), results)
}

/// Validates `module` and lists its surface.
pub fn inspect(module: &[u8]) -> Result<ModuleSurface, String> {
    inspect_trusting(module, 0)
}

/// [`inspect`] for a module whose first `trusted` function bodies are byte-for-byte copies of
/// bodies validated before, in a module whose types, functions, globals, tables and data they
/// refer to are unchanged (a linker's template): those bodies are not validated again, the rest
/// of the module, every other body included, is.
pub fn inspect_trusting(module: &[u8], trusted: u32) -> Result<ModuleSurface, String> {
    validate(module, trusted).map_err(|e| format!("invalid module: {e}"))?;
    let mut types: Vec<FuncType> = Vec::new();
    let mut functions: Vec<u32> = Vec::new();
    let mut surface = ModuleSurface::default();
    let mut exports = Vec::new();
    for payload in Parser::new(0).parse_all(module) {
        let payload = payload.map_err(|e| e.to_string())?;
        if let Some((id, range)) = payload.as_section() {
            let name = match &payload {
                Payload::CustomSection(reader) => reader.name().to_owned(),
                _ => section_name(id).to_owned(),
            };
            surface.sections.push((name, range.end - range.start));
        }
        match payload {
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
                    exports.push((export.name.to_owned(), export.kind, export.index));
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
    for (name, kind, index) in exports {
        let signature =
            (kind == ExternalKind::Func).then(|| types[functions[index as usize] as usize].clone());
        surface.exports.push((name, kind, signature));
    }
    Ok(surface)
}

fn validate(module: &[u8], trusted: u32) -> Result<(), wasmparser::BinaryReaderError> {
    let mut validator = Validator::new();
    let mut bodies = 0u32;
    for payload in Parser::new(0).parse_all(module) {
        if let ValidPayload::Func(function, body) = validator.payload(&payload?)? {
            if bodies >= trusted {
                function
                    .into_validator(Default::default())
                    .validate(&body)?;
            }
            bodies += 1;
        }
    }
    Ok(())
}

fn section_name(id: u8) -> &'static str {
    match id {
        1 => "type",
        2 => "import",
        3 => "function",
        4 => "table",
        5 => "memory",
        6 => "global",
        7 => "export",
        8 => "start",
        9 => "element",
        10 => "code",
        11 => "data",
        12 => "data count",
        13 => "tag",
        _ => "unknown",
    }
}

/// Everything in `surface` the node would refuse (`HOST-ABI.md` §3–§4). With `core_only`, an
/// import outside the core set is refused too.
pub fn check_host_abi(surface: &ModuleSurface, core_only: bool) -> Vec<String> {
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
        match host::find(name) {
            Some(import) if core_only && !import.core => {
                problems.push(format!("import env.{name} is not in the core set"))
            }
            Some(import) => {
                if !signature_is(signature, import.params, import.results) {
                    problems.push(format!(
                        "import env.{name} has signature {signature:?}, expected {:?} -> {:?}",
                        import.params, import.results
                    ));
                }
            }
            None if core_only => problems.push(format!("import env.{name} is not in the core set")),
            None => problems.push(format!("import env.{name} is not provided by the node")),
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
                if !host::valid_method_name(name) {
                    problems.push(format!(
                        "export `{name}` is not a valid method name: the node accepts 1–256 bytes of [A-Za-z0-9_]"
                    ));
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

#[cfg(test)]
mod tests {
    use super::{inspect, inspect_trusting};

    /// Two functions, `first` and `second`, and an export of function `export`.
    fn module(first: &str, second: &str, export: u32) -> Vec<u8> {
        wat::parse_str(format!(
            "(module (func {first}) (func {second}) (export \"f\" (func {export})))"
        ))
        .unwrap()
    }

    const VALID: &str = "i32.const 1 drop";
    const INVALID: &str = "i32.add drop";

    #[test]
    fn only_the_trusted_bodies_skip_validation() {
        // A bad body within the trusted prefix is not looked at again...
        let bad_first = module(INVALID, VALID, 1);
        assert!(inspect(&bad_first).is_err());
        assert!(inspect_trusting(&bad_first, 1).is_ok());
        // ...one after it is.
        let bad_second = module(VALID, INVALID, 1);
        let error = inspect_trusting(&bad_second, 1).unwrap_err();
        assert!(error.starts_with("invalid module"), "{error}");
        // Everything outside the bodies is validated whatever is trusted.
        let bad_export = module(VALID, VALID, 7);
        assert!(inspect_trusting(&bad_export, 2).is_err());
        assert!(inspect_trusting(&module(VALID, VALID, 1), 2).is_ok());
    }
}
