//! The closure harness upstream apps' tests use: `calimero_sdk::testing::TestHost` and
//! `calimero_storage::testing::converge_app`.

use calimero_sdk::app;
use calimero_sdk::storage::collections::{Counter, LwwRegister, UnorderedMap};
use calimero_sdk::testing::{DEFAULT_ACCOUNT, DEFAULT_DEVICE, TestHost};
use calimero_storage::testing::converge_app;

#[app::event]
pub enum Event {
    Scored { team: String },
}

#[app::state(emits = Event)]
pub struct League {
    wins: UnorderedMap<String, Counter>,
    last_device: LwwRegister<String>,
}

#[app::logic]
impl League {
    #[app::init]
    pub fn init() -> League {
        League {
            wins: UnorderedMap::new(),
            last_device: LwwRegister::new(String::new()),
        }
    }

    pub fn win(&mut self, team: String) -> app::Result<u64> {
        let mut counter = self
            .wins
            .entry(team.clone())?
            .or_insert_with(Counter::new)?;
        counter.increment()?;
        let wins = counter.value()?;
        drop(counter);
        self.last_device
            .set(hex(&calimero_sdk::env::device_id()[..2]));
        app::log!("{team} won");
        app::emit!(Event::Scored { team });
        Ok(wins)
    }

    pub fn wins(&self, team: &str) -> app::Result<u64> {
        Ok(match self.wins.get(team)? {
            Some(counter) => counter.value()?,
            None => 0,
        })
    }

    pub fn last_device(&self) -> String {
        self.last_device.get().clone()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn call_commits_view_reads_and_events_accumulate() {
    let mut app = TestHost::new(League::init);
    let root = app.root_hash();
    assert!(root.is_some(), "init commits");
    assert_eq!(app.call(|s| s.win("reds".into())).unwrap(), 1);
    assert_eq!(app.call(|s| s.win("reds".into())).unwrap(), 2);
    assert_ne!(app.root_hash(), root);
    assert_eq!(app.view(|s| s.wins("reds")).unwrap(), 2);
    assert_eq!(app.view(|s| s.wins("blues")).unwrap(), 0);
    let events = app.take_events();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].kind, "Scored");
    assert!(app.events().is_empty());
    assert_eq!(app.logs(), vec!["reds won", "reds won"]);
}

#[test]
fn devices_and_accounts_move_independently_and_come_back_after_a_panic() {
    let mut app = TestHost::new(League::init);
    assert_ne!(app.account_id(), app.device_id());
    assert_eq!(
        (app.account_id(), app.device_id()),
        (DEFAULT_ACCOUNT, DEFAULT_DEVICE)
    );
    app.call_as([7; 32], |s| {
        assert_eq!(calimero_sdk::env::device_id(), [7; 32]);
        assert_eq!(calimero_sdk::env::account_id(), DEFAULT_ACCOUNT);
        s.win("reds".into())
    })
    .unwrap();
    assert_eq!(app.view(|s| s.last_device()), "0707");
    app.call_as_account([9; 32], [8; 32], |_| {
        assert_eq!(calimero_sdk::env::account_id(), [9; 32]);
        assert_eq!(calimero_sdk::env::device_id(), [8; 32]);
    });
    assert_eq!(app.device_id(), DEFAULT_DEVICE);

    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        app.call_as([42; 32], |s| {
            s.win("reds".into()).unwrap();
            panic!("on purpose")
        })
    }));
    let message = panicked.unwrap_err();
    let message = message.downcast_ref::<String>().unwrap();
    assert!(message.contains("on purpose"), "{message}");
    assert_eq!(app.device_id(), DEFAULT_DEVICE);
    // The panicking call kept nothing: still one win.
    assert_eq!(app.view(|s| s.wins("reds")).unwrap(), 1);
}

#[test]
fn replicas_converge_and_keep_every_increment() {
    converge_app(League::init)
        .replicas(4)
        .ops(|s| {
            s.win("reds".into()).unwrap();
        })
        .ops(|s| {
            s.win("blues".into()).unwrap();
        })
        .invariant("one reds win per replica", |s| s.wins("reds").unwrap() == 4)
        .invariant("one blues win per replica", |s| {
            s.wins("blues").unwrap() == 4
        })
        .assert_all_replicas_equal();
}

#[test]
#[should_panic(expected = "invariant \"a win too many\" does not hold on replica 0")]
fn a_false_invariant_fails_the_check() {
    converge_app(League::init)
        .replicas(2)
        .ops(|s| {
            s.win("reds".into()).unwrap();
        })
        .invariant("a win too many", |s| s.wins("reds").unwrap() == 3)
        .assert_all_replicas_equal();
}
