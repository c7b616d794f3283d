//! Unit-test apps on the native test host.
//!
//! ```ignore
//! let app = TestApp::<KvStore>::new([7; 32]);
//! app.init(json!({})).unwrap();
//! app.call("set", json!({"key": "foo", "value": "bar"})).unwrap();
//! assert_eq!(app.call("get", json!({"key": "foo"})).unwrap(), json!("bar"));
//! ```

use std::marker::PhantomData;

pub use calimero_sys::host::{EmittedEvent, Outcome, TestHost, Trap};
use serde_json::Value;

use crate::__private::AppMethods;

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
    host: TestHost,
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
        Self::on(TestHost::new(context_id, member))
    }

    /// An app on an existing host.
    pub fn on(host: TestHost) -> Self {
        Self {
            host,
            last: Default::default(),
            _app: PhantomData,
        }
    }

    /// The host (storage, clock, identities).
    pub fn host(&self) -> &TestHost {
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
