//! The QuickJS engine (built offline for wasm32-wasip1 from Debian's clang and wasi-libc by the
//! toolchain's build script) becomes a module the node accepts (no WASI imports), and the node's
//! own runtime runs JavaScript on it that reaches the host ABI and the web globals.

use std::sync::OnceLock;

use calimero_runtime::{FunctionCallError, HostError};
use calimero_wasm_abi::module::{check_host_abi, inspect};

fn engine() -> &'static [u8] {
    static ENGINE: OnceLock<Vec<u8>> = OnceLock::new();
    ENGINE.get_or_init(|| {
        // The engine embedded in this toolchain (built by its build script), WASI imports
        // replaced, no app linked in.
        let prepared = cargo_calimero::ts::engine::prepared(false).expect("the engine prepares");
        cargo_calimero::ts::engine::bare(&prepared, false).expect("the bare engine links")
    })
}

fn eval(script: &str) -> calimero_runtime::Outcome {
    run("calimero_js_eval", script.as_bytes())
}

#[test]
fn the_engine_imports_only_the_host_abi() {
    let surface = inspect(engine()).unwrap();
    let modules: Vec<&str> = surface
        .imports
        .iter()
        .map(|(module, _, _)| module.as_str())
        .collect();
    assert!(
        modules.iter().all(|m| *m == "env"),
        "imports: {:?}",
        surface.imports
    );
    assert!(
        surface
            .exports
            .iter()
            .all(|(name, _, _)| !name.starts_with("__calimero_wasi_"))
    );
    // The bare engine is a build tool: its dispatcher takes the method index. An app module
    // exports `() -> ()` methods instead (shown in ts_apps.rs); nothing else may be wrong.
    let problems = check_host_abi(&surface, false);
    let others: Vec<&String> = problems
        .iter()
        .filter(|p| !p.starts_with("export `calimero_js_dispatch`"))
        .collect();
    assert!(others.is_empty(), "{others:?}");
}

#[test]
fn javascript_runs_and_reaches_the_host() {
    let outcome = eval(
        r#"
        __calimero_host.log("héllo, 世界 🌍");
        const numbers = [1, 2, 3].map((n) => n * 2);
        __calimero_host.returnOk(JSON.stringify({ sum: numbers.reduce((a, b) => a + b, 0), now: typeof Date.now(), text: "é✓" }));
        "#,
    );
    assert!(outcome.returns.is_ok(), "{:?}", outcome.returns);
    assert_eq!(outcome.logs, ["héllo, 世界 🌍"]);
    let value: serde_json::Value =
        serde_json::from_slice(&outcome.returns.unwrap().unwrap()).unwrap();
    assert_eq!(
        value,
        serde_json::json!({"sum": 12, "now": "number", "text": "é✓"})
    );
}

#[test]
fn the_web_globals_are_there_and_speak_utf8() {
    let outcome = eval(
        r#"
        const text = "façade — 東京 🌍";
        const bytes = new TextEncoder().encode(text);
        const back = new TextDecoder().decode(bytes);
        const random = crypto.getRandomValues(new Uint8Array(32));
        console.log("seen", text, 42, { ok: true }, 7n);
        __calimero_host.returnOk(JSON.stringify({
            length: bytes.length, same: back === text, first: bytes[0],
            random: random.length, varied: new Set(random).size > 1,
            fromView: new TextDecoder("utf-8").decode(bytes.subarray(7, 12)),
        }));
        "#,
    );
    assert!(outcome.returns.is_ok(), "{:?}", outcome.returns);
    assert_eq!(outcome.logs, ["seen façade — 東京 🌍 42 {\"ok\":true} 7n"]);
    let value: serde_json::Value =
        serde_json::from_slice(&outcome.returns.unwrap().unwrap()).unwrap();
    assert_eq!(
        value,
        serde_json::json!({
            "length": "façade — 東京 🌍".len(), "same": true, "first": b'f',
            "random": 32, "varied": true, "fromView": " — ",
        })
    );
}

#[test]
fn a_javascript_exception_is_a_guest_panic_with_its_message() {
    let outcome = eval(r#"function set(key) { throw new Error("no key " + key); } set("k");"#);
    match outcome.returns {
        Err(FunctionCallError::HostError(HostError::Panic { message, .. })) => {
            // The message, then where it was thrown: the function and its line and column.
            assert!(message.starts_with("no key k\n"), "{message}");
            assert!(message.contains("at set (eval_script:1:"), "{message}");
        }
        other => panic!("expected a guest panic, got {other:?}"),
    }
    // A thrown value that is not an error is shown as JavaScript's `String` shows it.
    for (script, expected) in [
        ("throw 4.5;", "uncaught 4.5"),
        ("throw 42n;", "uncaught 42"),
        (
            "throw { toString() { return 'custom'; } };",
            "uncaught custom",
        ),
        ("throw [1, 2];", "uncaught 1,2"),
        (
            "throw { toString() { throw new Error('no'); } };",
            "uncaught object (its conversion to a string threw)",
        ),
        ("throw 'text';", "uncaught text"),
    ] {
        match eval(script).returns {
            Err(FunctionCallError::HostError(HostError::Panic { message, .. })) => {
                assert_eq!(message, expected, "{script}");
            }
            other => panic!("{script}: expected a guest panic, got {other:?}"),
        }
    }
    let outcome = eval("let = ;");
    assert!(
        matches!(
            outcome.returns,
            Err(FunctionCallError::HostError(HostError::Panic { .. }))
        ),
        "{:?}",
        outcome.returns
    );
}

fn run(export: &str, input: &[u8]) -> calimero_runtime::Outcome {
    cargo_calimero::ts::engine::run_tool(engine(), export, input)
        .expect("the node accepts the engine")
}

#[test]
fn modules_compile_to_bytecode_that_the_same_engine_runs() {
    let source = r#"
        const greet = (name) => `hello, ${name}`;
        __calimero_host.log(greet("bytecode"));
        __calimero_host.returnOk(String(6 * 7));
    "#;
    let compiled = run("calimero_js_compile", source.as_bytes());
    let bytecode = compiled
        .returns
        .expect("compiles")
        .expect("returns the bytecode");
    assert!(!bytecode.is_empty() && bytecode != source.as_bytes());
    let ran = run("calimero_js_run", &bytecode);
    assert!(ran.returns.is_ok(), "{:?}", ran.returns);
    assert_eq!(ran.logs, ["hello, bytecode"]);
    assert_eq!(ran.returns.unwrap().unwrap(), b"42");
}

#[test]
fn a_syntax_error_is_reported_with_its_line() {
    let compiled = run("calimero_js_compile", b"const a = 1;\nconst b = ;\n");
    match compiled.returns {
        Err(FunctionCallError::HostError(HostError::Panic { message, .. })) => {
            assert!(message.contains("app.js:2"), "{message}");
        }
        other => panic!("expected a guest panic, got {other:?}"),
    }
}

#[test]
fn bytecode_runs_without_eval_as_an_app_does_while_the_tools_scripts_keep_it() {
    let source = r#"
        const tried = [() => eval("6 * 7"), () => new Function("return 6 * 7")()].map((f) => {
            try { return `ran ${f()}`; } catch (e) { return `${e.name}: ${e.message}`; }
        });
        __calimero_host.returnOk(tried.join("; "));
    "#;
    let compiled = run("calimero_js_compile", source.as_bytes());
    let bytecode = compiled.returns.expect("compiles").expect("bytecode");
    let ran = run("calimero_js_run", &bytecode);
    assert_eq!(
        String::from_utf8(ran.returns.expect("runs").unwrap()).unwrap(),
        "TypeError: eval is not supported; TypeError: eval is not supported"
    );
    let evaluated = eval(source);
    assert_eq!(
        String::from_utf8(evaluated.returns.expect("runs").unwrap()).unwrap(),
        "ran 42; ran 42"
    );
}
