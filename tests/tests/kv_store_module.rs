//! The kv-store module built for wasm32 follows the host ABI.

use calimero_tests::{build_app, check_host_abi, inspect};
use wasmparser::ExternalKind;

#[test]
fn kv_store_module_imports_only_core_functions_and_exports_per_the_abi() {
    let module = build_app("kv-store");
    let surface = inspect(&module).expect("the module validates");
    let problems = check_host_abi(&surface, true);
    assert!(
        problems.is_empty(),
        "host ABI violations:\n{}",
        problems.join("\n")
    );

    let mut methods: Vec<&str> = surface
        .exports
        .iter()
        .filter(|(_, kind, _)| *kind == ExternalKind::Func)
        .map(|(name, _, _)| name.as_str())
        .collect();
    methods.sort();
    assert_eq!(
        methods,
        [
            "__calimero_sync_next",
            "clear",
            "entries",
            "get",
            "get_or_insert",
            "get_result",
            "get_unchecked",
            "init",
            "len",
            "remove",
            "set",
            "update_if_exists",
        ]
    );

    // The ABI fragments the macros left in the module merge into a manifest that lists
    // exactly the exported app methods.
    let manifest = calimero_wasm_abi::read_manifest(&module)
        .unwrap()
        .expect("ABI fragments present");
    let described: Vec<&str> = manifest["methods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    let exported: Vec<&str> = methods
        .into_iter()
        .filter(|m| !m.starts_with("__calimero"))
        .collect();
    assert_eq!(described, exported);
    assert_eq!(manifest["state_root"], "KvStore");
}

#[test]
fn the_checker_rejects_what_the_node_would_reject() {
    // A module importing an unknown function and a memory, exporting `_start` and a method
    // with parameters: every violation is reported.
    let wat = r#"(module
        (import "env" "mystery" (func (param i64)))
        (import "env" "mem" (memory 1))
        (import "env" "input" (func (param i32)))
        (func (export "_start"))
        (func (export "with-dash"))
        (func (export "takes_args") (param i32)))"#;
    let module = wat_to_wasm(wat);
    let problems = check_host_abi(&inspect(&module).unwrap(), true);
    let joined = problems.join("\n");
    assert!(
        joined.contains("env.mystery is not in the core set"),
        "{joined}"
    );
    assert!(joined.contains("must not import memory"), "{joined}");
    assert!(
        joined.contains("import env.input has signature"),
        "{joined}"
    );
    assert!(joined.contains("exports `_start`"), "{joined}");
    assert!(
        joined.contains("`with-dash` is not a valid method name"),
        "{joined}"
    );
    assert!(joined.contains("`takes_args` is"), "{joined}");
    assert!(joined.contains("does not export its memory"), "{joined}");
}

fn wat_to_wasm(text: &str) -> Vec<u8> {
    wat::parse_str(text).expect("valid WAT")
}
