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
    (".gitignore", include_str!("../../templates/rust/gitignore")),
    (
        "scenario.json",
        include_str!("../../templates/rust/scenario.json"),
    ),
];

/// The TypeScript templates, as `npx create-calimero-app` writes them.
macro_rules! ts_template {
    ($name:literal) => {
        &[
            (
                "package.json",
                include_str!(concat!("../../templates/ts/", $name, "/package.json.tmpl")),
            ),
            (
                "tsconfig.json",
                include_str!(concat!("../../templates/ts/", $name, "/tsconfig.json")),
            ),
            (
                "src/index.ts",
                include_str!(concat!("../../templates/ts/", $name, "/src/index.ts")),
            ),
            (
                "scenario.json",
                include_str!(concat!("../../templates/ts/", $name, "/scenario.json")),
            ),
            (
                "README.md",
                include_str!(concat!("../../templates/ts/", $name, "/README.md")),
            ),
            (
                ".gitignore",
                include_str!(concat!("../../templates/ts/", $name, "/gitignore")),
            ),
        ]
    };
}

const TS_TEMPLATES: &[(&str, &[(&str, &str)])] = &[
    ("kv-store", ts_template!("kv-store")),
    ("counter", ts_template!("counter")),
];

/// The SDK checkout the toolchain was built from.
pub fn default_sdk_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// Creates app `name` in `dir/name` from the template for `lang` (`rust`, or `ts` with
/// `template` `kv-store` or `counter`); returns its directory.
pub fn create(
    name: &str,
    dir: &Path,
    lang: &str,
    template: Option<&str>,
    sdk: &Path,
) -> anyhow::Result<PathBuf> {
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
    let (files, sdk_value): (&[(&str, &str)], String) = match lang {
        "rust" => {
            if let Some(template) = template {
                bail!("--template {template}: the Rust app has one template; drop --template");
            }
            (RUST_TEMPLATE, sdk.display().to_string())
        }
        "ts" | "typescript" => {
            let wanted = template.unwrap_or("kv-store");
            let Some((_, files)) = TS_TEMPLATES.iter().find(|(n, _)| *n == wanted) else {
                let names: Vec<&str> = TS_TEMPLATES.iter().map(|(n, _)| *n).collect();
                bail!(
                    "unknown template `{wanted}`; choose one of: {}",
                    names.join(", ")
                );
            };
            let package = sdk.join("sdk-js/sdk");
            if !package.join("index.d.ts").is_file() {
                bail!(
                    "{} is not the TypeScript SDK (no index.d.ts): pass --sdk-path <the Calimero checkout>",
                    package.display()
                );
            }
            (*files, format!("file:{}", package.display()))
        }
        other => bail!("--lang {other}: choose rust or ts"),
    };
    let root = dir.join(name);
    if root.exists() {
        bail!(
            "{} already exists; pick another name or remove it",
            root.display()
        );
    }
    let crate_name = name.replace('-', "_");
    for (path, contents) in files {
        let file = root.join(path);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        let text = contents
            .replace("{{name}}", name)
            .replace("{{crate_name}}", &crate_name)
            .replace("{{sdk}}", &sdk_value);
        std::fs::write(&file, text).with_context(|| format!("writing {}", file.display()))?;
    }
    Ok(root)
}
