// The CRDT collections, with the upstream JS SDK's method names. Values are stored with Borsh
// from the app's declared types by the same storage crate Rust apps use, so a TypeScript app
// and its Rust twin write the same entities.
import { host } from "./host";
import { Reader, Scope, Writer, decode, defaultOf, encode, flushStaged, keyBytes, recordTag, setFactories, skip } from "./borsh";

const UNTYPED = "this collection's element types are unknown: declare it as a field of the @State class (or inside one) with its type arguments";

// A detached collection (made with `new` and not yet in the state or another collection) keeps
// what it is given in `_staged`, in insertion order, and reads it back from there. When it is
// bound, the host creates its entity and `_flush` writes the staged elements through the
// ordinary methods, as if they had been written after; Rust apps get the same entities.

abstract class Collection {
  /** @internal */ _id: Uint8Array | null = null;
  /** @internal */ _type: any = null;
  /** @internal */ _staged: any = null;
  /** @internal */ _bind(id: Uint8Array, type: any): void {
    this._id = id;
    this._type = type;
  }
  /** @internal */ protected _ready(): Uint8Array {
    if (!this._id) throw new Error("this collection is detached: put it into the state or another collection before using it");
    if (!this._type) throw new Error(UNTYPED);
    return this._id;
  }
  /** @internal The staged content, created empty on first use; null once bound. */
  protected _stage<S>(make: () => S): S | null {
    if (this._id) return null;
    if (this._staged === null) this._staged = make();
    return this._staged;
  }
  /** @internal Writes the staged content (the collection is bound now). */
  _flush(): void {
    const staged = this._staged;
    this._staged = null;
    if (staged !== null) this._replay(staged);
  }
  /** @internal */ protected abstract _replay(staged: any): void;
}

/** Identifies a key or set element while detached, as its bytes would once typed. */
function stagedKey(v: any): string {
  switch (typeof v) {
    case "string": return "s" + v;
    case "number": case "bigint": return "n" + String(v);
    case "boolean": return v ? "t" : "f";
  }
  if (v instanceof Uint8Array) {
    let hex = "u";
    for (const b of v) hex += (b < 16 ? "0" : "") + b.toString(16);
    return hex;
  }
  throw new TypeError(`a map key or set element must be a string, number, bigint, boolean or Uint8Array, got ${v === null ? "null" : typeof v}`);
}

/** Writes an element; `record` tags it as a `@Mergeable` record (merged field by field). */
function save(collection: Uint8Array, id: Uint8Array, parts: [any, any][], record: string | null = null): void {
  const w = new Writer();
  const scope: Scope = { parent: id, next: 0, bound: [], staged: [] };
  for (const [type, value] of parts) encode(type, value, w, scope);
  host.save(collection, id, w.finish(), scope.bound, record);
  flushStaged(scope);
}

/** The `[key, value]` elements of a keyed store (frozen or per-account), in creation order. */
function keyedEntries<K, V>(collection: Uint8Array, type: any): [K, V][] {
  const out: [K, V][] = [];
  for (const id of host.elements(collection)) {
    const bytes = host.value(id);
    if (bytes === null) continue;
    const r = new Reader(bytes);
    const k = decode(type.key, r);
    out.push([k, decode(type.value, r)]);
  }
  return out;
}

/** The live elements of a set or vector, decoded, in creation order. */
function elements<T>(collection: Uint8Array, type: any): T[] {
  const out: T[] = [];
  for (const id of host.elements(collection)) {
    const bytes = host.value(id);
    if (bytes !== null) out.push(decode(type, new Reader(bytes)));
  }
  return out;
}

/** An add-wins map. `K` is a string, bytes, boolean or integer type. */
export class UnorderedMap<K, V> extends Collection {
  /** @internal */ protected _pending(): Map<string, [K, V]> | null {
    return this._id ? null : this._stage(() => new Map<string, [K, V]>());
  }
  /** @internal */ protected _replay(staged: Map<string, [K, V]>): void {
    for (const [key, value] of staged.values()) this.set(key, value);
  }
  set(key: K, value: V): void {
    const pending = this._pending();
    if (pending) {
      const k = stagedKey(key);
      const entry = pending.get(k);
      if (entry) entry[1] = value;
      else pending.set(k, [key, value]);
      return;
    }
    const map = this._ready();
    const parts: [any, any][] = [[this._type.key, key], [this._type.value, value]];
    save(map, host.entryId(map, keyBytes(this._type.key, key)), parts, recordTag(this._type.value));
  }
  get(key: K): V | null {
    const pending = this._pending();
    if (pending) return pending.get(stagedKey(key))?.[1] ?? null;
    const map = this._ready();
    return this._value(host.entryId(map, keyBytes(this._type.key, key)));
  }
  /** @internal The value of entry `id`, or null. */
  private _value(id: Uint8Array): V | null {
    const bytes = host.value(id);
    if (bytes === null) return null;
    const r = new Reader(bytes);
    skip(this._type.key, r);
    return decode(this._type.value, r);
  }
  has(key: K): boolean {
    const pending = this._pending();
    if (pending) return pending.has(stagedKey(key));
    const map = this._ready();
    return host.contains(host.entryId(map, keyBytes(this._type.key, key)));
  }
  /** Removes `key`; returns its value, or null if there was none. */
  remove(key: K): V | null {
    const pending = this._pending();
    if (pending) {
      const k = stagedKey(key);
      const entry = pending.get(k);
      pending.delete(k);
      return entry ? entry[1] : null;
    }
    const map = this._ready();
    const id = host.entryId(map, keyBytes(this._type.key, key));
    const previous = this._value(id);
    if (previous !== null) host.remove(id);
    return previous;
  }
  /** Every entry, in insertion order. */
  entries(): [K, V][] {
    const pending = this._pending();
    if (pending) return [...pending.values()].map(([k, v]) => [k, v] as [K, V]);
    const map = this._ready();
    const out: [K, V][] = [];
    for (const id of host.elements(map)) {
      const bytes = host.value(id);
      if (bytes === null) continue;
      const r = new Reader(bytes);
      const k = decode(this._type.key, r);
      out.push([k, decode(this._type.value, r)]);
    }
    return out;
  }
  keys(): K[] { return this.entries().map((e) => e[0]); }
  values(): V[] { return this.entries().map((e) => e[1]); }
  size(): number {
    const pending = this._pending();
    return pending ? pending.size : host.len(this._ready());
  }
  clear(): void {
    const pending = this._pending();
    if (pending) pending.clear();
    else host.clear(this._ready());
  }
}

/** An add-wins set of strings, bytes, booleans or integers. */
export class UnorderedSet<T> extends Collection {
  /** A new set; upstream's `{ initialValues }` fills it. */
  constructor(options?: { initialValues?: T[] }) {
    super();
    if (options !== undefined && options !== null) {
      noId(options, "new UnorderedSet");
      for (const value of options.initialValues ?? []) this.add(value);
    }
  }
  /** @internal */ protected _pending(): Map<string, T> | null {
    return this._id ? null : this._stage(() => new Map<string, T>());
  }
  /** @internal */ protected _replay(staged: Map<string, T>): void {
    for (const value of staged.values()) this.add(value);
  }
  /** Adds `value`; false if it was present. */
  add(value: T): boolean {
    const pending = this._pending();
    if (pending) {
      const k = stagedKey(value);
      if (pending.has(k)) return false;
      pending.set(k, value);
      return true;
    }
    const set = this._ready();
    const id = host.entryId(set, keyBytes(this._type.items, value));
    if (host.contains(id)) return false;
    save(set, id, [[this._type.items, value]]);
    return true;
  }
  has(value: T): boolean {
    const pending = this._pending();
    if (pending) return pending.has(stagedKey(value));
    const set = this._ready();
    return host.contains(host.entryId(set, keyBytes(this._type.items, value)));
  }
  /** Removes `value`; false if it was absent. */
  delete(value: T): boolean {
    const pending = this._pending();
    if (pending) return pending.delete(stagedKey(value));
    const set = this._ready();
    return host.remove(host.entryId(set, keyBytes(this._type.items, value)));
  }
  toArray(): T[] {
    const pending = this._pending();
    if (pending) return [...pending.values()];
    return elements(this._ready(), this._type.items);
  }
  size(): number {
    const pending = this._pending();
    return pending ? pending.size : host.len(this._ready());
  }
  clear(): void {
    const pending = this._pending();
    if (pending) pending.clear();
    else host.clear(this._ready());
  }
}

// Sorted collections store exactly what the unordered ones store and merge the same way; reads
// come in the order Rust's `Ord` gives the key type: strings by their UTF-8 bytes, integers by
// value, byte arrays lexicographically, false before true.

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

/** Compares two keys of one type the way the Rust twin's `Ord` does. */
function compareKeys(a: any, b: any): number {
  if (typeof a === "string" && typeof b === "string") {
    return compareBytes(host.utf8Encode(a), host.utf8Encode(b));
  }
  if (a instanceof Uint8Array && b instanceof Uint8Array) return compareBytes(a, b);
  if (typeof a === "boolean" && typeof b === "boolean") return Number(a) - Number(b);
  return a < b ? -1 : a > b ? 1 : 0;
}

/** `items` from index `from` (inclusive) to `to` (exclusive; null: unbounded), as `key` picks. */
function within<E>(items: E[], key: (item: E) => any, from: any, to: any): E[] {
  return items.filter((item) => (from === null || from === undefined || compareKeys(key(item), from) >= 0)
    && (to === null || to === undefined || compareKeys(key(item), to) < 0));
}

/** An add-wins map read in key order; it merges as an UnorderedMap. */
export class SortedMap<K, V> extends UnorderedMap<K, V> {
  /** Every entry, in key order. */
  entries(): [K, V][] {
    return super.entries().sort((a, b) => compareKeys(a[0], b[0]));
  }
  /** The entries with `from <= key < to` (null: unbounded), in key order. */
  range(from: K | null, to: K | null): [K, V][] {
    return within(this.entries(), (e) => e[0], from, to);
  }
  /** At most `limit` entries after skipping `offset`, in key order. */
  page(offset: number, limit: number): [K, V][] {
    return this.entries().slice(offset, offset + limit);
  }
  /** The entry with the least key, or null. */
  first(): [K, V] | null {
    return this.entries()[0] ?? null;
  }
  /** The entry with the greatest key, or null. */
  last(): [K, V] | null {
    const all = this.entries();
    return all.length > 0 ? all[all.length - 1] : null;
  }
}

/** An add-wins set read in order; it merges as an UnorderedSet. */
export class SortedSet<T> extends UnorderedSet<T> {
  /** Every element, in order. */
  toArray(): T[] {
    return super.toArray().sort(compareKeys);
  }
  /** The elements with `from <= element < to` (null: unbounded), in order. */
  range(from: T | null, to: T | null): T[] {
    return within(this.toArray(), (e) => e, from, to);
  }
  /** At most `limit` elements after skipping `offset`, in order. */
  page(offset: number, limit: number): T[] {
    return this.toArray().slice(offset, offset + limit);
  }
  /** The least element, or null. */
  first(): T | null {
    return this.toArray()[0] ?? null;
  }
  /** The greatest element, or null. */
  last(): T | null {
    const all = this.toArray();
    return all.length > 0 ? all[all.length - 1] : null;
  }
}

/** The tag of frozen elements (`calimero_storage::entities::FROZEN`). */
const FROZEN = "frozen_value";

/** Immutable values stored once under the SHA-256 of their Borsh encoding. The node refuses a
 * frozen element whose value does not hash to its key, and any deletion of one. */
export class FrozenStorage<T> extends Collection {
  /** @internal Frozen keys come from the declared type, so nothing is staged. */
  protected _replay(_staged: any): void {}
  /** Stores `value` unless it is there; returns its key (32 bytes). */
  insert(value: T): Uint8Array {
    if (!this._id) {
      throw new Error("a FrozenStorage keys values by their encoding, which needs its declared type: store it in the state (or another collection) before inserting");
    }
    const store = this._ready();
    const w = new Writer();
    encode(this._type.value, value, w, null);
    const key: Uint8Array = host.hash(w.finish());
    const id = host.entryId(store, key);
    if (!host.contains(id)) save(store, id, [[this._type.key, key], [this._type.value, value]], FROZEN);
    return key;
  }
  /** Upstream's name for {@link FrozenStorage.insert}. */
  add(value: T): Uint8Array { return this.insert(value); }
  /** The value stored under `key`, or null. */
  get(key: Uint8Array): T | null {
    const bytes = host.value(host.entryId(this._ready(), key));
    if (bytes === null) return null;
    const r = new Reader(bytes);
    skip(this._type.key, r);
    return decode(this._type.value, r);
  }
  has(key: Uint8Array): boolean {
    return host.contains(host.entryId(this._ready(), key));
  }
  /** Every `[key, value]`, in the order they were first stored. */
  entries(): [Uint8Array, T][] {
    return keyedEntries(this._ready(), this._type);
  }
  size(): number { return host.len(this._ready()); }
  /** Every key, in the order they were first stored. */
  hashes(): Uint8Array[] { return this.entries().map(([k]) => k); }
  /** Every value, in the order they were first stored. */
  values(): T[] { return this.entries().map(([, v]) => v); }
  /** Always throws: frozen values are never removed. */
  remove(): never { throw new Error("a FrozenStorage value is never removed"); }
}

/** The tag of user-storage elements (`calimero_storage::entities::USER_SLOT`). */
const USER_SLOT = "user_value";

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** One value per account (32-byte key). A call writes only its caller's value; it reads
 * anyone's. The storage layer marks an account's value, and everything inside it, as that
 * account's, and refuses any other writer, on this node and on every peer. */
export class UserStorage<V> extends Collection {
  /** @internal */ protected _pending(): Map<string, [Uint8Array, V]> | null {
    return this._id ? null : this._stage(() => new Map<string, [Uint8Array, V]>());
  }
  /** @internal */ protected _replay(staged: Map<string, [Uint8Array, V]>): void {
    for (const [user, value] of staged.values()) this._put(user, value);
  }
  /** @internal */ private _put(user: Uint8Array, value: V): void {
    const map = this._ready();
    const parts: [any, any][] = [[this._type.key, user], [this._type.value, value]];
    save(map, host.entryId(map, keyBytes(this._type.key, user)), parts, USER_SLOT);
  }
  /** @internal */ private _value(user: Uint8Array): V | null {
    const pending = this._pending();
    if (pending) return pending.get(hexOf(user))?.[1] ?? null;
    const bytes = host.value(host.entryId(this._ready(), keyBytes(this._type.key, user)));
    if (bytes === null) return null;
    const r = new Reader(bytes);
    skip(this._type.key, r);
    return decode(this._type.value, r);
  }
  /** Sets the caller's value; returns the previous one, or null. */
  insert(value: V): V | null {
    const me: Uint8Array = host.executorId();
    const previous = this._value(me);
    const pending = this._pending();
    if (pending) pending.set(hexOf(me), [me, value]);
    else this._put(me, value);
    return previous;
  }
  /** Sets `user`'s value, which only `user` itself may do. */
  setForUser(user: Uint8Array, value: V): void {
    const me: Uint8Array = host.executorId();
    if (!sameBytes(user, me)) {
      throw new Error(`only account ${hexOf(user)} may set its own value (the caller is ${hexOf(me)})`);
    }
    this.insert(value);
  }
  /** The caller's value, or null. */
  get(): V | null { return this._value(host.executorId()); }
  /** `user`'s value, or null. */
  getForUser(user: Uint8Array): V | null { return this._value(user); }
  containsCurrentUser(): boolean { return this.containsUser(host.executorId()); }
  containsUser(user: Uint8Array): boolean {
    const pending = this._pending();
    if (pending) return pending.has(hexOf(user));
    return host.contains(host.entryId(this._ready(), keyBytes(this._type.key, user)));
  }
  /** Removes the caller's value; returns it, or null. */
  remove(): V | null {
    const me: Uint8Array = host.executorId();
    const previous = this._value(me);
    const pending = this._pending();
    if (pending) pending.delete(hexOf(me));
    else if (previous !== null) host.remove(host.entryId(this._ready(), keyBytes(this._type.key, me)));
    return previous;
  }
  /** Every `[account, value]`, in the order the accounts first wrote. */
  entries(): [Uint8Array, V][] {
    const pending = this._pending();
    if (pending) return [...pending.values()].map(([k, v]) => [k, v]);
    return keyedEntries(this._ready(), this._type);
  }
  /** The accounts with a value. */
  users(): Uint8Array[] { return this.entries().map(([k]) => k); }
  keys(): Uint8Array[] { return this.users(); }
  values(): V[] { return this.entries().map(([, v]) => v); }
  size(): number {
    const pending = this._pending();
    return pending ? pending.size : host.len(this._ready());
  }
}

const utf8Bytes = (s: string): Uint8Array => host.utf8Encode(s);

/** An instance of a collection class made without its constructor (decoded from storage). */
function bound(cls: any): any {
  const made = Object.create(cls.prototype);
  made._id = null;
  made._type = null;
  made._staged = null;
  return made;
}

/** The tags of a shared storage's elements (`calimero_storage::entities::{WRITER_SET,
 * SHARED_VALUE}`). */
const WRITER_SET = "writer_set";
const SHARED_VALUE = "shared_value";
/** `WriterSet`: stamp `(u64, u128)`, writers (a sorted set of 32-byte accounts), frozen. */
const WRITER_SET_TYPE = {
  kind: "tuple",
  elements: [{ kind: "u64" }, { kind: "u128" }, { kind: "list", items: { kind: "bytes", size: 32 } }, { kind: "bool" }],
};

interface Writers { stamp: [bigint, bigint]; writers: Uint8Array[]; frozen: boolean }

function sortedAccounts(list: Uint8Array[]): Uint8Array[] {
  const byHex = new Map<string, Uint8Array>();
  for (const a of list) {
    if (!(a instanceof Uint8Array) || a.length !== 32) throw new TypeError("a writer is a 32-byte account");
    byHex.set(hexOf(a), a);
  }
  return [...byHex.keys()].sort().map((k) => byHex.get(k) as Uint8Array);
}

function stampBytes(stamp: [bigint, bigint]): Uint8Array {
  const w = new Writer();
  encode({ kind: "tuple", elements: [{ kind: "u64" }, { kind: "u128" }] }, stamp, w, null);
  return w.finish();
}

/** One value written only by the accounts of its writer set, which a writer can replace
 * (rotate) unless it was made frozen. The storage layer checks every writer, on this node and on
 * every peer, against the writer set each write names. */
export class SharedStorage<T> extends Collection {
  /** A new storage writable by `writers` holding `initial` (by default the empty value of its
   * declared type, as the Rust twin's `T::default()`). */
  constructor(writers: Uint8Array[] = [], frozen: boolean = false, initial?: T) {
    super();
    this._staged = { set: { stamp: [0n, 0n], writers: sortedAccounts(writers), frozen }, value: initial, hasValue: initial !== undefined };
  }
  /** @internal Nothing is staged through `_stage`: the first set and value always are. */
  protected _replay(staged: any): void {
    const storage = this._ready();
    const value = staged.hasValue ? staged.value : defaultOf(this._type.inner_type);
    this._saveSet(storage, host.entryId(storage, utf8Bytes("writers:genesis")), staged.set);
    save(storage, host.entryId(storage, utf8Bytes("value")), [[this._type.inner_type, value]], SHARED_VALUE);
  }
  /** @internal */ private _saveSet(storage: Uint8Array, id: Uint8Array, set: Writers): void {
    save(storage, id, [[WRITER_SET_TYPE, [set.stamp[0], set.stamp[1], set.writers, set.frozen]]], WRITER_SET);
  }
  /** @internal The current writer set (the greatest stamp). */
  private _current(): Writers {
    if (this._staged !== null) return this._staged.set;
    const storage = this._ready();
    const valueId = hexOf(host.entryId(storage, utf8Bytes("value")));
    let best: Writers | null = null;
    for (const id of host.elements(storage)) {
      if (hexOf(id) === valueId) continue;
      const bytes = host.value(id);
      if (bytes === null) continue;
      const [time, clock, writers, frozen] = decode(WRITER_SET_TYPE, new Reader(bytes));
      const stamp: [bigint, bigint] = [BigInt(time), BigInt(clock)];
      if (best === null || stamp[0] > best.stamp[0] || (stamp[0] === best.stamp[0] && stamp[1] > best.stamp[1])) {
        best = { stamp, writers, frozen };
      }
    }
    if (best === null) throw new Error("a shared storage without a writer set");
    return best;
  }
  /** @internal Throws unless the caller is a current writer. */
  private _checkWriter(): Writers {
    const current = this._current();
    const me: Uint8Array = host.executorId();
    if (!current.writers.some((w) => sameBytes(w, me))) {
      const id = this._id ? hexOf(this._id) : "0".repeat(64);
      throw new Error(`entity ${id} is written only by its shared storage's writers, and ${hexOf(me)} is not one of them`);
    }
    return current;
  }
  /** The value. */
  get(): T {
    if (this._staged !== null) {
      if (!this._staged.hasValue) throw new Error("this shared storage is detached and was given no value: store it in the state first, or pass a value");
      return this._staged.value;
    }
    const storage = this._ready();
    const bytes = host.value(host.entryId(storage, utf8Bytes("value")));
    if (bytes === null) throw new Error("a shared storage without its value");
    return decode(this._type.inner_type, new Reader(bytes));
  }
  /** Replaces the value (current writers only); returns the previous one. */
  insert(value: T): T | null {
    this._checkWriter();
    if (this._staged !== null) {
      const previous = this._staged.hasValue ? this._staged.value : null;
      this._staged.value = value;
      this._staged.hasValue = true;
      return previous;
    }
    const previous = this.get();
    const storage = this._ready();
    save(storage, host.entryId(storage, utf8Bytes("value")), [[this._type.inner_type, value]], SHARED_VALUE);
    return previous;
  }
  /** The accounts of the current writer set, in byte order. */
  writers(): Uint8Array[] { return this._current().writers; }
  /** The stamp `[time, id]` of the current writer set (`[0n, 0n]` for the first). */
  writersStamp(): [bigint, bigint] { return this._current().stamp; }
  isFrozen(): boolean { return this._current().frozen; }
  writableByMe(): boolean {
    try { this._checkWriter(); return true; } catch { return false; }
  }
  /** Replaces the writer set (current writers only, and not once frozen). */
  rotateWriters(writers: Uint8Array[]): void {
    const current = this._checkWriter();
    if (current.frozen) {
      const id = this._id ? hexOf(this._id) : "0".repeat(64);
      throw new Error(`entity ${id} cannot change: its shared storage's writer set is frozen`);
    }
    const next = sortedAccounts(writers);
    if (this._staged !== null) { this._staged.set.writers = next; return; }
    const storage = this._ready();
    const previous = current.stamp[0] === 0n && current.stamp[1] === 0n ? null : stampBytes(current.stamp);
    const r = new Reader(host.registerStamp(previous));
    const stamp: [bigint, bigint] = [BigInt(decode({ kind: "u64" }, r)), BigInt(decode({ kind: "u128" }, r))];
    const key = new Uint8Array(8 + 8 + 16);
    key.set(utf8Bytes("writers:"), 0);
    const view = new DataView(key.buffer);
    view.setBigUint64(8, stamp[0]);
    view.setBigUint64(16, stamp[1] >> 64n);
    view.setBigUint64(24, stamp[1] & 0xffffffffffffffffn);
    this._saveSet(storage, host.entryId(storage, key), { stamp, writers: next, frozen: false });
  }
}

// Text (`ReplicatedGrowableArray`): the same elements as the Rust collection. A character's
// id is its insert's HLC stamp (time, id) and its offset, big-endian (28 bytes); its value is
// `(code point u32, id of the character before it, deleted)`.
const CHAR_ID = { kind: "bytes", size: 28 };
const GLYPH = [{ kind: "u32" }, CHAR_ID, { kind: "bool" }];
const START = new Uint8Array(28);

interface Glyph { id: Uint8Array; ch: number; left: Uint8Array; deleted: boolean }

function hexOf(b: Uint8Array): string {
  let out = "";
  for (const x of b) out += (x < 16 ? "0" : "") + x.toString(16);
  return out;
}

/** Collaborative text; positions count Unicode code points, as Rust counts chars. */
export class ReplicatedGrowableArray extends Collection {
  /** @internal Text keys come from stamps taken when stored, so nothing is staged. */
  protected _replay(_staged: any): void {}
  /** @internal Every character in text order, tombstones included. */
  private _ordered(): Glyph[] {
    const after = new Map<string, Glyph[]>();
    for (const id of host.elements(this._ready())) {
      const bytes = host.value(id);
      if (bytes === null) continue;
      const r = new Reader(bytes);
      const key = decode(CHAR_ID, r);
      const glyph: Glyph = { id: key, ch: decode(GLYPH[0], r), left: decode(GLYPH[1], r), deleted: decode(GLYPH[2], r) };
      const at = hexOf(glyph.left);
      const list = after.get(at);
      if (list) list.push(glyph); else after.set(at, [glyph]);
    }
    // Newest first at each place (hex of big-endian ids sorts as the ids do).
    for (const list of after.values()) list.sort((a, b) => (hexOf(a.id) < hexOf(b.id) ? 1 : -1));
    const out: Glyph[] = [];
    const stack: Glyph[] = [...(after.get(hexOf(START)) ?? [])].reverse();
    while (stack.length > 0) {
      const glyph = stack.pop() as Glyph;
      out.push(glyph);
      const children = after.get(hexOf(glyph.id));
      if (children) for (let i = children.length - 1; i >= 0; i--) stack.push(children[i]);
    }
    return out;
  }
  /** @internal */
  private _visible(): Glyph[] {
    return this._ordered().filter((g) => !g.deleted);
  }
  /** @internal */
  private _write(glyph: Glyph): void {
    const rga = this._ready();
    save(rga, host.entryId(rga, glyph.id), [[CHAR_ID, glyph.id], [GLYPH[0], glyph.ch], [GLYPH[1], glyph.left], [GLYPH[2], glyph.deleted]]);
  }
  /** Inserts `text` so that its first character is at position `pos` (0 ..= length). */
  insertStr(pos: number, text: string): void {
    if (!this._id) throw new Error("store the ReplicatedGrowableArray in the state before editing it");
    const all = this._ordered();
    const visible = all.filter((g) => !g.deleted);
    if (!Number.isInteger(pos) || pos < 0 || pos > visible.length) {
      throw new RangeError(`index ${pos} is out of bounds for a text of length ${visible.length}`);
    }
    let left = pos === 0 ? START : visible[pos - 1].id;
    // The stamp a register write takes now: HLC time (u64 LE) then id (u128 LE); the time is
    // after every character seen, as in Rust.
    const stamp: Uint8Array = host.registerStamp(null);
    let time = 0n;
    for (let i = 7; i >= 0; i--) time = (time << 8n) | BigInt(stamp[i]);
    let seen = 0n;
    for (const g of all) {
      let t = 0n;
      for (let i = 0; i < 8; i++) t = (t << 8n) | BigInt(g.id[i]);
      if (t > seen) seen = t;
    }
    if (seen + 1n > time) time = seen + 1n > 0xffffffffffffffffn ? 0xffffffffffffffffn : seen + 1n;
    let offset = 0;
    for (const ch of text) {
      const id = new Uint8Array(28);
      for (let i = 0; i < 8; i++) id[i] = Number((time >> BigInt(8 * (7 - i))) & 0xffn);
      for (let i = 0; i < 16; i++) id[8 + i] = stamp[8 + 15 - i];
      id[24] = (offset >>> 24) & 0xff; id[25] = (offset >>> 16) & 0xff; id[26] = (offset >>> 8) & 0xff; id[27] = offset & 0xff;
      this._write({ id, ch: ch.codePointAt(0) as number, left, deleted: false });
      left = id;
      offset++;
    }
  }
  /** Inserts one character at position `pos`. */
  insert(pos: number, ch: string): void { this.insertStr(pos, ch); }
  /** Deletes the characters at positions `start ..< end`. */
  deleteRange(start: number, end: number): void {
    const visible = this._visible();
    if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || start > end || end > visible.length) {
      throw new RangeError(`index ${Math.max(start, end)} is out of bounds for a text of length ${visible.length}`);
    }
    for (const glyph of visible.slice(start, end)) this._write({ ...glyph, deleted: true });
  }
  /** Deletes the character at position `pos`. */
  delete(pos: number): void { this.deleteRange(pos, pos + 1); }
  /** The text. */
  getText(): string {
    return this._visible().map((g) => String.fromCodePoint(g.ch)).join("");
  }
  /** The number of characters. */
  len(): number { return this._visible().length; }
}

/** A list that grows at the end. */
export class Vector<T> extends Collection {
  /** A new vector holding `items` (written when it is stored). */
  static fromArray<T>(items: T[]): Vector<T> {
    const vector = new Vector<T>();
    for (const item of items) vector.push(item);
    return vector;
  }
  /** @internal */ private _pending(): T[] | null {
    return this._id ? null : this._stage(() => [] as T[]);
  }
  /** @internal */ protected _replay(staged: T[]): void {
    for (const value of staged) this.push(value);
  }
  push(value: T): void {
    const pending = this._pending();
    if (pending) { pending.push(value); return; }
    const vector = this._ready();
    save(vector, host.randomId(), [[this._type.items, value]], recordTag(this._type.items));
  }
  get(index: number): T | null {
    const pending = this._pending();
    if (pending) return index >= 0 && index < pending.length ? pending[index] : null;
    const vector = this._ready();
    const id = host.elements(vector)[index];
    if (id === undefined) return null;
    const bytes = host.value(id);
    return bytes === null ? null : decode(this._type.items, new Reader(bytes));
  }
  /** Replaces the element at `index`; returns the old one. Throws a RangeError past the end. */
  update(index: number, value: T): T {
    const pending = this._pending();
    if (pending) {
      if (!(index >= 0 && index < pending.length)) {
        throw new RangeError(`index ${index} is out of bounds: the vector has ${pending.length} elements`);
      }
      const old = pending[index];
      pending[index] = value;
      return old;
    }
    const vector = this._ready();
    const ids = host.elements(vector);
    const id = ids[index];
    const bytes = id === undefined ? null : host.value(id);
    if (id === undefined || bytes === null) {
      throw new RangeError(`index ${index} is out of bounds: the vector has ${ids.length} elements`);
    }
    const old = decode(this._type.items, new Reader(bytes));
    save(vector, id, [[this._type.items, value]], recordTag(this._type.items));
    return old;
  }
  pop(): T | null {
    const pending = this._pending();
    if (pending) return pending.length > 0 ? pending.pop() as T : null;
    const vector = this._ready();
    const ids = host.elements(vector);
    const last = ids[ids.length - 1];
    if (last === undefined) return null;
    const bytes = host.value(last);
    host.remove(last);
    return bytes === null ? null : decode(this._type.items, new Reader(bytes));
  }
  len(): number {
    const pending = this._pending();
    return pending ? pending.length : host.len(this._ready());
  }
  toArray(): T[] {
    const pending = this._pending();
    if (pending) return [...pending];
    return elements(this._ready(), this._type.items);
  }
  clear(): void {
    const pending = this._pending();
    if (pending) pending.length = 0;
    else host.clear(this._ready());
  }
}

/** A grow-only counter: every member's increments add up. */
export class Counter extends Collection {
  /** @internal */ private _pending(): { up: bigint } | null {
    return this._id ? null : this._stage(() => ({ up: 0n }));
  }
  /** @internal */ protected _replay(staged: { up: bigint }): void {
    if (staged.up > 0n) this.incrementBy(staged.up);
  }
  increment(): void { this.incrementBy(1); }
  incrementBy(amount: number | bigint): void {
    const n = BigInt(amount);
    if (n < 0n) throw new RangeError("a Counter only grows: incrementBy takes a non-negative amount");
    const pending = this._pending();
    if (pending) {
      pending.up = pending.up + n > 18446744073709551615n ? 18446744073709551615n : pending.up + n;
      return;
    }
    host.counterAdd(this._ready(), false, n.toString());
  }
  value(): bigint {
    const pending = this._pending();
    const up = pending ? pending.up : BigInt(host.counterTotals(this._ready())[0]);
    const n = BigInt(up);
    return n > 18446744073709551615n ? 18446744073709551615n : n;
  }
}

/** True for upstream's constructor options (`{ initialValue }`, `{ initialValues }`, `{ id }`)
 * rather than a value. */
function isOptions(v: any, keys: string[]): boolean {
  if (v === null || typeof v !== "object" || Array.isArray(v) || v instanceof Uint8Array) return false;
  const own = Object.keys(v);
  return own.length > 0 && own.every((k) => keys.includes(k) || k === "id");
}

function noId(options: any, what: string): void {
  if (options.id !== undefined) {
    throw new TypeError(`${what}: the id option is not supported here (a collection's id comes from where it is stored)`);
  }
}

/** A last-writer-wins register, stored inline in its parent. */
export class LwwRegister<T> {
  /** @internal */ _value: T;
  /** @internal */ _stamp: Uint8Array;
  /** A register holding `value`; also upstream's `{ initialValue }`, and nothing (empty: `get()`
   * gives null until `set`; it cannot be stored empty unless its type is nullable). */
  constructor(value?: T | { initialValue?: T }) {
    let initial: any = value === undefined ? null : value;
    if (isOptions(value, ["initialValue"])) {
      noId(value, "new LwwRegister");
      initial = (value as any).initialValue ?? null;
    }
    this._value = initial;
    this._stamp = host.registerStamp(null);
  }
  get(): T { return this._value; }
  set(value: T): void {
    this._value = value;
    this._stamp = host.registerStamp(this._stamp.subarray(0, 24));
  }
  /** Empties it (a later `get()` gives null). */
  clear(): void { this.set(null as any); }
}

setFactories(
  (type, id) => {
    // A stored collection: made without its constructor (nothing of a new one's staging
    // applies), as `bound` does, which costs a fraction of a `new`.
    const make = bound(
      type.crdt_type === "unordered_map" ? UnorderedMap
      : type.crdt_type === "sorted_map" ? SortedMap
      : type.crdt_type === "unordered_set" ? UnorderedSet
      : type.crdt_type === "sorted_set" ? SortedSet
      : type.crdt_type === "frozen_storage" ? FrozenStorage
      : type.crdt_type === "user_storage" ? UserStorage
      : type.crdt_type === "shared_storage" ? SharedStorage
      : type.crdt_type === "rga" ? ReplicatedGrowableArray
      : type.crdt_type === "vector" ? Vector : Counter);
    make._id = id;
    make._type = type;
    return make;
  },
  (value, stamp) => {
    const register = Object.create(LwwRegister.prototype);
    register._value = value;
    register._stamp = stamp;
    return register;
  },
);
