//! `cargo calimero`: create, build and inspect Calimero apps.
//!
//! The build is a library the CLI calls, one file per step:
//!
//! 1. [`compile`]: `cargo build --target wasm32-unknown-unknown` with a size-tuned profile passed
//!    as `--config` (the user's Cargo.toml is never edited), ambient `RUSTFLAGS` ignored and paths
//!    remapped so that builds are reproducible.
//! 2. [`abi`]: the ABI fragments the SDK macros left in the module, merged into one manifest.
//! 3. [`optimize`]: wasm-opt (the `wasm-opt` crate; no system binaryen) with the features the
//!    node's wasmer accepts.
//! 4. drop build-only sections and embed the manifest as `calimero_abi_v1` (with the section
//!    helpers of `calimero-wasm-abi`).
//! 5. [`validate`]: the final module against the host ABI.

pub mod abi;
pub mod cli;
pub mod compat;
pub mod compile;
pub mod inspect;
pub mod new;
pub mod optimize;
pub mod pipeline;
pub mod report;
pub mod ts;
pub mod validate;
pub mod wasi;
