//! Step 2 of the TypeScript pipeline: resolve imports and link every module into one script.
//!
//! Specifiers resolve to: files relative to the importer (`.ts`, `.js`, `/index.ts`,
//! `/index.js`); `@calimero/sdk` and its `/collections` and `/env` entry points (also under the
//! upstream name `@calimero-network/calimero-sdk-js`) to the SDK sources built into this
//! toolchain; bare names to packages under `node_modules` (`exports`, `module`, `main`), ES or
//! CommonJS. Each module becomes a factory function registered under its id, run once on first
//! `__require`; a CommonJS module's `require("literal")` calls are resolved at build time, and an
//! ES import of one sees its `module.exports` as the default export and its properties as the
//! named ones; the bundle ends by requiring the entry and starting the SDK's dispatcher with the
//! app's ABI. Alongside comes the table mapping each bundle line to its TypeScript file and line,
//! which the engine uses to report exceptions where they were thrown.

use std::collections::{BTreeMap, HashMap};
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use serde_json::Value;
use swc_core::common::Span;

use super::front::{self, Parsed};

/// The SDK sources, by module id.
pub const SDK: &[(&str, &str)] = &[
    (
        "@calimero/sdk/index.ts",
        include_str!("../../../sdk-js/sdk/src/index.ts"),
    ),
    (
        "@calimero/sdk/collections.ts",
        include_str!("../../../sdk-js/sdk/src/collections.ts"),
    ),
    (
        "@calimero/sdk/env.ts",
        include_str!("../../../sdk-js/sdk/src/env.ts"),
    ),
    (
        "@calimero/sdk/borsh.ts",
        include_str!("../../../sdk-js/sdk/src/borsh.ts"),
    ),
    (
        "@calimero/sdk/runtime.ts",
        include_str!("../../../sdk-js/sdk/src/runtime.ts"),
    ),
    (
        "@calimero/sdk/host.ts",
        include_str!("../../../sdk-js/sdk/src/host.ts"),
    ),
    (
        "@calimero/sdk/merge.ts",
        include_str!("../../../sdk-js/sdk/src/merge.ts"),
    ),
];

const SDK_NAMES: &[&str] = &["@calimero/sdk", "@calimero-network/calimero-sdk-js"];
const RUNTIME: &str = "@calimero/sdk/runtime.ts";

/// A linked app.
pub struct Bundle {
    /// One ES module (no imports) that defines every module, then starts the app.
    pub code: String,
    /// `{"files": [...], "lines": [file, line, ...]}` for each bundle line.
    pub lines: String,
    /// The app's own modules, parsed (for the ABI).
    pub app_files: Vec<String>,
}

/// Where a module's text comes from.
enum Source {
    File(PathBuf),
    Sdk(&'static str),
}

struct Linker {
    root: PathBuf,
    /// Module id → lowered module, in the order first reached.
    modules: Vec<(String, front::Lowered)>,
    seen: HashMap<String, ()>,
}

fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

fn id_of(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/")
}

impl Linker {
    fn source(&self, id: &str) -> Source {
        match SDK.iter().find(|(sdk, _)| *sdk == id) {
            Some((_, text)) => Source::Sdk(text),
            None => Source::File(self.root.join(id)),
        }
    }

    /// Resolves `specifier` imported by module `from`.
    fn resolve(&self, from: &str, specifier: &str) -> Result<String, String> {
        for name in SDK_NAMES {
            if specifier == *name {
                return Ok("@calimero/sdk/index.ts".into());
            }
            if let Some(rest) = specifier.strip_prefix(&format!("{name}/")) {
                let id = format!("@calimero/sdk/{rest}.ts");
                return if SDK.iter().any(|(sdk, _)| *sdk == id) {
                    Ok(id)
                } else {
                    Err(format!(
                        "{specifier} is not an entry point of the SDK (use {name}, {name}/collections or {name}/env)"
                    ))
                };
            }
        }
        if specifier.starts_with("./") || specifier.starts_with("../") {
            if from.starts_with("@calimero/sdk/") {
                let base = Path::new(from).parent().unwrap_or(Path::new(""));
                let joined = normalize(&base.join(specifier));
                let id = joined.to_string_lossy().replace('\\', "/");
                for candidate in [format!("{id}.ts"), id.clone(), format!("{id}/index.ts")] {
                    if SDK.iter().any(|(sdk, _)| *sdk == candidate) {
                        return Ok(candidate);
                    }
                }
                return Err(format!("{specifier} is not part of the SDK"));
            }
            let base = self.root.join(from);
            let joined = normalize(&base.parent().unwrap_or(&self.root).join(specifier));
            let candidates = [
                joined.clone(),
                joined.with_extension("ts"),
                PathBuf::from(format!("{}.ts", joined.display())),
                PathBuf::from(format!("{}.js", joined.display())),
                joined.join("index.ts"),
                joined.join("index.js"),
            ];
            return candidates
                .iter()
                .find(|c| c.is_file())
                .map(|c| id_of(&self.root, c))
                .ok_or_else(|| {
                    format!(
                        "cannot find {specifier} (looked for {}.ts, .js, /index.ts)",
                        joined.display()
                    )
                });
        }
        if specifier.starts_with('/') {
            return Err(format!(
                "{specifier}: absolute imports are not supported; use a relative path"
            ));
        }
        self.package(specifier)
    }

    /// A bare specifier: a package under `node_modules`.
    fn package(&self, specifier: &str) -> Result<String, String> {
        let mut parts = specifier.splitn(if specifier.starts_with('@') { 3 } else { 2 }, '/');
        let name = if specifier.starts_with('@') {
            format!(
                "{}/{}",
                parts.next().unwrap_or_default(),
                parts.next().unwrap_or_default()
            )
        } else {
            parts.next().unwrap_or_default().to_owned()
        };
        let subpath = parts.next();
        let mut dir = Some(self.root.as_path());
        while let Some(current) = dir {
            let package = current.join("node_modules").join(&name);
            if package.is_dir() {
                let entry = match subpath {
                    Some(sub) => package.join(sub),
                    None => package_entry(&package),
                };
                for candidate in [
                    entry.clone(),
                    PathBuf::from(format!("{}.js", entry.display())),
                    PathBuf::from(format!("{}.ts", entry.display())),
                    entry.join("index.js"),
                ] {
                    if candidate.is_file() {
                        return Ok(id_of(&self.root, &candidate));
                    }
                }
                return Err(format!(
                    "{specifier}: the package {} has no entry file",
                    package.display()
                ));
            }
            dir = current.parent();
        }
        Err(format!(
            "cannot find the package {name}: install it (npm install {name}) or check the spelling"
        ))
    }

    fn add(&mut self, id: &str, app_files: &mut Vec<Parsed>) -> anyhow::Result<()> {
        if self.seen.insert(id.to_owned(), ()).is_some() {
            return Ok(());
        }
        let (text, typescript) = match self.source(id) {
            Source::Sdk(text) => (text.to_owned(), true),
            Source::File(path) => {
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("reading {}", path.display()))?;
                let typescript = !id.ends_with(".js") && !id.ends_with(".mjs");
                (text, typescript)
            }
        };
        let parsed = parse_watched(id, &text, typescript)?;
        let is_app = !id.starts_with("@calimero/sdk/") && !id.contains("node_modules/");
        if is_app {
            // The ABI reads the typed tree; lowering consumes its own copy.
            app_files.push(parsed.clone());
        }
        let map = parsed.map.clone();
        let mut wanted = Vec::new();
        let lowered = {
            let mut resolve = |specifier: &str, span: Span| -> anyhow::Result<String> {
                match self.resolve(id, specifier) {
                    Ok(found) => {
                        wanted.push(found.clone());
                        Ok(found)
                    }
                    Err(why) => {
                        let at = map.lookup_char_pos(span.lo);
                        Err(anyhow!("{id}:{}:{}: {why}", at.line, at.col_display + 1))
                    }
                }
            };
            front::lower(parsed, typescript, &mut resolve)?
        };
        self.modules.push((id.to_owned(), lowered));
        for next in wanted {
            self.add(&next, app_files)?;
        }
        Ok(())
    }
}

fn package_entry(package: &Path) -> PathBuf {
    let manifest: Value = std::fs::read_to_string(package.join("package.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null);
    let exports = &manifest["exports"];
    let pick = |v: &Value| -> Option<String> {
        match v {
            Value::String(s) => Some(s.clone()),
            Value::Object(m) => ["import", "module", "default"]
                .iter()
                .find_map(|k| m.get(*k).and_then(|x| x.as_str()).map(str::to_owned)),
            _ => None,
        }
    };
    let entry = pick(exports)
        .or_else(|| exports.get(".").and_then(pick))
        .or_else(|| manifest["module"].as_str().map(str::to_owned))
        .or_else(|| manifest["main"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "index.js".into());
    normalize(&package.join(entry))
}

/// Every imported name must be exported by the module it comes from: otherwise the build stops
/// naming the import and where it is, instead of the app meeting `undefined` at run time.
fn check_imports(modules: &[(String, front::Lowered)]) -> anyhow::Result<()> {
    let by_id: HashMap<&str, &front::Lowered> =
        modules.iter().map(|(id, m)| (id.as_str(), m)).collect();
    fn names<'m>(
        id: &'m str,
        by_id: &HashMap<&'m str, &'m front::Lowered>,
        seen: &mut Vec<&'m str>,
        out: &mut std::collections::BTreeSet<&'m str>,
    ) {
        if seen.contains(&id) {
            return;
        }
        seen.push(id);
        let Some(module) = by_id.get(id) else { return };
        out.extend(module.exports.iter().map(String::as_str));
        for all in &module.exports_all {
            names(all, by_id, seen, out);
        }
    }
    let mut problems = Vec::new();
    for (_, module) in modules {
        for (target, specifier, name, at) in &module.imports {
            // A CommonJS module's exports are only known when it runs.
            if by_id.get(target.as_str()).is_none_or(|m| m.commonjs) {
                continue;
            }
            let mut exported = std::collections::BTreeSet::new();
            names(target, &by_id, &mut Vec::new(), &mut exported);
            // A re-export of everything from a module outside the bundle cannot be checked.
            let unknown = by_id[target.as_str()]
                .exports_all
                .iter()
                .any(|all| !by_id.contains_key(all.as_str()));
            if exported.contains(name.as_str()) || unknown {
                continue;
            }
            let what = if name == "default" {
                "has no default export".to_owned()
            } else {
                format!("does not export `{name}`")
            };
            let hint = if target.starts_with("@calimero/sdk/") {
                "; this SDK does not have it (docs/compatibility.md lists what upstream apps use and what exists here)"
            } else {
                ""
            };
            let list: Vec<&str> = exported
                .iter()
                .copied()
                .filter(|n| *n != "default")
                .collect();
            problems.push(format!(
                "{at}: `{specifier}` {what}{hint}; it exports: {}",
                if list.is_empty() {
                    "nothing".to_owned()
                } else {
                    list.join(", ")
                }
            ));
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    bail!("{}", problems.join("\n"))
}

/// Links the app whose entry is `entry` (under `root`); `abi` from [`super::extract`] is given by
/// `make_abi`, called with the app's parsed modules.
pub fn bundle(
    root: &Path,
    entry: &Path,
    app_name: &str,
    make_abi: impl FnOnce(&[Parsed]) -> anyhow::Result<Value>,
) -> anyhow::Result<(Bundle, Value)> {
    let mut linker = Linker {
        root: root.to_path_buf(),
        modules: Vec::new(),
        seen: HashMap::new(),
    };
    let entry_id = id_of(root, entry);
    let mut app_files = Vec::new();
    linker.add(&entry_id, &mut app_files)?;
    linker.add(RUNTIME, &mut app_files)?;
    check_imports(&linker.modules)?;
    let abi = make_abi(&app_files)?;

    let mut files: BTreeMap<String, usize> = BTreeMap::new();
    let mut file_names: Vec<String> = Vec::new();
    let mut code = String::new();
    let mut table: Vec<(i64, u32)> = Vec::new();
    let line = |code: &mut String, table: &mut Vec<(i64, u32)>, text: &str, at: (i64, u32)| {
        code.push_str(text);
        code.push('\n');
        table.push(at);
    };
    for header in [
        "const __calimero_modules = new Map();",
        "const __calimero_loaded = new Map();",
        "function __calimero_define(id, factory) { __calimero_modules.set(id, factory); }",
        "function __calimero_unresolved(specifier) { throw new Error(\"require(\" + JSON.stringify(specifier) + \") was not resolved when the app was built: only require calls with a string literal are\"); }",
        "function __require(id) { if (__calimero_loaded.has(id)) return __calimero_loaded.get(id); const f = __calimero_modules.get(id); if (!f) throw new Error(\"module \" + id + \" is not in the bundle\"); const m = {}; __calimero_loaded.set(id, m); const module = { exports: m }; f(m, __require, module, __calimero_unresolved); if (module.exports !== m) __calimero_loaded.set(id, module.exports); return module.exports; }",
        "const __calimero_wrapped = new Map();",
        // An ES import of a CommonJS module: its `module.exports` is the default export, and
        // its properties are the named ones.
        "function __import(id) { const m = __require(id); if (!__calimero_commonjs.has(id) || (m && m.__esModule)) return m; let w = __calimero_wrapped.get(id); if (!w) { w = Object.assign({}, m, { default: m }); __calimero_wrapped.set(id, w); } return w; }",
    ] {
        line(&mut code, &mut table, header, (-1, 0));
    }
    let commonjs: Vec<&String> = linker
        .modules
        .iter()
        .filter(|(_, m)| m.commonjs)
        .map(|(id, _)| id)
        .collect();
    line(
        &mut code,
        &mut table,
        &format!(
            "const __calimero_commonjs = new Set({});",
            serde_json::to_string(&commonjs)?
        ),
        (-1, 0),
    );
    for (id, lowered) in &linker.modules {
        let index = *files.entry(id.clone()).or_insert_with(|| {
            file_names.push(id.clone());
            file_names.len() - 1
        }) as i64;
        line(
            &mut code,
            &mut table,
            &format!("__calimero_define({id:?}, function (exports, __require, module, require) {{"),
            (-1, 0),
        );
        for (text, original) in lowered
            .code
            .lines()
            .zip(lowered.lines.iter().copied().chain(std::iter::repeat(0)))
        {
            let at = if original == 0 {
                (-1, 0)
            } else {
                (index, original)
            };
            line(&mut code, &mut table, text, at);
        }
        line(&mut code, &mut table, "});", (-1, 0));
    }
    line(
        &mut code,
        &mut table,
        &format!("__require({entry_id:?});"),
        (-1, 0),
    );
    line(
        &mut code,
        &mut table,
        &format!(
            "__require({RUNTIME:?}).start({}, {:?});",
            serde_json::to_string(&abi)?,
            app_name
        ),
        (-1, 0),
    );
    if code.contains("import.meta") {
        bail!("import.meta is not available in Calimero apps");
    }
    let lines = serde_json::json!({
        "files": file_names,
        "lines": table.iter().flat_map(|(f, l)| [*f, i64::from(*l)]).collect::<Vec<_>>(),
    })
    .to_string();
    let app_files = linker
        .modules
        .iter()
        .map(|(id, _)| id.clone())
        .filter(|id| !id.starts_with("@calimero/sdk/") && !id.contains("node_modules/"))
        .collect();
    Ok((
        Bundle {
            code,
            lines,
            app_files,
        },
        abi,
    ))
}

/// How long parsing one file may take before the build gives up.
const PARSE_LIMIT: std::time::Duration = std::time::Duration::from_secs(60);

/// Parses one module; if the parser is still busy after [`PARSE_LIMIT`] (its speculative
/// parsing of `<` can backtrack exponentially on some malformed sources), the build stops
/// with an error naming the file rather than running for hours. The parse cannot be
/// interrupted, so this ends the process.
fn parse_watched(id: &str, text: &str, typescript: bool) -> anyhow::Result<Parsed> {
    let (done, finished) = std::sync::mpsc::channel::<()>();
    let file = id.to_owned();
    std::thread::spawn(move || {
        if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = finished.recv_timeout(PARSE_LIMIT)
        {
            eprintln!(
                "error: parsing {file} took more than {} s and was stopped; the file is likely \
                 malformed (look for unclosed strings, brackets or `<` in expressions)",
                PARSE_LIMIT.as_secs()
            );
            std::process::exit(1);
        }
    });
    let parsed = front::parse(id, text, typescript).map_err(anyhow::Error::new);
    let _ = done.send(());
    parsed
}
