//! Unit-test apps on the native test host, two ways.
//!
//! Through the exports, with JSON, as a client calls them ([`TestApp`]):
//!
//! ```ignore
//! let app = TestApp::<KvStore>::new([7; 32]);
//! app.init(json!({})).unwrap();
//! app.call("set", json!({"key": "foo", "value": "bar"})).unwrap();
//! assert_eq!(app.call("get", json!({"key": "foo"})).unwrap(), json!("bar"));
//! ```
//!
//! Or on the state's methods directly, with closures ([`TestHost`], the harness upstream
//! Calimero apps' tests use):
//!
//! ```ignore
//! let mut app = TestHost::new(KvStore::init);
//! app.call(|s| s.set("foo".into(), "bar".into())).unwrap();
//! assert_eq!(app.view(|s| s.get("foo")).unwrap(), Some("bar".to_owned()));
//! ```

use std::cell::{Cell, RefCell};
use std::marker::PhantomData;

use calimero_storage::AppState;
pub use calimero_sys::host::{EmittedEvent, Outcome, TestHost as Host, Trap};
use serde_json::Value;

use crate::__private::AppMethods;

/// An event a call emitted, as [`TestHost::events`] lists it.
pub type Event = EmittedEvent;

/// Why a call failed, as a client would see it.
#[derive(Clone, Debug, PartialEq)]
pub enum CallError {
    /// No export of that name.
    MethodNotFound(String),
    /// The method returned `Err`: the app's error JSON.
    App(Value),
    /// The call trapped: guest panic or host error.
    Trap(Trap),
    /// The result bytes were not JSON.
    BadResult(String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::MethodNotFound(name) => write!(f, "method `{name}` not found"),
            CallError::App(value) => write!(f, "the method returned an error: {value}"),
            CallError::Trap(trap) => write!(f, "{trap}"),
            CallError::BadResult(message) => write!(f, "invalid result: {message}"),
        }
    }
}

/// One app on one in-memory node.
pub struct TestApp<A: AppMethods> {
    host: Host,
    last: std::cell::RefCell<Outcome>,
    _app: PhantomData<A>,
}

impl<A: AppMethods> TestApp<A> {
    /// An app in context `context_id`, run by member `[1; 32]`.
    pub fn new(context_id: [u8; 32]) -> Self {
        Self::with_member(context_id, [1; 32])
    }

    /// An app in context `context_id`, run by `member` (its device and account).
    pub fn with_member(context_id: [u8; 32], member: [u8; 32]) -> Self {
        Self::on(Host::new(context_id, member))
    }

    /// An app on an existing host.
    pub fn on(host: Host) -> Self {
        Self {
            host,
            last: Default::default(),
            _app: PhantomData,
        }
    }

    /// The host (storage, clock, identities).
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// Runs export `method` with raw input bytes and returns everything it produced.
    pub fn execute(&self, method: &str, input: &[u8]) -> Result<Outcome, CallError> {
        let (_, function) = A::METHODS
            .iter()
            .find(|(name, _)| *name == method)
            .ok_or_else(|| CallError::MethodNotFound(method.to_owned()))?;
        let outcome = self.host.execute(input, function);
        *self.last.borrow_mut() = outcome.clone();
        Ok(outcome)
    }

    /// Calls `method` with JSON arguments; returns its JSON result (`null` if none).
    pub fn call(&self, method: &str, args: Value) -> Result<Value, CallError> {
        let input = serde_json::to_vec(&args).unwrap_or_default();
        let outcome = self.execute(method, &input)?;
        if let Some(trap) = outcome.trap {
            return Err(CallError::Trap(trap));
        }
        match outcome.returns {
            None => Ok(Value::Null),
            Some(Ok(bytes)) => {
                serde_json::from_slice(&bytes).map_err(|e| CallError::BadResult(e.to_string()))
            }
            Some(Err(bytes)) => Err(CallError::App(
                serde_json::from_slice(&bytes).map_err(|e| CallError::BadResult(e.to_string()))?,
            )),
        }
    }

    /// Runs `init` with the given parameters.
    pub fn init(&self, params: Value) -> Result<Value, CallError> {
        self.call("init", params)
    }

    /// Applies a peer's artifact through `__calimero_sync_next`, as if this replica's own
    /// member had written it. Use [`TestApp::sync_from`] for another author's.
    pub fn sync(&self, artifact: &[u8]) -> Result<Outcome, CallError> {
        let own = self.host.account_id();
        self.sync_from(own, artifact)
    }

    /// Applies an artifact `author` made, as the node applies a peer's delta: the storage layer
    /// sees `author` as the writer (user-owned entities accept only their owner's changes).
    pub fn sync_from(&self, author: [u8; 32], artifact: &[u8]) -> Result<Outcome, CallError> {
        let (_, function) = A::METHODS
            .iter()
            .find(|(name, _)| *name == "__calimero_sync_next")
            .ok_or_else(|| CallError::MethodNotFound("__calimero_sync_next".to_owned()))?;
        let outcome = self.host.execute_as(author, artifact, function);
        *self.last.borrow_mut() = outcome.clone();
        match outcome.trap.clone() {
            Some(trap) => Err(CallError::Trap(trap)),
            None => Ok(outcome),
        }
    }

    /// Moves this context to app `B`, a later version of this one, on the same host: runs `B`'s
    /// migration (if it declares one) on the current state, and returns `B`. A migration that
    /// panics or that `B`'s migration check refuses leaves the state as it was and returns the
    /// trap. Without a migration, `B` simply reads the state as it is.
    pub fn upgrade<B: AppMethods>(&self) -> Result<TestApp<B>, CallError> {
        let next = TestApp::<B>::on(self.host.clone());
        if let Some((_, migration)) = B::migration() {
            let outcome = self.host.execute(b"", migration);
            *next.last.borrow_mut() = outcome.clone();
            if let Some(trap) = outcome.trap {
                return Err(CallError::Trap(trap));
            }
        }
        Ok(next)
    }

    /// The outcome of the last call (events, logs, artifact, root).
    pub fn last(&self) -> Outcome {
        self.last.borrow().clone()
    }

    /// The events of the last call as `(kind, data JSON)`.
    pub fn last_events(&self) -> Vec<(String, Value)> {
        self.last
            .borrow()
            .events
            .iter()
            .map(|e| {
                (
                    e.kind.clone(),
                    serde_json::from_slice(&e.data).unwrap_or(Value::Null),
                )
            })
            .collect()
    }

    /// The state root the last committing call reported.
    pub fn last_root(&self) -> Option<[u8; 32]> {
        self.last.borrow().root_hash
    }
}

/// The context, account and device a [`TestHost`] starts with (account and device differ, so a
/// test that confuses them fails).
pub const DEFAULT_CONTEXT: [u8; 32] = [0xC7; 32];
/// See [`DEFAULT_CONTEXT`].
pub const DEFAULT_ACCOUNT: [u8; 32] = [0xA1; 32];
/// See [`DEFAULT_CONTEXT`].
pub const DEFAULT_DEVICE: [u8; 32] = [0xD1; 32];

/// One app state on an in-memory node, driven through closures on the state itself: `call`
/// loads the state, runs the closure and commits what it changed, as an exported `&mut self`
/// method does; `view` loads it and commits nothing. Events and logs accumulate across calls.
///
/// A panic in a closure propagates out of `call` or `view` (nothing of that call is kept).
pub struct TestHost<S> {
    host: Host,
    events: RefCell<Vec<Event>>,
    logs: RefCell<Vec<String>>,
    root: Cell<Option<[u8; 32]>>,
    _state: PhantomData<S>,
}

/// Puts an identity back when dropped, also while a panic unwinds.
struct Restore {
    host: Host,
    account: [u8; 32],
    device: [u8; 32],
}

impl Drop for Restore {
    fn drop(&mut self) {
        self.host.set_account_id(self.account);
        self.host.set_device_id(self.device);
    }
}

impl<S: AppState> TestHost<S> {
    /// A fresh context whose state `build` (the app's `#[app::init]` function) makes.
    pub fn new(build: impl FnOnce() -> S) -> Self {
        let host = Host::new(DEFAULT_CONTEXT, DEFAULT_ACCOUNT);
        host.set_device_id(DEFAULT_DEVICE);
        let this = Self {
            host,
            events: RefCell::default(),
            logs: RefCell::default(),
            root: Cell::new(None),
            _state: PhantomData,
        };
        this.run(|| {
            crate::__private::init_state("init", build());
        });
        this
    }

    /// Runs `body` as one execution; records its events, logs and root; re-raises its panic.
    fn run<R>(&self, body: impl FnOnce() -> R) -> R {
        let mut out = None;
        let outcome = self.host.execute(b"", || {
            crate::__private::begin();
            out = Some(body());
        });
        self.events.borrow_mut().extend(outcome.events);
        self.logs.borrow_mut().extend(outcome.logs);
        if let Some(root) = outcome.root_hash {
            self.root.set(Some(root));
        }
        if let Some(trap) = outcome.trap {
            panic!("{trap}");
        }
        out.expect("the call ran")
    }

    /// Loads the state, runs `f` on it and commits, as a `&mut self` method does.
    pub fn call<R>(&mut self, f: impl FnOnce(&mut S) -> R) -> R {
        self.run(|| {
            let mut state: S = crate::__private::load_state("call");
            let out = f(&mut state);
            crate::__private::save_and_commit("call", &state);
            out
        })
    }

    /// Loads the state and runs `f` on it; commits nothing.
    pub fn view<R>(&self, f: impl FnOnce(&S) -> R) -> R {
        self.run(|| {
            let state: S = crate::__private::load_state("view");
            f(&state)
        })
    }

    /// [`TestHost::call`] from another device of the same account.
    pub fn call_as<R>(&mut self, device: [u8; 32], f: impl FnOnce(&mut S) -> R) -> R {
        let _restore = self.restore();
        self.host.set_device_id(device);
        self.call(f)
    }

    /// [`TestHost::call`] as another account, on its device.
    pub fn call_as_account<R>(
        &mut self,
        account: [u8; 32],
        device: [u8; 32],
        f: impl FnOnce(&mut S) -> R,
    ) -> R {
        let _restore = self.restore();
        self.host.set_account_id(account);
        self.host.set_device_id(device);
        self.call(f)
    }

    fn restore(&self) -> Restore {
        Restore {
            host: self.host.clone(),
            account: self.host.account_id(),
            device: self.host.device_id(),
        }
    }

    /// Moves the context to a new version of the app: runs `migrate` (the new version's
    /// `#[app::migrate]` function) on the current state, writes its result as the root state and
    /// commits, as the migration export does. The new version's `#[app::migration_check]` is not
    /// run here; `TestApp::upgrade` runs the export, check included.
    pub fn migrate<V: AppState>(self, migrate: impl FnOnce() -> V) -> TestHost<V> {
        let next = TestHost {
            host: self.host.clone(),
            events: RefCell::new(self.events.take()),
            logs: RefCell::new(self.logs.take()),
            root: Cell::new(self.root.get()),
            _state: PhantomData,
        };
        next.run(|| {
            let old = crate::__private::migration_begin::<V>("migrate");
            crate::__private::migration_finish::<V>("migrate", &old, migrate(), None, |_, _, _| {
                None
            });
        });
        next
    }

    /// [`TestHost::migrate`] run from `device`.
    pub fn migrate_as<V: AppState>(
        self,
        device: [u8; 32],
        migrate: impl FnOnce() -> V,
    ) -> TestHost<V> {
        let previous = self.host.device_id();
        self.host.set_device_id(device);
        let host = self.host.clone();
        let next = self.migrate(migrate);
        host.set_device_id(previous);
        next
    }

    /// The state root the last committing call reported.
    pub fn root_hash(&self) -> Option<[u8; 32]> {
        self.root.get()
    }

    /// The events emitted since the host was made or events were last taken.
    pub fn events(&self) -> Vec<Event> {
        self.events.borrow().clone()
    }

    /// [`TestHost::events`], clearing them.
    pub fn take_events(&self) -> Vec<Event> {
        self.events.take()
    }

    /// The log lines written since the host was made or logs were last taken.
    pub fn logs(&self) -> Vec<String> {
        self.logs.borrow().clone()
    }

    /// [`TestHost::logs`], clearing them.
    pub fn take_logs(&self) -> Vec<String> {
        self.logs.take()
    }

    /// Sets the device later calls come from.
    pub fn set_device(&mut self, device: [u8; 32]) {
        self.host.set_device_id(device);
    }

    /// Sets the account later calls run as.
    pub fn set_account(&mut self, account: [u8; 32]) {
        self.host.set_account_id(account);
    }

    /// Sets the context id later calls see.
    pub fn set_context(&mut self, context: [u8; 32]) {
        self.host.set_context_id(context);
    }

    /// The device calls come from.
    pub fn device_id(&self) -> [u8; 32] {
        self.host.device_id()
    }

    /// The account calls run as.
    pub fn account_id(&self) -> [u8; 32] {
        self.host.account_id()
    }

    /// The context id calls see.
    pub fn context_id(&self) -> [u8; 32] {
        self.host.context_id()
    }

    /// The underlying host (storage, clock).
    pub fn host(&self) -> &Host {
        &self.host
    }
}
