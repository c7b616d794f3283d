// @calimero/sdk: decorators, events and errors for Calimero apps in TypeScript.
import { registry } from "./runtime";
import { host } from "./host";
import { RECORDS } from "./borsh";

export { UnorderedMap, UnorderedSet, Vector, Counter, LwwRegister } from "./collections";

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
