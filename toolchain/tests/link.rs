//! Linking an app into the engine template at the byte level (`ts::splice`): the module is valid,
//! its memory starts as the snapshot left it (or as the engine's data, with the payload in the
//! passive segment), its globals hold the snapshot's values, and its exports are the engine's
//! plus one per method, each calling the dispatcher with the method's index.

use calimero_runtime::GlobalValue;
use cargo_calimero::ts::{engine, splice};
use wasmparser::{DataKind, Operator, Payload};

/// What the tests read back from a linked module.
#[derive(Default)]
struct Read {
    imported_functions: u32,
    defined_functions: u32,
    exports: Vec<(String, u32)>,
    globals: Vec<Option<GlobalValue>>,
    initial_pages: u64,
    /// Active segments' `(offset, bytes)` and the passive ones' bytes.
    active: Vec<(usize, Vec<u8>)>,
    passive: Vec<Vec<u8>>,
    data_count: Option<u32>,
    bodies: Vec<Vec<u8>>,
    /// The function each slot of the table holds, from its active element segments.
    table: std::collections::BTreeMap<u32, u32>,
}

fn read(module: &[u8]) -> Read {
    wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
        .validate_all(module)
        .expect("the linked module is valid");
    let mut read = Read::default();
    for payload in wasmparser::Parser::new(0).parse_all(module) {
        match payload.unwrap() {
            Payload::ImportSection(imports) => {
                for import in imports.into_imports() {
                    if matches!(import.unwrap().ty, wasmparser::TypeRef::Func(_)) {
                        read.imported_functions += 1;
                    }
                }
            }
            Payload::FunctionSection(functions) => read.defined_functions = functions.count(),
            Payload::ExportSection(exports) => {
                for export in exports {
                    let export = export.unwrap();
                    read.exports.push((export.name.to_owned(), export.index));
                }
            }
            Payload::GlobalSection(globals) => {
                for global in globals {
                    let mut ops = global.unwrap().init_expr.get_operators_reader();
                    read.globals.push(match ops.read().unwrap() {
                        Operator::I32Const { value } => Some(GlobalValue::I32(value)),
                        Operator::I64Const { value } => Some(GlobalValue::I64(value)),
                        _ => None,
                    });
                }
            }
            Payload::MemorySection(memories) => {
                read.initial_pages = memories.into_iter().next().unwrap().unwrap().initial;
            }
            Payload::DataCountSection { count, .. } => read.data_count = Some(count),
            Payload::DataSection(data) => {
                for segment in data {
                    let segment = segment.unwrap();
                    match segment.kind {
                        DataKind::Passive => read.passive.push(segment.data.to_vec()),
                        DataKind::Active { offset_expr, .. } => {
                            let Operator::I32Const { value } =
                                offset_expr.get_operators_reader().read().unwrap()
                            else {
                                panic!("a data segment at a computed offset");
                            };
                            read.active
                                .push((value as u32 as usize, segment.data.to_vec()));
                        }
                    }
                }
            }
            Payload::ElementSection(elements) => {
                for element in elements {
                    let element = element.unwrap();
                    let (
                        wasmparser::ElementKind::Active { offset_expr, .. },
                        wasmparser::ElementItems::Functions(functions),
                    ) = (element.kind, element.items)
                    else {
                        continue;
                    };
                    let Operator::I32Const { value } =
                        offset_expr.get_operators_reader().read().unwrap()
                    else {
                        panic!("an element segment at a computed offset");
                    };
                    for (i, function) in functions.into_iter().enumerate() {
                        read.table
                            .insert(value as u32 + i as u32, function.unwrap());
                    }
                }
            }
            Payload::CodeSectionEntry(body) => {
                read.bodies.push(body.as_bytes().to_vec());
            }
            _ => {}
        }
    }
    read
}

/// Points the build cache at the one the other toolchain tests fill, once per process: every
/// test calls this before anything else reads the environment.
fn shared_cache() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: the tests of this file read no environment before this returns.
        unsafe {
            std::env::set_var(
                "CALIMERO_CACHE_DIR",
                calimero_tests::target_dir().join("calimero-cache"),
            )
        }
    });
}

fn is_marker(name: &str) -> bool {
    name == splice::DISPATCH_EXPORT
        || name == splice::PAYLOAD_LEN_EXPORT
        || name.starts_with(splice::GLOBAL_EXPORT)
}

/// The memory the active segments write into `pages` zeroed pages.
fn memory_of(read: &Read) -> Vec<u8> {
    let mut memory = vec![0; read.initial_pages as usize * 65536];
    for (offset, bytes) in &read.active {
        memory[*offset..offset + bytes.len()].copy_from_slice(bytes);
    }
    memory
}

#[test]
fn an_app_linked_at_the_byte_level_starts_from_its_snapshot_and_exports_its_methods() {
    shared_cache();
    let prepared = engine::prepared(true).expect("the engine prepares");
    let template = engine::template(&prepared, true, None).expect("the template links");
    let bare = engine::bare(&prepared, true).expect("the bare engine links");
    let tool = engine::Tool::load(&bare).expect("the bare engine loads");

    let app = calimero_tests::workspace_root().join("apps/kv-store-ts");
    let (bundle, manifest) = cargo_calimero::ts::bundle::bundle(
        &app,
        &app.join("src/index.ts"),
        "kv_store_ts",
        cargo_calimero::ts::extract::extract,
    )
    .expect("kv-store-ts bundles");
    let methods: Vec<String> = manifest["methods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap().to_owned())
        .collect();
    assert!(methods.len() >= 3, "{methods:?}");
    let bytecode = tool.compile(&bundle.code).expect("the bundle compiles");
    let payload = engine::payload(&bytecode, &bundle.lines);
    let image = tool.snapshot(&payload).expect("the app sets up");

    let template_read = read(&template);
    let dispatch = template_read
        .exports
        .iter()
        .find(|(name, _)| name == splice::DISPATCH_EXPORT)
        .map(|(_, index)| *index)
        .expect("the template names its dispatcher");
    let engine_exports: Vec<&(String, u32)> = template_read
        .exports
        .iter()
        .filter(|(name, _)| !is_marker(name))
        .collect();

    // Every method is an export of a new function: `i32.const <index>; call <dispatch>`.
    let check_methods = |linked: &Read| {
        let first = linked.imported_functions + template_read.defined_functions;
        assert_eq!(
            linked.defined_functions,
            template_read.defined_functions + methods.len() as u32
        );
        assert_eq!(linked.bodies.len() as u32, linked.defined_functions);
        for (i, name) in methods.iter().enumerate() {
            let index = linked
                .exports
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, index)| *index)
                .unwrap_or_else(|| panic!("no export {name}"));
            assert_eq!(index, first + i as u32, "{name}");
            let body = &linked.bodies[(index - linked.imported_functions) as usize];
            let mut expected = vec![0x00, 0x41, i as u8, 0x10];
            calimero_wasm_abi::write_leb_u32(dispatch, &mut expected);
            expected.push(0x0b);
            assert_eq!(body, &expected, "the body of {name}");
        }
        // The engine's exports stay, its markers and tools do not.
        for (name, index) in &engine_exports {
            assert!(
                linked.exports.contains(&(name.clone(), *index)),
                "{name} is gone"
            );
        }
        assert_eq!(
            linked.exports.len(),
            engine_exports.len() + methods.len(),
            "{:?}",
            linked.exports
        );
        for (name, _) in &linked.exports {
            assert!(!is_marker(name), "{name} is left in an app module");
        }
        assert_eq!(
            linked.data_count,
            Some((linked.active.len() + linked.passive.len()) as u32)
        );
    };

    // With the snapshot: the memory is the image, the globals its values, no payload.
    let linked = splice::link(&template, &[], &methods, Some(&image)).expect("it links");
    let with = read(&linked);
    check_methods(&with);
    assert_eq!(with.passive, vec![Vec::<u8>::new()]);
    let memory = memory_of(&with);
    assert!(memory.len() >= image.memory.len());
    assert!(
        memory[..image.memory.len()] == image.memory[..],
        "the module's initial memory differs from the snapshot"
    );
    assert!(memory[image.memory.len()..].iter().all(|b| *b == 0));
    let mut set = 0;
    for (name, value) in &image.globals {
        let Some(number) = name.strip_prefix(splice::GLOBAL_EXPORT) else {
            continue;
        };
        let in_template = template_read
            .exports
            .iter()
            .find(|(n, _)| n == &format!("{}{number}", splice::GLOBAL_EXPORT))
            .map(|(_, index)| *index as usize)
            .unwrap();
        assert_eq!(with.globals[in_template], Some(*value), "{name}");
        set += 1;
    }
    assert!(set > 0, "the snapshot names no engine global");

    // Without: the engine's own data, and the payload in the passive segment.
    let linked = splice::link(&template, &payload, &methods, None).expect("it links");
    let without = read(&linked);
    check_methods(&without);
    assert_eq!(without.passive, vec![payload.clone()]);
    assert_eq!(without.active, template_read.active);
    assert_eq!(without.initial_pages, template_read.initial_pages);
    let length = template_read
        .exports
        .iter()
        .find(|(n, _)| n == splice::PAYLOAD_LEN_EXPORT)
        .map(|(_, index)| *index as usize)
        .unwrap();
    assert_eq!(
        without.globals[length],
        Some(GlobalValue::I32(payload.len() as i32))
    );
    let mut others = without.globals.clone();
    others[length] = template_read.globals[length];
    assert_eq!(
        others, template_read.globals,
        "only the payload length moved"
    );

    // A method named like an engine export is refused, naming it.
    let clash = vec![engine_exports[0].0.clone()];
    let error = splice::link(&template, &payload, &clash, None).unwrap_err();
    assert!(error.to_string().contains("clashes"), "{error}");
}

#[test]
fn the_template_of_snapshot_modules_traps_in_place_of_the_compiler_and_keeps_every_other_slot() {
    shared_cache();
    let prepared = engine::prepared(true).expect("the engine prepares");
    let bare = engine::bare(&prepared, true).expect("the bare engine links");
    let tool = engine::Tool::load(&bare).expect("the bare engine loads");
    let full = read(&engine::template(&prepared, true, None).expect("the template links"));
    let lean = read(&engine::template(&prepared, true, Some(&tool)).expect("the lean one links"));
    let slot = tool
        .eval_slot()
        .expect("the engine finds its compiler's slot");

    let body = |read: &Read, slot: u32| {
        let function = read.table[&slot];
        read.bodies[(function - read.imported_functions) as usize].clone()
    };
    // No locals, `unreachable`, `end`.
    let trap = vec![0x00, 0x00, 0x0b];
    assert_eq!(body(&lean, slot), trap, "slot {slot} of the lean template");
    assert!(
        body(&full, slot).len() > 1000,
        "slot {slot} of the full template"
    );
    // Function pointers in a snapshot are slot numbers: every slot stays, and no other one traps.
    assert_eq!(
        full.table.keys().collect::<Vec<_>>(),
        lean.table.keys().collect::<Vec<_>>()
    );
    for &other in lean.table.keys().filter(|s| **s != slot) {
        assert_ne!(body(&lean, other), trap, "slot {other}");
    }
    // What only the compiler reached is gone.
    let code = |read: &Read| read.bodies.iter().map(Vec::len).sum::<usize>();
    assert!(
        code(&lean) + 64 * 1024 < code(&full),
        "{} bytes of code in the lean template, {} in the full one",
        code(&lean),
        code(&full)
    );
    let names = |read: &Read| {
        read.exports
            .iter()
            .map(|(n, _)| n.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&lean), names(&full));
}
