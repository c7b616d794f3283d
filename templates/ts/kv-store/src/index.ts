// {{name}}: a replicated key-value store. Every member of a context sees the same entries; when
// two members set one key at the same time, the later write wins on every member.
import { AppError, Event, Init, Logic, State, View, emit, u32 } from "@calimero/sdk";
import { LwwRegister, UnorderedMap } from "@calimero/sdk/collections";

/** Emitted when a key gets its first value. Clients receive events over WebSocket or SSE. */
@Event
export class Inserted {
  constructor(public key: string, public value: string) {}
}

/** Emitted when a key's value changes. */
@Event
export class Updated {
  constructor(public key: string, public value: string) {}
}

/** The replicated state: every field is a CRDT. */
@State
export class Store {
  items: UnorderedMap<string, LwwRegister<string>> = new UnorderedMap();
}

/** The methods clients call. A method marked @View() only reads. */
@Logic(Store)
export class StoreLogic extends Store {
  @Init
  static init(): Store {
    return new Store();
  }

  /** Sets `key` to `value`. */
  set(key: string, value: string): void {
    if (key === "") throw new AppError("EmptyKey");
    emit(this.items.has(key) ? new Updated(key, value) : new Inserted(key, value));
    this.items.set(key, new LwwRegister(value));
  }

  /** The value of `key`, or null. */
  @View()
  get(key: string): string | null {
    const register = this.items.get(key);
    return register === null ? null : register.get();
  }

  /** Removes `key`; returns its value, or null if it had none. */
  remove(key: string): string | null {
    const removed = this.items.remove(key);
    return removed === null ? null : removed.get();
  }

  /** Every entry. */
  @View()
  entries(): Map<string, string> {
    const out = new Map<string, string>();
    for (const [key, register] of this.items.entries()) out.set(key, register.get());
    return out;
  }

  /** The number of entries. */
  @View()
  len(): u32 {
    return this.items.size();
  }
}
