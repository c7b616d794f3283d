// The dispatcher: JSON arguments in, the method called on the loaded state, state saved and
// committed for mutating methods, the result returned as JSON. Driven by the ABI the toolchain
// extracted from the app's types.
import { ROOT_ENTRY, host } from "./host";
import { Reader, Scope, Writer, decode, describe, encode, flushStaged, isCollection, resolve, crdtType, setTypes } from "./borsh";
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

function withNull(t: any, nullable: boolean): any {
  return nullable ? { ...t, nullable: true } : t;
}

/** A JSON argument → the JavaScript value of type `t`. */
function fromJson(t: any, v: any, path: string): any {
  if (t.nullable && (v === null || v === undefined)) return null;
  if (v === undefined) throw new TypeError(`missing field \`${path}\``);
  if (t.variants !== undefined) {
    // A union parameter: the first member the value fits.
    for (const variant of t.variants) {
      try { return fromJson(variant, v, path); } catch { /* the next member */ }
    }
    throw new TypeError(`${path}: expected one of ${t.variants.map(typeName).join(" | ")}, got ${describe(v)}`);
  }
  if (t.$ref !== undefined) return fromJson(resolve(t), v, path);
  const fail = () => { throw new TypeError(`${path}: expected ${typeName(t)}, got ${describe(v)}`); };
  switch (t.kind) {
    case "string": if (typeof v !== "string") fail(); return v;
    case "bool": if (typeof v !== "boolean") fail(); return v;
    case "f32": case "f64":
      if (typeof v === "string" && /^-?\d+$/.test(v)) return Number(v);
      if (typeof v !== "number") fail();
      return v;
    case "u8": case "u16": case "u32": case "i8": case "i16": case "i32":
      if (typeof v !== "number" || !Number.isInteger(v)) fail(); return v;
    case "u64": case "i64": case "u128": case "i128":
      if (typeof v === "number" && Number.isInteger(v)) return BigInt(v);
      if (typeof v === "string" && /^-?\d+$/.test(v)) return BigInt(v);
      return fail();
    case "bytes":
      if (!Array.isArray(v) || v.some((b) => !Number.isInteger(b) || b < 0 || b > 255)) fail();
      return new Uint8Array(v);
    case "list": if (!Array.isArray(v)) fail(); return v.map((x, i) => fromJson(t.items, x, `${path}[${i}]`));
    case "tuple":
      if (!Array.isArray(v) || v.length !== t.elements.length) fail();
      return t.elements.map((e: any, i: number) => fromJson(e, v[i], `${path}[${i}]`));
    case "map": {
      if (v === null || typeof v !== "object" || Array.isArray(v)) fail();
      const out = new Map();
      for (const [k, x] of Object.entries(v)) out.set(k, fromJson(t.value, x, `${path}.${k}`));
      return out;
    }
    case "record": {
      if (v === null || typeof v !== "object" || Array.isArray(v)) fail();
      const out: any = {};
      for (const f of t.fields) out[f.name] = fromJson(withNull(f.type, !!f.nullable), v[f.name], `${path}.${f.name}`);
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

/** The JSON text with every integer of 16 or more digits quoted, so that `JSON.parse` keeps it
 * exact (a JavaScript number is exact only up to 2^53) and 64-bit parameters read it as a decimal
 * string, the way the Rust twin reads the number. */
function exactIntegers(text: string): string {
  let out = "";
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === '"') {
      // Copy the string, escapes included.
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j + 1;
      continue;
    }
    if (c === "-" || (c >= "0" && c <= "9")) {
      let j = i + 1;
      while (j < text.length && /[0-9.eE+\-]/.test(text[j])) j++;
      const number = text.slice(i, j);
      out += /^-?\d{16,}$/.test(number) ? `"${number}"` : number;
      i = j;
      continue;
    }
    out += c;
    i++;
  }
  return out;
}

function shape(m: any): string {
  return `{ ${m.params.map((p: any) => `"${p.name}": ${typeName(p.type)}${p.nullable ? " | null" : ""}`).join(", ")} }`;
}

function args(m: any): any[] {
  const input: string = host.input();
  const blank = input.trim() === "" || input.trim() === "null";
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
  const start = input.trimStart()[0];
  if (start !== "{" && start !== "[") {
    throw new Error(`invalid arguments (not a JSON object: ${input.slice(0, 64)}); expected a JSON object ${shape(m)}`);
  }
  let parsed: any;
  try {
    parsed = JSON.parse(exactIntegers(input));
  } catch (e: any) {
    throw new Error(`invalid arguments (${e.message}); expected a JSON object ${shape(m)}`);
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
    const known = keys.filter((key) => m.params.some((p: any) => p.name === key));
    if (known.length === keys.length) {
      values = m.params.map((p: any) => parsed[p.name]);
    } else if (known.length === 0 && keys.length > 0 && fitsWhole(m.params)) {
      // Upstream's single-object convention: the whole object is the first argument.
      values = m.params.map((_: any, i: number) => (i === 0 ? parsed : undefined));
    } else {
      const unknown = keys.find((key) => !m.params.some((p: any) => p.name === key));
      throw new Error(`invalid arguments (unknown field \`${unknown}\`); expected a JSON object ${shape(m)}`);
    }
  }
  try {
    return m.params.map((p: any, i: number) => fromJson(withNull(p.type, !!p.nullable), values[i], p.name));
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

function stateType(): any {
  return resolve({ $ref: registry.abi.state_root });
}

function saveState(state: any): void {
  const w = new Writer();
  const scope: Scope = { parent: ROOT_ENTRY, next: 0, bound: [], staged: [] };
  encode(stateType(), state, w, scope);
  host.rootSave(w.finish(), scope.bound);
  flushStaged(scope);
}

function loadState(): any {
  const fields = decode(stateType(), new Reader(host.rootLoad()));
  const state = Object.create(registry.logic.prototype);
  return Object.assign(state, fields);
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
  if (!host.isInitialized()) {
    throw new Error("storage: the app state is not initialized: create the context (which runs `init`) first");
  }
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
  const out = m.returns ? toJson(withNull(m.returns, !!m.returns_nullable), result) : null;
  host.returnOk(stringify(out === undefined ? null : out));
}

/** Called once per bundle evaluation by the code the toolchain appends. */
export function start(abi: any, app: string): void {
  registry.abi = abi;
  setTypes(abi.types, app);
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
