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
