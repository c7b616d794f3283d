//! The `__calimero_host` object: what the JavaScript SDK reaches natively. Storage functions
//! work on encoded bytes (the SDK encodes values with Borsh from the app's ABI types) and go
//! through the same storage crate Rust apps link, so both write the same entities.
//!
//! Ids and byte strings cross as `Uint8Array`; 64-bit and larger numbers as decimal strings.
//! A storage error becomes a JavaScript exception carrying the storage crate's message.

use borsh::BorshDeserialize;
use calimero_storage::address::Id;
use calimero_storage::collections::raw;
use calimero_storage::entities::CrdtType;
use calimero_storage::hlc::HybridTimestamp;
use calimero_storage::store::BoundCollections;
use calimero_storage::{StoreError, root};
use rquickjs::function::Opt;
use rquickjs::{Array, Ctx, Exception, Function, Object, Result, TypedArray, Value};

use crate::host;

pub(crate) fn bytes(ctx: &Ctx<'_>, value: &Value<'_>) -> Result<Vec<u8>> {
    let array = TypedArray::<u8>::from_value(value.clone())
        .map_err(|_| Exception::throw_type(ctx, "expected a Uint8Array"))?;
    // SAFETY: the bytes are copied out before any JavaScript runs again.
    let slice = unsafe { array.as_bytes() }
        .ok_or_else(|| Exception::throw_type(ctx, "the Uint8Array is detached"))?;
    Ok(slice.to_vec())
}

fn id(ctx: &Ctx<'_>, value: &Value<'_>) -> Result<Id> {
    let bytes = bytes(ctx, value)?;
    let array: [u8; 32] = bytes
        .try_into()
        .map_err(|_| Exception::throw_range(ctx, "an id is 32 bytes"))?;
    Ok(Id::new(array))
}

/// JSON text with every integer of 16 or more digits outside strings quoted, so that `JSON.parse`
/// keeps it exact (a JavaScript number is exact only up to 2^53) and a 64-bit parameter reads it
/// as a decimal string, the way the Rust twin reads the number. Native: the same scan in
/// JavaScript cost more than the rest of parsing a call's arguments.
fn exact_integers(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len() + 8);
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                // A string, escapes included: `"` and `\` never occur inside a UTF-8 sequence.
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                i += 1;
                while i < bytes.len()
                    && matches!(bytes[i], b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-')
                {
                    i += 1;
                }
                let number = &text[start..i];
                let digits = number.strip_prefix('-').unwrap_or(number);
                if digits.len() >= 16 && digits.bytes().all(|b| b.is_ascii_digit()) {
                    out.push_str(&text[copied..start]);
                    out.push('"');
                    out.push_str(number);
                    out.push('"');
                    copied = i;
                }
            }
            _ => i += 1,
        }
    }
    out.push_str(&text[copied..]);
    out
}

/// The call's input parsed as JSON (large integers quoted, see [`exact_integers`]) if it is a
/// JSON object or array, else `undefined`: nothing, a scalar and invalid JSON are left to the
/// SDK, which says what is wrong with them.
fn input_json<'js>(ctx: &Ctx<'js>) -> Result<Value<'js>> {
    let input = host::input();
    let text = String::from_utf8_lossy(&input);
    let trimmed = text.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
    if !trimmed.starts_with(['{', '[']) {
        return Ok(Value::new_undefined(ctx.clone()));
    }
    match ctx.json_parse(exact_integers(&text)) {
        Ok(value) => Ok(value),
        Err(_) => {
            // The SDK's own parse reports the error: clear this one.
            let _ = ctx.catch();
            Ok(Value::new_undefined(ctx.clone()))
        }
    }
}

pub(crate) fn to_js<'js>(ctx: &Ctx<'js>, bytes: &[u8]) -> Result<Value<'js>> {
    Ok(TypedArray::<u8>::new_copy(ctx.clone(), bytes)?.into_value())
}

fn storage<T>(ctx: &Ctx<'_>, result: std::result::Result<T, StoreError>) -> Result<T> {
    result.map_err(|error| Exception::throw_message(ctx, &format!("storage: {error}")))
}

fn crdt(ctx: &Ctx<'_>, value: &Value<'_>) -> Result<CrdtType> {
    let bytes = bytes(ctx, value)?;
    CrdtType::try_from_slice(&bytes)
        .map_err(|e| Exception::throw_type(ctx, &format!("not an encoded CRDT type: {e}")))
}

/// `[[id, crdtType], …]` → the collections a value binds.
fn bound(ctx: &Ctx<'_>, value: Opt<Array<'_>>) -> Result<BoundCollections> {
    let Some(list) = value.0 else {
        return Ok(Vec::new());
    };
    let mut out = Vec::with_capacity(list.len());
    for pair in list.iter::<Array<'_>>() {
        let pair = pair?;
        out.push((id(ctx, &pair.get(0)?)?, crdt(ctx, &pair.get(1)?)?));
    }
    Ok(out)
}

macro_rules! define {
    ($object:expr, $ctx:expr, $name:literal, $f:expr) => {
        $object.set($name, Function::new($ctx.clone(), $f)?.with_name($name)?)?
    };
}

/// Installs `__calimero_host` on the global object, or fills the one already there again (the
/// SDK keeps a reference to the object, so its functions can be swapped under it).
pub fn install<'js>(ctx: &Ctx<'js>) -> Result<()> {
    let h = match ctx.globals().get::<_, Value>("__calimero_host")?.into_object() {
        Some(existing) => existing,
        None => Object::new(ctx.clone())?,
    };

    // Calls and results.
    define!(h, ctx, "input", || String::from_utf8_lossy(&host::input()).into_owned());
    define!(h, ctx, "exactIntegers", |text: String| exact_integers(&text));
    define!(h, ctx, "inputJson", |ctx: Ctx<'js>| input_json(&ctx));
    define!(h, ctx, "returnOk", |json: String| host::value_return(true, json.as_bytes()));
    define!(h, ctx, "returnErr", |json: String| host::value_return(false, json.as_bytes()));
    define!(h, ctx, "log", |message: String| host::log(&message));
    define!(
        h,
        ctx,
        "emit",
        |kind: String, data: String, handler: Opt<String>| {
            host::emit(&kind, data.as_bytes(), handler.0.as_deref())
        }
    );

    // Environment.
    define!(h, ctx, "timeNow", || calimero_storage::env::time_now().to_string());
    define!(h, ctx, "randomBytes", |ctx: Ctx<'js>, n: u32| {
        let mut buffer = vec![0u8; n as usize];
        calimero_storage::env::random_bytes(&mut buffer);
        to_js(&ctx, &buffer)
    });
    define!(h, ctx, "contextId", |ctx: Ctx<'js>| to_js(&ctx, &host::context_id()));
    define!(h, ctx, "executorId", |ctx: Ctx<'js>| to_js(&ctx, &host::executor_id()));
    define!(h, ctx, "utf8Encode", |ctx: Ctx<'js>, text: String| to_js(&ctx, text.as_bytes()));
    define!(h, ctx, "utf8Decode", |ctx: Ctx<'js>, value: Value<'js>| {
        Ok::<_, rquickjs::Error>(String::from_utf8_lossy(&bytes(&ctx, &value)?).into_owned())
    });

    // Cross-context calls and this node's private storage.
    define!(
        h,
        ctx,
        "xcall",
        |ctx: Ctx<'js>, context: Value<'js>, function: String, params: Value<'js>| {
            let context = bytes(&ctx, &context)?;
            let params = bytes(&ctx, &params)?;
            host::xcall(&context, &function, &params);
            Ok::<_, rquickjs::Error>(())
        }
    );
    define!(h, ctx, "xcallOrigin", |ctx: Ctx<'js>| match host::xcall_origin() {
        Some(origin) => to_js(&ctx, &origin),
        None => Ok(Value::new_null(ctx.clone())),
    });
    define!(h, ctx, "privateRead", |ctx: Ctx<'js>, key: Value<'js>| {
        match host::private_read(&bytes(&ctx, &key)?) {
            Some(value) => to_js(&ctx, &value),
            None => Ok(Value::new_null(ctx.clone())),
        }
    });
    define!(
        h,
        ctx,
        "privateWrite",
        |ctx: Ctx<'js>, key: Value<'js>, value: Value<'js>| {
            Ok::<_, rquickjs::Error>(host::private_write(
                &bytes(&ctx, &key)?,
                &bytes(&ctx, &value)?,
            ))
        }
    );
    define!(h, ctx, "privateRemove", |ctx: Ctx<'js>, key: Value<'js>| {
        Ok::<_, rquickjs::Error>(host::private_remove(&bytes(&ctx, &key)?))
    });

    // The root state.
    define!(h, ctx, "isInitialized", |ctx: Ctx<'js>| storage(
        &ctx,
        root::is_initialized()
    ));
    define!(h, ctx, "beginInit", |ctx: Ctx<'js>| storage(&ctx, root::begin_init()));
    define!(h, ctx, "rootLoad", |ctx: Ctx<'js>| {
        let value = storage(&ctx, root::load_raw())?;
        to_js(&ctx, &value)
    });
    define!(
        h,
        ctx,
        "rootSave",
        |ctx: Ctx<'js>, value: Value<'js>, list: Opt<Array<'js>>| {
            let value = bytes(&ctx, &value)?;
            let bound = bound(&ctx, list)?;
            storage(&ctx, root::save_raw(&value, bound))
        }
    );
    define!(h, ctx, "commit", |ctx: Ctx<'js>| storage(&ctx, root::commit()).map(|_| ()));
    define!(
        h,
        ctx,
        "attachField",
        |ctx: Ctx<'js>, name: String, crdt_type: Value<'js>| {
            let crdt_type = crdt(&ctx, &crdt_type)?;
            let id = storage(&ctx, raw::attach_field(&name, crdt_type))?;
            to_js(&ctx, id.as_bytes())
        }
    );

    // Ids.
    define!(h, ctx, "entryId", |ctx: Ctx<'js>, parent: Value<'js>, key: Value<'js>| {
        let parent = id(&ctx, &parent)?;
        let key = bytes(&ctx, &key)?;
        to_js(&ctx, Id::entry(parent, &key).as_bytes())
    });
    define!(h, ctx, "collectionId", |ctx: Ctx<'js>, parent: Value<'js>, name: String| {
        let parent = id(&ctx, &parent)?;
        to_js(&ctx, Id::collection(Some(parent), &name).as_bytes())
    });
    define!(h, ctx, "randomId", |ctx: Ctx<'js>| to_js(&ctx, raw::random_id().as_bytes()));
    define!(h, ctx, "hash", |ctx: Ctx<'js>, value: Value<'js>| {
        let value = bytes(&ctx, &value)?;
        to_js(&ctx, &calimero_storage::address::hash(&[&value]))
    });

    // Elements.
    define!(h, ctx, "value", |ctx: Ctx<'js>, element: Value<'js>| {
        let element = id(&ctx, &element)?;
        match storage(&ctx, raw::value(element))? {
            Some(value) => to_js(&ctx, &value),
            None => Ok(Value::new_null(ctx.clone())),
        }
    });
    define!(h, ctx, "contains", |ctx: Ctx<'js>, element: Value<'js>| {
        let element = id(&ctx, &element)?;
        storage(&ctx, raw::contains(element))
    });
    define!(
        h,
        ctx,
        "save",
        |ctx: Ctx<'js>,
         collection: Value<'js>,
         element: Value<'js>,
         value: Value<'js>,
         list: Opt<Array<'js>>,
         record: Opt<Value<'js>>| {
            let collection = id(&ctx, &collection)?;
            let element = id(&ctx, &element)?;
            let value = bytes(&ctx, &value)?;
            let bound = bound(&ctx, list)?;
            let record = match record.0.and_then(|name| name.into_string()) {
                Some(name) => Some(name.to_string()?),
                None => None,
            };
            let record = record.as_deref();
            storage(&ctx, raw::save(collection, element, &value, bound, record))
        }
    );
    define!(h, ctx, "remove", |ctx: Ctx<'js>, element: Value<'js>| {
        let element = id(&ctx, &element)?;
        storage(&ctx, raw::remove(element))
    });
    define!(h, ctx, "elements", |ctx: Ctx<'js>, collection: Value<'js>| {
        let collection = id(&ctx, &collection)?;
        let ids = storage(&ctx, raw::elements(collection))?;
        let list = Array::new(ctx.clone())?;
        for (i, element) in ids.iter().enumerate() {
            list.set(i, to_js(&ctx, element.as_bytes())?)?;
        }
        Ok::<_, rquickjs::Error>(list)
    });
    define!(h, ctx, "len", |ctx: Ctx<'js>, collection: Value<'js>| {
        let collection = id(&ctx, &collection)?;
        storage(&ctx, raw::len(collection)).map(|n| n as f64)
    });
    define!(h, ctx, "clear", |ctx: Ctx<'js>, collection: Value<'js>| {
        let collection = id(&ctx, &collection)?;
        storage(&ctx, raw::clear(collection))
    });

    // Counters and registers.
    define!(
        h,
        ctx,
        "counterAdd",
        |ctx: Ctx<'js>, counter: Value<'js>, negative: bool, by: String| {
            let counter = id(&ctx, &counter)?;
            let by: u64 = by
                .parse()
                .map_err(|_| Exception::throw_range(&ctx, "a counter step is a u64"))?;
            storage(&ctx, raw::counter_add(counter, negative, by))
        }
    );
    define!(h, ctx, "counterTotals", |ctx: Ctx<'js>, counter: Value<'js>| {
        let counter = id(&ctx, &counter)?;
        let (up, down) = storage(&ctx, raw::counter_totals(counter))?;
        Ok::<_, rquickjs::Error>(vec![up.to_string(), down.to_string()])
    });
    define!(h, ctx, "registerStamp", |ctx: Ctx<'js>, previous: Opt<Value<'js>>| {
        let previous = match previous.0 {
            Some(value) if !value.is_null() && !value.is_undefined() => {
                let bytes = bytes(&ctx, &value)?;
                Some(HybridTimestamp::try_from_slice(&bytes).map_err(|e| {
                    Exception::throw_type(&ctx, &format!("not a register stamp: {e}"))
                })?)
            }
            _ => None,
        };
        to_js(&ctx, &raw::register_stamp(previous))
    });

    ctx.globals().set("__calimero_host", h)?;
    Ok(())
}

/// Host functions an app's top level may call while the build pre-initialises it: they compute
/// from their arguments alone, so running them once at build time is the same as on each call.
const PURE: &[&str] = &[
    "exactIntegers",
    "utf8Encode",
    "utf8Decode",
    "entryId",
    "collectionId",
    "hash",
];

/// What a host function does, in the words of the app that reached it.
fn purpose(name: &str) -> &'static str {
    match name {
        "timeNow" => "reads the clock",
        "randomBytes" | "randomId" => "draws random bytes (crypto.getRandomValues, Math.random)",
        "log" => "logs (console.log, env.log)",
        "emit" => "emits an event",
        "input" | "inputJson" | "returnOk" | "returnErr" => "handles a call's input or result",
        "contextId" | "executorId" | "xcallOrigin" => "reads the call's identity",
        "xcall" => "asks the node for a cross-context call",
        "privateRead" | "privateWrite" | "privateRemove" => "reads or writes private storage",
        _ => "reads or writes the app's state",
    }
}

/// Replaces every host function but the [`PURE`] ones with one that throws: the app's top level
/// runs once when the module is built, so anything it did with the clock, randomness, the
/// identity, logs or state would be frozen into the module or lost.
pub fn guard<'js>(ctx: &Ctx<'js>) -> Result<()> {
    let h: Object = ctx.globals().get("__calimero_host")?;
    let names: Vec<String> = h.keys::<String>().collect::<Result<_>>()?;
    for name in names.into_iter().filter(|n| !PURE.contains(&n.as_str())) {
        let message = format!(
            "it calls `{name}`, which {}; top-level code runs once, when \
             `cargo calimero build` pre-initialises the module, not on each call. Move it into a \
             method (or build with --no-snapshot)",
            purpose(&name)
        );
        let refuse =
            move |ctx: Ctx<'js>| -> Result<()> { Err(Exception::throw_message(&ctx, &message)) };
        h.set(
            name.as_str(),
            Function::new(ctx.clone(), refuse)?.with_name(name.as_str())?,
        )?;
    }
    Ok(())
}
