//! Support for the code `#[app::logic]` generates. Not a public API.

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
}

/// The ABI fragment of a state type (implemented by `#[app::state]`).
pub trait StateAbi {
    /// JSON fragments: the state's own, then its events'.
    fn fragments() -> Vec<&'static str>;
}

/// The ABI fragment of an event type (implemented by `#[app::event]`).
pub trait EventAbi {
    /// The JSON fragment.
    const FRAGMENT: &'static str;
}

/// Starts an export: panic hook, fresh storage engine.
pub fn begin() {
    env::setup_panic_hook();
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
