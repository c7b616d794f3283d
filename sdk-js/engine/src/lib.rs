//! The QuickJS engine TypeScript apps run on, built for `wasm32-wasip1`.
//!
//! This is the first stage of the engine: it evaluates a script passed as the call's input in a
//! fresh QuickJS context whose global `calimero` object reaches the host ABI (`log`,
//! `valueReturn`), and turns an uncaught exception into a guest panic carrying the message.
//! Still to come (the TypeScript issue): bytecode compiled at build time and injected by the
//! toolchain, one export per app method, the storage collections, events, and the snapshot.

mod wasi;

use calimero_sys::{Buffer, Location, ValueReturn};
use rquickjs::{Context, Ctx, Function, Object, Runtime};

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

/// Evaluates the call's input as a script. Exported as `calimero_js_eval`.
#[unsafe(no_mangle)]
pub extern "C" fn calimero_js_eval() {
    // SAFETY: `input` takes a plain register id.
    unsafe { calimero_sys::input(calimero_sys::DATA_REGISTER) };
    let source = calimero_sys::register_bytes(calimero_sys::DATA_REGISTER).unwrap_or_default();
    let source = String::from_utf8_lossy(&source).into_owned();
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
        if let Err(error) = ctx.eval::<(), _>(source) {
            let message = match error {
                rquickjs::Error::Exception => {
                    let thrown = ctx.catch();
                    match thrown.as_exception() {
                        Some(exception) => {
                            exception.message().unwrap_or_else(|| "exception".into())
                        }
                        None => format!("{thrown:?}"),
                    }
                }
                other => other.to_string(),
            };
            panic_with(&message, "script", 0);
        }
    });
}
