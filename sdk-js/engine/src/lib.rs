//! The QuickJS engine TypeScript apps run on, built for `wasm32-wasip1`.
//!
//! `cargo calimero build` links an app into this engine: it appends the app's bytecode (and the
//! table mapping bundle lines back to TypeScript lines) as a passive data segment served by the
//! `calimero_app` imports, adds one `() -> ()` export per method that calls
//! [`calimero_js_dispatch`] with the method's index, and removes the exports an app must not
//! show. What stays from here: the dispatcher, `__calimero_sync_next` (applied natively by the
//! storage crate; JavaScript runs only for the app's own merges) and a no-op
//! `__calimero_register_merge`.
//!
//! Setting an app up means creating a runtime and context, installing the host bindings and the
//! web globals (`TextEncoder`, `TextDecoder`, `console`, `crypto.getRandomValues`, a
//! `Math.random` drawing from the host; `Date.now` comes through WASI's clock), loading the
//! bytecode and evaluating the bundle, whose SDK defines `__calimero_dispatch`. The build does
//! that once, through `calimero_js_snapshot`, and writes the resulting memory back into the module
//! (a pre-initialised snapshot), so a call starts with the app ready and only runs its method.
//! A module built with `--no-snapshot` sets the app up at the start of every call instead; both
//! behave the same. An uncaught exception becomes a guest panic whose message is
//! `<method>: <error>` with the stack, and whose location is the app's TypeScript file and line.
//!
//! An app's code arrives compiled: its context has `eval` and `new Function` switched off (they
//! throw), so that modules with a snapshot can leave QuickJS's parser and compiler out.
//!
//! For the toolchain and tests there are also `calimero_js_eval` (run a script),
//! `calimero_js_compile` (an ES module to bytecode, so bytecode always matches the engine that
//! runs it), `calimero_js_run` (evaluate bytecode given as input, as an app's) and
//! `calimero_js_eval_slot` (where the compiler is, for the build to leave it out).

mod bindings;
mod host;
mod wasi;

/// Where the engine is: the snapshot's set-up runs with a fixed clock, and the app's top level
/// may not read it at all (it runs once, at build time).
pub(crate) mod phase {
    use core::sync::atomic::{AtomicU8, Ordering};

    /// An ordinary call.
    pub const CALL: u8 = 0;
    /// Building the snapshot: creating the runtime and context (the clock reads 0).
    pub const SETUP: u8 = 1;
    /// Building the snapshot: the app's top level is running.
    pub const TOP_LEVEL: u8 = 2;

    static PHASE: AtomicU8 = AtomicU8::new(CALL);

    pub fn set(phase: u8) {
        PHASE.store(phase, Ordering::Relaxed);
    }

    pub fn get() -> u8 {
        PHASE.load(Ordering::Relaxed)
    }
}

use std::cell::RefCell;

use calimero_storage::{StoreError, root, store};
use rquickjs::module::WriteOptions;
use rquickjs::{Context, Ctx, Function, Module, Runtime, Value};

use crate::host::panic_with;

#[cfg(target_arch = "wasm32")]
#[link(wasm_import_module = "calimero_app")]
unsafe extern "C" {
    /// The size of the app payload (0 in the bare engine).
    #[link_name = "payload_len"]
    fn app_payload_len() -> u32;
    /// Copies the app payload to `dst`.
    #[link_name = "payload_copy"]
    fn app_payload_copy(dst: *mut u8);
}

#[cfg(not(target_arch = "wasm32"))]
unsafe fn app_payload_len() -> u32 {
    0
}
#[cfg(not(target_arch = "wasm32"))]
unsafe fn app_payload_copy(_dst: *mut u8) {}

/// The injected payload: `"CJS1" ‖ u32 LE bytecode length ‖ bytecode ‖ line table (JSON)`.
struct Payload {
    bytes: Vec<u8>,
    code_len: usize,
}

impl Payload {
    fn parse(bytes: Vec<u8>) -> Option<Self> {
        if bytes.len() < 8 || &bytes[..4] != b"CJS1" {
            return None;
        }
        let code_len = u32::from_le_bytes(bytes[4..8].try_into().ok()?) as usize;
        (8 + code_len <= bytes.len()).then_some(Self { bytes, code_len })
    }

    fn load() -> Option<Self> {
        // SAFETY: the imports read a passive segment into memory we own.
        let len = unsafe { app_payload_len() } as usize;
        if len < 8 {
            return None;
        }
        let mut bytes = vec![0u8; len];
        // SAFETY: `bytes` has exactly the room the payload needs.
        unsafe { app_payload_copy(bytes.as_mut_ptr()) };
        Self::parse(bytes)
    }

    fn bytecode(&self) -> &[u8] {
        &self.bytes[8..8 + self.code_len]
    }

    fn lines(&self) -> LineTable {
        LineTable::parse(&self.bytes[8 + self.code_len..])
    }
}

/// Bundle line → TypeScript file and line: `{"files": [...], "lines": [file, line, ...]}` where
/// entry `i` (two numbers) describes bundle line `i + 1`; file `-1` means no source line.
#[derive(Default)]
struct LineTable {
    files: Vec<String>,
    lines: Vec<i64>,
}

impl LineTable {
    /// A deliberately small reader for the table the toolchain writes.
    fn parse(json: &[u8]) -> Self {
        let text = String::from_utf8_lossy(json);
        let mut table = Self::default();
        if let Some(files) = between(&text, "\"files\":[", "]") {
            table.files = files
                .split("\",")
                .map(|f| {
                    f.trim_matches(|c| c == '"' || c == ' ')
                        .replace("\\\\", "\\")
                })
                .filter(|f| !f.is_empty())
                .collect();
        }
        if let Some(lines) = between(&text, "\"lines\":[", "]") {
            table.lines = lines
                .split(',')
                .filter_map(|n| n.trim().parse().ok())
                .collect();
        }
        table
    }

    fn source(&self, bundle_line: usize) -> Option<(&str, u32)> {
        let at = bundle_line.checked_sub(1)? * 2;
        let file = *self.lines.get(at)?;
        let line = *self.lines.get(at + 1)?;
        let file = self.files.get(usize::try_from(file).ok()?)?;
        Some((file.as_str(), u32::try_from(line).ok()?))
    }
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = text.find(start)? + start.len();
    let to = text[from..].find(end)? + from;
    Some(&text[from..to])
}

/// The web globals every script sees, written on top of `__calimero_host`.
const PRELUDE: &str = r#"
(() => {
  const host = __calimero_host;
  const view = (b) => b instanceof Uint8Array ? b
    : ArrayBuffer.isView(b) ? new Uint8Array(b.buffer, b.byteOffset, b.byteLength)
    : b instanceof ArrayBuffer ? new Uint8Array(b)
    : (() => { throw new TypeError("expected an ArrayBuffer or a typed array"); })();
  const show = (v) => typeof v === "string" ? v
    : typeof v === "bigint" ? v + "n"
    : v instanceof Error ? (v.stack ? v.message + "\n" + v.stack : String(v))
    : (() => { try { const s = JSON.stringify(v, (k, x) => typeof x === "bigint" ? x.toString() : x); return s === undefined ? String(v) : s; } catch { return String(v); } })();
  const print = (...args) => host.log(args.map(show).join(" "));
  globalThis.console = { log: print, info: print, warn: print, error: print, debug: print };
  globalThis.TextEncoder = class TextEncoder {
    get encoding() { return "utf-8"; }
    encode(text = "") { return host.utf8Encode(String(text)); }
  };
  globalThis.TextDecoder = class TextDecoder {
    constructor(label = "utf-8") {
      if (!/^utf-?8$/i.test(String(label))) throw new RangeError("TextDecoder supports only utf-8, not " + label);
    }
    get encoding() { return "utf-8"; }
    decode(bytes) {
      if (bytes === undefined) return "";
      const b = view(bytes);
      return host.utf8Decode(b.byteOffset === 0 && b.byteLength === b.buffer.byteLength ? b : b.slice());
    }
  };
  // QuickJS seeds its own generator from the clock once per context, which a snapshot would
  // freeze; draw from the host instead, like crypto.getRandomValues: 53 bits per number.
  Math.random = function random() {
    const b = host.randomBytes(7);
    const high = b[0] | (b[1] << 8) | ((b[2] & 0x1f) << 16);
    const low = (b[3] | (b[4] << 8) | (b[5] << 16) | (b[6] << 24)) >>> 0;
    return (high * 4294967296 + low) / 9007199254740992;
  };
  globalThis.crypto = {
    getRandomValues(array) {
      const target = view(array);
      if (target.byteLength > 65536) throw new RangeError("getRandomValues: at most 65536 bytes");
      target.set(host.randomBytes(target.byteLength));
      return array;
    },
  };
})();
"#;

/// A runtime and a context with the host bindings and web globals installed.
fn start() -> Result<(Runtime, Context), &'static str> {
    let runtime = Runtime::new().map_err(|_| "cannot create the JavaScript runtime")?;
    let context = Context::full(&runtime).map_err(|_| "cannot create the JavaScript context")?;
    context.with(|ctx| {
        if bindings::install(&ctx).is_err() || ctx.eval::<(), _>(PRELUDE).is_err() {
            return Err("cannot install the host bindings");
        }
        Ok(())
    })?;
    Ok((runtime, context))
}

/// Loads the app's bytecode and evaluates the bundle (SDK and app top level).
fn evaluate(ctx: &Ctx<'_>, bytecode: &[u8]) -> rquickjs::Result<()> {
    // SAFETY: the payload's bytecode was made by `calimero_js_compile` of this same engine build
    // when the app was built; QuickJS trusts bytecode it loads.
    let module = unsafe { Module::load(ctx.clone(), bytecode) }?;
    let (_, promise) = module.eval()?;
    promise.finish::<()>()
}

/// How many bytes of a fresh context [`eval_switch`] watches: more than QuickJS's `JSContext`.
const CONTEXT_WINDOW: usize = 1024;

/// Where a context keeps its `eval` entry (QuickJS's `JSContext::eval_internal`, private to its
/// C code) and the function pointer `JS_AddIntrinsicEval` stores there, which is the table slot
/// of QuickJS's parser and compiler. Found by watching a context made without intrinsics while
/// `eval` is added to it: exactly one word must go from zero to non-zero, or this is `None`.
fn eval_switch(ctx: &Ctx<'_>) -> Option<(usize, u32)> {
    use rquickjs::qjs;
    let mut before = [0u32; CONTEXT_WINDOW / 4];
    // SAFETY: the words read are in linear memory (bounded by its size below), read while no
    // other code runs; QuickJS only frees the probe context it made.
    unsafe {
        let runtime = qjs::JS_GetRuntime(ctx.as_raw().as_ptr());
        let probe = qjs::JS_NewContextRaw(runtime);
        if probe.is_null() {
            return None;
        }
        let base = probe as usize;
        let end = memory_end();
        let words = before.len().min(end.saturating_sub(base) / 4);
        let word = |i: usize| core::ptr::read_volatile((base + 4 * i) as *const u32);
        for (i, slot) in before.iter_mut().enumerate().take(words) {
            *slot = word(i);
        }
        let added = qjs::JS_AddIntrinsicEval(probe);
        // No allocation from here until the probe is freed: the window must change only by
        // what `JS_AddIntrinsicEval` stored.
        let mut found = None;
        let mut changes = 0;
        for (i, old) in before.iter().enumerate().take(words) {
            let new = word(i);
            if new != *old {
                changes += 1;
                found = Some((4 * i, *old, new));
            }
        }
        qjs::JS_FreeContext(probe);
        match (added, changes, found) {
            (0, 1, Some((offset, 0, value))) if value != 0 => Some((offset, value)),
            _ => None,
        }
    }
}

#[cfg(target_arch = "wasm32")]
fn memory_end() -> usize {
    core::arch::wasm32::memory_size(0) * 65536
}

#[cfg(not(target_arch = "wasm32"))]
fn memory_end() -> usize {
    usize::MAX
}

/// Switches `eval` and `new Function` off in an app's context: they throw `TypeError: eval is
/// not supported`. An app's code arrives compiled, so app modules carry no JavaScript compiler
/// (the build leaves QuickJS's parser out of modules with a snapshot); the set-up's own scripts
/// run before this.
fn disable_eval(ctx: &Ctx<'_>) {
    let Some((offset, value)) = eval_switch(ctx) else {
        panic_with("cannot find the context's eval entry", "engine", 0, 0)
    };
    // SAFETY: `offset` is where this QuickJS build keeps a context's eval entry, and `ctx` is a
    // live context of it: the word holds `value` (checked) or zero.
    unsafe {
        let entry = (ctx.as_raw().as_ptr() as usize + offset) as *mut u32;
        match *entry {
            0 => {}
            current if current == value => *entry = 0,
            _ => panic_with("the context's eval entry is not where expected", "engine", 0, 0),
        }
    }
}

/// Ends the call with a guest panic describing the exception `error` left in `ctx`.
fn fail(ctx: &Ctx<'_>, error: rquickjs::Error, lines: &LineTable, prefix: &str) -> ! {
    let (message, location) = describe(ctx, error, lines);
    let (file, line) = location.unwrap_or(("app.js".into(), 0));
    let message = if prefix.is_empty() {
        message
    } else {
        format!("{prefix}: {message}")
    };
    panic_with(&message, &file, line, 0)
}

/// Creates a context with the bindings and globals, runs `body`; an error becomes a guest panic.
fn in_context(lines: &LineTable, body: impl for<'js> FnOnce(&Ctx<'js>) -> rquickjs::Result<()>) {
    let (_runtime, context) = start().unwrap_or_else(|message| panic_with(message, "engine", 0, 0));
    context.with(|ctx| {
        if let Err(error) = body(&ctx) {
            fail(&ctx, error, lines, "");
        }
    });
}

/// The message and stack of the exception a failed call left in `ctx`, the stack's bundle
/// positions mapped back to TypeScript, and the first frame in the app's own code.
fn describe(
    ctx: &Ctx<'_>,
    error: rquickjs::Error,
    lines: &LineTable,
) -> (String, Option<(String, u32)>) {
    let rquickjs::Error::Exception = error else {
        return (error.to_string(), None);
    };
    let thrown = ctx.catch();
    let Some(exception) = thrown.as_exception() else {
        let text = thrown
            .as_string()
            .and_then(|s| s.to_string().ok())
            .unwrap_or_else(|| match thrown.get::<rquickjs::convert::Coerced<String>>() {
                Ok(text) => text.0,
                Err(_) => {
                    ctx.catch();
                    format!("{} (its conversion to a string threw)", thrown.type_name())
                }
            });
        return (format!("uncaught {text}"), None);
    };
    let message = exception.message().unwrap_or_else(|| "exception".into());
    let stack = exception.stack().unwrap_or_default();
    let mut location = None;
    let mut fallback = None;
    let mut frames = Vec::new();
    for frame in stack.lines().filter(|l| !l.trim().is_empty()) {
        let mapped = map_frame(frame, lines);
        if let Some((file, line)) = &mapped.1 {
            let sdk = file.starts_with("@calimero/");
            if !sdk && location.is_none() {
                location = Some((file.clone(), *line));
            }
            if fallback.is_none() {
                fallback = Some((file.clone(), *line));
            }
        }
        frames.push(mapped.0);
    }
    let text = if frames.is_empty() {
        message
    } else {
        format!("{message}\n{}", frames.join("\n"))
    };
    (text, location.or(fallback))
}

/// Rewrites `at f (app.js:12:5)` to `at f (src/index.ts:7)` when the table knows line 12.
fn map_frame(frame: &str, lines: &LineTable) -> (String, Option<(String, u32)>) {
    let Some(start) = frame.find("app.js:") else {
        return (frame.to_owned(), None);
    };
    let rest = &frame[start + "app.js:".len()..];
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    let Ok(line) = digits.parse::<usize>() else {
        return (frame.to_owned(), None);
    };
    let Some((file, source_line)) = lines.source(line) else {
        return (frame.to_owned(), None);
    };
    let tail_start = rest[digits.len()..]
        .find(')')
        .map_or(rest.len(), |i| digits.len() + i);
    let rewritten = format!(
        "{}{file}:{source_line}{}",
        &frame[..start],
        &rest[tail_start..]
    );
    (rewritten, Some((file.to_owned(), source_line)))
}

/// Makes the methods of the built-ins apps use most. QuickJS makes each method of a built-in
/// (`JSON.stringify`, `Array.prototype.map`, ...) only when it is first read, and every call
/// starts from the snapshot: left to the calls, each would make the ones it uses again. Reading
/// a property's descriptor makes it; getters are not called. Only these objects, not every
/// built-in: each method made is heap in every module.
const MATERIALISE: &str = r#"
(() => {
  const typed = Object.getPrototypeOf(Uint8Array.prototype);
  for (const o of [Object, Array, Array.prototype, String, String.prototype, JSON, Math, Number,
                   Number.prototype, BigInt, BigInt.prototype, Map.prototype, Set.prototype,
                   typed, typed.constructor, Uint8Array, DataView.prototype, Function.prototype,
                   Symbol, Error.prototype, Reflect]) {
    for (const key of Reflect.ownKeys(o)) Object.getOwnPropertyDescriptor(o, key);
  }
})();
"#;

/// The app set up and ready to call: made once by [`calimero_js_snapshot`] when the module is
/// built, and then part of the module's initial memory.
struct Ready {
    _runtime: Runtime,
    context: Context,
    lines: LineTable,
}

thread_local! {
    static READY: RefCell<Option<Ready>> = const { RefCell::new(None) };
}

/// Sets the app up (see [`Ready`]) from the payload given as the call's input; the build then
/// writes memory and globals into the app's module. The build runs this on the engine with no app
/// linked, whose code is the app module's code: the image fits both.
///
/// The app's top level may not use the clock, randomness, the call's identity, logs or state:
/// their host functions throw while it runs, and a read of the clock ends the call, each with a
/// message saying to move the code into a method.
#[unsafe(no_mangle)]
pub extern "C" fn calimero_js_snapshot() {
    phase::set(phase::SETUP);
    let Some(mut payload) = Payload::parse(host::input()) else {
        panic_with(
            "calimero_js_snapshot: the input is not an app payload",
            "engine",
            0,
            0,
        )
    };
    let lines = payload.lines();
    let (runtime, context) = start().unwrap_or_else(|message| panic_with(message, "engine", 0, 0));
    context.with(|ctx| {
        let prepare = || -> rquickjs::Result<()> {
            ctx.eval::<(), _>(MATERIALISE)?;
            disable_eval(&ctx);
            bindings::guard(&ctx)?;
            phase::set(phase::TOP_LEVEL);
            evaluate(&ctx, payload.bytecode())?;
            phase::set(phase::SETUP);
            bindings::install(&ctx)?;
            ctx.globals().get::<_, Function>("__calimero_dispatch")?;
            Ok(())
        };
        if let Err(error) = prepare() {
            fail(&ctx, error, &lines, "the app's top level");
        }
    });
    runtime.run_gc();
    // Freed memory stays in the image: clear what is known to be dead before it is freed.
    payload.bytes.fill(0);
    drop(payload);
    READY.with_borrow_mut(|ready| {
        *ready = Some(Ready {
            _runtime: runtime,
            context,
            lines,
        })
    });
    phase::set(phase::CALL);
}

/// Runs app method number `method` (the order of the app's ABI methods).
#[unsafe(no_mangle)]
pub extern "C" fn calimero_js_dispatch(method: u32) {
    store::reset();
    let call = |ctx: &Ctx<'_>| -> rquickjs::Result<()> {
        let dispatch: Function = ctx.globals().get("__calimero_dispatch")?;
        dispatch.call::<_, ()>((method,))
    };
    let snapshotted = READY.with_borrow(|ready| {
        let Some(ready) = ready else {
            return false;
        };
        ready.context.with(|ctx| {
            if let Err(error) = call(&ctx) {
                fail(&ctx, error, &ready.lines, "");
            }
        });
        true
    });
    if snapshotted {
        return;
    }
    let Some(payload) = Payload::load() else {
        panic_with("this engine has no app linked in", "engine", 0, 0)
    };
    let lines = payload.lines();
    in_context(&lines, |ctx| {
        disable_eval(ctx);
        evaluate(ctx, payload.bytecode())?;
        call(ctx)
    });
}

/// The app's own merges, run in JavaScript: a context with the app's bundle evaluated, made the
/// first time a sync needs one. Most syncs never do: only two versions of the root state entry
/// that differ, or of an element tagged as a `@Mergeable` record, call into the app.
#[derive(Default)]
struct AppMerges {
    engine: RefCell<Option<Ready>>,
}

impl AppMerges {
    /// Runs `f` in a context with the app's bundle evaluated: the snapshot's, else one made now.
    fn with<R>(
        &self,
        f: impl for<'js> FnOnce(&Ctx<'js>, &LineTable) -> Result<R, String>,
    ) -> Result<R, String> {
        let mut f = Some(f);
        let from_snapshot = READY.with_borrow(|ready| {
            let ready = ready.as_ref()?;
            let f = f.take()?;
            Some(ready.context.with(|ctx| f(&ctx, &ready.lines)))
        });
        if let Some(result) = from_snapshot {
            return result;
        }
        if self.engine.borrow().is_none() {
            let payload = Payload::load().ok_or("this engine has no app linked in")?;
            let lines = payload.lines();
            let (runtime, context) = start()?;
            context.with(|ctx| {
                disable_eval(&ctx);
                evaluate(&ctx, payload.bytecode()).map_err(|e| describe(&ctx, e, &lines).0)
            })?;
            *self.engine.borrow_mut() = Some(Ready {
                _runtime: runtime,
                context,
                lines,
            });
        }
        let engine = self.engine.borrow();
        let (Some(ready), Some(f)) = (engine.as_ref(), f) else {
            return Err("the JavaScript engine did not start".into());
        };
        ready.context.with(|ctx| f(&ctx, &ready.lines))
    }

    /// Calls the SDK's `function(...names, mine, theirs)`: the merged bytes, or `None` when the
    /// app does not define the function or returns null (the built-in rule then applies).
    fn call(
        &self,
        function: &str,
        name: Option<&str>,
        mine: &[u8],
        theirs: &[u8],
    ) -> Result<Option<Vec<u8>>, String> {
        self.with(|ctx, lines| {
            let run = || -> rquickjs::Result<Option<Vec<u8>>> {
                let Some(merge) = ctx.globals().get::<_, Value>(function)?.into_function() else {
                    return Ok(None);
                };
                let (mine, theirs) = (bindings::to_js(ctx, mine)?, bindings::to_js(ctx, theirs)?);
                let out: Value = match name {
                    Some(name) => merge.call((name, mine, theirs))?,
                    None => merge.call((mine, theirs))?,
                };
                if out.is_null() || out.is_undefined() {
                    return Ok(None);
                }
                bindings::bytes(ctx, &out).map(Some)
            };
            run().map_err(|e| describe(ctx, e, lines).0)
        })
    }
}

/// Applies a peer's delta artifact. The CRDT work is the storage crate's; JavaScript runs only
/// for the app's own merges (see [`AppMerges`]): the root state merges field by field as the
/// Rust twin's does, and `@Mergeable` records by their fields or their `merge` option.
#[unsafe(no_mangle)]
pub extern "C" fn __calimero_sync_next() {
    store::reset();
    let artifact = host::input();
    let app = AppMerges::default();
    let root = |existing: &[u8], incoming: &[u8]| {
        if existing == incoming {
            return Ok(existing.to_vec());
        }
        match app.call("__calimero_merge_root", None, existing, incoming) {
            Ok(Some(merged)) => Ok(merged),
            Ok(None) => Ok(existing.max(incoming).to_vec()),
            Err(message) => Err(StoreError::Merge {
                what: "the app state".into(),
                message,
            }),
        }
    };
    let records = |name: &str, existing: &[u8], incoming: &[u8]| {
        app.call("__calimero_merge", Some(name), existing, incoming)
            .map_err(|message| StoreError::Merge {
                what: format!("record {name}"),
                message,
            })
    };
    let merges = store::Merges {
        root: &root,
        records: Some(&records),
    };
    if let Err(error) = root::sync_with(&artifact, &merges) {
        panic_with(&format!("__calimero_sync_next: {error}"), "engine", 0, 0);
    }
}

/// Nothing to register: the root state's merge is built in (see [`__calimero_sync_next`]).
#[unsafe(no_mangle)]
pub extern "C" fn __calimero_register_merge() {}

/// Evaluates the call's input as a script.
#[unsafe(no_mangle)]
pub extern "C" fn calimero_js_eval() {
    let source = String::from_utf8_lossy(&host::input()).into_owned();
    in_context(&LineTable::default(), |ctx| ctx.eval::<(), _>(source));
}

/// Compiles the call's input, an ES module, to QuickJS bytecode, returned as the call's value.
#[unsafe(no_mangle)]
pub extern "C" fn calimero_js_compile() {
    let source = host::input();
    in_context(&LineTable::default(), |ctx| {
        let bytecode =
            Module::declare(ctx.clone(), "app.js", source)?.write(WriteOptions {
                // QuickJS keeps every function's source text for `Function.prototype.toString`,
                // nested functions again inside their parents': most of the bytecode, and of
                // the heap it loads into. Line tables stay (TypeScript lines in errors).
                strip_source: true,
                ..WriteOptions::default()
            })?;
        host::value_return(true, &bytecode);
        Ok(())
    });
}

/// The table slot of QuickJS's compiler entry, as 4 bytes little-endian: the build points it at
/// a trap in the template of modules with a snapshot, leaving the compiler out of them.
#[unsafe(no_mangle)]
pub extern "C" fn calimero_js_eval_slot() {
    let (_runtime, context) = start().unwrap_or_else(|message| panic_with(message, "engine", 0, 0));
    let Some((_, slot)) = context.with(|ctx| eval_switch(&ctx)) else {
        panic_with("cannot find the context's eval entry", "engine", 0, 0)
    };
    host::value_return(true, &slot.to_le_bytes());
}

/// Loads bytecode made by `calimero_js_compile` (the call's input) and evaluates the module, as
/// an app's: without `eval`.
#[unsafe(no_mangle)]
pub extern "C" fn calimero_js_run() {
    let bytecode = host::input();
    in_context(&LineTable::default(), |ctx| {
        disable_eval(ctx);
        evaluate(ctx, &bytecode)
    });
}
