//! `cargo calimero compat`: two modules, typically a Rust app and its TypeScript twin, run the
//! same calls on the same context with the same identity, clock and random source. After every
//! call their outputs, errors, events, delta artifacts, state roots and every storage key and
//! value must be equal; at the end, each module applies the other's deltas
//! (`__calimero_sync_next`) and must reach the same root. The first difference stops the run
//! with what a person can act on: the call, the key, both values.
//!
//! Not done yet: generated calls from the ABI (`--calls`), YAML scenarios, decoding values
//! through the ABI in the report.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::{Context, anyhow, bail};
use calimero_runtime::{
    CompiledModule, Determinism, FunctionCallError, Identity, Limits, Outcome, Runtime, Storage,
    StorageError,
};
use serde_json::{Value, json};

/// One call of a scenario.
#[derive(Clone, Debug)]
pub struct Step {
    pub method: String,
    pub args: Value,
    /// The expected result: `{"output": …}` or `{"error": …}` (compared when present).
    pub expect: Option<Value>,
}

/// Reads a scenario: a JSON array of `{"method", "args"?, "expect"?}`.
pub fn load_scenario(path: &Path) -> anyhow::Result<Vec<Step>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the scenario {}", path.display()))?;
    let value: Value = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not valid JSON (a scenario is a JSON array of {{\"method\", \"args\"}})",
            path.display()
        )
    })?;
    let Some(steps) = value.as_array() else {
        bail!("{}: a scenario is a JSON array of calls", path.display());
    };
    steps
        .iter()
        .enumerate()
        .map(|(i, step)| {
            let method = step
                .get("method")
                .and_then(Value::as_str)
                .ok_or_else(|| anyhow!("{}: call {i} has no \"method\"", path.display()))?;
            Ok(Step {
                method: method.to_owned(),
                args: step.get("args").cloned().unwrap_or_else(|| json!({})),
                expect: step.get("expect").cloned(),
            })
        })
        .collect()
}

/// Committed state in memory.
#[derive(Default)]
struct Memory(Mutex<BTreeMap<Vec<u8>, Vec<u8>>>);

impl Storage for Memory {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .cloned())
    }
    fn get_private(&self, _key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(None)
    }
}

impl Memory {
    fn apply(&self, outcome: &Outcome) {
        if outcome.should_persist() {
            let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
            for (key, value) in &outcome.writes {
                match value {
                    Some(value) => map.insert(key.clone(), value.clone()),
                    None => map.remove(key),
                };
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
    state: Arc<Memory>,
}

impl Side {
    fn new(label: String, bytes: &[u8]) -> anyhow::Result<Self> {
        let runtime = Runtime::new(Limits::default(), None);
        let (_, module) = runtime
            .prepare(bytes)
            .map_err(|e| anyhow!("{label} does not load: {e}"))?;
        Ok(Self {
            label,
            runtime,
            module,
            state: Arc::default(),
        })
    }

    /// A fresh side running the same module on an empty store.
    fn fresh(&self) -> Self {
        Self {
            label: self.label.clone(),
            runtime: Runtime::new(Limits::default(), None),
            module: self.module.clone(),
            state: Arc::default(),
        }
    }

    fn run(&self, entry: &str, input: Vec<u8>, index: u64, seed: u64) -> Outcome {
        self.runtime.set_determinism(Some(Determinism {
            time_ns: START_NS + index * 1_000_000,
            seed: seed ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15),
        }));
        let identity = Identity {
            context_id: CONTEXT,
            account_id: MEMBER,
            device_id: MEMBER,
            xcall_origin: None,
        };
        let outcome = if entry == calimero_runtime::SYNC_NEXT {
            self.runtime
                .apply_artifact(&self.module, input, identity, self.state.clone())
        } else {
            self.runtime
                .run(&self.module, entry, input, identity, self.state.clone())
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
    let text = match std::str::from_utf8(bytes) {
        Ok(text) if text.chars().all(|c| !c.is_control() || c == '\n') => format!("{text:?}"),
        _ => format!("0x{}", hex(bytes)),
    };
    if text.len() > 200 {
        format!("{}… ({} bytes)", &text[..200], bytes.len())
    } else {
        text
    }
}

/// The first difference found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// Where: `init`, `call 3 set {"key":"a"}`, `ABI`, `cross-apply`.
    pub at: String,
    /// What differs.
    pub what: String,
    pub a: String,
    pub b: String,
}

/// What a run found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub calls: usize,
    pub difference: Option<Difference>,
}

impl Report {
    pub fn to_json(&self) -> Value {
        match &self.difference {
            None => json!({"ok": true, "calls": self.calls}),
            Some(d) => {
                json!({"ok": false, "calls": self.calls, "at": d.at, "what": d.what, "a": d.a, "b": d.b})
            }
        }
    }
}

/// Compares one call's outcomes and the stores after it.
fn compare(at: &str, a: (&Side, &Outcome), b: (&Side, &Outcome)) -> Option<Difference> {
    let diff = |what: &str, x: String, y: String| {
        Some(Difference {
            at: at.to_owned(),
            what: what.to_owned(),
            a: x,
            b: y,
        })
    };
    let (ra, rb) = (result_json(a.1), result_json(b.1));
    if ra != rb {
        return diff("the result", ra.to_string(), rb.to_string());
    }
    let (ea, eb) = (events_json(a.1), events_json(b.1));
    if ea != eb {
        return diff("the events", ea.to_string(), eb.to_string());
    }
    let (sa, sb) = (a.0.state.snapshot(), b.0.state.snapshot());
    for key in sa.keys().chain(sb.keys()) {
        if sa.get(key) != sb.get(key) {
            return diff(
                &format!("storage key 0x{}", hex(key)),
                show(sa.get(key)),
                show(sb.get(key)),
            );
        }
    }
    if a.1.root_hash != b.1.root_hash {
        let root = |r: Option<[u8; 32]>| r.map_or("(no commit)".into(), |r| hex(&r));
        return diff("the state root", root(a.1.root_hash), root(b.1.root_hash));
    }
    if a.1.artifact != b.1.artifact {
        return diff(
            "the delta artifact",
            format!("0x{}", hex(&a.1.artifact)),
            format!("0x{}", hex(&b.1.artifact)),
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

/// What callers and storage see of an ABI: the state's types, each method's name, parameters
/// and result, and the events. Annotations (declared errors, intents) may differ between twins.
fn surface(abi: &Value) -> Value {
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
    // Only the types the state, the methods and the events use.
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
    let mut pending = Vec::new();
    if let Some(root) = abi["state_root"].as_str() {
        pending.push(root.to_owned());
    }
    refs(&json!([methods, events]), &mut pending);
    let mut types = serde_json::Map::new();
    while let Some(name) = pending.pop() {
        if types.contains_key(&name) {
            continue;
        }
        let definition = abi["types"].get(&name).cloned().unwrap_or(Value::Null);
        refs(&definition, &mut pending);
        types.insert(name, definition);
    }
    json!({
        "state_root": abi["state_root"],
        "types": types,
        "methods": methods,
        "events": events,
    })
}

/// Runs `scenario` on modules `a` and `b`; `seed` feeds both random sources.
pub fn run(a: &[u8], b: &[u8], scenario: &[Step], seed: u64) -> anyhow::Result<Report> {
    let manifest = |bytes: &[u8], label: &str| {
        calimero_wasm_abi::read_manifest(bytes)
            .map_err(|e| anyhow!("{label}: its ABI does not parse: {e}"))?
            .ok_or_else(|| {
                anyhow!("{label} has no embedded ABI (build it with `cargo calimero build`)")
            })
    };
    let (abi_a, abi_b) = (
        surface(&manifest(a, "module a")?),
        surface(&manifest(b, "module b")?),
    );
    if let Some((path, x, y)) = first_json_difference("abi", &abi_a, &abi_b) {
        return Ok(Report {
            calls: 0,
            difference: Some(Difference {
                at: "ABI".into(),
                what: format!("{path}: the modules do not declare the same app"),
                a: x.to_string(),
                b: y.to_string(),
            }),
        });
    }

    let side_a = Side::new("module a".into(), a)?;
    let side_b = Side::new("module b".into(), b)?;
    let mut artifacts_a = Vec::new();
    let mut artifacts_b = Vec::new();
    let mut root = None;
    let steps = std::iter::once(Step {
        method: "init".into(),
        args: json!({}),
        expect: None,
    })
    .chain(scenario.iter().cloned());
    let mut calls = 0;
    for (index, step) in steps.enumerate() {
        let input = serde_json::to_vec(&step.args)?;
        let at = if index == 0 {
            "init".to_owned()
        } else {
            format!("call {index} `{}` {}", step.method, step.args)
        };
        let oa = side_a.run(&step.method, input.clone(), index as u64, seed);
        let ob = side_b.run(&step.method, input, index as u64, seed);
        calls = index;
        if let Some(difference) = compare(&at, (&side_a, &oa), (&side_b, &ob)) {
            return Ok(Report {
                calls,
                difference: Some(difference),
            });
        }
        if let Some(expect) = &step.expect {
            let got = result_json(&oa);
            if got != *expect {
                return Ok(Report {
                    calls,
                    difference: Some(Difference {
                        at,
                        what: "the expected result".into(),
                        a: got.to_string(),
                        b: format!("{expect} (expected)"),
                    }),
                });
            }
        }
        if oa.should_persist() && !oa.artifact.is_empty() {
            artifacts_a.push(oa.artifact.clone());
            artifacts_b.push(ob.artifact.clone());
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
        for (index, artifact) in artifacts.iter().enumerate() {
            let outcome = replayer.run(
                calimero_runtime::SYNC_NEXT,
                artifact.clone(),
                10_000 + index as u64,
                seed,
            );
            if !outcome.should_persist() {
                return Ok(Report {
                    calls,
                    difference: Some(Difference {
                        at: format!("cross-apply ({label})"),
                        what: format!("delta {index} does not apply"),
                        a: format!("{:?}", outcome.returns),
                        b: String::new(),
                    }),
                });
            }
            replayed = outcome.root_hash;
        }
        if replayed != root {
            let show_root = |r: Option<[u8; 32]>| r.map_or("(none)".into(), |r| hex(&r));
            return Ok(Report {
                calls,
                difference: Some(Difference {
                    at: format!("cross-apply ({label})"),
                    what: "the state root after replaying every delta".into(),
                    a: show_root(root),
                    b: show_root(replayed),
                }),
            });
        }
    }
    Ok(Report {
        calls,
        difference: None,
    })
}
