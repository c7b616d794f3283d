// Borsh encoding of values from their ABI types: the same bytes the Rust twin writes.
import { host } from "./host";

let TYPES: Record<string, any> = {};
let APP = "app";

export function setTypes(types: Record<string, any>, app: string): void {
  TYPES = types || {};
  APP = app;
}

/** A class marked `@Mergeable`: the name its elements are tagged with, and its own merge. */
export interface RecordRule {
  name: string;
  merge?: (mine: any, theirs: any) => any;
}

/** Classes marked `@Mergeable`, by class (type) name. */
export const RECORDS: Record<string, RecordRule> = {};

/** The record tag of map values or vector elements of type `t`, or null if they are not records. */
export function recordTag(t: any): string | null {
  if (!t || t.nullable || t.$ref === undefined) return null;
  const rule = RECORDS[t.$ref];
  return rule ? rule.name : null;
}

/** Follows `$ref`s to the type's definition (keeping nothing of the reference itself). */
export function resolve(t: any): any {
  let seen = 0;
  while (t && t.$ref !== undefined) {
    const next = TYPES[t.$ref];
    if (!next) throw new TypeError(`unknown type ${t.$ref}`);
    t = next;
    if (++seen > 64) throw new TypeError("type references loop");
  }
  return t;
}

export interface Scope {
  parent: Uint8Array;
  next: number;
  bound: [Uint8Array, Uint8Array][];
  /** Collections bound in this scope that were filled while detached: once the host has
   * created their entities (after the save that consumes `bound`), `flushStaged` writes it. */
  staged: any[];
}

/** Writes what the collections bound in `scope` were given while detached. */
export function flushStaged(scope: Scope): void {
  for (const collection of scope.staged) collection._flush();
}

export class Writer {
  buf = new Uint8Array(64);
  view = new DataView(this.buf.buffer);
  len = 0;
  room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
  u8(v: number): void { this.room(1); this.buf[this.len++] = v; }
  u32(v: number): void { this.room(4); this.view.setUint32(this.len, v, true); this.len += 4; }
  bytes(b: Uint8Array): void { this.room(b.length); this.buf.set(b, this.len); this.len += b.length; }
  sized(b: Uint8Array): void { this.u32(b.length); this.bytes(b); }
  finish(): Uint8Array { return this.buf.slice(0, this.len); }
}

export class Reader {
  // Assigned in the constructor rather than declared with initialisers: a class field is a
  // property definition, which costs QuickJS several times an assignment.
  declare buf: Uint8Array;
  declare at: number;
  /** @internal Made on first use: most values need only bytes and lengths. */
  declare _view: DataView | null;
  constructor(buf: Uint8Array) {
    this.buf = buf;
    this.at = 0;
    this._view = null;
  }
  get view(): DataView {
    if (this._view === null) this._view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
    return this._view;
  }
  need(n: number): void {
    if (this.at + n > this.buf.length) throw new RangeError("stored value is shorter than its type");
  }
  u8(): number { this.need(1); return this.buf[this.at++]; }
  u32(): number {
    const at = this.at, b = this.buf;
    if (at + 4 > b.length) throw new RangeError("stored value is shorter than its type");
    this.at = at + 4;
    return (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24)) >>> 0;
  }
  bytes(n: number): Uint8Array { this.need(n); const b = this.buf.slice(this.at, this.at + n); this.at += n; return b; }
  /** A borsh string: u32 length, UTF-8 bytes (decoded in place, not copied out first). */
  string(): string {
    const n = this.u32();
    const at = this.at;
    if (at + n > this.buf.length) throw new RangeError("stored value is shorter than its type");
    this.at = at + n;
    return host.utf8Decode(this.buf.subarray(at, at + n));
  }
}

const utf8 = (s: string): Uint8Array => host.utf8Encode(s);
const text = (b: Uint8Array): string => host.utf8Decode(b);

const MASK64 = (1n << 64n) - 1n;

function bigint(v: any, what: string): bigint {
  if (typeof v === "bigint") return v;
  if (typeof v === "number" && Number.isInteger(v)) return BigInt(v);
  if (typeof v === "string" && /^-?\d+$/.test(v)) return BigInt(v);
  throw new TypeError(`expected ${what}, got ${describe(v)}`);
}

export function describe(v: any): string {
  if (v === null) return "null";
  if (v instanceof Uint8Array) return "Uint8Array";
  if (Array.isArray(v)) return "array";
  if (typeof v === "object") return v.constructor && v.constructor.name !== "Object" ? v.constructor.name : "object";
  return typeof v === "string" ? JSON.stringify(v) : `${typeof v} ${String(v)}`;
}

const RANGES: Record<string, [number, number]> = {
  u8: [0, 255], u16: [0, 65535], u32: [0, 4294967295],
  i8: [-128, 127], i16: [-32768, 32767], i32: [-2147483648, 2147483647],
};

function int(v: any, kind: string): number {
  const [lo, hi] = RANGES[kind];
  if (typeof v === "bigint") v = Number(v);
  if (typeof v !== "number" || !Number.isInteger(v) || v < lo || v > hi) {
    throw new TypeError(`expected ${kind}, got ${describe(v)}`);
  }
  return v;
}

/** The CRDT collections, by `crdt_type`, that live in entities of their own. */
function resolveNullable(t: any): boolean {
  return !!t.nullable || t.kind === "unit";
}

export function isCollection(t: any): boolean {
  const c = t && t.crdt_type;
  return c === "unordered_map" || c === "unordered_set" || c === "sorted_map" || c === "sorted_set"
    || c === "vector" || c === "counter" || c === "frozen_storage" || c === "user_storage" || c === "rga"
    || c === "shared_storage";
}

export function encode(t: any, v: any, w: Writer, scope: Scope | null): void {
  if (t.nullable) {
    if (v === null || v === undefined) { w.u8(0); return; }
    w.u8(1);
  }
  if (t.$ref !== undefined) { encode(resolve(t), v, w, scope); return; }
  switch (t.crdt_type) {
    case "lww_register": {
      if (!v || typeof v.get !== "function" || !(v._stamp instanceof Uint8Array)) {
        throw new TypeError(`expected an LwwRegister, got ${describe(v)}`);
      }
      if ((v._value === null || v._value === undefined) && !resolveNullable(t.inner_type)) {
        throw new TypeError("an LwwRegister with no value cannot be stored (its type is not nullable): set it first");
      }
      encode(t.inner_type, v._value, w, scope);
      w.bytes(v._stamp);
      return;
    }
    case "unordered_map": case "unordered_set": case "sorted_map": case "sorted_set": case "vector": case "counter":
    case "frozen_storage": case "user_storage": case "rga": case "shared_storage": {
      if (!v || typeof v._bind !== "function") throw new TypeError(`expected a collection (${t.crdt_type}), got ${describe(v)}`);
      if (!v._id) {
        if (!scope) throw new Error("a collection is detached: put it into the state or another collection first");
        const id = host.collectionId(scope.parent, String(scope.next++));
        scope.bound.push([id, crdtType(t)]);
        v._bind(id, t);
        if (v._staged !== null) scope.staged.push(v);
      } else {
        v._type = t;
      }
      w.bytes(v._id);
      return;
    }
  }
  switch (t.kind) {
    case "bool":
      if (typeof v !== "boolean") throw new TypeError(`expected bool, got ${describe(v)}`);
      w.u8(v ? 1 : 0); return;
    case "u8": case "i8": { const n = int(v, t.kind); w.u8(n & 0xff); return; }
    case "u16": case "i16": { const n = int(v, t.kind); w.room(2); w.view.setUint16(w.len, n & 0xffff, true); w.len += 2; return; }
    case "u32": case "i32": { const n = int(v, t.kind); w.room(4); w.view.setUint32(w.len, n >>> 0, true); w.len += 4; return; }
    case "u64": case "i64": {
      const n = bigint(v, t.kind);
      if (t.kind === "u64" ? n < 0n || n > MASK64 : n < -(1n << 63n) || n >= 1n << 63n) throw new RangeError(`${n} is out of range for ${t.kind}`);
      w.room(8); w.view.setBigUint64(w.len, BigInt.asUintN(64, n), true); w.len += 8; return;
    }
    case "u128": case "i128": {
      const n = bigint(v, t.kind);
      if (t.kind === "u128" ? n < 0n || n >= 1n << 128n : n < -(1n << 127n) || n >= 1n << 127n) throw new RangeError(`${n} is out of range for ${t.kind}`);
      const u = BigInt.asUintN(128, n);
      w.room(16); w.view.setBigUint64(w.len, u & MASK64, true); w.view.setBigUint64(w.len + 8, u >> 64n, true); w.len += 16; return;
    }
    case "f32": case "f64":
      if (typeof v !== "number") throw new TypeError(`expected number, got ${describe(v)}`);
      if (t.kind === "f32") { w.room(4); w.view.setFloat32(w.len, v, true); w.len += 4; } else { w.room(8); w.view.setFloat64(w.len, v, true); w.len += 8; }
      return;
    case "string":
      if (typeof v !== "string") throw new TypeError(`expected string, got ${describe(v)}`);
      w.sized(utf8(v)); return;
    case "bytes":
      if (!(v instanceof Uint8Array)) throw new TypeError(`expected Uint8Array, got ${describe(v)}`);
      if (t.size === undefined) { w.sized(v); return; }
      // A fixed-size array (`[u8; N]`): no length prefix.
      if (v.length !== t.size) throw new RangeError(`expected ${t.size} bytes, got ${v.length}`);
      w.bytes(v); return;
    case "list": {
      if (!Array.isArray(v)) throw new TypeError(`expected array, got ${describe(v)}`);
      w.u32(v.length);
      for (const item of v) encode(t.items, item, w, scope);
      return;
    }
    case "tuple": {
      if (!Array.isArray(v) || v.length !== t.elements.length) throw new TypeError(`expected a tuple of ${t.elements.length}, got ${describe(v)}`);
      t.elements.forEach((e: any, i: number) => encode(e, v[i], w, scope));
      return;
    }
    case "map": {
      const entries: [any, any][] = v instanceof Map ? [...v.entries()] : v && typeof v === "object" ? Object.entries(v) : null as any;
      if (!entries) throw new TypeError(`expected Map or object, got ${describe(v)}`);
      // A BTreeMap: entries in key order.
      const keyed = entries.map(([k, x]) => { const kw = new Writer(); encode(t.key, k, kw, null); return [kw.finish(), k, x] as [Uint8Array, any, any]; });
      keyed.sort((a, b) => compareKeys(a[1], b[1], a[0], b[0]));
      w.u32(keyed.length);
      for (const [kb, , x] of keyed) { w.bytes(kb); encode(t.value, x, w, scope); }
      return;
    }
    case "record": {
      if (v === null || typeof v !== "object") throw new TypeError(`expected an object, got ${describe(v)}`);
      for (const f of t.fields) {
        const ft = f.nullable ? { ...f.type, nullable: true } : f.type;
        try {
          encode(ft, v[f.name], w, scope);
        } catch (e: any) {
          if (e instanceof TypeError && !String(e.message).startsWith("field ")) throw new TypeError(`field ${f.name}: ${e.message}`);
          throw e;
        }
      }
      return;
    }
    case "unit": return;
  }
  throw new TypeError(`cannot encode type ${JSON.stringify(t)}`);
}

function compareKeys(a: any, b: any, ab: Uint8Array, bb: Uint8Array): number {
  if ((typeof a === "number" || typeof a === "bigint") && (typeof b === "number" || typeof b === "bigint")) {
    return a < b ? -1 : a > b ? 1 : 0;
  }
  // Strings: UTF-8 byte order, as Rust orders `String`; the encodings start with the length,
  // so compare the bytes after it.
  const x = typeof a === "string" ? ab.subarray(4) : ab;
  const y = typeof b === "string" ? bb.subarray(4) : bb;
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
}

export type Make = (t: any, id: Uint8Array) => any;
let makeCollection: Make = () => { throw new Error("collections are not loaded"); };
let makeRegister: (value: any, stamp: Uint8Array) => any = () => { throw new Error("collections are not loaded"); };
export function setFactories(collection: Make, register: (value: any, stamp: Uint8Array) => any): void {
  makeCollection = collection;
  makeRegister = register;
}

/** Decodes the fields of record type `t` into `out`, in order; returns `out`. */
export function decodeFields(t: any, r: Reader, out: any): any {
  const fields = t.fields;
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i];
    out[f.name] = decode(f.nullable ? { ...f.type, nullable: true } : f.type, r);
  }
  return out;
}

/** Moves `r` past a value of type `t`; a string's or a byte list's bytes are skipped, not
 * decoded (for a map entry's key when only its value is wanted). */
export function skip(t: any, r: Reader): void {
  if (!t.nullable && t.$ref === undefined && t.crdt_type === undefined
      && (t.kind === "string" || (t.kind === "bytes" && t.size === undefined))) {
    const n = r.u32();
    r.need(n);
    r.at += n;
    return;
  }
  decode(t, r);
}

export function decode(t: any, r: Reader): any {
  if (t.nullable) {
    const tag = r.u8();
    if (tag === 0) return null;
    if (tag !== 1) throw new RangeError(`invalid Option tag ${tag}`);
  }
  if (t.$ref !== undefined) return decode(resolve(t), r);
  const crdt = t.crdt_type;
  if (crdt !== undefined) {
    switch (crdt) {
      case "lww_register": {
        const value = decode(t.inner_type, r);
        return makeRegister(value, r.bytes(56));
      }
      case "unordered_map": case "unordered_set": case "sorted_map": case "sorted_set": case "vector": case "counter":
      case "frozen_storage": case "user_storage": case "rga": case "shared_storage":
        return makeCollection(t, r.bytes(32));
    }
  }
  switch (t.kind) {
    // The most common first: a switch tries its cases in order.
    case "string": return r.string();
    case "record": return decodeFields(t, r, {});
    case "bool": { const b = r.u8(); if (b > 1) throw new RangeError(`invalid bool ${b}`); return b === 1; }
    case "u8": return r.u8();
    case "i8": { r.need(1); const v = r.view.getInt8(r.at); r.at += 1; return v; }
    case "u16": { r.need(2); const v = r.view.getUint16(r.at, true); r.at += 2; return v; }
    case "i16": { r.need(2); const v = r.view.getInt16(r.at, true); r.at += 2; return v; }
    case "u32": { r.need(4); const v = r.view.getUint32(r.at, true); r.at += 4; return v; }
    case "i32": { r.need(4); const v = r.view.getInt32(r.at, true); r.at += 4; return v; }
    case "u64": { r.need(8); const v = r.view.getBigUint64(r.at, true); r.at += 8; return v; }
    case "i64": { r.need(8); const v = r.view.getBigInt64(r.at, true); r.at += 8; return v; }
    case "u128": case "i128": {
      r.need(16);
      const lo = r.view.getBigUint64(r.at, true), hi = r.view.getBigUint64(r.at + 8, true);
      r.at += 16;
      const u = (hi << 64n) | lo;
      return t.kind === "u128" ? u : BigInt.asIntN(128, u);
    }
    case "f32": { r.need(4); const v = r.view.getFloat32(r.at, true); r.at += 4; return v; }
    case "f64": { r.need(8); const v = r.view.getFloat64(r.at, true); r.at += 8; return v; }
    case "bytes": return r.bytes(t.size === undefined ? r.u32() : t.size);
    case "list": { const n = r.u32(); const out = []; for (let i = 0; i < n; i++) out.push(decode(t.items, r)); return out; }
    case "tuple": return t.elements.map((e: any) => decode(e, r));
    case "map": { const n = r.u32(); const out = new Map(); for (let i = 0; i < n; i++) { const k = decode(t.key, r); out.set(k, decode(t.value, r)); } return out; }
    case "unit": return null;
  }
  throw new TypeError(`cannot decode type ${JSON.stringify(t)}`);
}

/** The bytes a key contributes to an element id (as Rust's `StorageKey`). */
/** The value Rust's `Default` gives type `t` (what a new `SharedStorage` holds), for the types
 * where it is known. */
export function defaultOf(t: any): any {
  if (t.nullable) return null;
  if (t.$ref !== undefined) {
    const r = resolve(t);
    if (r.kind === "record" && !r.crdt_type) {
      const out: any = {};
      for (const f of r.fields) out[f.name] = defaultOf(f.nullable ? { ...f.type, nullable: true } : f.type);
      return out;
    }
    return defaultOf(r);
  }
  if (t.crdt_type === "lww_register") {
    // Stamp zero (time 0, id 1) and no device, as Rust's `LwwRegister::default()`.
    const stamp = new Uint8Array(56);
    stamp[8] = 1;
    return makeRegister(defaultOf(t.inner_type), stamp);
  }
  if (isCollection(t)) {
    throw new TypeError(`give a new SharedStorage of a ${t.crdt_type} its value: new SharedStorage(writers, frozen, new ...())`);
  }
  switch (t.kind) {
    case "bool": return false;
    case "u8": case "u16": case "u32": case "i8": case "i16": case "i32": case "f32": case "f64": return 0;
    case "u64": case "i64": case "u128": case "i128": return 0n;
    case "string": return "";
    case "bytes": return t.size === undefined ? new Uint8Array(0) : new Uint8Array(t.size);
    case "list": return [];
    case "map": return new Map();
    case "unit": return null;
  }
  throw new TypeError(`no default value for ${JSON.stringify(t)}: pass the first value to new SharedStorage(writers, frozen, value)`);
}

export function keyBytes(t: any, v: any): Uint8Array {
  const r = resolve(t);
  switch (r.kind) {
    case "string":
      if (typeof v !== "string") throw new TypeError(`expected string key, got ${describe(v)}`);
      return utf8(v);
    case "bytes":
      if (!(v instanceof Uint8Array)) throw new TypeError(`expected Uint8Array key, got ${describe(v)}`);
      return v;
    case "bool": case "u8": case "i8": case "u16": case "i16": case "u32": case "i32":
    case "u64": case "i64": case "u128": case "i128": {
      const w = new Writer();
      encode(r, v, w, null);
      return w.finish();
    }
  }
  throw new TypeError(`a ${r.kind} cannot be a key: use a string, bytes, bool or integer`);
}

/** `std::any::type_name` of the Rust twin's type. */
export function rustName(t: any): string {
  if (t.nullable) return `core::option::Option<${rustName({ ...t, nullable: false })}>`;
  if (t.$ref !== undefined) return `${APP}::${t.$ref}`;
  const c = "calimero_storage::collections::";
  switch (t.crdt_type) {
    case "unordered_map": return `${c}unordered_map::UnorderedMap<${rustName(t.key)}, ${rustName(t.value)}>`;
    case "unordered_set": return `${c}unordered_set::UnorderedSet<${rustName(t.items)}>`;
    case "sorted_map": return `${c}sorted_map::SortedMap<${rustName(t.key)}, ${rustName(t.value)}>`;
    case "sorted_set": return `${c}sorted_set::SortedSet<${rustName(t.items)}>`;
    case "frozen_storage": return `${c}frozen::FrozenStorage<${rustName(t.value)}>`;
    case "user_storage": return `${c}user::UserStorage<${rustName(t.value)}>`;
    case "shared_storage": return `${c}shared::SharedStorage<${rustName(t.inner_type)}>`;
    case "rga": return `${c}rga::ReplicatedGrowableArray`;
    case "vector": return `${c}vector::Vector<${rustName(t.items)}>`;
    // `type_name` leaves out a const argument equal to its default (`Counter<false>`).
    case "counter": return `${c}counter::Counter${t.kind === "i64" ? "<true>" : ""}`;
    case "lww_register": return `${c}lww_register::LwwRegister<${rustName(t.inner_type)}>`;
  }
  switch (t.kind) {
    case "string": return "alloc::string::String";
    case "bytes": return t.size === undefined ? "alloc::vec::Vec<u8>" : `[u8; ${t.size}]`;
    case "list": return `alloc::vec::Vec<${rustName(t.items)}>`;
    case "map": return `alloc::collections::btree::map::BTreeMap<${rustName(t.key)}, ${rustName(t.value)}>`;
    case "unit": return "()";
    default: return t.kind;
  }
}

/** The Borsh of the `CrdtType` a collection entity is created with. */
export function crdtType(t: any): Uint8Array {
  const w = new Writer();
  switch (t.crdt_type) {
    case "lww_register": w.u8(0); w.sized(utf8(rustName(t.inner_type))); break;
    case "counter": w.u8(t.kind === "i64" ? 2 : 1); break;
    case "unordered_map": w.u8(4); w.sized(utf8(rustName(t.key))); w.sized(utf8(rustName(t.value))); break;
    case "sorted_map": w.u8(5); w.sized(utf8(rustName(t.key))); w.sized(utf8(rustName(t.value))); break;
    case "unordered_set": w.u8(6); w.sized(utf8(rustName(t.items))); break;
    case "sorted_set": w.u8(7); w.sized(utf8(rustName(t.items))); break;
    case "vector": w.u8(8); w.sized(utf8(rustName(t.items))); break;
    case "frozen_storage": w.u8(10); break;
    case "user_storage": w.u8(9); break;
    case "shared_storage": w.u8(11); break;
    case "rga": w.u8(3); break;
    default: throw new TypeError(`not a collection type: ${JSON.stringify(t)}`);
  }
  return w.finish();
}
