//! `cargo calimero compat`: two modules, typically a Rust app and its TypeScript twin, run the
//! same calls on the same context with the same identity, clock and random source. After every
//! call their outputs, errors, events, delta artifacts, state roots and every storage key and
//! value must be equal; at the end, each module applies the other's deltas
//! (`__calimero_sync_next`) and must reach the same root. The first difference stops the run
//! with what a person can act on: the call, the key, both values.
//!
//! Calls come from a scenario file (JSON or YAML), or are generated from the ABI's types
//! ([`generate`]), or both. Storage differences are reported by entity name with both values
//! decoded through each module's own ABI ([`atlas`]).

mod atlas;
pub mod generate;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{Context, anyhow, bail};
use calimero_runtime::{
    CompiledModule, Determinism, FunctionCallError, Identity, Limits, Outcome, Runtime, Storage,
    StorageError,
};
use serde_json::{Value, json};

/// One call of a scenario.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub method: String,
    pub args: Value,
    /// The expected result: `{"output": …}` or `{"error": …}` (compared when present).
    pub expect: Option<Value>,
    /// The member who calls (`as` in the file): any name, mapped to a fixed identity; the
    /// default member when absent.
    pub caller: Option<String>,
    /// Not a call: move the context to another module (`upgrade` in the file), running its
    /// migration.
    pub upgrade: Option<Upgrade>,
}

/// A scenario step that moves the context to a new version of the app.
#[derive(Clone, Debug, PartialEq)]
pub struct Upgrade {
    /// The new version's module (relative paths are read from the scenario's folder).
    pub module: PathBuf,
    /// `refused: true`: the migration is expected to fail (a panic, or its check says no) and
    /// leave the context on the previous version with its state.
    pub refused: bool,
}

/// Reads a scenario: a JSON or YAML (`.yaml`, `.yml`) list of
/// `{"method", "args"?, "expect"?, "as"?}`.
pub fn load_scenario(path: &Path) -> anyhow::Result<Vec<Step>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the scenario {}", path.display()))?;
    let yaml = matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    );
    let value: Value = if yaml {
        serde_yaml::from_str(&text).with_context(|| {
            format!(
                "{} is not valid YAML (a scenario is a list of calls: `- method: set`)",
                path.display()
            )
        })?
    } else {
        serde_json::from_str(&text).with_context(|| {
            format!(
                "{} is not valid JSON (a scenario is a JSON array of {{\"method\", \"args\"}})",
                path.display()
            )
        })?
    };
    let Some(steps) = value.as_array() else {
        bail!("{}: a scenario is a list of calls", path.display());
    };
    let folder = path.parent().map(Path::to_path_buf).unwrap_or_default();
    steps
        .iter()
        .enumerate()
        .map(|(i, step)| {
            if let Some(upgrade) = step.get("upgrade") {
                let Some(module) = upgrade.as_str() else {
                    bail!(
                        "{}: step {i}: \"upgrade\" names the new version's module file, not {upgrade}",
                        path.display()
                    );
                };
                let refused = match step.get("refused") {
                    None => false,
                    Some(Value::Bool(refused)) => *refused,
                    Some(other) => bail!(
                        "{}: step {i} (upgrade): \"refused\" is true or false, not {other}",
                        path.display()
                    ),
                };
                return Ok(Step {
                    method: String::new(),
                    args: Value::Null,
                    expect: None,
                    caller: None,
                    upgrade: Some(Upgrade {
                        module: folder.join(module),
                        refused,
                    }),
                });
            }
            let method = step
                .get("method")
                .and_then(Value::as_str)
                .ok_or_else(|| anyhow!("{}: call {i} has no \"method\"", path.display()))?;
            let expect = step.get("expect").cloned();
            if let Some(expect) = &expect {
                let keys: Vec<&String> = expect.as_object().map(|o| o.keys().collect()).unwrap_or_default();
                if keys.len() != 1 || !matches!(keys[0].as_str(), "output" | "error") {
                    bail!(
                        "{}: call {i} (`{method}`): \"expect\" is {{\"output\": …}} or {{\"error\": …}}, not {expect}",
                        path.display()
                    );
                }
            }
            let caller = match step.get("as") {
                None | Some(Value::Null) => None,
                Some(Value::String(name)) => Some(name.clone()),
                Some(other) => bail!(
                    "{}: call {i} (`{method}`): \"as\" names a member with a string, not {other}",
                    path.display()
                ),
            };
            Ok(Step {
                method: method.to_owned(),
                args: step.get("args").cloned().unwrap_or_else(|| json!({})),
                expect,
                caller,
                upgrade: None,
            })
        })
        .collect()
}

/// Committed state in memory, and the node's private storage (never compared: it is
/// node-local, and twins may key it differently).
#[derive(Default)]
struct Memory(
    Mutex<BTreeMap<Vec<u8>, Vec<u8>>>,
    Mutex<BTreeMap<Vec<u8>, Vec<u8>>>,
);

impl Storage for Memory {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .cloned())
    }
    fn get_private(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self
            .1
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .cloned())
    }
}

impl Memory {
    fn apply(&self, outcome: &Outcome) {
        if outcome.should_persist() {
            for (map, writes) in [
                (&self.0, &outcome.writes),
                (&self.1, &outcome.private_writes),
            ] {
                let mut map = map.lock().unwrap_or_else(|e| e.into_inner());
                for (key, value) in writes {
                    match value {
                        Some(value) => map.insert(key.clone(), value.clone()),
                        None => map.remove(key),
                    };
                }
            }
        }
    }

    fn snapshot(&self) -> BTreeMap<Vec<u8>, Vec<u8>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

const CONTEXT: [u8; 32] = [7; 32];
const MEMBER: [u8; 32] = [1; 32];
/// The clock of call `n` is this plus `n` ms: the same for both modules, whatever they read.
const START_NS: u64 = 1_767_225_600_000_000_000;

/// One module with its state.
struct Side {
    label: String,
    runtime: Runtime,
    module: Arc<CompiledModule>,
    /// The module's state version (`state_version` of its ABI, 1 when absent).
    version: u64,
    state: Arc<Memory>,
}

impl Side {
    fn new(label: String, bytes: &[u8]) -> anyhow::Result<Self> {
        let runtime = Runtime::new(Limits::default(), None);
        let (_, module) = runtime
            .prepare(bytes)
            .map_err(|e| anyhow!("{label} does not load: {e}"))?;
        let version = calimero_wasm_abi::read_manifest(bytes)
            .ok()
            .flatten()
            .map_or(1, |abi| calimero_wasm_abi::state_version(&abi));
        Ok(Self {
            label,
            runtime,
            module,
            version,
            state: Arc::default(),
        })
    }

    /// Moves the state to module `bytes`, a later version of the app: runs its migration from
    /// this side's version, if it declares one. On failure nothing changes.
    fn upgrade(&mut self, bytes: &[u8], index: u64, seed: u64) -> anyhow::Result<()> {
        let abi = manifest(bytes, "the new version")?;
        let (_, module) = self
            .runtime
            .prepare(bytes)
            .map_err(|e| anyhow!("the new version does not load: {e}"))?;
        let version = calimero_wasm_abi::state_version(&abi);
        let migration =
            calimero_wasm_abi::migration_from(&abi, self.version).map_err(|e| anyhow!(e))?;
        if let Some(method) = migration {
            let outcome = self.run_on(&module, &method, Vec::new(), index, seed, None);
            if let Err(error) = &outcome.returns {
                bail!("its migration `{method}` failed: {error}");
            }
        }
        self.module = module;
        self.version = version;
        Ok(())
    }

    /// A fresh side running the same module on an empty store.
    fn fresh(&self) -> Self {
        Self {
            label: self.label.clone(),
            runtime: Runtime::new(Limits::default(), None),
            module: self.module.clone(),
            version: self.version,
            state: Arc::default(),
        }
    }

    fn run(
        &self,
        entry: &str,
        input: Vec<u8>,
        index: u64,
        seed: u64,
        caller: Option<&str>,
    ) -> Outcome {
        self.run_on(&self.module, entry, input, index, seed, caller)
    }

    fn run_on(
        &self,
        module: &Arc<CompiledModule>,
        entry: &str,
        input: Vec<u8>,
        index: u64,
        seed: u64,
        caller: Option<&str>,
    ) -> Outcome {
        self.runtime.set_determinism(Some(Determinism {
            time_ns: START_NS + index * 1_000_000,
            seed: seed ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15),
        }));
        let member = match caller {
            None => MEMBER,
            Some(name) => {
                use sha2::Digest;
                sha2::Sha256::digest(name.as_bytes()).into()
            }
        };
        let identity = Identity {
            context_id: CONTEXT,
            account_id: member,
            device_id: member,
            xcall_origin: None,
        };
        let outcome = if entry == calimero_runtime::SYNC_NEXT {
            self.runtime
                .apply_artifact(module, input, identity, self.state.clone())
        } else {
            self.runtime
                .run(module, entry, input, identity, self.state.clone())
        };
        self.state.apply(&outcome);
        outcome
    }
}

/// What a call gave, in comparable form.
fn result_json(outcome: &Outcome) -> Value {
    match &outcome.returns {
        Ok(Some(bytes)) => {
            json!({"output": serde_json::from_slice::<Value>(bytes).unwrap_or_else(|_| json!(String::from_utf8_lossy(bytes)))})
        }
        Ok(None) => json!({"output": null}),
        Err(FunctionCallError::ExecutionError(value)) => json!({"error": value}),
        // Traps and host errors carry module-specific text (locations, messages): compared by
        // kind only.
        Err(error) => {
            json!({"failure": serde_json::to_value(error).ok().and_then(|v| v.get("type").cloned())})
        }
    }
}

fn events_json(outcome: &Outcome) -> Value {
    Value::Array(
        outcome
            .events
            .iter()
            .map(|e| {
                let data = serde_json::from_slice::<Value>(&e.data)
                    .unwrap_or_else(|_| json!(String::from_utf8_lossy(&e.data)));
                json!({"kind": e.kind, "data": data, "handler": e.handler})
            })
            .collect(),
    )
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Bytes for a person: the text if it is printable UTF-8, else hex (long values shortened).
fn show(bytes: Option<&Vec<u8>>) -> String {
    let Some(bytes) = bytes else {
        return "(absent)".into();
    };
    match std::str::from_utf8(bytes) {
        Ok(text) if text.chars().all(|c| !c.is_control() || c == '\n') => format!("{text:?}"),
        _ => format!("0x{} ({} bytes)", hex(bytes), bytes.len()),
    }
}

/// Two long texts cut to where they start to differ (with some context before), so a person sees
/// the difference rather than 200 equal characters.
fn focus(a: &str, b: &str) -> (String, String) {
    const BEFORE: usize = 60;
    const AFTER: usize = 140;
    let first = a
        .char_indices()
        .zip(b.chars())
        .find(|((_, x), y)| x != y)
        .map_or(a.len().min(b.len()), |((i, _), _)| i);
    let cut = |text: &str| {
        let mut start = first.saturating_sub(BEFORE);
        while !text.is_char_boundary(start) {
            start -= 1;
        }
        let mut end = (first + AFTER).min(text.len());
        while !text.is_char_boundary(end) {
            end += 1;
        }
        format!(
            "{}{}{}",
            if start > 0 { "…" } else { "" },
            &text[start..end],
            if end < text.len() { "…" } else { "" }
        )
    };
    (cut(a), cut(b))
}

/// The first difference found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// Where: `init`, ``call 3 `set` {"key":"a"}``, `ABI`, `cross-apply (…)`.
    pub at: String,
    /// What differs.
    pub what: String,
    pub a: String,
    pub b: String,
    /// What else is known, e.g. that the ABIs declare different state types.
    pub hint: Option<String>,
}

/// What a run found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Calls run after `init`, up to and including the one that differed.
    pub calls: usize,
    /// The seed of the clock-independent random source and of generated calls.
    pub seed: u64,
    pub difference: Option<Difference>,
}

impl Report {
    pub fn to_json(&self) -> Value {
        match &self.difference {
            None => json!({"ok": true, "calls": self.calls, "seed": self.seed}),
            Some(d) => json!({
                "ok": false, "calls": self.calls, "seed": self.seed,
                "at": d.at, "what": d.what, "a": d.a, "b": d.b, "hint": d.hint,
            }),
        }
    }
}

/// How a run is driven.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Seeds both modules' random source and the generated calls.
    pub seed: u64,
    /// Calls generated from the ABI, run after the scenario's.
    pub generated: usize,
}

/// One side of a comparison: the module's state, what its call gave, its ABI.
struct Seen<'x> {
    side: &'x Side,
    outcome: &'x Outcome,
    abi: &'x Value,
}

/// Compares one call's outcomes and the stores after it.
fn compare(at: &str, a: Seen, b: Seen) -> Option<Difference> {
    let diff = |what: &str, x: String, y: String| {
        Some(Difference {
            at: at.to_owned(),
            what: what.to_owned(),
            a: x,
            b: y,
            hint: None,
        })
    };
    let (ra, rb) = (result_json(a.outcome), result_json(b.outcome));
    if ra != rb {
        return diff("the result", ra.to_string(), rb.to_string());
    }
    let (ea, eb) = (events_json(a.outcome), events_json(b.outcome));
    if ea != eb {
        return diff("the events", ea.to_string(), eb.to_string());
    }
    // The stores were equal before this call, so only keys it wrote can differ now.
    let written = |o: &Outcome| {
        if o.should_persist() {
            o.writes.keys().cloned().collect::<Vec<_>>()
        } else {
            Vec::new()
        }
    };
    let mut touched = written(a.outcome);
    touched.extend(written(b.outcome));
    let value = |side: &Side, key: &[u8]| side.state.get(key).ok().flatten();
    let differs = touched
        .iter()
        .any(|key| value(a.side, key) != value(b.side, key));
    if differs {
        let (sa, sb) = (a.side.state.snapshot(), b.side.state.snapshot());
        let differing: Vec<&Vec<u8>> = sa
            .keys()
            .chain(sb.keys().filter(|k| !sa.contains_key(*k)))
            .filter(|key| sa.get(*key) != sb.get(*key))
            .collect();
        let (atlas_a, atlas_b) = (
            atlas::Atlas::new(&sa, Some(a.abi), CONTEXT),
            atlas::Atlas::new(&sb, Some(b.abi), CONTEXT),
        );
        let name = |key: &[u8]| atlas_a.name(key).or_else(|| atlas_b.name(key));
        // Data explains more than the index records and hashes that follow from it.
        let key = differing
            .iter()
            .find(|k| name(k).is_some_and(|n| n.starts_with("the data of")))
            .or_else(|| differing.iter().find(|k| name(k).is_some()))
            .unwrap_or(&differing[0]);
        let value = |atlas: &atlas::Atlas, store: &BTreeMap<Vec<u8>, Vec<u8>>| {
            let raw = store.get(*key);
            raw.and_then(|bytes| atlas.decode(key, bytes))
                .unwrap_or_else(|| show(raw))
        };
        let (mut va, mut vb) = focus(&value(&atlas_a, &sa), &value(&atlas_b, &sb));
        if va == vb {
            // Decoded alike (a stamp or an id differs): show the bytes too.
            let (ra, rb) = focus(&show(sa.get(*key)), &show(sb.get(*key)));
            va = format!("{va} [{ra}]");
            vb = format!("{vb} [{rb}]");
        }
        let what = match name(key) {
            Some(name) => format!("storage: {name} (key 0x{})", hex(key)),
            None => format!("storage key 0x{}", hex(key)),
        };
        return diff(&what, va, vb);
    }
    // A failed call's root and delta are discarded by the node: only kept ones must agree.
    if !a.outcome.should_persist() && !b.outcome.should_persist() {
        return None;
    }
    if a.outcome.root_hash != b.outcome.root_hash {
        let root = |r: Option<[u8; 32]>| r.map_or("(no commit)".into(), |r| hex(&r));
        return diff(
            "the state root",
            root(a.outcome.root_hash),
            root(b.outcome.root_hash),
        );
    }
    if a.outcome.artifact != b.outcome.artifact {
        return diff(
            "the delta artifact",
            format!("0x{}", hex(&a.outcome.artifact)),
            format!("0x{}", hex(&b.outcome.artifact)),
        );
    }
    None
}

/// The first path at which two JSON values differ.
fn first_json_difference(path: &str, a: &Value, b: &Value) -> Option<(String, Value, Value)> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for key in x.keys().chain(y.keys()) {
                let (va, vb) = (
                    x.get(key).unwrap_or(&Value::Null),
                    y.get(key).unwrap_or(&Value::Null),
                );
                if let Some(found) = first_json_difference(&format!("{path}.{key}"), va, vb) {
                    return Some(found);
                }
            }
            None
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (va, vb))| first_json_difference(&format!("{path}[{i}]"), va, vb)),
        _ if a == b => None,
        _ => Some((path.to_owned(), a.clone(), b.clone())),
    }
}

/// The `$ref`s in `value`.
fn refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(name)) = map.get("$ref") {
                out.push(name.clone());
            }
            map.values().for_each(|v| refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

/// The definitions of the types `roots` name and every type those use.
fn reachable_types(abi: &Value, mut pending: Vec<String>) -> Value {
    let mut types = serde_json::Map::new();
    while let Some(name) = pending.pop() {
        if types.contains_key(&name) {
            continue;
        }
        let definition = abi["types"].get(&name).cloned().unwrap_or(Value::Null);
        refs(&definition, &mut pending);
        types.insert(name, definition);
    }
    Value::Object(types)
}

/// What callers see of an ABI: each method's name, parameters and result, the events, and the
/// types those use. Annotations (declared errors, intents) may differ between twins.
fn interface(abi: &Value) -> Value {
    let methods: Vec<Value> = abi["methods"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            json!({
                "name": m["name"],
                "params": m.get("params").cloned().unwrap_or_else(|| json!([])),
                "returns": m.get("returns").cloned().unwrap_or(Value::Null),
                "returns_nullable": m.get("returns_nullable").cloned().unwrap_or(json!(false)),
            })
        })
        .collect();
    let events = abi.get("events").cloned().unwrap_or_else(|| json!([]));
    let mut used = Vec::new();
    refs(&json!([methods, events]), &mut used);
    json!({"types": reachable_types(abi, used), "methods": methods, "events": events})
}

/// What storage holds according to an ABI: the state's types.
fn state_types(abi: &Value) -> Value {
    let root = abi["state_root"].as_str().map(str::to_owned);
    json!({"state_root": abi["state_root"], "types": reachable_types(abi, root.into_iter().collect())})
}

fn manifest(bytes: &[u8], label: &str) -> anyhow::Result<Value> {
    calimero_wasm_abi::read_manifest(bytes)
        .map_err(|e| anyhow!("{label}: its ABI does not parse: {e}"))?
        .ok_or_else(|| {
            anyhow!("{label} has no embedded ABI (build it with `cargo calimero build`)")
        })
}

/// Where a call is, for a person.
fn call_label(index: usize, step: &Step, generated: bool) -> String {
    if index == 0 {
        return "init".to_owned();
    }
    let caller = step
        .caller
        .as_deref()
        .map(|c| format!(" as {c}"))
        .unwrap_or_default();
    let origin = if generated { " (generated)" } else { "" };
    format!(
        "call {index}{origin} `{}` {}{caller}",
        step.method, step.args
    )
}

/// Runs `scenario`, then `options.generated` calls generated from the ABI, on modules `a` and
/// `b`, comparing after every call, then cross-applies each one's deltas on the other.
pub fn run(a: &[u8], b: &[u8], scenario: &[Step], options: Options) -> anyhow::Result<Report> {
    let seed = options.seed;
    let (abi_a, abi_b) = (manifest(a, "module a")?, manifest(b, "module b")?);
    let ended = |calls, difference| {
        Ok(Report {
            calls,
            seed,
            difference: Some(difference),
        })
    };
    if let Some((path, x, y)) = first_json_difference("abi", &interface(&abi_a), &interface(&abi_b))
    {
        return ended(
            0,
            Difference {
                at: "ABI".into(),
                what: format!("{path}: the modules do not declare the same app"),
                a: x.to_string(),
                b: y.to_string(),
                hint: None,
            },
        );
    }
    // Different state types are reported with the first storage difference they cause, which
    // names the call, the entity and both values; or at the end if this run wrote none.
    let state_difference = first_json_difference("abi", &state_types(&abi_a), &state_types(&abi_b))
        .map(|(path, x, y)| {
            format!("the ABIs declare different state types at {path}: {x} vs {y}")
        });

    let side_a = Side::new("module a".into(), a)?;
    let side_b = Side::new("module b".into(), b)?;
    let mut artifacts_a = Vec::new();
    let mut artifacts_b = Vec::new();
    let mut root = None;
    let init = Step {
        method: "init".into(),
        args: json!({}),
        expect: None,
        caller: None,
        upgrade: None,
    };
    if scenario.iter().any(|step| step.upgrade.is_some()) {
        bail!(
            "the scenario moves the context to another module (`upgrade`); compare two modules \
             on scenarios without upgrades, and run upgrades with `cargo calimero test`"
        );
    }
    let generated = generate::calls(&abi_a, options.generated, seed);
    let steps = std::iter::once((&init, false))
        .chain(scenario.iter().map(|s| (s, false)))
        .chain(generated.iter().map(|s| (s, true)));
    let mut calls = 0;
    for (index, (step, is_generated)) in steps.enumerate() {
        let input = serde_json::to_vec(&step.args)?;
        let at = call_label(index, step, is_generated);
        let caller = step.caller.as_deref();
        let oa = side_a.run(&step.method, input.clone(), index as u64, seed, caller);
        let ob = side_b.run(&step.method, input, index as u64, seed, caller);
        calls = index;
        let seen = |side, outcome, abi| Seen { side, outcome, abi };
        if let Some(mut difference) =
            compare(&at, seen(&side_a, &oa, &abi_a), seen(&side_b, &ob, &abi_b))
        {
            difference.hint = state_difference.clone();
            return ended(calls, difference);
        }
        if let Some(expect) = &step.expect {
            let got = result_json(&oa);
            if got != *expect {
                return ended(
                    calls,
                    Difference {
                        at,
                        what: "the expected result".into(),
                        a: got.to_string(),
                        b: format!("{expect} (expected)"),
                        hint: None,
                    },
                );
            }
        }
        if oa.should_persist() && !oa.artifact.is_empty() {
            // Replayed as their author, as a node applies a peer's delta.
            artifacts_a.push((oa.artifact.clone(), caller));
            artifacts_b.push((ob.artifact.clone(), caller));
            root = oa.root_hash;
        }
    }

    // Cross-apply: each module replays the other's deltas on an empty store and must reach the
    // root both reached (they are equal by now).
    for (label, replayer, artifacts) in [
        ("b applying a's deltas", side_b.fresh(), &artifacts_a),
        ("a applying b's deltas", side_a.fresh(), &artifacts_b),
    ] {
        let mut replayed = None;
        for (index, (artifact, author)) in artifacts.iter().enumerate() {
            let outcome = replayer.run(
                calimero_runtime::SYNC_NEXT,
                artifact.clone(),
                1_000_000 + index as u64,
                seed,
                *author,
            );
            if !outcome.should_persist() {
                return ended(
                    calls,
                    Difference {
                        at: format!("cross-apply ({label})"),
                        what: format!("delta {index} does not apply"),
                        a: format!("{:?}", outcome.returns),
                        b: String::new(),
                        hint: state_difference.clone(),
                    },
                );
            }
            replayed = outcome.root_hash;
        }
        if replayed != root {
            let show_root = |r: Option<[u8; 32]>| r.map_or("(none)".into(), |r| hex(&r));
            return ended(
                calls,
                Difference {
                    at: format!("cross-apply ({label})"),
                    what: "the state root after replaying every delta".into(),
                    a: show_root(root),
                    b: show_root(replayed),
                    hint: state_difference.clone(),
                },
            );
        }
    }
    if let Some(state_difference) = state_difference {
        return ended(
            calls,
            Difference {
                at: "ABI".into(),
                what: format!(
                    "{state_difference}; every call of this run stored the same bytes, but other \
                     calls may not"
                ),
                a: String::new(),
                b: String::new(),
                hint: None,
            },
        );
    }
    Ok(Report {
        calls,
        seed,
        difference: None,
    })
}

/// Writes the calls a run makes (the scenario's, then the generated ones) as a JSON scenario.
pub fn save_calls(
    path: &Path,
    module: &[u8],
    scenario: &[Step],
    options: Options,
) -> anyhow::Result<()> {
    let generated = generate::calls(
        &manifest(module, "module a")?,
        options.generated,
        options.seed,
    );
    let calls: Vec<Value> = scenario
        .iter()
        .chain(&generated)
        .map(|step| {
            if let Some(upgrade) = &step.upgrade {
                return json!({"upgrade": upgrade.module, "refused": upgrade.refused});
            }
            let mut call = json!({"method": step.method, "args": step.args});
            if let Some(expect) = &step.expect {
                call["expect"] = expect.clone();
            }
            if let Some(caller) = &step.caller {
                call["as"] = json!(caller);
            }
            call
        })
        .collect();
    std::fs::write(path, serde_json::to_string_pretty(&calls)? + "\n")
        .with_context(|| format!("cannot write {}", path.display()))
}

/// What `cargo calimero test` found for one module and one scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// The scenario's calls (not counting `init`).
    pub calls: usize,
    /// Its `upgrade` steps.
    pub upgrades: usize,
    /// Every call whose result was not the expected one (`a`: what it gave, `b`: the
    /// expectation).
    pub failures: Vec<Difference>,
}

/// Runs `scenario` (after `init`) on one module and checks every `expect`. Later calls run on
/// the state earlier ones left, failed or not, so one run reports every failing call.
pub fn check(module: &[u8], scenario: &[Step], seed: u64) -> anyhow::Result<Checked> {
    let mut side = Side::new("the module".into(), module)?;
    let init = side.run("init", b"{}".to_vec(), 0, seed, None);
    if let Err(error) = &init.returns {
        bail!("`init` failed: {error:?}");
    }
    let mut failures = Vec::new();
    for (i, step) in scenario.iter().enumerate() {
        let index = i + 1;
        if let Some(upgrade) = &step.upgrade {
            let bytes = std::fs::read(&upgrade.module).with_context(|| {
                format!(
                    "step {index}: cannot read the new version {}",
                    upgrade.module.display()
                )
            })?;
            let result = side.upgrade(&bytes, index as u64, seed);
            let at = format!("step {index} `upgrade` to {}", upgrade.module.display());
            match (result, upgrade.refused) {
                (Ok(_), false) | (Err(_), true) => {}
                (Ok(_), true) => failures.push(Difference {
                    at,
                    what: "a refused migration".into(),
                    a: "the context moved to the new version".into(),
                    b: "the migration refused, the context left as it was".into(),
                    hint: None,
                }),
                (Err(error), false) => failures.push(Difference {
                    at,
                    what: "the upgrade".into(),
                    a: format!("{error:#}"),
                    b: "the context moved to the new version".into(),
                    hint: None,
                }),
            }
            continue;
        }
        let outcome = side.run(
            &step.method,
            serde_json::to_vec(&step.args)?,
            index as u64,
            seed,
            step.caller.as_deref(),
        );
        if let Some(expect) = &step.expect {
            let got = result_json(&outcome);
            if got != *expect {
                failures.push(Difference {
                    at: call_label(index, step, false),
                    what: "the expected result".into(),
                    a: got.to_string(),
                    b: expect.to_string(),
                    hint: None,
                });
            }
        }
    }
    Ok(Checked {
        calls: scenario.iter().filter(|s| s.upgrade.is_none()).count(),
        upgrades: scenario.iter().filter(|s| s.upgrade.is_some()).count(),
        failures,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(name: &str, text: &str) -> anyhow::Result<Vec<Step>> {
        let dir = std::env::temp_dir().join(format!("calimero-scenario-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        load_scenario(&path)
    }

    #[test]
    fn json_and_yaml_scenarios_read_alike() {
        let json = load(
            "a.json",
            r#"[{"method": "set", "args": {"key": "a"}, "expect": {"output": null}, "as": "bob"},
                {"method": "len"}]"#,
        )
        .unwrap();
        let yaml = load(
            "a.yaml",
            "- method: set\n  args: {key: a}\n  expect: {output: null}\n  as: bob\n- method: len\n",
        )
        .unwrap();
        assert_eq!(json, yaml);
        assert_eq!(json[0].caller.as_deref(), Some("bob"));
        assert_eq!(json[1].args, json!({}));
        assert_eq!(json[1].expect, None);
    }

    #[test]
    fn a_malformed_scenario_is_refused_naming_the_call() {
        let error = load("b.json", r#"[{"method": "get", "expect": {"value": 1}}]"#)
            .unwrap_err()
            .to_string();
        assert!(error.contains("call 0 (`get`)"), "{error}");
        assert!(
            error.contains(r#"{"output": …} or {"error": …}"#),
            "{error}"
        );
        let error = load("c.yaml", "- method: get\n  as: 7\n")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("\"as\" names a member with a string"),
            "{error}"
        );
        let error = load("d.yaml", "- method: [\n").unwrap_err().to_string();
        assert!(error.contains("is not valid YAML"), "{error}");
        let error = load("e.json", r#"{"method": "get"}"#)
            .unwrap_err()
            .to_string();
        assert!(error.contains("a scenario is a list of calls"), "{error}");
    }

    #[test]
    fn long_values_are_cut_around_their_first_difference() {
        let a = format!("{}X{}", "a".repeat(500), "b".repeat(500));
        let b = format!("{}Y{}", "a".repeat(500), "b".repeat(500));
        let (x, y) = focus(&a, &b);
        assert!(x.starts_with('…') && x.ends_with('…'), "{x}");
        assert!(x.contains("aX") && y.contains("aY"), "{x} {y}");
        assert!(x.len() < 260, "{}", x.len());
        assert_eq!(focus("short", "shore"), ("short".into(), "shore".into()));
    }
}
