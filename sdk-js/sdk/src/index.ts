// @calimero/sdk: decorators, events and errors for Calimero apps in TypeScript.
import { registry } from "./runtime";
import { host } from "./host";
import { RECORDS } from "./borsh";

export {
  UnorderedMap, UnorderedSet, SortedMap, SortedSet, Vector, Counter, LwwRegister, FrozenStorage,
  ReplicatedGrowableArray, UserStorage, SharedStorage,
} from "./collections";
export * as env from "./env";
import {
  UnorderedMap, UnorderedSet, SortedMap, SortedSet, Vector, Counter, LwwRegister, FrozenStorage,
  UserStorage,
} from "./collections";

// Upstream's factory functions. Their options (`id`, `initialValues`, ...) are not taken: a
// collection's id comes from where it is stored, and a new one is filled after it is made.
function noOptions(name: string, options: unknown): void {
  if (options !== undefined && options !== null && Object.keys(options as object).length > 0) {
    throw new TypeError(`${name}: options are not supported here (a collection's id comes from where it is stored); fill it after creating it`);
  }
}
/** A new, empty map. */
export function createUnorderedMap<K, V>(options?: object): UnorderedMap<K, V> {
  noOptions("createUnorderedMap", options);
  return new UnorderedMap<K, V>();
}
/** A new, empty set. */
export function createUnorderedSet<T>(options?: object): UnorderedSet<T> {
  noOptions("createUnorderedSet", options);
  return new UnorderedSet<T>();
}
/** A new, empty sorted map. */
export function createSortedMap<K, V>(): SortedMap<K, V> {
  return new SortedMap<K, V>();
}
/** A new, empty sorted set. */
export function createSortedSet<T>(): SortedSet<T> {
  return new SortedSet<T>();
}
/** A new, empty vector. */
export function createVector<T>(options?: object): Vector<T> {
  noOptions("createVector", options);
  return new Vector<T>();
}
/** A new counter at zero. */
export function createCounter(options?: object): Counter {
  noOptions("createCounter", options);
  return new Counter();
}
/** A new register holding `options.initialValue`. */
export function createLwwRegister<T>(options: { initialValue: T }): LwwRegister<T> {
  return new LwwRegister<T>(options.initialValue);
}
/** A new, empty frozen store. */
export function createFrozenStorage<T>(options?: object): FrozenStorage<T> {
  noOptions("createFrozenStorage", options);
  return new FrozenStorage<T>();
}

/** A new, empty per-account store. */
export function createUserStorage<V>(options?: object): UserStorage<V> {
  noOptions("createUserStorage", options);
  return new UserStorage<V>();
}

// Private entries: one value per key in this node's private storage, never replicated. Values
// are kept as JSON, with bigint, Uint8Array and Map tagged so that they come back as they were.
function privateKey(key: string | Uint8Array): Uint8Array {
  if (key instanceof Uint8Array) return key;
  if (typeof key !== "string" || key.length === 0) throw new TypeError("a private entry's key is a non-empty string or Uint8Array");
  return host.utf8Encode(key);
}

function privateEncode(value: unknown): Uint8Array {
  const text = JSON.stringify(value, function (this: any, k: string, v: any) {
    const raw = this[k];
    if (typeof raw === "bigint") return { $bigint: raw.toString() };
    if (raw instanceof Uint8Array) return { $bytes: Array.from(raw) };
    if (raw instanceof Map) return { $map: [...raw.entries()] };
    return v;
  });
  return host.utf8Encode(text === undefined ? "null" : text);
}

function privateDecode(bytes: Uint8Array): any {
  return JSON.parse(host.utf8Decode(bytes), (_k, v) => {
    if (v !== null && typeof v === "object" && !Array.isArray(v)) {
      const keys = Object.keys(v);
      if (keys.length === 1 && keys[0] === "$bigint") return BigInt(v.$bigint);
      if (keys.length === 1 && keys[0] === "$bytes") return new Uint8Array(v.$bytes);
      if (keys.length === 1 && keys[0] === "$map") return new Map(v.$map);
    }
    return v;
  });
}

/** A value in this node's private storage (upstream's `PrivateEntryHandle`). */
export class PrivateEntryHandle<T> {
  /** @internal */ private readonly _key: Uint8Array;
  constructor(key: string | Uint8Array) {
    this._key = privateKey(key);
  }
  /** The value, or null. */
  get(): T | null {
    const bytes = host.privateRead(this._key);
    return bytes === null ? null : privateDecode(bytes);
  }
  /** Stores `value`. */
  set(value: T): void {
    if (!host.privateWrite(this._key, privateEncode(value))) {
      throw new Error("this node keeps no private storage for this call");
    }
  }
  /** Removes the value; true if there was one. */
  remove(): boolean {
    return host.privateRemove(this._key);
  }
  /** The value, stored first as `init()` makes it if there is none. */
  getOrInit(init: () => T): T {
    const current = this.get();
    if (current !== null) return current;
    const made = init();
    this.set(made);
    return made;
  }
  /** The value, or `fallback` (not stored) if there is none. */
  getOrDefault(fallback: T): T {
    const current = this.get();
    return current === null ? fallback : current;
  }
  /** Changes the value in place with `mutate` (starting from `init()` if there is none), stores
   * it, and returns it. */
  modify(mutate: (value: T) => void, init?: () => T): T {
    let value = this.get();
    if (value === null) {
      if (!init) throw new Error("there is no private value to modify; pass an initializer");
      value = init();
    }
    mutate(value);
    this.set(value);
    return value;
  }
}

/** The private entry under `key`: node-local, never in a delta (upstream's helper). */
export function createPrivateEntry<T>(key: string | Uint8Array): PrivateEntryHandle<T> {
  return new PrivateEntryHandle<T>(key);
}

/** Integer types: say exactly which Borsh integer a field or parameter is. */
export type u8 = number;
export type u16 = number;
export type u32 = number;
export type i8 = number;
export type i16 = number;
export type i32 = number;
export type u64 = bigint;
export type i64 = bigint;
export type u128 = bigint;
export type i128 = bigint;
export type f32 = number;
export type f64 = number;

/** Marks the app's root state class. */
export function State(target: any): any {
  registry.state = target;
  return target;
}

/** Marks the class whose public methods are the app's methods; it may extend the state class. */
export function Logic(state: any): (target: any) => any {
  return (target: any) => {
    registry.logic = target;
    if (state) registry.state = registry.state || state;
    return target;
  };
}

/** Marks the static method that returns the initial state (exported as `init`). */
export function Init(target: any, key: string): void {
  if (typeof target !== "function") throw new Error("@Init decorator can only be used on static methods");
  registry.init = key;
}

/** Marks a method as read-only: it never writes state. */
export function View(): (target: any, key: string) => void {
  return () => {};
}

/** Marks an event class; its fields, in declaration order, are the event's payload. */
export function Event(target: any): any {
  return target;
}

/** Options of `@Mergeable`. */
export interface MergeableOptions {
  /** The name elements are tagged with (default: the class name; a Rust twin uses its struct name). */
  type?: string;
  /** The app's own merge of two versions: deterministic, commutative, associative, idempotent. */
  merge?: (mine: any, theirs: any) => any;
}

/**
 * Marks a class stored as map values or vector elements as a record: when two members update
 * one element concurrently, the versions merge field by field (registers by stamp, collections
 * entity by entity, nested `@Mergeable` classes recursively), or by `options.merge`, instead of
 * the later version replacing the earlier. The Rust twin is `#[derive(Mergeable)]`.
 */
export function Mergeable(options: MergeableOptions = {}): (target: any) => any {
  return (target: any) => {
    RECORDS[target.name] = { name: options.type ?? target.name, merge: options.merge };
    return target;
  };
}

/** An error the caller receives as `{"kind": kind, "data": data}` (state is left unchanged). */
export class AppError extends Error {
  constructor(public kind: string, public data?: unknown) {
    super(data === undefined ? kind : `${kind}: ${typeof data === "string" ? data : JSON.stringify(data)}`);
    this.name = "AppError";
  }
}

function eventPayload(event: any): [string, string] {
  const kind = event && event.constructor && event.constructor.name;
  const described = (registry.abi.events || []).find((e: any) => e.name === kind);
  if (!described) throw new TypeError(`emit: ${kind} is not an @Event class of this app`);
  return [kind, registry.eventData(described, event)];
}

/** Emits an event to the context's members. */
export function emit(event: object): void {
  const [kind, data] = eventPayload(event);
  host.emit(kind, data);
}

/** Emits an event whose `handler` method every member runs when they apply it. */
export function emitWithHandler(event: object, handler: string): void {
  const [kind, data] = eventPayload(event);
  host.emit(kind, data, handler);
}
