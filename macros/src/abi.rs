//! ABI manifest fragments (schema `wasm-abi/1`) built from the source syntax.

use serde_json::{Value, json};
use syn::{GenericArgument, PathArguments, Type};

/// A type as the ABI describes it, with whether it is an `Option`.
pub struct TypeRef {
    pub json: Value,
    pub nullable: bool,
}

fn generic_args(segment: &syn::PathSegment) -> Vec<&Type> {
    match &segment.arguments {
        PathArguments::AngleBracketed(args) => args
            .args
            .iter()
            .filter_map(|a| match a {
                GenericArgument::Type(t) => Some(t),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn scalar(kind: &str) -> Value {
    json!({ "kind": kind })
}

/// Maps a Rust type to an ABI type reference; `self_name` replaces `Self`.
pub fn type_ref(ty: &Type, self_name: &str) -> TypeRef {
    match ty {
        Type::Reference(r) => {
            if let Type::Slice(s) = &*r.elem {
                return TypeRef {
                    json: list_or_bytes(&s.elem, self_name),
                    nullable: false,
                };
            }
            type_ref(&r.elem, self_name)
        }
        Type::Paren(p) => type_ref(&p.elem, self_name),
        Type::Group(g) => type_ref(&g.elem, self_name),
        Type::Tuple(t) if t.elems.is_empty() => TypeRef {
            json: scalar("unit"),
            nullable: false,
        },
        Type::Tuple(t) => TypeRef {
            json: json!({
                "kind": "tuple",
                "elements": t.elems.iter().map(|e| full(e, self_name)).collect::<Vec<_>>()
            }),
            nullable: false,
        },
        Type::Array(a) => {
            let size = match &a.len {
                syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Int(n),
                    ..
                }) => n.base10_parse::<u64>().ok(),
                _ => None,
            };
            if is_u8(&a.elem) {
                TypeRef {
                    json: json!({ "kind": "bytes", "size": size }),
                    nullable: false,
                }
            } else {
                TypeRef {
                    json: json!({ "kind": "list", "items": full(&a.elem, self_name) }),
                    nullable: false,
                }
            }
        }
        Type::Slice(s) => TypeRef {
            json: list_or_bytes(&s.elem, self_name),
            nullable: false,
        },
        Type::Path(p) => {
            let Some(segment) = p.path.segments.last() else {
                return TypeRef {
                    json: scalar("unit"),
                    nullable: false,
                };
            };
            let name = segment.ident.to_string();
            let args = generic_args(segment);
            let json = match (name.as_str(), args.as_slice()) {
                ("bool", _) => scalar("bool"),
                ("i8" | "i16" | "i32" | "isize", _) => scalar("i32"),
                ("i64", _) => scalar("i64"),
                ("u8" | "u16" | "u32" | "usize", _) => scalar("u32"),
                ("u64", _) => scalar("u64"),
                ("u128", _) => scalar("u128"),
                ("i128", _) => scalar("i128"),
                ("f32", _) => scalar("f32"),
                ("f64", _) => scalar("f64"),
                ("String" | "str" | "char", _) => scalar("string"),
                ("Option", [inner]) => {
                    return TypeRef {
                        json: full(inner, self_name),
                        nullable: true,
                    };
                }
                ("Box" | "Rc" | "Arc" | "Cow", [inner]) => return type_ref(inner, self_name),
                ("Vec" | "VecDeque", [inner]) => list_or_bytes(inner, self_name),
                ("HashSet" | "BTreeSet", [inner]) => {
                    json!({ "kind": "list", "items": full(inner, self_name) })
                }
                ("HashMap" | "BTreeMap", [_, value]) => {
                    json!({ "kind": "map", "key": scalar("string"), "value": full(value, self_name) })
                }
                ("UnorderedMap", [_, value]) => json!({
                    "kind": "map", "key": scalar("string"), "value": full(value, self_name),
                    "crdt_type": "unordered_map"
                }),
                ("SortedMap", [_, value]) => json!({
                    "kind": "map", "key": scalar("string"), "value": full(value, self_name),
                    "crdt_type": "sorted_map"
                }),
                ("ReplicatedGrowableArray", []) => {
                    json!({ "kind": "string", "crdt_type": "rga" })
                }
                ("FrozenStorage", [inner]) => json!({
                    "kind": "map", "key": { "kind": "bytes", "size": 32 },
                    "value": full(inner, self_name), "crdt_type": "frozen_storage"
                }),
                ("AccessControl", []) => json!({
                    "kind": "record", "fields": [], "crdt_type": "shared_storage",
                    "inner_type": {
                        "kind": "map", "key": scalar("string"), "crdt_type": "unordered_map",
                        "value": {
                            "kind": "list", "crdt_type": "unordered_set",
                            "items": { "kind": "bytes", "size": 32, "encoding": "hex" }
                        }
                    }
                }),
                ("SharedStorage" | "PermissionedStorage" | "Ownable", [inner]) => json!({
                    "kind": "record", "fields": [], "crdt_type": "shared_storage",
                    "inner_type": full(inner, self_name)
                }),
                ("UserStorage", [inner]) => json!({
                    "kind": "map", "key": { "kind": "bytes", "size": 32, "encoding": "hex" },
                    "value": full(inner, self_name), "crdt_type": "user_storage"
                }),
                ("SortedSet", [inner]) => json!({
                    "kind": "list", "items": full(inner, self_name), "crdt_type": "sorted_set"
                }),
                ("UnorderedSet", [inner]) => json!({
                    "kind": "list", "items": full(inner, self_name), "crdt_type": "unordered_set"
                }),
                ("Vector", [inner]) => json!({
                    "kind": "list", "items": full(inner, self_name), "crdt_type": "vector"
                }),
                ("Counter" | "GCounter", _) => json!({ "kind": "u64", "crdt_type": "counter" }),
                ("PNCounter", _) => json!({ "kind": "i64", "crdt_type": "counter" }),
                ("LwwRegister", [inner]) => json!({
                    "kind": "record", "fields": [], "crdt_type": "lww_register",
                    "inner_type": full(inner, self_name)
                }),
                // calimero_sdk's id types: 32 bytes, written as text in JSON.
                ("AccountId", []) => json!({ "kind": "bytes", "size": 32, "encoding": "hex" }),
                ("PublicKey" | "ContextId" | "BlobId", []) => {
                    json!({ "kind": "bytes", "size": 32, "encoding": "base58" })
                }
                ("Self", _) => json!({ "$ref": self_name }),
                _ => json!({ "$ref": name }),
            };
            TypeRef {
                json,
                nullable: false,
            }
        }
        _ => TypeRef {
            json: json!({ "$ref": "unsupported" }),
            nullable: false,
        },
    }
}

fn is_u8(ty: &Type) -> bool {
    matches!(ty, Type::Path(p) if p.path.is_ident("u8"))
}

fn list_or_bytes(inner: &Type, self_name: &str) -> Value {
    if is_u8(inner) {
        scalar("bytes")
    } else {
        json!({ "kind": "list", "items": full(inner, self_name) })
    }
}

/// The type reference, with `Option` folded into a `nullable` member.
pub fn full(ty: &Type, self_name: &str) -> Value {
    let TypeRef { mut json, nullable } = type_ref(ty, self_name);
    if nullable && let Value::Object(map) = &mut json {
        map.insert("nullable".into(), Value::Bool(true));
    }
    json
}

/// A `{name, type, nullable?}` field or parameter.
pub fn field(name: &str, ty: &Type, self_name: &str) -> Value {
    let TypeRef { json, nullable } = type_ref(ty, self_name);
    let mut field = json!({ "name": name, "type": json });
    if nullable {
        field["nullable"] = Value::Bool(true);
    }
    field
}

/// The `(ok, err)` types of a `Result`-like return type (`Result<T, E>`, `app::Result<T>`).
pub fn result_parts(ty: &Type) -> Option<(&Type, Option<&Type>)> {
    let Type::Path(p) = ty else { return None };
    let segment = p.path.segments.last()?;
    if segment.ident != "Result" {
        return None;
    }
    let args = generic_args(segment);
    Some((args.first()?, args.get(1).copied()))
}

/// A variant of an event or error enum: `{name, payload?}` (one field: its type; several: a
/// tuple; named fields: a record).
pub fn variant(variant: &syn::Variant, self_name: &str) -> Value {
    let payload = match &variant.fields {
        syn::Fields::Unit => None,
        syn::Fields::Unnamed(f) if f.unnamed.len() == 1 => Some(full(&f.unnamed[0].ty, self_name)),
        syn::Fields::Unnamed(f) => Some(json!({
            "kind": "tuple",
            "elements": f.unnamed.iter().map(|f| full(&f.ty, self_name)).collect::<Vec<_>>()
        })),
        syn::Fields::Named(f) => Some(json!({
            "kind": "record",
            "fields": f.named.iter().map(|f| field(
                &f.ident.as_ref().map(ToString::to_string).unwrap_or_default(), &f.ty, self_name
            )).collect::<Vec<_>>()
        })),
    };
    let mut entry = json!({ "name": variant.ident.to_string() });
    if let Some(payload) = payload {
        entry["payload"] = payload;
    }
    entry
}
