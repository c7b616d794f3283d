//! A replicated counter: every member's increments add up, whatever the order they arrive in.

use calimero_sdk::app;
use calimero_storage::collections::Counter;

#[app::state]
pub struct CounterApp {
    count: Counter,
}

#[app::logic]
impl CounterApp {
    #[app::init]
    pub fn init() -> CounterApp {
        CounterApp {
            count: Counter::new(),
        }
    }

    /// Adds one; returns the new total.
    pub fn increment(&mut self) -> app::Result<u64> {
        self.count.increment()?;
        Ok(self.count.value()?)
    }

    /// Adds `amount`; returns the new total.
    pub fn increment_by(&mut self, amount: u64) -> app::Result<u64> {
        self.count.increment_by(amount)?;
        Ok(self.count.value()?)
    }

    /// The current total.
    #[app::view]
    pub fn value(&self) -> app::Result<u64> {
        Ok(self.count.value()?)
    }
}

#[cfg(test)]
mod tests {
    use calimero_sdk::testing::TestApp;
    use serde_json::json;

    use super::CounterApp;

    #[test]
    fn increments_add_up_and_value_reads_without_committing() {
        let app = TestApp::<CounterApp>::new([3; 32]);
        app.init(json!({})).unwrap();
        assert_eq!(app.call("increment", json!({})).unwrap(), json!(1));
        assert_eq!(
            app.call("increment_by", json!({"amount": 41})).unwrap(),
            json!(42)
        );
        assert_eq!(app.call("value", json!({})).unwrap(), json!(42));
        assert!(app.last().root_hash.is_none(), "a view must not commit");
    }

    #[test]
    fn concurrent_increments_from_two_members_both_count() {
        let a = TestApp::<CounterApp>::with_member([3; 32], [1; 32]);
        a.init(json!({})).unwrap();
        let b = TestApp::<CounterApp>::with_member([3; 32], [2; 32]);
        b.host().load_snapshot(a.host().storage());

        a.call("increment_by", json!({"amount": 5})).unwrap();
        let from_a = a.last().artifact;
        b.call("increment_by", json!({"amount": 7})).unwrap();
        let from_b = b.last().artifact;

        b.sync(&from_a).unwrap();
        let root_b = b.last_root();
        a.sync(&from_b).unwrap();
        assert_eq!(a.last_root(), root_b);
        assert_eq!(a.call("value", json!({})).unwrap(), json!(12));
        assert_eq!(b.call("value", json!({})).unwrap(), json!(12));
    }
}
