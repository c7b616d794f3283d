//! Step 3 of the TypeScript pipeline: the app's shape from its AST. The `@State` class (fields
//! and declared types), the `@Logic` class (public methods, parameters, return types, `@View()`,
//! `@Init`), the `@Event` classes, and every class, interface or type alias they reach, mapped
//! to ABI types (`TOOLCHAIN.md` §4). Integer widths are kept exactly (`u8` stays `u8`), since
//! the engine encodes values with Borsh from these types. Anything without a Borsh twin is an
//! error naming the field or parameter, the type and where it is.

use std::collections::{BTreeMap, HashMap};

use anyhow::{anyhow, bail};
use serde_json::{Value, json};
use swc_core::common::{Span, Spanned};
use swc_core::ecma::ast::{
    Accessibility, Class, ClassMember, Decl, Decorator, Expr, MethodKind, ModuleDecl, ModuleItem,
    ParamOrTsParamProp, Pat, PropName, Stmt, TsEntityName, TsKeywordTypeKind, TsLit,
    TsParamPropParam, TsType, TsTypeElement, TsUnionOrIntersectionType,
};

use super::front::Parsed;

const SUPPORTED: &str = "supported: string, boolean, number, bigint (u64), the integer aliases \
    u8…u128 and i8…i128 from @calimero/sdk, literal types, Uint8Array, T[], [A, B, …] tuples, \
    Map<string, V>, T | null, unions of one type (\"a\" | \"b\"), classes, interfaces, object \
    types, and the SDK collections";

/// What a declaration is, and where.
#[derive(Clone, Copy)]
enum Declared<'a> {
    Class(&'a Class),
    Interface(&'a [TsTypeElement]),
    Alias(&'a TsType),
}

struct Named<'a> {
    declared: Declared<'a>,
    file: &'a Parsed,
}

struct Extractor<'a> {
    declarations: HashMap<String, Named<'a>>,
    types: BTreeMap<String, Value>,
    in_progress: Vec<String>,
}

fn decorator_name(decorator: &Decorator) -> Option<String> {
    match &*decorator.expr {
        Expr::Ident(ident) => Some(ident.sym.to_string()),
        Expr::Call(call) => match call.callee.as_expr().map(|e| &**e) {
            Some(Expr::Ident(ident)) => Some(ident.sym.to_string()),
            _ => None,
        },
        _ => None,
    }
}

fn has(decorators: &[Decorator], name: &str) -> bool {
    decorators
        .iter()
        .any(|d| decorator_name(d).as_deref() == Some(name))
}

fn prop_name(name: &PropName) -> Option<String> {
    match name {
        PropName::Ident(ident) => Some(ident.sym.to_string()),
        PropName::Str(text) => Some(text.value.to_string_lossy().into_owned()),
        _ => None,
    }
}

/// Every top-level declaration of every module (exported or not), with its module.
fn declarations(files: &[Parsed]) -> impl Iterator<Item = (&Decl, &Parsed)> {
    files.iter().flat_map(|file| {
        file.module.body.iter().filter_map(move |item| match item {
            ModuleItem::Stmt(Stmt::Decl(d)) => Some((d, file)),
            ModuleItem::ModuleDecl(ModuleDecl::ExportDecl(e)) => Some((&e.decl, file)),
            _ => None,
        })
    })
}

/// The app's classes: `(name, class, file)` for every top-level class of every module.
fn classes(files: &[Parsed]) -> Vec<(String, &Class, &Parsed)> {
    declarations(files)
        .filter_map(|(declaration, file)| match declaration {
            Decl::Class(class) => Some((class.ident.sym.to_string(), &*class.class, file)),
            _ => None,
        })
        .collect()
}

/// Extracts the ABI manifest of an app from its parsed modules (the app's own, not the SDK's).
pub fn extract(files: &[Parsed]) -> anyhow::Result<Value> {
    let mut extractor = Extractor {
        declarations: HashMap::new(),
        types: BTreeMap::new(),
        in_progress: Vec::new(),
    };
    for (declaration, file) in declarations(files) {
        let (name, declared) = match declaration {
            Decl::Class(c) => (c.ident.sym.to_string(), Declared::Class(&c.class)),
            Decl::TsInterface(i) => (i.id.sym.to_string(), Declared::Interface(&i.body.body)),
            Decl::TsTypeAlias(a) => (a.id.sym.to_string(), Declared::Alias(&a.type_ann)),
            _ => continue,
        };
        extractor
            .declarations
            .insert(name, Named { declared, file });
    }

    let all = classes(files);
    let state = all
        .iter()
        .find(|(_, class, _)| has(&class.decorators, "State"));
    let logic = all
        .iter()
        .find(|(_, class, _)| has(&class.decorators, "Logic"));
    let names: Vec<&str> = files.iter().map(|f| f.file.as_str()).collect();
    let Some((logic_name, logic, logic_file)) = logic else {
        bail!(
            "no @Logic class in {}: mark the class whose methods are the app's methods with @Logic(StateClass)",
            names.join(", ")
        );
    };
    let Some((state_name, state, state_file)) = state else {
        bail!(
            "no @State class in {}: mark the app's root state class with @State",
            names.join(", ")
        );
    };

    // The state record, with every field's type.
    let fields = extractor.fields(state, state_file, &format!("@State class {state_name}"))?;
    extractor.types.insert(
        state_name.clone(),
        json!({"kind": "record", "fields": fields}),
    );

    // Methods: the @Logic class's public instance methods and its @Init.
    let mut methods = Vec::new();
    let mut has_init = false;
    for member in &logic.body {
        let ClassMember::Method(method) = member else {
            continue;
        };
        let Some(name) = prop_name(&method.key) else {
            continue;
        };
        let is_init = method.is_static && has(&method.function.decorators, "Init");
        if method.is_static && !is_init {
            continue;
        }
        if !is_init
            && (method.kind != MethodKind::Method
                || matches!(
                    method.accessibility,
                    Some(Accessibility::Private | Accessibility::Protected)
                )
                || name.starts_with('_'))
        {
            continue;
        }
        let export = if is_init {
            "init".to_owned()
        } else {
            name.clone()
        };
        let place = |span: Span| logic_file.locate(span);
        if method.function.is_async {
            bail!(
                "{}: method `{name}` of {logic_name} is async; app methods run synchronously, return the value itself",
                place(method.span)
            );
        }
        let mut params = Vec::new();
        for param in &method.function.params {
            let Pat::Ident(binding) = &param.pat else {
                bail!(
                    "{}: a parameter of `{name}` is not a plain name; app methods take named parameters",
                    place(param.span)
                );
            };
            let pname = binding.id.sym.to_string();
            let Some(annotation) = &binding.type_ann else {
                bail!(
                    "{}: parameter `{pname}` of `{name}` has no type; declare it (e.g. `{pname}: string`)",
                    place(param.span)
                );
            };
            let what = format!("parameter `{pname}` of method `{name}`");
            let (ty, nullable) = extractor.map_param(&annotation.type_ann, logic_file, &what)?;
            let mut entry = json!({"name": pname, "type": ty});
            if nullable || binding.id.optional {
                entry["nullable"] = json!(true);
            }
            params.push(entry);
        }
        let mut entry = json!({
            "name": export,
            "params": params,
            "intent": if has(&method.function.decorators, "View") { "read_only" } else { "mutating" },
        });
        if is_init {
            has_init = true;
            entry["intent"] = json!("mutating");
        } else {
            let Some(returns) = &method.function.return_type else {
                bail!(
                    "{}: method `{name}` has no return type; declare it (`: void` if it returns nothing)",
                    place(method.span)
                );
            };
            if !is_void(&returns.type_ann) {
                let what = format!("the return type of method `{name}`");
                let (ty, nullable) = extractor.map(&returns.type_ann, logic_file, &what)?;
                entry["returns"] = ty;
                if nullable {
                    entry["returns_nullable"] = json!(true);
                }
            }
        }
        methods.push(entry);
    }
    if !has_init {
        methods.push(json!({"name": "init", "params": [], "intent": "mutating"}));
    }
    methods.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    for pair in methods.windows(2) {
        if pair[0]["name"] == pair[1]["name"] {
            bail!(
                "{logic_name} has two methods named `{}`",
                pair[0]["name"].as_str().unwrap_or_default()
            );
        }
    }

    // Events.
    let mut events = Vec::new();
    for (name, class, file) in &all {
        if !has(&class.decorators, "Event") {
            continue;
        }
        let fields = extractor.fields(class, file, &format!("@Event class {name}"))?;
        let mut entry = json!({"name": name});
        if !fields.is_empty() {
            entry["payload"] = json!({"kind": "record", "fields": fields});
        }
        events.push(entry);
    }
    events.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));

    Ok(json!({
        "schema_version": "wasm-abi/1",
        "state_root": state_name,
        "types": extractor.types,
        "methods": methods,
        "events": events,
    }))
}

fn is_void(ty: &TsType) -> bool {
    matches!(
        ty,
        TsType::TsKeywordType(k) if matches!(k.kind, TsKeywordTypeKind::TsVoidKeyword | TsKeywordTypeKind::TsUndefinedKeyword)
    )
}

impl<'a> Extractor<'a> {
    /// The fields of a class, in declaration order: properties, then constructor parameter
    /// properties (`constructor(public key: string)`).
    fn fields(&mut self, class: &Class, file: &Parsed, owner: &str) -> anyhow::Result<Vec<Value>> {
        let mut out = Vec::new();
        let mut push = |this: &mut Self,
                        name: String,
                        annotation: Option<&TsType>,
                        optional: bool,
                        span: Span|
         -> anyhow::Result<()> {
            let Some(annotation) = annotation else {
                bail!(
                    "{}: field `{name}` of {owner} has no type; declare it (e.g. `{name}: string`)",
                    file.locate(span)
                );
            };
            let (ty, nullable) =
                this.map(annotation, file, &format!("field `{name}` of {owner}"))?;
            let mut field = json!({"name": name, "type": ty});
            if nullable || optional {
                field["nullable"] = json!(true);
            }
            out.push(field);
            Ok(())
        };
        for member in &class.body {
            match member {
                ClassMember::ClassProp(prop) if !prop.is_static && !prop.declare => {
                    let Some(name) = prop_name(&prop.key) else {
                        continue;
                    };
                    push(
                        self,
                        name,
                        prop.type_ann.as_ref().map(|t| &*t.type_ann),
                        prop.is_optional,
                        prop.span,
                    )?;
                }
                ClassMember::Constructor(constructor) => {
                    for param in &constructor.params {
                        let ParamOrTsParamProp::TsParamProp(prop) = param else {
                            continue;
                        };
                        let TsParamPropParam::Ident(binding) = &prop.param else {
                            continue;
                        };
                        push(
                            self,
                            binding.id.sym.to_string(),
                            binding.type_ann.as_ref().map(|t| &*t.type_ann),
                            binding.id.optional,
                            prop.span,
                        )?;
                    }
                }
                _ => {}
            }
        }
        Ok(out)
    }

    fn unsupported(&self, ty: &TsType, file: &Parsed, what: &str, why: &str) -> anyhow::Error {
        anyhow!(
            "{}: unsupported type `{}` for {what}{why}; {SUPPORTED}",
            file.locate(ty.span()),
            file.text(ty.span())
        )
    }

    /// A TypeScript type → `(ABI type, nullable)`.
    /// A parameter's type: as [`Extractor::map`], except that a union of different types is
    /// accepted, since a parameter is never stored. The first member is the declared type (as
    /// upstream declares it) and `variants` lists every member; the dispatcher reads the JSON
    /// argument as the first member it fits.
    fn map_param(
        &mut self,
        ty: &TsType,
        file: &Parsed,
        what: &str,
    ) -> anyhow::Result<(Value, bool)> {
        if let TsType::TsUnionOrIntersectionType(TsUnionOrIntersectionType::TsUnionType(union)) = ty
        {
            let members: Vec<&TsType> = union
                .types
                .iter()
                .map(|t| &**t)
                .filter(|t| !is_null_or_undefined(t))
                .collect();
            let nullable = members.len() < union.types.len();
            let mut variants: Vec<Value> = Vec::new();
            for member in &members {
                let (inner, _) = self.map(member, file, what)?;
                if !variants.contains(&inner) {
                    variants.push(inner);
                }
            }
            if variants.len() > 1 {
                let mut declared = variants[0].clone();
                declared["variants"] = json!(variants);
                return Ok((declared, nullable));
            }
        }
        self.map(ty, file, what)
    }

    fn map(&mut self, ty: &TsType, file: &Parsed, what: &str) -> anyhow::Result<(Value, bool)> {
        let scalar = |kind: &str| json!({ "kind": kind });
        match ty {
            TsType::TsKeywordType(keyword) => match keyword.kind {
                TsKeywordTypeKind::TsStringKeyword => Ok((scalar("string"), false)),
                TsKeywordTypeKind::TsBooleanKeyword => Ok((scalar("bool"), false)),
                TsKeywordTypeKind::TsNumberKeyword => Ok((scalar("f64"), false)),
                // As upstream's JS SDK: a bare `bigint` is a u64 (use the SDK's `i64`, `u128`
                // or `i128` aliases for the others).
                TsKeywordTypeKind::TsBigIntKeyword => Ok((scalar("u64"), false)),
                _ => Err(self.unsupported(ty, file, what, "")),
            },
            TsType::TsParenthesizedType(inner) => self.map(&inner.type_ann, file, what),
            // A literal type stores as its kind: `"open"` a string, `3` a number, `true` a bool.
            TsType::TsLitType(literal) => Ok((
                match &literal.lit {
                    TsLit::Str(_) | TsLit::Tpl(_) => scalar("string"),
                    TsLit::Number(_) => scalar("f64"),
                    TsLit::Bool(_) => scalar("bool"),
                    TsLit::BigInt(_) => scalar("u64"),
                },
                false,
            )),
            TsType::TsArrayType(array) => {
                let (items, nullable) = self.map(&array.elem_type, file, what)?;
                Ok((
                    json!({"kind": "list", "items": with_null(items, nullable)}),
                    false,
                ))
            }
            TsType::TsTupleType(tuple) => {
                let mut elements = Vec::new();
                for element in &tuple.elem_types {
                    let (item, nullable) = self.map(&element.ty, file, what)?;
                    elements.push(with_null(item, nullable));
                }
                Ok((json!({"kind": "tuple", "elements": elements}), false))
            }
            TsType::TsUnionOrIntersectionType(TsUnionOrIntersectionType::TsUnionType(union)) => {
                let rest: Vec<&TsType> = union
                    .types
                    .iter()
                    .map(|t| &**t)
                    .filter(|t| !is_null_or_undefined(t))
                    .collect();
                let nullable = rest.len() < union.types.len();
                // Every member must store as the same type (`"a" | "b"`, `string | "x"`,
                // `true | false`): Borsh has one encoding per value, and a union of different
                // types has none that both sides of a call agree on.
                let mut stored: Option<Value> = None;
                for member in &rest {
                    let (inner, _) = self.map(member, file, what)?;
                    match &stored {
                        Some(first) if *first != inner => {
                            return Err(self.unsupported(
                                ty,
                                file,
                                what,
                                " (a union of different types: a value is stored as one type; \
                                 use one type, an object with optional fields, or T | null)",
                            ));
                        }
                        Some(_) => {}
                        None => stored = Some(inner),
                    }
                }
                match stored {
                    Some(inner) => Ok((inner, nullable)),
                    None => Err(self.unsupported(ty, file, what, " (only null and undefined)")),
                }
            }
            TsType::TsTypeLit(literal) => {
                let fields = self.members(&literal.members, file, what)?;
                Ok((json!({"kind": "record", "fields": fields}), false))
            }
            TsType::TsTypeRef(reference) => {
                let TsEntityName::Ident(ident) = &reference.type_name else {
                    return Err(self.unsupported(ty, file, what, ""));
                };
                let name = ident.sym.to_string();
                let args: Vec<&TsType> = reference
                    .type_params
                    .as_ref()
                    .map(|p| p.params.iter().map(|t| &**t).collect())
                    .unwrap_or_default();
                let arg = |this: &mut Self, i: usize| -> anyhow::Result<Value> {
                    let Some(t) = args.get(i) else {
                        return Err(this.unsupported(ty, file, what, " (missing type arguments)"));
                    };
                    let (v, nullable) = this.map(t, file, what)?;
                    Ok(with_null(v, nullable))
                };
                let value = match (name.as_str(), args.len()) {
                    (
                        "u8" | "u16" | "u32" | "u64" | "u128" | "i8" | "i16" | "i32" | "i64"
                        | "i128" | "f32" | "f64",
                        0,
                    ) => scalar(&name),
                    ("Uint8Array", 0) => scalar("bytes"),
                    ("Array" | "ReadonlyArray", 1) => {
                        json!({"kind": "list", "items": arg(self, 0)?})
                    }
                    ("Map" | "Record", 2) => {
                        let key = arg(self, 0)?;
                        self.check_key(&key, ty, file, what)?;
                        json!({"kind": "map", "key": key, "value": arg(self, 1)?})
                    }
                    ("UnorderedMap", 2) => {
                        let key = arg(self, 0)?;
                        self.check_key(&key, ty, file, what)?;
                        json!({"kind": "map", "crdt_type": "unordered_map", "key": key, "value": arg(self, 1)?})
                    }
                    ("UnorderedSet", 1) => {
                        let items = arg(self, 0)?;
                        self.check_key(&items, ty, file, what)?;
                        json!({"kind": "list", "crdt_type": "unordered_set", "items": items})
                    }
                    ("ReplicatedGrowableArray", 0) => json!({"kind": "string", "crdt_type": "rga"}),
                    ("SharedStorage", 1) => json!({
                        "kind": "record", "fields": [], "crdt_type": "shared_storage",
                        "inner_type": arg(self, 0)?
                    }),
                    ("UserStorage", 1) => json!({
                        "kind": "map", "crdt_type": "user_storage",
                        "key": {"kind": "bytes", "size": 32, "encoding": "hex"}, "value": arg(self, 0)?
                    }),
                    ("FrozenStorage", 1) => json!({
                        "kind": "map", "crdt_type": "frozen_storage",
                        "key": {"kind": "bytes", "size": 32}, "value": arg(self, 0)?
                    }),
                    ("SortedMap", 2) => {
                        let key = arg(self, 0)?;
                        self.check_key(&key, ty, file, what)?;
                        json!({"kind": "map", "crdt_type": "sorted_map", "key": key, "value": arg(self, 1)?})
                    }
                    ("SortedSet", 1) => {
                        let items = arg(self, 0)?;
                        self.check_key(&items, ty, file, what)?;
                        json!({"kind": "list", "crdt_type": "sorted_set", "items": items})
                    }
                    ("Vector", 1) => {
                        json!({"kind": "list", "crdt_type": "vector", "items": arg(self, 0)?})
                    }
                    ("Counter", 0) => json!({"kind": "u64", "crdt_type": "counter"}),
                    ("LwwRegister", 1) => json!({
                        "kind": "record", "fields": [], "crdt_type": "lww_register", "inner_type": arg(self, 0)?
                    }),
                    ("Promise", _) => {
                        return Err(self.unsupported(
                            ty,
                            file,
                            what,
                            " (app methods are synchronous)",
                        ));
                    }
                    (_, 0) if self.declarations.contains_key(&name) => {
                        return self.named(&name, ty, file, what);
                    }
                    _ => return Err(self.unsupported(ty, file, what, "")),
                };
                Ok((value, false))
            }
            _ => Err(self.unsupported(ty, file, what, "")),
        }
    }

    /// Map keys and set elements must have a storage key: strings, bytes, booleans, integers.
    fn check_key(&self, key: &Value, ty: &TsType, file: &Parsed, what: &str) -> anyhow::Result<()> {
        let kind = key["kind"].as_str().unwrap_or_default();
        let ok = key.get("$ref").is_none()
            && key.get("nullable").is_none()
            && matches!(
                kind,
                "string"
                    | "bytes"
                    | "bool"
                    | "u8"
                    | "u16"
                    | "u32"
                    | "u64"
                    | "u128"
                    | "i8"
                    | "i16"
                    | "i32"
                    | "i64"
                    | "i128"
            );
        if ok {
            Ok(())
        } else {
            Err(self.unsupported(
                ty,
                file,
                what,
                " (keys and set elements are strings, Uint8Array, booleans or integers)",
            ))
        }
    }

    fn members(
        &mut self,
        members: &[TsTypeElement],
        file: &Parsed,
        what: &str,
    ) -> anyhow::Result<Vec<Value>> {
        let mut fields = Vec::new();
        for member in members {
            let TsTypeElement::TsPropertySignature(property) = member else {
                bail!(
                    "{}: only properties are supported in an object type ({what})",
                    file.locate(member.span())
                );
            };
            let name = match &*property.key {
                Expr::Ident(ident) => ident.sym.to_string(),
                Expr::Lit(swc_core::ecma::ast::Lit::Str(text)) => {
                    text.value.to_string_lossy().into_owned()
                }
                _ => bail!(
                    "{}: a computed property name ({what})",
                    file.locate(property.span)
                ),
            };
            let Some(annotation) = &property.type_ann else {
                bail!(
                    "{}: property `{name}` has no type ({what})",
                    file.locate(property.span)
                );
            };
            let (ty, nullable) = self.map(
                &annotation.type_ann,
                file,
                &format!("property `{name}` of {what}"),
            )?;
            let mut field = json!({"name": name, "type": ty});
            if nullable || property.optional {
                field["nullable"] = json!(true);
            }
            fields.push(field);
        }
        Ok(fields)
    }

    /// A class, interface or alias of the app: a `$ref` to its record in `types`.
    fn named(
        &mut self,
        name: &str,
        ty: &TsType,
        _file: &Parsed,
        what: &str,
    ) -> anyhow::Result<(Value, bool)> {
        let reference = json!({ "$ref": name });
        if self.types.contains_key(name) || self.in_progress.iter().any(|n| n == name) {
            return Ok((reference, false));
        }
        let Some((declared, file)) = self.declarations.get(name).map(|n| (n.declared, n.file))
        else {
            return Err(anyhow!("unknown type {name}"));
        };
        self.in_progress.push(name.to_owned());
        let result = match declared {
            Declared::Class(class) => {
                if has(&class.decorators, "State") || has(&class.decorators, "Logic") {
                    Err(self.unsupported(
                        ty,
                        file,
                        what,
                        " (the state or logic class cannot be a value)",
                    ))
                } else {
                    self.fields(class, file, &format!("class {name}"))
                        .map(|fields| (json!({"kind": "record", "fields": fields}), false))
                }
            }
            Declared::Interface(members) => self
                .members(members, file, &format!("interface {name}"))
                .map(|fields| (json!({"kind": "record", "fields": fields}), false)),
            Declared::Alias(target) => {
                self.in_progress.pop();
                return self.map(target, file, what);
            }
        };
        self.in_progress.pop();
        let (record, _) = result?;
        self.types.insert(name.to_owned(), record);
        Ok((reference, false))
    }
}

/// `null` or `undefined`, which make a union nullable rather than add a member.
fn is_null_or_undefined(ty: &TsType) -> bool {
    matches!(ty, TsType::TsKeywordType(k) if matches!(k.kind, TsKeywordTypeKind::TsNullKeyword | TsKeywordTypeKind::TsUndefinedKeyword))
}

fn with_null(mut value: Value, nullable: bool) -> Value {
    if nullable && let Value::Object(map) = &mut value {
        map.insert("nullable".into(), Value::Bool(true));
    }
    value
}
