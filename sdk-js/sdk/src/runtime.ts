// The dispatcher: JSON arguments in, the method called on the loaded state, state saved and
// committed for mutating methods, the result returned as JSON. Driven by the ABI the toolchain
// extracted from the app's types.
import { ROOT_ENTRY, host } from "./host";
import { Reader, Scope, Writer, decode, decodeFields, describe, encode, flushStaged, isCollection, resolve, crdtType, setTypes } from "./borsh";
import { mergeElement, mergeRoot } from "./merge";

export const registry: any = { state: null, logic: null, init: null, abi: { methods: [], events: [], types: {} }, eventData };

function typeName(t: any): string {
  if (t.$ref !== undefined) return t.$ref;
  if (t.crdt_type) return t.crdt_type;
  if (t.kind === "list") return `${typeName(t.items)}[]`;
  if (t.kind === "map") return `Map<${typeName(t.key)}, ${typeName(t.value)}>`;
  if (t.kind === "tuple") return `[${t.elements.map(typeName).join(", ")}]`;
  return t.kind;
}

function failed(t: any, v: any, path: string): never {
  throw new TypeError(`${path}: expected ${typeName(t)}, got ${describe(v)}`);
}

/** A JSON argument → the JavaScript value of type `t` (or null, if `nullable`). */
function fromJson(t: any, v: any, path: string, nullable = false): any {
  if ((nullable || t.nullable) && (v === null || v === undefined)) return null;
  if (v === undefined) throw new TypeError(`missing field \`${path}\``);
  if (t.variants !== undefined) {
    // A union parameter: the first member the value fits.
    for (const variant of t.variants) {
      try { return fromJson(variant, v, path); } catch { /* the next member */ }
    }
    throw new TypeError(`${path}: expected one of ${t.variants.map(typeName).join(" | ")}, got ${describe(v)}`);
  }
  if (t.$ref !== undefined) return fromJson(resolve(t), v, path);
  switch (t.kind) {
    case "string": if (typeof v !== "string") failed(t, v, path); return v;
    case "bool": if (typeof v !== "boolean") failed(t, v, path); return v;
    case "f32": case "f64":
      if (typeof v === "string" && /^-?\d+$/.test(v)) return Number(v);
      if (typeof v !== "number") failed(t, v, path);
      return v;
    case "u8": case "u16": case "u32": case "i8": case "i16": case "i32":
      if (typeof v !== "number" || !Number.isInteger(v)) failed(t, v, path); return v;
    case "u64": case "i64": case "u128": case "i128":
      if (typeof v === "number" && Number.isInteger(v)) return BigInt(v);
      if (typeof v === "string" && /^-?\d+$/.test(v)) return BigInt(v);
      return failed(t, v, path);
    case "bytes":
      if (!Array.isArray(v) || v.some((b) => !Number.isInteger(b) || b < 0 || b > 255)) failed(t, v, path);
      return new Uint8Array(v);
    case "list": if (!Array.isArray(v)) failed(t, v, path); return v.map((x, i) => fromJson(t.items, x, `${path}[${i}]`));
    case "tuple":
      if (!Array.isArray(v) || v.length !== t.elements.length) failed(t, v, path);
      return t.elements.map((e: any, i: number) => fromJson(e, v[i], `${path}[${i}]`));
    case "map": {
      if (v === null || typeof v !== "object" || Array.isArray(v)) failed(t, v, path);
      const out = new Map();
      for (const [k, x] of Object.entries(v)) out.set(k, fromJson(t.value, x, `${path}.${k}`));
      return out;
    }
    case "record": {
      if (v === null || typeof v !== "object" || Array.isArray(v)) failed(t, v, path);
      const out: any = {};
      for (const f of t.fields) out[f.name] = fromJson(f.type, v[f.name], `${path}.${f.name}`, !!f.nullable);
      return out;
    }
  }
  throw new TypeError(`${path}: the type ${typeName(t)} cannot come from JSON`);
}

/** A JavaScript value of type `t` → JSON-ready data (64-bit and larger integers as bigints,
 * which {@link stringify} writes as exact JSON numbers). */
function toJson(t: any, v: any): any {
  if (v === null || v === undefined) return null;
  if (t.$ref !== undefined) return toJson(resolve(t), v);
  switch (t.crdt_type) {
    case "lww_register": return toJson(t.inner_type, v.get());
    case "counter": return v.value();
    case "unordered_map": case "sorted_map": return toJson({ kind: "map", key: t.key, value: t.value }, new Map(v.entries()));
    case "rga": return v.getText();
    case "shared_storage": return toJson(t.inner_type, v.get());
    case "frozen_storage": case "user_storage": return v.entries().map(([k, x]: [Uint8Array, any]) => [toJson(t.key, k), toJson(t.value, x)]);
    case "unordered_set": case "sorted_set": case "vector": return v.toArray().map((x: any) => toJson(t.items, x));
  }
  switch (t.kind) {
    case "u64": case "i64": case "u128": case "i128": return BigInt(v);
    case "bytes": return Array.from(v as Uint8Array);
    case "list": return (v as any[]).map((x) => toJson(t.items, x));
    case "tuple": return t.elements.map((e: any, i: number) => toJson(e, (v as any[])[i]));
    case "map": {
      const entries: [any, any][] = v instanceof Map ? [...v.entries()] : Object.entries(v);
      // Keys in sorted order, as the Rust twin's BTreeMap prints them.
      entries.sort((a, b) => (String(a[0]) < String(b[0]) ? -1 : String(a[0]) > String(b[0]) ? 1 : 0));
      const out: any = {};
      for (const [k, x] of entries) out[String(k)] = toJson(t.value, x);
      return out;
    }
    case "record": {
      const out: any = {};
      for (const f of t.fields) out[f.name] = toJson(f.type, v[f.name]);
      return out;
    }
    default: return v;
  }
}

/** JSON text of data with no bigints in it. */
function plain(value: any): string {
  const text = JSON.stringify(value);
  return text === undefined ? "null" : text;
}

/** True if a value of type `t` can hold integers of 64 bits or more (which {@link stringify}
 * must write as exact numbers); unknown or dynamic types count as true. */
function holdsBigints(t: any, seen: Set<string> = new Set()): boolean {
  if (!t) return false;
  if (t.variants !== undefined) return t.variants.some((v: any) => holdsBigints(v, seen));
  if (t.$ref !== undefined) {
    if (seen.has(t.$ref)) return false;
    seen.add(t.$ref);
    return holdsBigints(resolve(t), seen);
  }
  switch (t.crdt_type) {
    case undefined: break;
    case "lww_register": case "shared_storage": return holdsBigints(t.inner_type, seen);
    case "rga": return false;
    case "unordered_map": case "sorted_map": case "frozen_storage": case "user_storage":
      return holdsBigints(t.key, seen) || holdsBigints(t.value, seen);
    case "unordered_set": case "sorted_set": case "vector": return holdsBigints(t.items, seen);
    default: return true;
  }
  switch (t.kind) {
    case "string": case "bool": case "bytes": case "unit":
    case "u8": case "u16": case "u32": case "i8": case "i16": case "i32": case "f32": case "f64":
      return false;
    case "list": return holdsBigints(t.items, seen);
    case "tuple": return t.elements.some((e: any) => holdsBigints(e, seen));
    case "map": return holdsBigints(t.key, seen) || holdsBigints(t.value, seen);
    case "record": return t.fields.some((f: any) => holdsBigints(f.type, seen));
    default: return true;
  }
}

/** JSON text in which bigints are exact numbers, as the Rust twin (serde_json) writes 64-bit and
 * larger integers. */
function stringify(value: any): string {
  const text = JSON.stringify(value, (_key, v) => (typeof v === "bigint" ? `\u0000bigint:${v.toString()}` : v));
  return text === undefined ? "null" : text.replace(/"\\u0000bigint:(-?\d+)"/g, "$1");
}

function eventData(described: any, event: any): string {
  const payload = described.payload;
  if (!payload) return "";
  return stringify(toJson(payload, event));
}

function shape(m: any): string {
  return `{ ${m.params.map((p: any) => `"${p.name}": ${typeName(p.type)}${p.nullable ? " | null" : ""}`).join(", ")} }`;
}

function args(m: any): any[] {
  if (m.params.length > 0) {
    // The usual call: a JSON object or array, parsed natively with its large integers quoted.
    // Anything else (nothing, a scalar, bad JSON) takes the path below, which says what is wrong.
    const parsed = host.inputJson();
    if (parsed !== undefined) return fromParsed(m, parsed);
  }
  const input: string = host.input();
  const trimmed = input.trim();
  const blank = trimmed === "" || trimmed === "null";
  if (m.params.length === 0) {
    if (blank) return [];
    let parsed: any;
    try { parsed = JSON.parse(input); } catch { parsed = undefined; }
    if (parsed && typeof parsed === "object" && !Array.isArray(parsed) && Object.keys(parsed).length === 0) return [];
    throw new Error(`takes no arguments, but the call sent ${input}; send {} or nothing`);
  }
  const optional = (p: any): boolean => !!p.nullable;
  if (blank) {
    if (m.params.every(optional)) return m.params.map(() => null);
    throw new Error(`missing arguments; expected a JSON object ${shape(m)}`);
  }
  const start = trimmed[0];
  if (start !== "{" && start !== "[") {
    throw new Error(`invalid arguments (not a JSON object: ${input.slice(0, 64)}); expected a JSON object ${shape(m)}`);
  }
  let parsed: any;
  try {
    // Every integer of 16 or more digits quoted, so that it stays exact (see the engine's
    // `exactIntegers`).
    parsed = JSON.parse(host.exactIntegers(input));
  } catch (e: any) {
    throw new Error(`invalid arguments (${e.message}); expected a JSON object ${shape(m)}`);
  }
  return fromParsed(m, parsed);
}

/** The arguments of `m` from the parsed JSON object or array of a call. */
function fromParsed(m: any, parsed: any): any[] {
  const simple: string[] | null = m._simple;
  if (simple !== null && parsed !== null && !Array.isArray(parsed) && Object.keys(parsed).length === simple.length) {
    // Every parameter a string or a boolean: as many fields as parameters, each of its type, is
    // exactly the call fromJson accepts. Anything else takes the general path and its messages.
    const params = m.params;
    const out = new Array(params.length);
    let i = 0;
    for (; i < params.length; i++) {
      const v = parsed[params[i].name];
      if (typeof v !== simple[i]) break;
      out[i] = v;
    }
    if (i === params.length) return out;
  }
  let values: any[];
  if (Array.isArray(parsed)) {
    // Positional, as upstream also takes them.
    if (parsed.length > m.params.length) {
      throw new Error(`invalid arguments (${parsed.length} given, the method takes ${m.params.length}); expected a JSON object ${shape(m)}`);
    }
    values = m.params.map((_: any, i: number) => parsed[i]);
  } else {
    const keys = Object.keys(parsed);
    const names: Set<string> = m._names;
    let known = 0;
    let unknown: string | undefined;
    for (let i = 0; i < keys.length; i++) {
      if (names.has(keys[i])) known++;
      else if (unknown === undefined) unknown = keys[i];
    }
    const params = m.params;
    values = new Array(params.length);
    if (known === keys.length) {
      for (let i = 0; i < params.length; i++) values[i] = parsed[params[i].name];
    } else if (known === 0 && keys.length > 0 && fitsWhole(params)) {
      // Upstream's single-object convention: the whole object is the first argument.
      values[0] = parsed;
    } else {
      throw new Error(`invalid arguments (unknown field \`${unknown}\`); expected a JSON object ${shape(m)}`);
    }
  }
  try {
    const params = m.params;
    const out = new Array(params.length);
    for (let i = 0; i < params.length; i++) {
      const p = params[i];
      out[i] = fromJson(p.type, values[i], p.name, !!p.nullable);
    }
    return out;
  } catch (e: any) {
    throw new Error(`invalid arguments (${e.message}); expected a JSON object ${shape(m)}`);
  }
}

/** True if a parameter can take a whole JSON object: a record or a map (or a union with one),
 * and every other parameter is optional. */
function fitsWhole(params: any[]): boolean {
  const kinds = (t: any): string[] => {
    if (t.variants !== undefined) return t.variants.flatMap(kinds);
    const r = t.$ref !== undefined ? resolve(t) : t;
    return [r.kind];
  };
  return params.length > 0
    && kinds(params[0].type).some((k) => k === "record" || k === "map")
    && params.slice(1).every((p) => !!p.nullable);
}

let STATE_TYPE: any = null;

function stateType(): any {
  if (STATE_TYPE === null) STATE_TYPE = resolve({ $ref: registry.abi.state_root });
  return STATE_TYPE;
}

function saveState(state: any): void {
  const w = new Writer();
  const scope: Scope = { parent: ROOT_ENTRY, next: 0, bound: [], staged: [] };
  encode(stateType(), state, w, scope);
  host.rootSave(w.finish(), scope.bound);
  flushStaged(scope);
}

function loadState(): any {
  const t = stateType();
  const state = Object.create(registry.logic.prototype);
  const r = new Reader(host.rootLoad());
  // A record (every @State class): its fields go straight onto the state object.
  if (t.kind === "record" && t.crdt_type === undefined && !t.nullable) return decodeFields(t, r, state);
  return Object.assign(state, decode(t, r));
}

function init(m: any): void {
  if (host.isInitialized()) {
    throw new Error(`the app state is already initialized; \`${m.name}\` runs once, when the context is created`);
  }
  const parameters = args(m);
  host.beginInit();
  const made = registry.init ? registry.logic[registry.init](...parameters) : new registry.state();
  if (made === null || typeof made !== "object") throw new TypeError(`${registry.init} must return the initial state object`);
  for (const f of stateType().fields) {
    if (!isCollection(f.type)) continue;
    const collection = made[f.name];
    if (!collection || typeof collection._bind !== "function") {
      throw new TypeError(`the initial state's field ${f.name} must be a ${f.type.crdt_type}, got ${describe(collection)}`);
    }
    if (!collection._id) {
      collection._bind(host.attachField(f.name, crdtType(f.type)), f.type);
      collection._flush();
    }
  }
  saveState(made);
  host.commit();
  host.returnOk("null");
}

function call(m: any): void {
  const parameters = args(m);
  // Before `init`, this throws "storage: the app state is not initialized: create the context
  // (which runs `init`) first".
  const state = loadState();
  const method = registry.logic.prototype[m.name];
  let result: any;
  try {
    result = method.apply(state, parameters);
  } catch (e: any) {
    if (e && e.name === "AppError" && typeof e.kind === "string") {
      host.returnErr(stringify(e.data === undefined ? { kind: e.kind } : { kind: e.kind, data: toJson({ kind: "any" }, e.data) }));
      return;
    }
    throw e;
  }
  if (result && typeof result.then === "function") throw new Error("async methods are not supported: return the value itself");
  if (m.intent !== "read_only") {
    saveState(state);
    host.commit();
  }
  // (A null result is null whatever the type: nothing of `returns_nullable` is needed here.)
  const out = !m.returns ? null : m._itself ? (result ?? null) : toJson(m.returns, result);
  host.returnOk(m._exact ? stringify(out === undefined ? null : out) : plain(out));
}

/** Called once per bundle evaluation by the code the toolchain appends. */
export function start(abi: any, app: string): void {
  registry.abi = abi;
  setTypes(abi.types, app);
  // Worked out once, in the snapshot, instead of on every call.
  for (const m of abi.methods) {
    m._names = new Set(m.params.map((p: any) => p.name));
    // For parameters that are all strings or booleans, the `typeof` of each.
    const simple = m.params.map((p: any) => {
      const t = p.type.$ref !== undefined ? resolve(p.type) : p.type;
      const plain = !p.nullable && !p.type.nullable && !t.nullable && t.variants === undefined && t.crdt_type === undefined;
      return !plain ? null : t.kind === "string" ? "string" : t.kind === "bool" ? "boolean" : null;
    });
    m._simple = simple.length > 0 && !simple.includes(null) ? simple : null;
    m._exact = holdsBigints(m.returns);
    // Results that are their own JSON (what `toJson` would give back unchanged).
    const returned = m.returns ? resolve(m.returns) : null;
    m._itself = returned !== null && returned.crdt_type === undefined && returned.variants === undefined
      && ["string", "bool", "u8", "u16", "u32", "i8", "i16", "i32", "f32", "f64"].includes(returned.kind);
  }
  const root = { $ref: abi.state_root };
  // Called by the engine while it applies a peer's delta (see merge.ts).
  (globalThis as any).__calimero_merge = (name: string, mine: Uint8Array, theirs: Uint8Array) => mergeElement(root, name, mine, theirs);
  (globalThis as any).__calimero_merge_root = (mine: Uint8Array, theirs: Uint8Array) => mergeRoot(root, mine, theirs);
  (globalThis as any).__calimero_dispatch = (index: number) => {
    const m = abi.methods[index];
    if (!m) throw new Error(`no method number ${index}`);
    if (!registry.logic) throw new Error("the app has no @Logic class");
    try {
      if (m.name === "init") init(m);
      else call(m);
    } catch (e: any) {
      if (e instanceof Error) e.message = `${m.name}: ${e.message}`;
      throw e;
    }
  };
}
