// {{name}}: a replicated counter. Every member's increments add up, whatever order they arrive in.
import { Init, Logic, State, View, u64 } from "@calimero/sdk";
import { Counter } from "@calimero/sdk/collections";

/** The replicated state: every field is a CRDT. */
@State
export class CounterState {
  count: Counter = new Counter();
}

/** The methods clients call. A method marked @View() only reads. */
@Logic(CounterState)
export class CounterLogic extends CounterState {
  @Init
  static init(): CounterState {
    return new CounterState();
  }

  /** Adds one; returns the new total. */
  increment(): u64 {
    this.count.increment();
    return this.count.value();
  }

  /** Adds `amount`; returns the new total. */
  increment_by(amount: u64): u64 {
    this.count.incrementBy(amount);
    return this.count.value();
  }

  /** The current total. */
  @View()
  value(): u64 {
    return this.count.value();
  }
}
