// The CRDT collections. A collection lives in entities of its own, created when it is stored in
// the @State class or in a value stored in another collection. A new collection can be filled
// and read before that; what it was given is written when it is stored.

/** An add-wins map. Keys are strings, Uint8Array, booleans or integers. */
export declare class UnorderedMap<K, V> {
  constructor();
  set(key: K, value: V): void;
  get(key: K): V | null;
  has(key: K): boolean;
  /** Removes `key`; returns its value, or null if there was none. */
  remove(key: K): V | null;
  /** Every entry, in insertion order. */
  entries(): [K, V][];
  keys(): K[];
  values(): V[];
  size(): number;
  clear(): void;
}

/** An add-wins set of strings, Uint8Array, booleans or integers. */
export declare class UnorderedSet<T> {
  /** A new set; upstream's `{ initialValues }` fills it. */
  constructor(options?: { initialValues?: T[] });
  /** Adds `value`; false if it was present. */
  add(value: T): boolean;
  has(value: T): boolean;
  /** Removes `value`; false if it was absent. */
  delete(value: T): boolean;
  toArray(): T[];
  size(): number;
  clear(): void;
}

/** An add-wins map read in key order (strings by UTF-8 bytes, integers by value, bytes
 * lexicographically); it stores and merges exactly as an UnorderedMap. */
export declare class SortedMap<K, V> extends UnorderedMap<K, V> {
  constructor();
  /** Every entry, in key order. */
  entries(): [K, V][];
  /** The entries with `from <= key < to` (null: unbounded), in key order. */
  range(from: K | null, to: K | null): [K, V][];
  /** At most `limit` entries after skipping `offset`, in key order. */
  page(offset: number, limit: number): [K, V][];
  /** The entry with the least key, or null. */
  first(): [K, V] | null;
  /** The entry with the greatest key, or null. */
  last(): [K, V] | null;
}

/** An add-wins set read in order; it stores and merges exactly as an UnorderedSet. */
export declare class SortedSet<T> extends UnorderedSet<T> {
  constructor();
  /** Every element, in order. */
  toArray(): T[];
  /** The elements with `from <= element < to` (null: unbounded), in order. */
  range(from: T | null, to: T | null): T[];
  /** At most `limit` elements after skipping `offset`, in order. */
  page(offset: number, limit: number): T[];
  /** The least element, or null. */
  first(): T | null;
  /** The greatest element, or null. */
  last(): T | null;
}

/** Immutable values stored once under the SHA-256 of their Borsh encoding (32 bytes). Values
 * cannot be changed or removed; the node refuses a peer's attempt to. Store it in the state
 * before inserting. */
export declare class FrozenStorage<T> {
  constructor();
  /** Stores `value` unless it is there; returns its key. */
  insert(value: T): Uint8Array;
  /** Upstream's name for `insert`. */
  add(value: T): Uint8Array;
  /** Every key, in the order they were first stored. */
  hashes(): Uint8Array[];
  /** Every value, in the order they were first stored. */
  values(): T[];
  /** Always throws: frozen values are never removed. */
  remove(): never;
  /** The value stored under `key`, or null. */
  get(key: Uint8Array): T | null;
  has(key: Uint8Array): boolean;
  /** Every `[key, value]`, in the order they were first stored. */
  entries(): [Uint8Array, T][];
  size(): number;
}

/** One value per account (32-byte key). A call writes only its caller's value and reads
 * anyone's; every node refuses another account's write to it, or to anything inside it. */
export declare class UserStorage<V> {
  constructor();
  /** Sets the caller's value; returns the previous one, or null. */
  insert(value: V): V | null;
  /** Sets `user`'s value: only `user` itself may (anyone else gets an error). */
  setForUser(user: Uint8Array, value: V): void;
  /** The caller's value, or null. */
  get(): V | null;
  /** `user`'s value, or null. */
  getForUser(user: Uint8Array): V | null;
  containsCurrentUser(): boolean;
  containsUser(user: Uint8Array): boolean;
  /** Removes the caller's value; returns it, or null. */
  remove(): V | null;
  /** Every `[account, value]`, in the order the accounts first wrote. */
  entries(): [Uint8Array, V][];
  /** The accounts with a value. */
  users(): Uint8Array[];
  keys(): Uint8Array[];
  values(): V[];
  size(): number;
}

/** One value written only by the accounts of its writer set (32-byte keys), which a writer can
 * replace unless it was made frozen. Every node checks each write, a peer's included. */
export declare class SharedStorage<T> {
  /** Writable by `writers`, holding `initial` (by default the empty value of its declared type,
   * as the Rust twin's `T::default()`; a collection value must be given). */
  constructor(writers?: Uint8Array[], frozen?: boolean, initial?: T);
  get(): T;
  /** Replaces the value (current writers only); returns the previous one. */
  insert(value: T): T | null;
  /** The accounts of the current writer set, in byte order. */
  writers(): Uint8Array[];
  /** The stamp `[time, id]` of the current writer set (`[0n, 0n]` for the first). */
  writersStamp(): [bigint, bigint];
  isFrozen(): boolean;
  writableByMe(): boolean;
  /** Replaces the writer set (current writers only, and not once frozen). */
  rotateWriters(writers: Uint8Array[]): void;
}

/** Collaborative text (RGA): concurrent edits merge, every member sees the same text. Positions
 * count Unicode code points. Store it in the state before editing it. */
export declare class ReplicatedGrowableArray {
  constructor();
  /** Inserts `text` so that its first character is at position `pos` (0 ..= length). */
  insertStr(pos: number, text: string): void;
  insert(pos: number, ch: string): void;
  /** Deletes the characters at positions `start ..< end`. */
  deleteRange(start: number, end: number): void;
  delete(pos: number): void;
  getText(): string;
  len(): number;
}

/** A list that grows at the end. */
export declare class Vector<T> {
  constructor();
  /** A new vector holding `items` (written when it is stored). */
  static fromArray<T>(items: T[]): Vector<T>;
  push(value: T): void;
  get(index: number): T | null;
  /** Replaces the element at `index`; returns the old one. Throws a RangeError past the end. */
  update(index: number, value: T): T;
  pop(): T | null;
  len(): number;
  toArray(): T[];
  clear(): void;
}

/** A grow-only counter: every member's increments add up. */
export declare class Counter {
  constructor();
  increment(): void;
  incrementBy(amount: number | bigint): void;
  value(): bigint;
}

/** A last-writer-wins register, stored inline in its parent. */
export declare class LwwRegister<T> {
  /** A register holding `value`; also upstream's `{ initialValue }`. Made empty, `get()` gives
   * null until `set` (and it cannot be stored empty unless `T` is nullable). */
  constructor(value?: T | { initialValue?: T });
  get(): T;
  set(value: T): void;
  /** Empties it. */
  clear(): void;
}
