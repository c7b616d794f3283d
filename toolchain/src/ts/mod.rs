//! The TypeScript pipeline (`TOOLCHAIN.md` §3): parse ([`front`]), resolve and link
//! ([`bundle`]), extract the ABI ([`extract`]), compile to bytecode with the embedded engine and
//! link the app into it ([`engine`], [`splice`]).

pub mod bundle;
pub mod engine;
pub mod extract;
pub mod front;
pub mod splice;

pub use front::{SyntaxError, transpile};
