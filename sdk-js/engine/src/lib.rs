//! The QuickJS engine TypeScript apps run on, built for `wasm32-wasip1`.
//!
//! This is the first stage of the engine. Three exports, each taking its input through the host
//! ABI's `input`:
//!
//! - `calimero_js_eval`: evaluates a script;
//! - `calimero_js_compile`: compiles an ES module to QuickJS bytecode and returns it; the toolchain
//!   runs this export of the very engine build that will run the app, so bytecode and engine
//!   always match;
//! - `calimero_js_run`: loads such bytecode and evaluates the module.
//!
//! Code runs in a fresh QuickJS context whose global `calimero` object reaches the host ABI
//! (`log`, `valueReturn`); an uncaught exception becomes a guest panic carrying its message.
//! Still to come (the TypeScript issue): bytecode injected into the module by the toolchain, one
//! export per app method, the storage collections, events, and the snapshot.

mod wasi;

use calimero_sys::{Buffer, Location, ValueReturn};
use rquickjs::module::WriteOptions;
use rquickjs::{Context, Ctx, Function, Module, Object, Runtime};

fn log(message: &str) {
    let buffer = Buffer::new(message.as_bytes());
    // SAFETY: `buffer` describes `message`, alive for the call.
    unsafe { calimero_sys::log_utf8(buffer.as_arg()) };
}

fn value_return(bytes: &[u8]) {
    let value = ValueReturn {
        tag: ValueReturn::OK,
        value: Buffer::new(bytes),
    };
    // SAFETY: `value` and the bytes it describes are alive for the call.
    unsafe { calimero_sys::value_return(value.as_arg()) };
}

fn panic_with(message: &str, file: &str, line: u32) -> ! {
    let message = Buffer::new(message.as_bytes());
    let location = Location {
        file: Buffer::new(file.as_bytes()),
        line,
        column: 0,
    };
    // SAFETY: both descriptors and their bytes are alive; the call does not return.
    unsafe { calimero_sys::panic_utf8(message.as_arg(), location.as_arg()) }
}

fn install_globals(ctx: &Ctx<'_>) -> rquickjs::Result<()> {
    let calimero = Object::new(ctx.clone())?;
    calimero.set(
        "log",
        Function::new(ctx.clone(), |message: String| log(&message))?,
    )?;
    calimero.set(
        "valueReturn",
        Function::new(ctx.clone(), |value: String| value_return(value.as_bytes()))?,
    )?;
    ctx.globals().set("calimero", calimero)?;
    Ok(())
}

fn input() -> Vec<u8> {
    // SAFETY: `input` takes a plain register id.
    unsafe { calimero_sys::input(calimero_sys::DATA_REGISTER) };
    calimero_sys::register_bytes(calimero_sys::DATA_REGISTER).unwrap_or_default()
}

/// The message of the exception a failed call left in `ctx` (or of the error itself).
fn describe(ctx: &Ctx<'_>, error: rquickjs::Error) -> String {
    match error {
        rquickjs::Error::Exception => {
            let thrown = ctx.catch();
            match thrown.as_exception() {
                Some(exception) => {
                    let message = exception.message().unwrap_or_else(|| "exception".into());
                    match exception.stack() {
                        Some(stack) if !stack.trim().is_empty() => {
                            format!("{message}\n{}", stack.trim_end())
                        }
                        _ => message,
                    }
                }
                None => format!("{thrown:?}"),
            }
        }
        other => other.to_string(),
    }
}

/// Runs `body` in a fresh context with the host bindings; any error becomes a guest panic.
fn in_context(what: &str, body: impl for<'js> FnOnce(&Ctx<'js>) -> rquickjs::Result<()>) {
    let Ok(runtime) = Runtime::new() else {
        panic_with("cannot create the JavaScript runtime", "engine", 0)
    };
    let Ok(context) = Context::full(&runtime) else {
        panic_with("cannot create the JavaScript context", "engine", 0)
    };
    context.with(|ctx| {
        if install_globals(&ctx).is_err() {
            panic_with("cannot install the host bindings", "engine", 0);
        }
        if let Err(error) = body(&ctx) {
            let message = describe(&ctx, error);
            panic_with(&message, what, 0);
        }
    });
}

/// Evaluates the call's input as a script.
#[unsafe(no_mangle)]
pub extern "C" fn calimero_js_eval() {
    let source = String::from_utf8_lossy(&input()).into_owned();
    in_context("script", |ctx| ctx.eval::<(), _>(source));
}

/// Compiles the call's input, an ES module, to QuickJS bytecode, returned as the call's value.
#[unsafe(no_mangle)]
pub extern "C" fn calimero_js_compile() {
    let source = input();
    in_context("module", |ctx| {
        let bytecode =
            Module::declare(ctx.clone(), "app.js", source)?.write(WriteOptions::default())?;
        value_return(&bytecode);
        Ok(())
    });
}

/// Loads bytecode made by `calimero_js_compile` (the call's input) and evaluates the module.
#[unsafe(no_mangle)]
pub extern "C" fn calimero_js_run() {
    let bytecode = input();
    in_context("module", |ctx| {
        // SAFETY: bytecode is only ever produced by `calimero_js_compile` of this same engine
        // build (the toolchain compiles with the engine it embeds); QuickJS trusts its input.
        let module = unsafe { Module::load(ctx.clone(), &bytecode) }?;
        let (_, promise) = module.eval()?;
        promise.finish::<()>()
    });
}
