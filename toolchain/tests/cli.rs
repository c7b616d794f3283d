//! `cargo calimero` end to end: new, build, abi, inspect, and its errors.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use calimero_tests::node::TestNode;
use serde_json::{Value, json};

fn tool() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cargo-calimero"));
    // App builds get a target directory of their own: the running `cargo test` holds the lock on
    // the workspace's.
    command
        .env("CARGO_TARGET_DIR", apps_target_dir())
        .env("CARGO_TERM_COLOR", "never");
    command
}

fn apps_target_dir() -> PathBuf {
    calimero_tests::target_dir().join("calimero-apps")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn build(manifest: &Path, out: &Path, extra: &[&str]) -> Output {
    tool()
        .args(["calimero", "build", "--manifest-path"])
        .arg(manifest)
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn a_new_app_builds_installs_and_runs_on_a_real_node() {
    let dir = tempfile::tempdir().unwrap();
    let created = tool()
        .args(["calimero", "new", "demo-app", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(created.status.success(), "{}", text(&created));
    let app = dir.path().join("demo-app");
    for file in [
        "Cargo.toml",
        "src/lib.rs",
        "README.md",
        ".gitignore",
        "scenario.json",
    ] {
        assert!(app.join(file).exists(), "{file} missing");
    }
    let readme = std::fs::read_to_string(app.join("README.md")).unwrap();
    assert!(readme.contains("cargo calimero build") && readme.contains("res/demo_app.wasm"));

    // Its unit test passes on the native host.
    let tested = Command::new(std::env::var("CARGO").unwrap_or("cargo".into()))
        .args(["test", "--manifest-path"])
        .arg(app.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", apps_target_dir())
        .env("CARGO_TERM_COLOR", "never")
        .output()
        .unwrap();
    assert!(tested.status.success(), "{}", text(&tested));
    assert!(text(&tested).contains("greetings_are_stored_and_visits_counted ... ok"));

    let built = build(
        &app.join("Cargo.toml"),
        &app.join("res"),
        &["--message-format", "json"],
    );
    assert!(built.status.success(), "{}", text(&built));
    let finished: Value = String::from_utf8_lossy(&built.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|m| m["reason"] == "build-finished")
        .expect("a build-finished message");
    let module = std::fs::read(app.join("res/demo_app.wasm")).unwrap();
    assert_eq!(finished["size_after"], module.len());
    assert_eq!(finished["sha256"].as_str().unwrap().len(), 64);
    assert!(app.join("res/abi.json").exists());

    // Its scenario passes `cargo calimero test` on the built module.
    let scenario = tool()
        .args(["calimero", "test", "--module"])
        .arg(app.join("res/demo_app.wasm"))
        .current_dir(&app)
        .output()
        .unwrap();
    assert!(scenario.status.success(), "{}", text(&scenario));
    assert!(
        text(&scenario).contains("1 scenario(s), 6 calls: all as expected"),
        "{}",
        text(&scenario)
    );

    let node = TestNode::start(&calimero_tests::merod());
    let application = node.install(&module);
    let context = node.create_context(&application);
    assert_eq!(
        node.call(
            &context,
            "greet",
            json!({"name": "ada", "message": "hello"})
        ),
        Ok(Value::Null)
    );
    assert_eq!(
        node.call(&context, "greeting", json!({"name": "ada"})),
        Ok(json!("hello"))
    );
    assert_eq!(node.call(&context, "visits", json!({})), Ok(json!(1)));
}

#[test]
fn kv_store_abi_equals_the_golden_file_and_the_tools_show_it() {
    let root = calimero_tests::workspace_root();
    let out = tempfile::tempdir().unwrap();
    let built = build(&root.join("apps/kv-store/Cargo.toml"), out.path(), &[]);
    assert!(built.status.success(), "{}", text(&built));
    let log = text(&built);
    for step in ["compile", "abi", "optimize", "embed", "validate"] {
        assert!(
            log.contains(&format!("  {step}")),
            "step {step} not reported:\n{log}"
        );
    }
    assert!(log.contains("sha256"), "{log}");

    let module_path = out.path().join("kv_store.wasm");
    let module = std::fs::read(&module_path).unwrap();
    let section = calimero_wasm_abi::custom_sections(&module, calimero_wasm_abi::SECTION).unwrap();
    assert_eq!(section.len(), 1, "exactly one calimero_abi_v1 section");
    assert!(
        calimero_wasm_abi::custom_sections(&module, calimero_wasm_abi::PARTS_SECTION)
            .unwrap()
            .is_empty()
    );
    let embedded: Value = serde_json::from_slice(section[0]).unwrap();
    let golden: Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("apps/kv-store/abi.expected.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        embedded, golden,
        "the embedded ABI differs from apps/kv-store/abi.expected.json"
    );

    let names: Vec<&str> = golden["methods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    for read_only in ["get", "entries", "len"] {
        assert_eq!(
            golden["methods"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["name"] == read_only)
                .unwrap()["intent"],
            "read_only"
        );
    }
    assert_eq!(golden["types"]["Error"]["kind"], "variant");
    assert_eq!(
        golden["methods"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == "get_result")
            .unwrap()["errors"],
        json!({"$ref": "Error"})
    );
    assert_eq!(golden["events"].as_array().unwrap().len(), 4);

    let abi = tool()
        .args(["calimero", "abi"])
        .arg(&module_path)
        .output()
        .unwrap();
    assert!(abi.status.success());
    assert_eq!(
        serde_json::from_slice::<Value>(&abi.stdout).unwrap(),
        golden
    );

    let inspect = tool()
        .args(["calimero", "inspect"])
        .arg(&module_path)
        .output()
        .unwrap();
    assert!(inspect.status.success());
    let report = String::from_utf8_lossy(&inspect.stdout);
    for expected in [
        "method   set",
        "memory   memory",
        "provided env.storage_write",
        "calimero_abi_v1",
        "code",
        "the node would accept this module",
    ] {
        assert!(
            report.contains(expected),
            "inspect lacks `{expected}`:\n{report}"
        );
    }
}

#[test]
fn two_builds_from_clean_target_dirs_are_byte_identical() {
    let root = calimero_tests::workspace_root();
    let mut modules = Vec::new();
    for _ in 0..2 {
        let target = tempfile::tempdir().unwrap();
        let out = tempfile::tempdir().unwrap();
        let built = tool()
            .args(["calimero", "build", "--manifest-path"])
            .arg(root.join("apps/kv-store/Cargo.toml"))
            .arg("--out")
            .arg(out.path())
            .env("CARGO_TARGET_DIR", target.path())
            .env("RUSTFLAGS", "-C opt-level=1")
            .output()
            .unwrap();
        assert!(built.status.success(), "{}", text(&built));
        modules.push(std::fs::read(out.path().join("kv_store.wasm")).unwrap());
    }
    assert!(modules[0] == modules[1], "the two builds differ");
}

fn scratch_app(dir: &Path, name: &str, lib: &str, cdylib: bool) -> PathBuf {
    let created = tool()
        .args(["calimero", "new", name, "--dir"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(created.status.success(), "{}", text(&created));
    let app = dir.join(name);
    std::fs::write(app.join("src/lib.rs"), lib).unwrap();
    if !cdylib {
        let manifest = std::fs::read_to_string(app.join("Cargo.toml")).unwrap();
        std::fs::write(
            app.join("Cargo.toml"),
            manifest.replace(
                "crate-type = [\"cdylib\", \"rlib\"]",
                "crate-type = [\"rlib\"]",
            ),
        )
        .unwrap();
    }
    app
}

const TINY_APP: &str = r#"
use calimero_sdk::app;
use calimero_storage::collections::Counter;

#[app::state]
pub struct App { count: Counter }

#[app::logic]
impl App {
    #[app::init]
    pub fn init() -> App { App { count: Counter::new() } }
    pub fn bump(&mut self) -> app::Result<u64> { self.count.increment()?; Ok(self.count.value()?) }
}
"#;

const SHELF_V1: &str = r#"
use calimero_sdk::app;
use calimero_storage::collections::{LwwRegister, UnorderedMap};

#[app::state]
pub struct Shelf { books: UnorderedMap<String, LwwRegister<String>>, owner: LwwRegister<String> }

#[app::logic]
impl Shelf {
    #[app::init]
    pub fn init() -> Shelf { Shelf { books: UnorderedMap::new(), owner: LwwRegister::new("nobody".into()) } }
    pub fn add(&mut self, key: String, title: String) -> app::Result<()> { self.books.insert(key, title.into())?; Ok(()) }
    pub fn set_owner(&mut self, owner: String) { self.owner.set(owner); }
}
"#;

const SHELF_V2: &str = r#"
use calimero_sdk::app;
use calimero_sdk::borsh::BorshDeserialize;
use calimero_storage::collections::{LwwRegister, UnorderedMap};

#[derive(BorshDeserialize)]
#[borsh(crate = "calimero_sdk::borsh")]
pub struct ShelfV1 { books: UnorderedMap<String, LwwRegister<String>>, owner: LwwRegister<String> }

#[app::event]
pub enum Event { Upgraded { books: u64 } }

#[app::state(version = 2, emits = Event)]
#[derive(app::Migrate)]
#[migrate(from = ShelfV1)]
pub struct Shelf {
    books: UnorderedMap<String, LwwRegister<String>>,
    #[migrate(from = owner)]
    keeper: LwwRegister<String>,
    #[migrate(new = LwwRegister::new(0))]
    loans: LwwRegister<u64>,
}

#[app::logic]
impl Shelf {
    #[app::init]
    pub fn init() -> Shelf { Shelf { books: UnorderedMap::new(), keeper: LwwRegister::new("nobody".into()), loans: LwwRegister::new(0) } }
    pub fn title(&self, key: String) -> app::Result<Option<String>> { Ok(self.books.get(&key)?.map(|t| t.get().clone())) }
    pub fn keeper(&self) -> String { self.keeper.get().clone() }
    pub fn lend(&mut self) -> u64 { let n = *self.loans.get() + 1; self.loans.set(n); n }
}
"#;

#[test]
fn a_scenario_upgrades_a_context_to_a_new_version_through_its_migration() {
    let dir = tempfile::tempdir().unwrap();
    let mut modules = Vec::new();
    for (name, lib) in [("shelf-v1", SHELF_V1), ("shelf-v2", SHELF_V2)] {
        let app = scratch_app(dir.path(), name, lib, true);
        let built = build(&app.join("Cargo.toml"), &app.join("res"), &[]);
        assert!(built.status.success(), "{}", text(&built));
        let module = app.join(format!("res/{}.wasm", name.replace('-', "_")));
        modules.push(module);
    }
    let abi: Value = serde_json::from_slice(
        &tool()
            .args(["calimero", "abi"])
            .arg(&modules[1])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert_eq!(abi["state_version"], json!(2));
    assert_eq!(
        abi["migrations"],
        json!([{"method": "migrate_v1_to_v2", "from_version": 1}])
    );
    std::fs::copy(&modules[1], dir.path().join("v2.wasm")).unwrap();
    let scenario = dir.path().join("upgrade.yml");
    std::fs::write(
        &scenario,
        r#"
- method: add
  args: {key: a, title: Dune}
- method: set_owner
  args: {owner: ada}
- upgrade: v2.wasm
- method: title
  args: {key: a}
  expect: {output: Dune}
- method: keeper
  expect: {output: ada}
- method: lend
  expect: {output: 1}
- upgrade: v2.wasm
  refused: true
- method: lend
  expect: {output: 2}
"#,
    )
    .unwrap();
    let run = |scenario: &Path| {
        tool()
            .args(["calimero", "test", "--module"])
            .arg(&modules[0])
            .arg("--scenario")
            .arg(scenario)
            .output()
            .unwrap()
    };
    let passed = run(&scenario);
    assert!(passed.status.success(), "{}", text(&passed));

    // The same steps with the wrong expectations fail, naming the step and what happened.
    let wrong = dir.path().join("wrong.yml");
    std::fs::write(
        &wrong,
        "- upgrade: v2.wasm\n  refused: true\n- upgrade: v2.wasm\n- method: keeper\n  expect: {output: ada}\n",
    )
    .unwrap();
    let failed = run(&wrong);
    assert!(!failed.status.success());
    let log = text(&failed);
    assert!(
        log.contains("step 1 `upgrade`") && log.contains("the context moved to the new version"),
        "{log}"
    );
    assert!(
        log.contains("step 2 `upgrade`")
            && log.contains("migrates from state version 1, not from the context's 2"),
        "{log}"
    );
    assert!(log.contains("\"nobody\""), "{log}");
}

#[test]
fn a_crate_that_is_not_a_cdylib_is_refused_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let app = scratch_app(dir.path(), "not-cdylib", TINY_APP, false);
    let built = build(&app.join("Cargo.toml"), &app.join("res"), &[]);
    assert!(!built.status.success());
    let log = text(&built);
    assert!(
        log.contains("is not a cdylib") && log.contains("crate-type = [\"cdylib\", \"rlib\"]"),
        "{log}"
    );
}

#[test]
fn a_method_name_the_node_would_reject_is_a_build_error() {
    let dir = tempfile::tempdir().unwrap();
    let app = scratch_app(
        dir.path(),
        "bad-name",
        &TINY_APP.replace("pub fn bump", "pub fn bümp"),
        true,
    );
    let built = build(&app.join("Cargo.toml"), &app.join("res"), &["--no-opt"]);
    assert!(!built.status.success());
    let log = text(&built);
    assert!(
        log.contains("method `bümp` cannot be called") && log.contains("[A-Za-z0-9_]"),
        "{log}"
    );
}

#[test]
fn compile_errors_are_passed_through() {
    let dir = tempfile::tempdir().unwrap();
    let app = scratch_app(
        dir.path(),
        "broken",
        &TINY_APP.replace("Ok(self.count.value()?)", "Ok(\"nope\")"),
        true,
    );
    let built = build(&app.join("Cargo.toml"), &app.join("res"), &[]);
    assert!(!built.status.success());
    let log = text(&built);
    assert!(log.contains("error[E0308]: mismatched types"), "{log}");
    assert!(log.contains("cargo build failed"), "{log}");
}

#[test]
fn building_where_there_is_no_app_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let built = tool()
        .args(["calimero", "build"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!built.status.success());
    assert!(
        text(&built).contains("no Cargo.toml (Rust) or package.json (TypeScript)"),
        "{}",
        text(&built)
    );
}

#[test]
fn a_missing_wasm_target_is_reported_with_the_rustup_fix() {
    // A rustc whose sysroot has no wasm32 standard library, first on PATH.
    let fake = tempfile::tempdir().unwrap();
    let script = fake.path().join("rustc");
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho {}\n", fake.path().display()),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let path = format!(
        "{}:{}",
        fake.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let built = tool()
        .args(["calimero", "build", "--manifest-path"])
        .arg(calimero_tests::workspace_root().join("apps/kv-store/Cargo.toml"))
        .env("PATH", path)
        .env_remove("RUSTC")
        .output()
        .unwrap();
    assert!(!built.status.success());
    let log = text(&built);
    assert!(
        log.contains("the Rust target wasm32-unknown-unknown is not installed"),
        "{log}"
    );
    assert!(
        log.contains("rustup target add wasm32-unknown-unknown"),
        "{log}"
    );
}
