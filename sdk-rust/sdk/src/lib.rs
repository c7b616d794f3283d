//! Write Calimero apps in Rust.
//!
//! ```ignore
//! use calimero_sdk::app;
//! use calimero_storage::collections::{LwwRegister, UnorderedMap};
//!
//! #[app::state]
//! pub struct KvStore { items: UnorderedMap<String, LwwRegister<String>> }
//!
//! #[app::logic]
//! impl KvStore {
//!     #[app::init]
//!     pub fn init() -> KvStore { KvStore { items: UnorderedMap::new() } }
//!
//!     pub fn set(&mut self, key: String, value: String) -> app::Result<()> {
//!         self.items.insert(key, value.into())?;
//!         Ok(())
//!     }
//!
//!     pub fn get(&self, key: &str) -> app::Result<Option<String>> {
//!         Ok(self.items.get(key)?.map(|v| v.get().clone()))
//!     }
//! }
//! ```
//!
//! `#[app::logic]` exports one `() -> ()` function per public method: arguments arrive as the
//! JSON object of the call, results leave as JSON, `&mut self` methods commit their changes and
//! `&self` methods never do. On native targets the same code runs on an in-memory host (see
//! [`testing`]), so app logic is unit-tested with plain `cargo test`.

#[doc(hidden)]
pub mod __private;

/// Types in the app's ABI manifest: `#[derive(AbiType)]` on a struct or enum that methods take
/// or return (or events carry) adds its definition, so callers and `cargo calimero compat` see
/// its fields. `#[derive(Mergeable)]` records and `#[app::event]`/`#[app::error]` enums are
/// described already.
pub mod abi {
    pub use calimero_sdk_macros::AbiType;

    /// Implemented by `#[derive(AbiType)]`.
    pub trait AbiType {}
}
pub mod env;
pub mod event;
#[cfg(feature = "tracing")]
mod log_tracing;
pub mod migration_check;
pub mod private_storage;
pub mod state;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;
pub mod types;

pub use borsh;
pub use calimero_storage as storage;
pub use serde;
pub use serde_json;
pub use types::{AccountId, BlobId, ContextId, IdParseError, PublicKey};

/// The app-facing macros and types: `use calimero_sdk::app;`.
pub mod app {
    pub use calimero_sdk_macros::{
        AbiType, Mergeable, Migrate, destroy, error, event, init, logic, migrate, migration_check,
        private, state, view, xcall,
    };
    pub use calimero_storage::Mergeable;

    pub use crate::{bail, emit, err, log};

    /// An app error: any JSON value, returned to the caller as the error's `data`.
    #[derive(Clone, Debug, PartialEq, serde::Serialize)]
    #[serde(transparent)]
    pub struct Error(serde_json::Value);

    impl Error {
        /// An error carrying `value` as JSON.
        pub fn new<T: serde::Serialize + ?Sized>(value: &T) -> Self {
            Self(
                serde_json::to_value(value)
                    .unwrap_or_else(|e| serde_json::Value::String(e.to_string())),
            )
        }

        /// An error carrying a message (a JSON string).
        pub fn msg(message: impl Into<String>) -> Self {
            Self(serde_json::Value::String(message.into()))
        }

        /// The JSON the caller receives.
        pub fn value(&self) -> &serde_json::Value {
            &self.0
        }
    }

    impl<E: std::error::Error> From<E> for Error {
        fn from(error: E) -> Self {
            Self::msg(error.to_string())
        }
    }

    impl std::fmt::Display for Error {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            match &self.0 {
                serde_json::Value::String(s) => f.write_str(s),
                other => write!(f, "{other}"),
            }
        }
    }

    /// The result of an app method.
    pub type Result<T, E = Error> = core::result::Result<T, E>;
}

/// Emits an event: `emit!(event)`, or `emit!((event, "handler"))` to have peers run `handler`.
#[macro_export]
macro_rules! emit {
    (($event:expr, $handler:expr $(,)?)) => {
        $crate::env::emit_with_handler(&$event, $handler)
    };
    ($event:expr) => {
        $crate::env::emit(&$event)
    };
}

/// Appends a formatted log line.
#[macro_export]
macro_rules! log {
    ($($arg:tt)*) => {
        $crate::env::log(&::std::format!($($arg)*))
    };
}

/// Builds an [`app::Error`]: `err!("message {}", x)` or `err!(serializable_value)`.
#[macro_export]
macro_rules! err {
    ($fmt:literal $(, $arg:expr)* $(,)?) => {
        $crate::app::Error::msg(::std::format!($fmt $(, $arg)*))
    };
    ($value:expr) => {
        $crate::app::Error::new(&$value)
    };
}

/// Returns early with an [`app::Error`] built as by [`err!`].
#[macro_export]
macro_rules! bail {
    ($($arg:tt)*) => {
        return ::core::result::Result::Err($crate::err!($($arg)*).into())
    };
}
