// A replicated counter: every member's increments add up, whatever the order they arrive in.
// The TypeScript twin of apps/counter: same methods, results (64-bit integers as JSON numbers)
// and state.
import { Init, Logic, State, View, u64 } from "@calimero/sdk";
import { Counter } from "@calimero/sdk/collections";

@State
export class CounterApp {
  count: Counter = new Counter();
}

@Logic(CounterApp)
export class CounterLogic extends CounterApp {
  @Init
  static init(): CounterApp {
    return new CounterApp();
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
