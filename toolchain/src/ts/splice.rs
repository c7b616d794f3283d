//! Linking an app into the engine template at the byte level (step 5 of the TypeScript pipeline).
//!
//! The template ([`super::engine::template`]) is the engine as every app's module has it: tool
//! exports gone, dead code dropped, the payload served from one empty passive data segment whose
//! length is an immutable global. What an app adds is small and sits in a few sections, so this
//! copies the template's sections as they are and rewrites only those:
//!
//! - function and code: one function per method, `i32.const <index>; call <dispatch>`, appended;
//! - export: the template's, without its markers (the dispatcher, the globals, the payload
//!   length), then the methods;
//! - global: the payload's length and, with a snapshot, the engine's mutable globals as the
//!   set-up left them;
//! - memory: the initial size, raised to fit a snapshot;
//! - data and data count: the payload in the passive segment and, with a snapshot, the image's
//!   non-zero stretches replacing the engine's own active segments.
//!
//! A walrus parse and emit of the 1 MB engine took 0.2 s of every build; this takes
//! milliseconds. The code section is copied untouched, so nothing here can change what the
//! engine does.

use anyhow::{Context, anyhow, bail};
use calimero_runtime::{GlobalValue, InstanceImage};

/// The template's export naming the dispatcher (removed from apps).
pub const DISPATCH_EXPORT: &str = "calimero_js_dispatch";
/// The template's export naming the payload length global (removed from apps).
pub const PAYLOAD_LEN_EXPORT: &str = "__calimero_payload_len";
/// The template exports the engine's mutable global number `i` as `__calimero_global_<i>`
/// (removed from apps); snapshots name globals the same way.
pub const GLOBAL_EXPORT: &str = "__calimero_global_";

const TYPE: u8 = 1;
const IMPORT: u8 = 2;
const FUNCTION: u8 = 3;
const MEMORY: u8 = 5;
const GLOBAL: u8 = 6;
const EXPORT: u8 = 7;
const CODE: u8 = 10;
const DATA: u8 = 11;
const DATA_COUNT: u8 = 12;

/// One section of a module: its id and its content (after the size).
struct Section<'a> {
    id: u8,
    content: &'a [u8],
    /// The content's offset in the module (wasmparser's error positions).
    offset: usize,
}

fn sections(module: &[u8]) -> anyhow::Result<Vec<Section<'_>>> {
    if module.len() < 8 || &module[..4] != b"\0asm" {
        bail!("the engine template is not a WebAssembly module");
    }
    let mut out = Vec::new();
    let mut at = 8;
    while at < module.len() {
        let id = module[at];
        let (size, length) = read_u32(&module[at + 1..])?;
        let start = at + 1 + length;
        let end = start
            .checked_add(size as usize)
            .filter(|end| *end <= module.len())
            .ok_or_else(|| anyhow!("the engine template has a truncated section {id}"))?;
        out.push(Section {
            id,
            content: &module[start..end],
            offset: start,
        });
        at = end;
    }
    Ok(out)
}

/// The LEB128 number at the start of `bytes`, and its length.
fn read_u32(bytes: &[u8]) -> anyhow::Result<(u32, usize)> {
    let mut at = 0;
    let value = calimero_wasm_abi::leb_u32(bytes, &mut at)
        .ok_or_else(|| anyhow!("a truncated LEB128 number"))?;
    Ok((value, at))
}

fn put_u32(out: &mut Vec<u8>, value: u32) {
    calimero_wasm_abi::write_leb_u32(value, out);
}

fn put_i64(out: &mut Vec<u8>, mut value: i64) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        let done = (value == 0 && byte & 0x40 == 0) || (value == -1 && byte & 0x40 != 0);
        if done {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_u32(out, bytes.len() as u32);
    out.extend_from_slice(bytes);
}

fn put_section(out: &mut Vec<u8>, id: u8, content: &[u8]) {
    out.push(id);
    put_bytes(out, content);
}

fn reader<'a>(section: &Section<'a>) -> wasmparser::BinaryReader<'a> {
    wasmparser::BinaryReader::new(section.content, section.offset)
}

/// A constant expression setting a global to `value`.
fn const_expr(out: &mut Vec<u8>, value: GlobalValue) {
    match value {
        GlobalValue::I32(v) => {
            out.push(0x41);
            put_i64(out, i64::from(v));
        }
        GlobalValue::I64(v) => {
            out.push(0x42);
            put_i64(out, v);
        }
        GlobalValue::F32(v) => {
            out.push(0x43);
            out.extend_from_slice(&v.to_le_bytes());
        }
        GlobalValue::F64(v) => {
            out.push(0x44);
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    out.push(0x0b);
}

/// How many function bodies of a module [`link`]ed from `template` are the template's own,
/// copied unchanged (the methods' come after them).
pub fn template_bodies(template: &[u8]) -> anyhow::Result<u32> {
    let sections = sections(template)?;
    let functions = sections
        .iter()
        .find(|s| s.id == FUNCTION)
        .ok_or_else(|| anyhow!("the engine template has no function section"))?;
    Ok(read_u32(functions.content)?.0)
}

/// What the template's markers say.
struct Markers {
    dispatch: u32,
    payload_len: u32,
    /// `(template global index, engine mutable global number)`.
    globals: Vec<(u32, usize)>,
}

/// Links an app into `template`: `payload` becomes the passive segment's bytes (empty with a
/// snapshot: the set-up already loaded it), each of `methods` an export calling the dispatcher
/// with its index, and `snapshot`'s memory and globals the module's initial ones.
pub fn link(
    template: &[u8],
    payload: &[u8],
    methods: &[String],
    snapshot: Option<&InstanceImage>,
) -> anyhow::Result<Vec<u8>> {
    let sections = sections(template)?;
    let find = |id: u8| sections.iter().find(|s| s.id == id);
    let section = |id: u8, name: &str| {
        find(id).ok_or_else(|| anyhow!("the engine template has no {name} section"))
    };

    // Function indices: imports first, then the template's own functions, then the methods.
    let mut imported = 0u32;
    let mut imported_globals = 0u32;
    if let Some(imports) = find(IMPORT) {
        for import in wasmparser::ImportSectionReader::new(reader(imports))?.into_imports() {
            match import?.ty {
                wasmparser::TypeRef::Func(_) => imported += 1,
                wasmparser::TypeRef::Global(_) => imported_globals += 1,
                _ => {}
            }
        }
    }
    let functions = section(FUNCTION, "function")?;
    let (defined, _) = read_u32(functions.content)?;
    let first_method = imported + defined;

    let exports = wasmparser::ExportSectionReader::new(reader(section(EXPORT, "export")?))?
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
    let markers = markers(&exports)?;
    for name in methods {
        if exports.iter().any(|e| e.name == name) && !is_marker(name) {
            bail!("the app method `{name}` clashes with an export of the engine; rename it");
        }
    }

    let mut out = template[..8].to_vec();
    let mut method_type = None;
    for s in &sections {
        match s.id {
            TYPE => {
                let (content, index) = with_unit_type(s)?;
                method_type = Some(index);
                put_section(&mut out, TYPE, &content);
            }
            FUNCTION => {
                let index = method_type.context("the engine template has no type section")?;
                let mut content = Vec::new();
                put_u32(&mut content, defined + methods.len() as u32);
                content.extend_from_slice(&s.content[read_u32(s.content)?.1..]);
                for _ in methods {
                    put_u32(&mut content, index);
                }
                put_section(&mut out, FUNCTION, &content);
            }
            MEMORY => put_section(&mut out, MEMORY, &memory(s, snapshot)?),
            GLOBAL => {
                let content = globals(s, imported_globals, &markers, payload, snapshot)?;
                put_section(&mut out, GLOBAL, &content);
            }
            EXPORT => {
                let mut content = Vec::new();
                let kept: Vec<_> = exports.iter().filter(|e| !is_marker(e.name)).collect();
                put_u32(&mut content, (kept.len() + methods.len()) as u32);
                for export in kept {
                    put_bytes(&mut content, export.name.as_bytes());
                    content.push(match export.kind {
                        wasmparser::ExternalKind::Func => 0,
                        wasmparser::ExternalKind::Table => 1,
                        wasmparser::ExternalKind::Memory => 2,
                        wasmparser::ExternalKind::Global => 3,
                        wasmparser::ExternalKind::Tag => 4,
                        other => bail!("the engine template exports a {other:?}"),
                    });
                    put_u32(&mut content, export.index);
                }
                for (i, name) in methods.iter().enumerate() {
                    put_bytes(&mut content, name.as_bytes());
                    content.push(0);
                    put_u32(&mut content, first_method + i as u32);
                }
                put_section(&mut out, EXPORT, &content);
            }
            DATA_COUNT => {} // written with the data section's new count, below
            CODE => {
                let data = data(section(DATA, "data")?, payload, snapshot)?;
                let mut count = Vec::new();
                put_u32(&mut count, data.0);
                put_section(&mut out, DATA_COUNT, &count);
                let (bodies, length) = read_u32(s.content)?;
                let mut content = Vec::new();
                put_u32(&mut content, bodies + methods.len() as u32);
                content.extend_from_slice(&s.content[length..]);
                for index in 0..methods.len() {
                    // No locals; i32.const index; call dispatch; end.
                    let mut body = vec![0x00, 0x41];
                    put_i64(&mut body, index as i64);
                    body.push(0x10);
                    put_u32(&mut body, markers.dispatch);
                    body.push(0x0b);
                    put_bytes(&mut content, &body);
                }
                put_section(&mut out, CODE, &content);
                put_section(&mut out, DATA, &data.1);
            }
            DATA => {} // written after the code section, above
            _ => put_section(&mut out, s.id, s.content),
        }
    }
    Ok(out)
}

fn is_marker(name: &str) -> bool {
    name == DISPATCH_EXPORT || name == PAYLOAD_LEN_EXPORT || name.starts_with(GLOBAL_EXPORT)
}

fn markers(exports: &[wasmparser::Export<'_>]) -> anyhow::Result<Markers> {
    let mut dispatch = None;
    let mut payload_len = None;
    let mut globals = Vec::new();
    for export in exports {
        if export.name == DISPATCH_EXPORT {
            dispatch = Some(export.index);
        } else if export.name == PAYLOAD_LEN_EXPORT {
            payload_len = Some(export.index);
        } else if let Some(number) = export.name.strip_prefix(GLOBAL_EXPORT) {
            let number = number
                .parse()
                .map_err(|_| anyhow!("the engine template exports `{}`", export.name))?;
            globals.push((export.index, number));
        }
    }
    Ok(Markers {
        dispatch: dispatch
            .ok_or_else(|| anyhow!("the engine template has no {DISPATCH_EXPORT}"))?,
        payload_len: payload_len
            .ok_or_else(|| anyhow!("the engine template has no {PAYLOAD_LEN_EXPORT}"))?,
        globals,
    })
}

/// The type section with a `[] -> []` function type (appended if it has none), and its index.
fn with_unit_type(section: &Section<'_>) -> anyhow::Result<(Vec<u8>, u32)> {
    let mut index = 0u32;
    for group in wasmparser::TypeSectionReader::new(reader(section))? {
        for ty in group?.into_types() {
            if let wasmparser::CompositeInnerType::Func(f) = &ty.composite_type.inner
                && f.params().is_empty()
                && f.results().is_empty()
                && ty.is_final
                && ty.supertype_idx.is_none()
            {
                return Ok((section.content.to_vec(), index));
            }
            index += 1;
        }
    }
    let (count, length) = read_u32(section.content)?;
    let mut content = Vec::new();
    put_u32(&mut content, count + 1);
    content.extend_from_slice(&section.content[length..]);
    content.extend_from_slice(&[0x60, 0x00, 0x00]);
    Ok((content, index))
}

/// The memory section, its one memory's initial size raised to hold `snapshot`.
fn memory(section: &Section<'_>, snapshot: Option<&InstanceImage>) -> anyhow::Result<Vec<u8>> {
    let memories = wasmparser::MemorySectionReader::new(reader(section))?
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
    let [memory] = memories.as_slice() else {
        bail!(
            "the engine template has {} memories, not one",
            memories.len()
        );
    };
    if memory.memory64 || memory.shared || memory.page_size_log2.is_some() {
        bail!("the engine template's memory is not a plain 32-bit one");
    }
    let pages = snapshot.map_or(0, |image| image.memory.len().div_ceil(65536) as u64);
    let initial = u32::try_from(memory.initial.max(pages)).context("the snapshot is over 4 GiB")?;
    let mut content = vec![1];
    match memory.maximum {
        Some(maximum) => {
            content.push(1);
            put_u32(&mut content, initial);
            put_u32(&mut content, u32::try_from(maximum)?);
        }
        None => {
            content.push(0);
            put_u32(&mut content, initial);
        }
    }
    Ok(content)
}

/// The global section with the payload's length and the snapshot's globals as initial values.
fn globals(
    section: &Section<'_>,
    imported: u32,
    markers: &Markers,
    payload: &[u8],
    snapshot: Option<&InstanceImage>,
) -> anyhow::Result<Vec<u8>> {
    // Template global index -> its new value.
    let mut values = vec![(
        markers.payload_len,
        GlobalValue::I32(i32::try_from(payload.len()).context("the app payload is over 2 GiB")?),
    )];
    for (name, value) in snapshot.map_or(&[][..], |image| &image.globals[..]) {
        let Some(number) = name.strip_prefix(GLOBAL_EXPORT) else {
            continue;
        };
        let global = number
            .parse::<usize>()
            .ok()
            .and_then(|n| markers.globals.iter().find(|(_, m)| *m == n))
            .ok_or_else(|| anyhow!("the snapshot has a global `{name}` the engine does not"))?;
        values.push((global.0, *value));
    }

    // Imported globals come first in the index space; the section holds the rest.
    let reader = wasmparser::GlobalSectionReader::new(reader(section))?;
    let count = reader.count();
    let entries = reader
        .into_iter_with_offsets()
        .collect::<Result<Vec<_>, _>>()?;
    let mut content = Vec::new();
    put_u32(&mut content, count);
    for (i, (offset, global)) in entries.iter().enumerate() {
        let index = imported + i as u32;
        let start = offset - section.offset;
        let end = entries
            .get(i + 1)
            .map_or(section.content.len(), |(next, _)| next - section.offset);
        match values.iter().find(|(g, _)| *g == index) {
            Some((_, value)) => {
                let ty = &section.content[start..];
                // The value type (numeric: one byte) and mutability, then the new expression.
                if !matches!(
                    (global.ty.content_type, value),
                    (wasmparser::ValType::I32, GlobalValue::I32(_))
                        | (wasmparser::ValType::I64, GlobalValue::I64(_))
                        | (wasmparser::ValType::F32, GlobalValue::F32(_))
                        | (wasmparser::ValType::F64, GlobalValue::F64(_))
                ) {
                    bail!("global {index} of the engine template has another type than its value");
                }
                content.extend_from_slice(&ty[..2]);
                const_expr(&mut content, *value);
            }
            None => content.extend_from_slice(&section.content[start..end]),
        }
    }
    Ok(content)
}

/// The data section: the template's active segments, or the snapshot's stretches in their
/// place, and the passive segment holding `payload`. Returns the segment count too.
fn data(
    section: &Section<'_>,
    payload: &[u8],
    snapshot: Option<&InstanceImage>,
) -> anyhow::Result<(u32, Vec<u8>)> {
    let reader = wasmparser::DataSectionReader::new(reader(section))?;
    let entries = reader
        .into_iter_with_offsets()
        .collect::<Result<Vec<_>, _>>()?;
    let passive: Vec<usize> = entries
        .iter()
        .enumerate()
        .filter(|(_, (_, d))| matches!(d.kind, wasmparser::DataKind::Passive))
        .map(|(i, _)| i)
        .collect();
    let [payload_at] = passive[..] else {
        bail!(
            "the engine template has {} passive data segments, not one",
            passive.len()
        );
    };
    let active = |out: &mut Vec<u8>, offset: usize, bytes: &[u8]| -> anyhow::Result<()> {
        let offset = i32::try_from(offset).context("the snapshot's memory is over 2 GiB")?;
        out.push(0); // active, memory 0
        out.push(0x41);
        put_i64(out, i64::from(offset));
        out.push(0x0b);
        put_bytes(out, bytes);
        Ok(())
    };
    let passive = |out: &mut Vec<u8>| {
        out.push(1);
        put_bytes(out, payload);
    };
    let mut content = Vec::new();
    let count;
    match snapshot {
        None => {
            // The engine's own segments stay; the payload fills the passive one.
            count = entries.len();
            put_u32(&mut content, count as u32);
            for (i, (offset, _)) in entries.iter().enumerate() {
                if i == payload_at {
                    passive(&mut content);
                    continue;
                }
                let start = offset - section.offset;
                let end = entries
                    .get(i + 1)
                    .map_or(section.content.len(), |(next, _)| next - section.offset);
                content.extend_from_slice(&section.content[start..end]);
            }
        }
        Some(image) => {
            // The image holds the engine's data as the set-up left it: its stretches replace
            // the engine's segments. The passive segment keeps its index, which the code names.
            let stretches = segments(&image.memory);
            count = stretches.len().max(payload_at) + 1;
            put_u32(&mut content, count as u32);
            let mut stretches = stretches.into_iter();
            for _ in 0..payload_at {
                let (offset, bytes) = stretches.next().unwrap_or((0, &[]));
                active(&mut content, offset, bytes)?;
            }
            passive(&mut content);
            for (offset, bytes) in stretches {
                active(&mut content, offset, bytes)?;
            }
        }
    }
    Ok((u32::try_from(count)?, content))
}

/// The non-zero stretches of `memory` as `(offset, bytes)`, joined across runs of up to 64 zeros:
/// each segment costs the runtime work when it instantiates the module (measured: 3,300 segments
/// at 8 instantiate slower than 1,000 at 64), for 2% more bytes.
pub fn segments(memory: &[u8]) -> Vec<(usize, &[u8])> {
    const JOIN: usize = 64;
    let mut out: Vec<(usize, usize)> = Vec::new();
    let mut at = 0;
    while at < memory.len() {
        if memory[at] == 0 {
            at += 1;
            continue;
        }
        let start = at;
        while at < memory.len() && memory[at] != 0 {
            at += 1;
        }
        match out.last_mut() {
            Some((_, end)) if start - *end <= JOIN => *end = at,
            _ => out.push((start, at)),
        }
    }
    out.into_iter().map(|(s, e)| (s, &memory[s..e])).collect()
}
