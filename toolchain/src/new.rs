//! `cargo calimero new`: a ready-to-build app from `templates/`.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// The Rust template, compiled into the binary: `(path in the new app, contents)`.
const RUST_TEMPLATE: &[(&str, &str)] = &[
    (
        "Cargo.toml",
        include_str!("../../templates/rust/Cargo.toml.tmpl"),
    ),
    (
        "src/lib.rs",
        include_str!("../../templates/rust/src/lib.rs"),
    ),
    ("README.md", include_str!("../../templates/rust/README.md")),
    (
        "scenario.json",
        include_str!("../../templates/rust/scenario.json"),
    ),
    (".gitignore", include_str!("../../templates/rust/gitignore")),
];

/// The SDK checkout the toolchain was built from.
pub fn default_sdk_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// Creates app `name` in `dir/name`; returns its directory.
pub fn create(name: &str, dir: &Path, lang: &str, sdk: &Path) -> anyhow::Result<PathBuf> {
    let valid = !name.is_empty()
        && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid {
        bail!(
            "`{name}` is not a valid app name: use letters, digits, `-` and `_`, starting with a letter"
        );
    }
    if lang != "rust" {
        bail!("--lang {lang}: only Rust apps can be created by this toolchain yet");
    }
    let root = dir.join(name);
    if root.exists() {
        bail!(
            "{} already exists; pick another name or remove it",
            root.display()
        );
    }
    let crate_name = name.replace('-', "_");
    for (path, contents) in RUST_TEMPLATE {
        let file = root.join(path);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        let text = contents
            .replace("{{name}}", name)
            .replace("{{crate_name}}", &crate_name)
            .replace("{{sdk}}", &sdk.display().to_string());
        std::fs::write(&file, text).with_context(|| format!("writing {}", file.display()))?;
    }
    Ok(root)
}
