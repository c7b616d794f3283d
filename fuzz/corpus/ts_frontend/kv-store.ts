// A replicated key-value store: the TypeScript twin of apps/kv-store (same method names,
// arguments, results, errors and events, and the same state layout).
import { AppError, Event, Init, Logic, State, View, emit, u32 } from "@calimero/sdk";
import { LwwRegister, UnorderedMap } from "@calimero/sdk/collections";
import * as env from "@calimero/sdk/env";

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
}

@Logic(KvStore)
export class KvStoreLogic extends KvStore {
  @Init
  static init(): KvStore {
    return new KvStore();
  }

  set(key: string, value: string): void {
    env.log(`Setting key: ${JSON.stringify(key)} to value: ${JSON.stringify(value)}`);
    if (this.items.has(key)) {
      emit(new Updated(key, value));
    } else {
      emit(new Inserted(key, value));
    }
    this.items.set(key, new LwwRegister(value));
  }

  @View()
  entries(): Map<string, string> {
    env.log("Getting all entries");
    const out = new Map<string, string>();
    for (const [key, register] of this.items.entries()) {
      out.set(key, register.get());
    }
    return out;
  }

  @View()
  len(): u32 {
    env.log("Getting the number of entries");
    return this.items.size();
  }

  @View()
  get(key: string): string | null {
    env.log(`Getting key: ${JSON.stringify(key)}`);
    const register = this.items.get(key);
    return register === null ? null : register.get();
  }

  @View()
  get_unchecked(key: string): string {
    env.log(`Getting key without checking: ${JSON.stringify(key)}`);
    const register = this.items.get(key);
    if (register === null) {
      throw new Error("key not found");
    }
    return register.get();
  }

  @View()
  get_result(key: string): string {
    env.log(`Getting key, possibly failing: ${JSON.stringify(key)}`);
    const value = this.get(key);
    if (value === null) {
      throw new AppError("NotFound", key);
    }
    return value;
  }

  remove(key: string): string | null {
    env.log(`Removing key: ${JSON.stringify(key)}`);
    const removed = this.items.remove(key);
    if (removed !== null) {
      emit(new Removed(key));
    }
    return removed === null ? null : removed.get();
  }

  clear(): void {
    env.log("Clearing all entries");
    if (this.items.size() > 0) {
      emit(new Cleared());
    }
    this.items.clear();
  }

  get_or_insert(key: string, value: string): string {
    env.log(`Getting or inserting key: ${JSON.stringify(key)}`);
    const existing = this.items.get(key);
    if (existing !== null) {
      return existing.get();
    }
    emit(new Inserted(key, value));
    this.items.set(key, new LwwRegister(value));
    return value;
  }

  update_if_exists(key: string, value: string): boolean {
    env.log(`Updating key if it exists: ${JSON.stringify(key)}`);
    const current = this.items.get(key);
    if (current === null) {
      return false;
    }
    emit(new Updated(key, value));
    current.set(value);
    this.items.set(key, current);
    return true;
  }
}
