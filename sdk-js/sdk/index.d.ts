// @calimero/sdk: decorators, events and errors for Calimero apps in TypeScript.
// Types map to the Rust twin's Borsh types: string ↔ String, boolean ↔ bool, number ↔ f64,
// the integer aliases below ↔ the Rust integers, Uint8Array ↔ Vec<u8>, T[] ↔ Vec<T>,
// T | null ↔ Option<T>, classes and interfaces ↔ structs (fields in declaration order).

export {
  UnorderedMap, UnorderedSet, SortedMap, SortedSet, Vector, Counter, LwwRegister, FrozenStorage,
  ReplicatedGrowableArray, UserStorage, SharedStorage,
} from "./collections";
export * as env from "./env";
import {
  UnorderedMap, UnorderedSet, SortedMap, SortedSet, Vector, Counter, LwwRegister, FrozenStorage,
  UserStorage,
} from "./collections";

/** A new, empty map (upstream's factory; options are not taken). */
export declare function createUnorderedMap<K, V>(options?: object): UnorderedMap<K, V>;
/** A new, empty set. */
export declare function createUnorderedSet<T>(options?: object): UnorderedSet<T>;
/** A new, empty sorted map. */
export declare function createSortedMap<K, V>(): SortedMap<K, V>;
/** A new, empty sorted set. */
export declare function createSortedSet<T>(): SortedSet<T>;
/** A new, empty vector. */
export declare function createVector<T>(options?: object): Vector<T>;
/** A new counter at zero. */
export declare function createCounter(options?: object): Counter;
/** A new register holding `options.initialValue`. */
export declare function createLwwRegister<T>(options: { initialValue: T }): LwwRegister<T>;
/** A new, empty frozen store. */
export declare function createFrozenStorage<T>(options?: object): FrozenStorage<T>;
/** A new, empty per-account store. */
export declare function createUserStorage<V>(options?: object): UserStorage<V>;

/** A value in this node's private storage: node-local, never replicated. Values are kept as
 * JSON (bigint, Uint8Array and Map come back as they were). */
export declare class PrivateEntryHandle<T> {
  constructor(key: string | Uint8Array);
  /** The value, or null. */
  get(): T | null;
  set(value: T): void;
  /** Removes the value; true if there was one. */
  remove(): boolean;
  /** The value, stored first as `init()` makes it if there is none. */
  getOrInit(init: () => T): T;
  /** The value, or `fallback` (not stored) if there is none. */
  getOrDefault(fallback: T): T;
  /** Changes the value in place (starting from `init()` if there is none), stores it. */
  modify(mutate: (value: T) => void, init?: () => T): T;
}
/** The private entry under `key` (upstream's helper). */
export declare function createPrivateEntry<T>(key: string | Uint8Array): PrivateEntryHandle<T>;

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
export declare function State<T extends new (...args: any[]) => object>(target: T): T;
/** Marks the class whose public methods are the app's methods; it may extend the state class. */
export declare function Logic(state: new (...args: any[]) => object): <T extends new (...args: any[]) => object>(target: T) => T;
/** Marks the static method that returns the initial state (exported as `init`). */
export declare function Init(target: object, key: string, descriptor?: PropertyDescriptor): void;
/** Marks a method as read-only: it never writes state. */
export declare function View(): (target: object, key: string, descriptor?: PropertyDescriptor) => void;
/** Marks an event class; its fields, in declaration order, are the event's payload. */
export declare function Event<T extends new (...args: any[]) => object>(target: T): T;

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
export declare function Mergeable(options?: MergeableOptions): <T extends new (...args: any[]) => object>(target: T) => T;

/** Thrown from a method, the caller receives `{"kind": kind, "data": data}`; state is unchanged. */
export declare class AppError extends Error {
  kind: string;
  data?: unknown;
  constructor(kind: string, data?: unknown);
}

/** Emits an event to the context's members. */
export declare function emit(event: object): void;
/** Emits an event whose `handler` method every member runs when they apply it. */
export declare function emitWithHandler(event: object, handler: string): void;
