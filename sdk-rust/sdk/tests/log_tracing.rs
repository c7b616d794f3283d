//! The `tracing` feature: `tracing` events reach the host log at the level `env::set_log_level`
//! sets. Runs with `cargo test -p calimero-sdk --features tracing --test log_tracing`.
#![cfg(feature = "tracing")]

use calimero_sdk::app;
use calimero_sdk::env;
use calimero_sdk::storage::collections::Counter;
use calimero_sdk::testing::TestApp;
use serde_json::json;

#[app::state]
pub struct Probe {
    calls: Counter,
}

#[app::logic]
impl Probe {
    #[app::init]
    pub fn init() -> Probe {
        Probe {
            calls: Counter::new(),
        }
    }

    pub fn probe(&mut self, debug: bool) -> app::Result<()> {
        if debug {
            env::set_log_level(env::LevelFilter::DEBUG);
        } else {
            env::set_log_level(env::LevelFilter::WARN);
        }
        tracing::info!(probe = true, "an info line");
        tracing::debug!(count = 2, "a debug line");
        tracing::warn!("a warning");
        tracing::trace!("never at these levels");
        self.calls.increment()?;
        Ok(())
    }
}

#[test]
fn events_reach_the_log_at_the_level_set() {
    let app = TestApp::<Probe>::new([1; 32]);
    app.init(json!({})).unwrap();

    app.call("probe", json!({"debug": true})).unwrap();
    let logs = app.last().logs;
    let target = "log_tracing";
    assert_eq!(
        logs,
        vec![
            format!("INFO {target}: an info line probe=true"),
            format!("DEBUG {target}: a debug line count=2"),
            format!("WARN {target}: a warning"),
        ]
    );

    app.call("probe", json!({"debug": false})).unwrap();
    assert_eq!(app.last().logs, vec![format!("WARN {target}: a warning")]);
}
