//! Support for the code `#[app::logic]` generates. Not a public API.

use borsh::{BorshDeserialize, BorshSerialize};
use calimero_storage::{AppState, StoreError, root, store};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::env;

/// The exported methods of an app, by name (for the native test host).
pub trait AppMethods {
    /// `(export name, function)` for every export, including `init` and `__calimero_sync_next`.
    const METHODS: &'static [(&'static str, fn())];
    /// The app's ABI manifest, merged from the macros' fragments.
    fn abi() -> String;
    /// The migration that produces this app's state from the previous version's, if it has one:
    /// its export name and function.
    fn migration() -> Option<(&'static str, fn())> {
        None
    }
}

/// The ABI fragment of a state type (implemented by `#[app::state]`).
pub trait StateAbi {
    /// JSON fragments: the state's own, then its events'.
    fn fragments() -> Vec<&'static str>;
    /// The migration that produces this state (`#[app::state(migration = ..)]` or
    /// `#[derive(app::Migrate)]`).
    fn migration() -> Option<(&'static str, fn())> {
        None
    }
}

/// The ABI fragment of an event type (implemented by `#[app::event]`).
pub trait EventAbi {
    /// The JSON fragment.
    const FRAGMENT: &'static str;
}

/// Starts an export: panic hook, fresh storage engine.
pub fn begin() {
    env::setup_panic_hook();
    #[cfg(feature = "tracing")]
    crate::log_tracing::install();
    store::reset();
}

fn is_blank(input: &[u8]) -> bool {
    let trimmed = input.trim_ascii();
    trimmed.is_empty() || trimmed == b"null"
}

/// Decodes the JSON arguments of `method`, or panics naming the method and the expected shape.
#[track_caller]
pub fn parse_args<T: DeserializeOwned>(method: &str, shape: &str) -> T {
    let input = env::input();
    if is_blank(&input) {
        panic!("{method}: missing arguments; expected a JSON object {shape}");
    }
    // serde would also take a JSON array positionally; arguments are named, so insist on `{`.
    if input.trim_ascii_start().first() != Some(&b'{') {
        panic!(
            "{method}: invalid arguments (not a JSON object: {}); expected a JSON object {shape}",
            String::from_utf8_lossy(&input[..input.len().min(64)])
        );
    }
    match serde_json::from_slice(&input) {
        Ok(args) => args,
        Err(error) => {
            panic!("{method}: invalid arguments ({error}); expected a JSON object {shape}")
        }
    }
}

/// Checks that a method without parameters got no arguments (nothing, `null` or `{}`).
#[track_caller]
pub fn no_args(method: &str) {
    let input = env::input();
    if is_blank(&input) {
        return;
    }
    match serde_json::from_slice::<serde_json::Value>(&input) {
        Ok(serde_json::Value::Object(map)) if map.is_empty() => {}
        _ => panic!(
            "{method}: takes no arguments, but the call sent {}; send {{}} or nothing",
            String::from_utf8_lossy(&input)
        ),
    }
}

#[track_caller]
fn fail(method: &str, error: StoreError) -> ! {
    panic!("{method}: {error}")
}

/// Loads the root state for `method`, or panics if the context was never initialized.
#[track_caller]
pub fn load_state<S: AppState>(method: &str) -> S {
    root::load().unwrap_or_else(|e| fail(method, e))
}

/// Creates the root state from `init`'s result and commits it.
#[track_caller]
pub fn init_state<S: AppState>(method: &str, state: S) {
    root::init(state).unwrap_or_else(|e| fail(method, e));
    root::commit().unwrap_or_else(|e| fail(method, e));
}

/// Panics if `init` already ran, before any user code does.
#[track_caller]
pub fn ensure_uninitialized(method: &str) {
    if root::is_initialized().unwrap_or_else(|e| fail(method, e)) {
        panic!(
            "{method}: the app state is already initialized; `{method}` runs once, when the \
             context is created"
        );
    }
}

/// Writes the state back and commits.
#[track_caller]
pub fn save_and_commit<S: AppState>(method: &str, state: &S) {
    root::save(state).unwrap_or_else(|e| fail(method, e));
    root::commit().unwrap_or_else(|e| fail(method, e));
}

/// Applies a peer's delta artifact (`__calimero_sync_next`).
#[track_caller]
pub fn sync_next<S: AppState>() {
    let artifact = env::input();
    root::sync::<S>(&artifact).unwrap_or_else(|e| fail("__calimero_sync_next", e));
}

/// Returns a plain value as JSON.
#[track_caller]
pub fn return_value<T: Serialize>(method: &str, value: &T) {
    match serde_json::to_vec(value) {
        Ok(bytes) => env::value_return(Ok(&bytes)),
        Err(error) => panic!("{method}: cannot encode the result as JSON: {error}"),
    }
}

/// Returns a `Result`: `Ok` as the JSON result, `Err` as the app error JSON.
#[track_caller]
pub fn return_result<T: Serialize, E: Serialize>(method: &str, result: &Result<T, E>) {
    match result {
        Ok(value) => return_value(method, value),
        Err(error) => match serde_json::to_vec(error) {
            Ok(bytes) => env::value_return(Err(&bytes)),
            Err(e) => panic!("{method}: cannot encode the error as JSON: {e}"),
        },
    }
}

/// Merges ABI fragments into the manifest JSON text.
pub fn merge_abi(fragments: &[&str]) -> String {
    match calimero_wasm_abi::merge_fragments(fragments.iter().copied()) {
        Ok(manifest) => manifest.to_string(),
        Err(error) => panic!("the macros produced an invalid ABI fragment: {error}"),
    }
}

/// Starts a migration export: checks that there is a state to migrate and returns its encoding
/// (the previous version's), for the migration check.
#[track_caller]
pub fn migration_begin<S: AppState>(method: &str) -> Vec<u8> {
    begin();
    S::register_merges();
    match root::load_raw() {
        Ok(bytes) => bytes,
        Err(StoreError::Uninitialized) => panic!(
            "{method}: this context has no state to migrate yet; create it with the previous \
             version of the app (its `init`) first"
        ),
        Err(error) => fail(method, error),
    }
}

/// Ends a migration export: replaces the root state with `state`, lets the app's migration
/// check (`check`, `None` if it has none) judge it, and commits. A refusal panics, so the call
/// traps and the context keeps its previous state.
#[track_caller]
pub fn migration_finish<S: AppState>(
    method: &str,
    old: &[u8],
    state: S,
    witness: Option<Vec<u8>>,
    check: impl FnOnce(&[u8], &[u8], Option<&[u8]>) -> Option<bool>,
) {
    let new = root::replace(state).unwrap_or_else(|e| fail(method, e));
    if check(old, &new, witness.as_deref()) == Some(false) {
        panic!(
            "{method}: the app's migration check refused the migrated state; nothing of the \
             migration is kept and the context keeps its previous state"
        );
    }
    root::commit().unwrap_or_else(|e| fail(method, e));
}

/// The previous version's state, decoded as `T` (for `#[derive(app::Migrate)]`).
#[track_caller]
pub fn read_previous<T: BorshDeserialize>(method: &str) -> T {
    let Some(bytes) = crate::state::read_raw() else {
        panic!(
            "{method}: this context has no state to migrate yet; create it with the previous \
             version of the app (its `init`) first"
        )
    };
    T::try_from_slice(&bytes).unwrap_or_else(|e| {
        panic!(
            "{method}: the stored state does not decode as `{}` ({e}); the type named in \
             `#[migrate(from = ..)]` must list the previous version's fields, in their order",
            std::any::type_name::<T>()
        )
    })
}

/// Encodes a migration's witness for its check.
#[track_caller]
pub fn encode_witness<W: BorshSerialize>(method: &str, witness: &W) -> Option<Vec<u8>> {
    match borsh::to_vec(witness) {
        Ok(bytes) => Some(bytes),
        Err(e) => panic!("{method}: cannot encode the migration's witness: {e}"),
    }
}

/// Decodes the witness a migration check takes.
#[track_caller]
pub fn decode_witness<W: BorshDeserialize>(check: &str, witness: Option<&[u8]>) -> W {
    let Some(bytes) = witness else {
        panic!(
            "{check}: this migration check takes a witness, but the migration returned none; \
             return `(NewState, Witness)` from the `#[app::migrate]` function"
        )
    };
    W::try_from_slice(bytes).unwrap_or_else(|e| {
        panic!(
            "{check}: the migration's witness does not decode as `{}`: {e}",
            std::any::type_name::<W>()
        )
    })
}

/// Decodes the previous or the migrated state for a migration check.
#[track_caller]
pub fn decode_for_check<T: BorshDeserialize>(check: &str, which: &str, bytes: &[u8]) -> T {
    T::try_from_slice(bytes).unwrap_or_else(|e| {
        panic!(
            "{check}: the {which} state does not decode as `{}`: {e}",
            std::any::type_name::<T>()
        )
    })
}

/// Finds out at compile time whether a state type has a migration check: `(&CheckProbe::<S>::
/// new()).run_check(..)` resolves to [`CheckDeclared`] if `S: MigrationCheck`, else to
/// [`CheckMissing`].
pub struct CheckProbe<T>(std::marker::PhantomData<T>);

impl<T> CheckProbe<T> {
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        Self(std::marker::PhantomData)
    }
}

/// The state has a migration check: run it.
pub trait CheckDeclared {
    fn run_check(&self, old: &[u8], new: &[u8], witness: Option<&[u8]>) -> Option<bool>;
}

impl<T: crate::state::MigrationCheck> CheckDeclared for CheckProbe<T> {
    fn run_check(&self, old: &[u8], new: &[u8], witness: Option<&[u8]>) -> Option<bool> {
        Some(T::check_migration(old, new, witness))
    }
}

/// The state has no migration check.
pub trait CheckMissing {
    fn run_check(&self, old: &[u8], new: &[u8], witness: Option<&[u8]>) -> Option<bool>;
}

impl<T> CheckMissing for &CheckProbe<T> {
    fn run_check(&self, _: &[u8], _: &[u8], _: Option<&[u8]>) -> Option<bool> {
        None
    }
}
