// The TypeScript twin of apps/kv-store-with-handlers: `set`, `remove` and `clear` emit events
// naming a handler method, which every member that applies the change (never its author) runs
// as an ordinary call. Handlers count what they saw in CRDTs, so the counts converge.
import { AppError, Event, Init, Logic, State, View, emitWithHandler, u32 } from "@calimero/sdk";
import { Counter, LwwRegister, UnorderedMap, Vector } from "@calimero/sdk/collections";

@Event
export class Inserted {
  constructor(public key: string, public value: string) {}
}

@Event
export class Updated {
  constructor(public key: string, public value: string) {}
}

@Event
export class Removed {
  constructor(public key: string) {}
}

@Event
export class Cleared {}

@State
export class KvStore {
  items: UnorderedMap<string, LwwRegister<string>> = new UnorderedMap();
  handler_runs: UnorderedMap<string, Counter> = new UnorderedMap();
  handlers_called: Vector<string> = new Vector();
}

@Logic(KvStore)
export class KvStoreLogic extends KvStore {
  @Init
  static init(): KvStore {
    return new KvStore();
  }

  set(key: string, value: string): void {
    if (this.items.has(key)) {
      emitWithHandler(new Updated(key, value), "update_handler");
    } else {
      emitWithHandler(new Inserted(key, value), "insert_handler");
    }
    this.items.set(key, new LwwRegister(value));
  }

  @View()
  entries(): Map<string, string> {
    const out = new Map<string, string>();
    for (const [key, register] of this.items.entries()) out.set(key, register.get());
    return out;
  }

  @View()
  len(): u32 {
    return this.items.size();
  }

  @View()
  get(key: string): string | null {
    const register = this.items.get(key);
    return register === null ? null : register.get();
  }

  @View()
  get_result(key: string): string {
    const value = this.get(key);
    if (value === null) throw new AppError("NotFound", key);
    return value;
  }

  remove(key: string): string | null {
    const removed = this.items.remove(key);
    if (removed !== null) emitWithHandler(new Removed(key), "remove_handler");
    return removed === null ? null : removed.get();
  }

  clear(): void {
    if (this.items.size() > 0) emitWithHandler(new Cleared(), "clear_handler");
    this.items.clear();
  }

  insert_handler(key: string, value: string): void {
    this.record("insert_handler", `key=${key}, value=${value}`);
  }

  update_handler(key: string, value: string): void {
    this.record("update_handler", `key=${key}, value=${value}`);
  }

  remove_handler(key: string): void {
    this.record("remove_handler", `key=${key}`);
  }

  clear_handler(): void {
    this.record("clear_handler", "all items cleared");
  }

  @View()
  get_handlers_called(): string[] {
    return this.handlers_called.toArray();
  }

  @View()
  get_unique_handlers_called(): string[] {
    return [...new Set(this.handlers_called.toArray())].sort();
  }

  @View()
  was_handler_called(handler_name: string): boolean {
    return this.handler_runs.has(handler_name);
  }

  @View()
  handler_counts(): Map<string, u32> {
    const out = new Map<string, u32>();
    for (const [name, counter] of this.handler_runs.entries()) out.set(name, Number(counter.value()));
    return out;
  }

  private record(handler: string, details: string): void {
    let runs = this.handler_runs.get(handler);
    if (runs === null) {
      runs = new Counter();
      this.handler_runs.set(handler, runs);
    }
    runs.increment();
    this.handlers_called.push(`${handler}: ${details}`);
  }
}
