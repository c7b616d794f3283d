//! The first ten minutes of a TypeScript developer: `npx create-calimero-app` from the checkout
//! and from a packed tarball, `npm install` with no registry fetch of this project's packages,
//! `npm run typecheck`, `npm run build`, `npm test`, and the module running on a real merod;
//! `cargo calimero new --lang ts` writing the same app.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use calimero_tests::node::TestNode;
use common::text;
use serde_json::{Value, json};

/// `PATH` with this build's `cargo-calimero` (and the running cargo) first, so the scaffolded
/// scripts' `cargo calimero …` runs the tool under test.
fn path_with_tool() -> std::ffi::OsString {
    let tool = PathBuf::from(env!("CARGO_BIN_EXE_cargo-calimero"));
    let mut dirs = vec![tool.parent().unwrap().to_path_buf()];
    if let Some(cargo) = std::env::var_os("CARGO").map(PathBuf::from)
        && let Some(dir) = cargo.parent()
    {
        dirs.push(dir.to_path_buf());
    }
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(dirs).unwrap()
}

fn run(program: &str, args: &[&str], dir: &Path) -> Output {
    Command::new(program)
        .args(args)
        .current_dir(dir)
        .env("PATH", path_with_tool())
        .env("npm_config_update_notifier", "false")
        .env(
            "CALIMERO_CACHE_DIR",
            calimero_tests::target_dir().join("calimero-cache"),
        )
        .output()
        .unwrap_or_else(|e| {
            panic!("{program} does not run ({e}); bash scripts/setup.sh installs Node.js and npm")
        })
}

fn ok(output: Output, what: &str) -> String {
    assert!(output.status.success(), "{what} failed:\n{}", text(&output));
    text(&output)
}

fn npm_install(app: &Path) {
    ok(
        run(
            "npm",
            &["install", "--no-audit", "--no-fund", "--prefer-offline"],
            app,
        ),
        "npm install",
    );
}

/// Every file of an app as the scaffold wrote it (no node_modules, res or lock file).
fn files(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(at) = pending.pop() {
        for entry in std::fs::read_dir(&at).unwrap().flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if matches!(name.as_str(), "node_modules" | "res" | "package-lock.json") {
                continue;
            }
            if path.is_dir() {
                pending.push(path);
            } else {
                let relative = path.strip_prefix(dir).unwrap().display().to_string();
                out.push((relative, std::fs::read_to_string(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn npx_scaffolds_an_app_that_typechecks_builds_tests_and_runs_on_merod() {
    let root = calimero_tests::workspace_root();
    let scaffolder = root.join("sdk-js/create-calimero-app");
    let work = tempfile::tempdir().unwrap();
    let created = ok(
        run(
            "npx",
            &[
                "--yes",
                scaffolder.to_str().unwrap(),
                "my-app",
                "--template",
                "counter",
            ],
            work.path(),
        ),
        "npx create-calimero-app",
    );
    assert!(created.contains("created my-app (counter)"), "{created}");
    let app = work.path().join("my-app");
    let package: Value =
        serde_json::from_str(&std::fs::read_to_string(app.join("package.json")).unwrap()).unwrap();
    assert_eq!(package["scripts"]["build"], "cargo calimero build");
    assert_eq!(package["scripts"]["test"], "cargo calimero test");
    assert_eq!(package["scripts"]["typecheck"], "tsc --noEmit");
    assert_eq!(
        package["devDependencies"]["@calimero/sdk"],
        format!("file:{}", root.join("sdk-js/sdk").display())
    );

    npm_install(&app);
    assert!(
        app.join("node_modules/@calimero/sdk/index.d.ts").is_file(),
        "editors resolve the SDK's declarations from node_modules"
    );
    ok(run("npm", &["run", "typecheck"], &app), "npm run typecheck");
    ok(run("npm", &["run", "build"], &app), "npm run build");
    let tested = ok(run("npm", &["test"], &app), "npm test");
    assert!(
        tested.contains("1 scenario(s), 5 calls: all as expected"),
        "{tested}"
    );

    let module = std::fs::read(app.join("res/my_app.wasm")).unwrap();
    let node = TestNode::start(&calimero_tests::merod());
    let application = node.install(&module);
    let context = node.create_context(&application);
    assert_eq!(
        node.call(&context, "increment_by", json!({"amount": 5})),
        Ok(json!(5))
    );
    assert_eq!(node.call(&context, "increment", json!({})), Ok(json!(6)));
    assert_eq!(node.call(&context, "value", json!({})), Ok(json!(6)));

    // A type error: `npm run typecheck` names the file and line.
    let source = std::fs::read_to_string(app.join("src/index.ts")).unwrap();
    let lines = source.lines().count();
    std::fs::write(
        app.join("src/index.ts"),
        format!("{source}const broken: number = \"not a number\";\n"),
    )
    .unwrap();
    let typecheck = run("npm", &["run", "typecheck"], &app);
    assert!(!typecheck.status.success());
    let shown = text(&typecheck);
    assert!(
        shown.contains(&format!("src/index.ts({},7): error TS2322", lines + 1)),
        "{shown}"
    );

    // A syntax error: `npm run build` names file:line:column and shows the line.
    std::fs::write(
        app.join("src/index.ts"),
        source.replacen("this.count.increment();", "this.count.increment(;", 1),
    )
    .unwrap();
    let line = source
        .lines()
        .position(|l| l.contains("this.count.increment();"))
        .unwrap()
        + 1;
    let build = run("npm", &["run", "build"], &app);
    assert!(!build.status.success());
    let shown = text(&build);
    assert!(shown.contains(&format!("src/index.ts:{line}:")), "{shown}");
    assert!(shown.contains("this.count.increment(;"), "{shown}");

    // `cargo calimero new --lang ts` writes the same app.
    let other = tempfile::tempdir().unwrap();
    std::fs::write(app.join("src/index.ts"), &source).unwrap();
    ok(
        run(
            env!("CARGO_BIN_EXE_cargo-calimero"),
            &[
                "calimero",
                "new",
                "my-app",
                "--lang",
                "ts",
                "--template",
                "counter",
                "--dir",
                other.path().to_str().unwrap(),
                "--sdk-path",
                root.to_str().unwrap(),
            ],
            other.path(),
        ),
        "cargo calimero new --lang ts",
    );
    assert_eq!(files(&other.path().join("my-app")), files(&app));
}

#[test]
fn the_scaffolder_refuses_bad_input_with_advice() {
    let scaffolder = calimero_tests::workspace_root().join("sdk-js/create-calimero-app");
    let work = tempfile::tempdir().unwrap();
    let npx = |args: &[&str]| {
        let mut all = vec!["--yes", scaffolder.to_str().unwrap()];
        all.extend_from_slice(args);
        let output = run("npx", &all, work.path());
        (output.status.code(), text(&output))
    };
    let (code, shown) = npx(&["app", "--template", "chess"]);
    assert_eq!(code, Some(1));
    assert!(
        shown.contains("unknown template `chess`; choose one of: kv-store, counter"),
        "{shown}"
    );
    let (code, shown) = npx(&["9lives"]);
    assert_eq!(code, Some(1));
    assert!(shown.contains("is not a valid app name"), "{shown}");
    let (code, shown) = npx(&[]);
    assert_eq!(code, Some(1), "no name and no terminal: {shown}");
    assert!(shown.contains("give the app a name"), "{shown}");
    let (code, _) = npx(&["taken"]);
    assert_eq!(code, Some(0));
    let (code, shown) = npx(&["taken"]);
    assert_eq!(code, Some(1));
    assert!(shown.contains("already exists"), "{shown}");
    let (code, shown) = npx(&["--help"]);
    assert_eq!(code, Some(0));
    assert!(shown.contains("--template <name>"), "{shown}");
}

#[test]
fn a_packed_scaffolder_carries_its_templates_and_sdk() {
    // Pack a copy laid out like the checkout, so packing writes nothing into the repository.
    let root = calimero_tests::workspace_root();
    let copy = tempfile::tempdir().unwrap();
    let copy_dir = |from: &Path, to: &Path| {
        ok(
            run(
                "cp",
                &["-r", from.to_str().unwrap(), to.to_str().unwrap()],
                copy.path(),
            ),
            "cp",
        )
    };
    std::fs::create_dir_all(copy.path().join("sdk-js/sdk")).unwrap();
    std::fs::create_dir_all(copy.path().join("templates")).unwrap();
    copy_dir(
        &root.join("sdk-js/create-calimero-app"),
        &copy.path().join("sdk-js/create-calimero-app"),
    );
    for part in [
        "package.json",
        "index.d.ts",
        "collections.d.ts",
        "env.d.ts",
        "src",
    ] {
        copy_dir(
            &root.join("sdk-js/sdk").join(part),
            &copy.path().join("sdk-js/sdk"),
        );
    }
    copy_dir(
        &root.join("templates/ts"),
        &copy.path().join("templates/ts"),
    );
    let packer = copy.path().join("sdk-js/create-calimero-app");
    ok(run("npm", &["pack", "--silent"], &packer), "npm pack");
    let tarball = packer.join("create-calimero-app-0.1.0.tgz");
    assert!(tarball.is_file());

    let work = tempfile::tempdir().unwrap();
    ok(
        run(
            "npx",
            &[
                "--yes",
                "--package",
                tarball.to_str().unwrap(),
                "create-calimero-app",
                "packed-app",
            ],
            work.path(),
        ),
        "npx <tarball>",
    );
    let app = work.path().join("packed-app");
    let package: Value =
        serde_json::from_str(&std::fs::read_to_string(app.join("package.json")).unwrap()).unwrap();
    assert_eq!(
        package["devDependencies"]["@calimero/sdk"],
        "file:vendor/calimero-sdk-0.1.0.tgz"
    );
    assert!(app.join("vendor/calimero-sdk-0.1.0.tgz").is_file());
    assert!(app.join("src/index.ts").is_file() && app.join(".gitignore").is_file());
    npm_install(&app);
    ok(run("npm", &["run", "typecheck"], &app), "npm run typecheck");
    let tested = ok(run("npm", &["test"], &app), "npm test");
    assert!(tested.contains("all as expected"), "{tested}");
}

#[test]
fn the_getting_started_pages_run_as_written() {
    let root = calimero_tests::workspace_root();
    let output = Command::new("bash")
        .arg(root.join("scripts/check-docs.sh"))
        .current_dir(&root)
        .env("PATH", path_with_tool())
        .env("CARGO_TARGET_DIR", calimero_tests::target_dir())
        .output()
        .unwrap();
    let shown = text(&output);
    assert!(output.status.success(), "{shown}");
    for page in ["getting-started-rust.md", "getting-started-ts.md"] {
        assert!(shown.contains(&format!("docs/{page}:")), "{shown}");
    }
    assert_eq!(shown.matches("    ok in ").count(), 2, "{shown}");
}
