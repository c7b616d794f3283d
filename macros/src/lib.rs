//! The macros behind `calimero_sdk::app`: `#[app::state]`, `#[app::logic]`, `#[app::event]`
//! and the method markers `#[app::init]`, `#[app::view]`, `#[app::destroy]`.
//!
//! Exports follow `HOST-ABI.md` §4: one `() -> ()` export per public method named like the
//! method, `init`, and `__calimero_sync_next`. Each macro also contributes a fragment of the
//! app's ABI manifest (`wasm-abi/1`): on `wasm32` into the custom section `calimero_abi_parts`
//! (which `cargo calimero build` merges into `calimero_abi_v1`), and on every target through the
//! `AppMethods::abi()` function the logic macro implements.

mod abi;
mod migrate;

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{format_ident, quote, quote_spanned};
use serde_json::{Value, json};
use syn::spanned::Spanned;
use syn::visit_mut::VisitMut;
use syn::{
    Attribute, Fields, FnArg, ImplItem, ImplItemFn, ItemEnum, ItemImpl, ItemStruct, Pat,
    ReturnType, Type, parse_macro_input,
};

fn spanned_error(span: Span, message: impl std::fmt::Display) -> TokenStream2 {
    syn::Error::new(span, message).to_compile_error()
}

/// A fragment placed in the module's `calimero_abi_parts` custom section on `wasm32`.
fn fragment_section(fragment: &str) -> TokenStream2 {
    let mut bytes = fragment.as_bytes().to_vec();
    bytes.push(b'\n');
    let len = bytes.len();
    let literal = proc_macro2::Literal::byte_string(&bytes);
    quote! {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            #[unsafe(link_section = "calimero_abi_parts")]
            #[used]
            static CALIMERO_ABI_PART: [u8; #len] = *#literal;
        };
    }
}

/// Types that are certainly not CRDTs, with what to use instead.
fn non_crdt_advice(ty: &Type) -> Option<String> {
    let Type::Path(path) = ty else {
        return Some("use a CRDT: `LwwRegister<T>` or a collection".into());
    };
    let segment = path.path.segments.last()?;
    let name = segment.ident.to_string();
    let shown = quote!(#ty).to_string().replace(' ', "");
    match name.as_str() {
        "String" | "bool" | "char" | "u8" | "u16" | "u32" | "u64" | "u128" | "usize" | "i8"
        | "i16" | "i32" | "i64" | "i128" | "isize" | "f32" | "f64" | "Option" | "Box" => Some(
            format!("`{shown}` is a plain value, not a CRDT; use `LwwRegister<{shown}>` instead"),
        ),
        "Vec" | "VecDeque" => Some(format!(
            "`{shown}` is not a CRDT; use `calimero_storage::collections::Vector` instead"
        )),
        "HashMap" | "BTreeMap" => Some(format!(
            "`{shown}` is not a CRDT; use `calimero_storage::collections::UnorderedMap` instead"
        )),
        "HashSet" | "BTreeSet" => Some(format!(
            "`{shown}` is not a CRDT; use `calimero_storage::collections::UnorderedSet` instead"
        )),
        "Rc" | "Arc" | "Cell" | "RefCell" | "Mutex" | "RwLock" => Some(format!(
            "`{shown}` cannot be stored: app state is rebuilt from storage on every call; use a \
             CRDT (`LwwRegister<T>` or a collection)"
        )),
        _ => None,
    }
}

/// Key types of the collections in `ty` (map keys, set elements) that are the app's own: paths
/// without generic arguments that are not one of the types the storage crate already keys.
fn custom_key_types(ty: &Type, out: &mut Vec<Type>) {
    const KNOWN: &[&str] = &[
        "String",
        "str",
        "Vec",
        "bool",
        "u8",
        "u16",
        "u32",
        "u64",
        "u128",
        "i8",
        "i16",
        "i32",
        "i64",
        "i128",
        "Id",
        "AccountId",
        "PublicKey",
        "ContextId",
        "BlobId",
        "Self",
    ];
    let Type::Path(path) = ty else { return };
    let Some(segment) = path.path.segments.last() else {
        return;
    };
    let syn::PathArguments::AngleBracketed(args) = &segment.arguments else {
        return;
    };
    let types: Vec<&Type> = args
        .args
        .iter()
        .filter_map(|a| match a {
            syn::GenericArgument::Type(t) => Some(t),
            _ => None,
        })
        .collect();
    let keyed = matches!(
        segment.ident.to_string().as_str(),
        "UnorderedMap" | "SortedMap" | "UnorderedSet" | "SortedSet"
    );
    if keyed
        && let Some(Type::Path(key)) = types.first()
        && let Some(last) = key.path.segments.last()
        && last.arguments.is_empty()
        && !KNOWN.contains(&last.ident.to_string().as_str())
        && !out
            .iter()
            .any(|t| quote!(#t).to_string() == quote!(#key).to_string())
    {
        out.push(Type::Path(key.clone()));
    }
    for t in types {
        custom_key_types(t, out);
    }
}

struct StateArgs {
    emits: Option<Type>,
    /// `version = N`: the version of the state's layout (1 when absent).
    version: Option<u32>,
    /// `migration = function`: the `#[app::migrate]` function that moves the previous version's
    /// state to this one.
    migration: Option<syn::Ident>,
}

fn parse_state_args(attr: TokenStream2) -> syn::Result<StateArgs> {
    let mut emits = None;
    let mut version = None;
    let mut migration = None;
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("emits") {
            let value = meta.value()?;
            if value.peek(syn::Token![for]) {
                let _: syn::BoundLifetimes = value.parse()?;
            }
            let mut ty: Type = value.parse()?;
            StaticLifetimes.visit_type_mut(&mut ty);
            emits = Some(ty);
            Ok(())
        } else if meta.path.is_ident("version") {
            let lit: syn::LitInt = meta.value()?.parse()?;
            let value: u32 = lit.base10_parse()?;
            if value == 0 {
                return Err(meta.error("state versions start at 1"));
            }
            version = Some(value);
            Ok(())
        } else if meta.path.is_ident("migration") {
            migration = Some(meta.value()?.parse()?);
            Ok(())
        } else {
            Err(meta.error(
                "unknown #[app::state] argument; expected `emits = EventType`, `version = N` or \
                 `migration = function`",
            ))
        }
    });
    syn::parse::Parser::parse2(parser, attr)?;
    Ok(StateArgs {
        emits,
        version,
        migration,
    })
}

struct StaticLifetimes;

impl VisitMut for StaticLifetimes {
    fn visit_lifetime_mut(&mut self, lifetime: &mut syn::Lifetime) {
        *lifetime = syn::Lifetime::new("'static", lifetime.span());
    }
}

/// Marks the app's root state struct. Every field must be a CRDT (`LwwRegister<T>`, `Counter`,
/// `UnorderedMap`, `UnorderedSet`, `Vector`); `emits = Event` names the app's event type.
#[proc_macro_attribute]
pub fn state(attr: TokenStream, item: TokenStream) -> TokenStream {
    let args = match parse_state_args(attr.into()) {
        Ok(args) => args,
        Err(e) => return e.to_compile_error().into(),
    };
    let item = parse_macro_input!(item as ItemStruct);
    state_impl(args, item).into()
}

fn state_impl(args: StateArgs, mut item: ItemStruct) -> TokenStream2 {
    let name = &item.ident;
    if !item.generics.params.is_empty() {
        return spanned_error(
            item.generics.span(),
            "#[app::state] structs cannot be generic",
        );
    }
    let Fields::Named(fields) = &item.fields else {
        return spanned_error(
            item.span(),
            "#[app::state] needs a struct with named fields",
        );
    };
    let mut errors = TokenStream2::new();
    let mut merges = TokenStream2::new();
    let mut attaches = TokenStream2::new();
    let mut registers = TokenStream2::new();
    let mut abi_fields = Vec::new();
    let mut keys = Vec::new();
    let self_name = name.to_string();
    for field in &fields.named {
        let ident = field.ident.as_ref().expect("named fields have names");
        let ty = &field.ty;
        let field_name = ident.to_string();
        if let Some(advice) = non_crdt_advice(ty) {
            errors.extend(spanned_error(
                ty.span(),
                format!("field `{field_name}` of the app state is not a CRDT: {advice}"),
            ));
            continue;
        }
        merges.extend(quote_spanned! {ty.span()=>
            ::calimero_sdk::storage::Mergeable::merge(&mut self.#ident, &other.#ident)?;
        });
        attaches.extend(quote_spanned! {ty.span()=>
            ::calimero_sdk::storage::Mergeable::attach_field(&self.#ident, #field_name)?;
        });
        registers.extend(quote_spanned! {ty.span()=>
            <#ty as ::calimero_sdk::storage::Mergeable>::register_merges();
        });
        abi_fields.push(abi::field(&field_name, ty, &self_name));
        custom_key_types(ty, &mut keys);
    }
    // An app's own key type needs only `AsRef<[u8]>`, as upstream: its entries are keyed by
    // those bytes.
    let key_impls = keys.iter().map(|key| {
        quote_spanned! {key.span()=>
            impl ::calimero_sdk::storage::collections::StorageKey for #key {
                fn key_bytes(&self) -> ::std::borrow::Cow<'_, [u8]> {
                    ::std::borrow::Cow::Borrowed(::core::convert::AsRef::<[u8]>::as_ref(self))
                }
            }
        }
    });
    if !errors.is_empty() {
        return quote! { #item #errors };
    }

    let migration = match migration_method(&args, &item) {
        Ok(Some((migration, derived))) => {
            // The derive runs after this macro and cannot see `version = N`: hand it over.
            if let (true, Some(version)) = (derived, args.version) {
                let version = syn::LitInt::new(&version.to_string(), Span::call_site());
                item.attrs
                    .push(syn::parse_quote!(#[migrate(state_version = #version)]));
            }
            Some(migration)
        }
        Ok(None) => None,
        Err(e) => {
            let e = e.to_compile_error();
            return quote! { #item #e };
        }
    };
    let mut types = serde_json::Map::new();
    types.insert(
        self_name.clone(),
        json!({ "kind": "record", "fields": abi_fields }),
    );
    let mut fragment = json!({ "state_root": self_name, "types": types });
    if let Some(version) = args.version {
        fragment["state_version"] = json!(version);
    }
    let migration_entry = match &migration {
        Some(method) => {
            let from = args.version.unwrap_or(1).saturating_sub(1);
            fragment["migrations"] =
                json!([{ "method": method.to_string(), "from_version": from }]);
            let name = method.to_string();
            let runner = format_ident!("__calimero_method_{}", method);
            quote! {
                fn migration() -> ::core::option::Option<(&'static str, fn())> {
                    ::core::option::Option::Some((#name, #runner as fn()))
                }
            }
        }
        None => quote! {},
    };
    let fragment = fragment.to_string();
    let state_version = args.version.unwrap_or(1);
    let section = fragment_section(&fragment);
    let event_fragments = match &args.emits {
        Some(ty) => quote! {
            fragments.push(<#ty as ::calimero_sdk::__private::EventAbi>::FRAGMENT);
        },
        None => quote! {},
    };
    let event_check = args.emits.as_ref().map(|ty| {
        quote_spanned! {ty.span()=>
            const _: fn() = || {
                fn emits<T: ::calimero_sdk::event::AppEvent>() {}
                emits::<#ty>();
            };
        }
    });

    quote! {
        #[derive(::calimero_sdk::borsh::BorshSerialize, ::calimero_sdk::borsh::BorshDeserialize)]
        #[borsh(crate = "::calimero_sdk::borsh")]
        #item

        impl ::calimero_sdk::storage::Mergeable for #name {
            fn merge(&mut self, other: &Self) -> ::core::result::Result<(), ::calimero_sdk::storage::StoreError> {
                #merges
                Ok(())
            }

            fn register_merges() {
                #registers
            }
        }

        impl #name {
            /// Upstream's tests call this to register re-keying of nested collections. Here a
            /// nested collection's id is derived from its parent when it is stored, so there is
            /// nothing to register: it does nothing.
            #[doc(hidden)]
            pub fn __calimero_register_rekey() {}
        }

        impl ::calimero_sdk::storage::AppState for #name {
            const STATE_VERSION: u32 = #state_version;

            fn attach_fields(&mut self) -> ::core::result::Result<(), ::calimero_sdk::storage::StoreError> {
                #attaches
                Ok(())
            }
        }

        impl ::calimero_sdk::__private::StateAbi for #name {
            fn fragments() -> ::std::vec::Vec<&'static str> {
                let mut fragments = ::std::vec![#fragment];
                #event_fragments
                fragments
            }

            #migration_entry
        }

        #(#key_impls)*
        #event_check
        #section
    }
}

/// The migration that produces this state: `migration = f` in `#[app::state(..)]`, or the one
/// `#[derive(app::Migrate)]` writes.
/// `(method, whether the derive writes it)`.
fn migration_method(
    args: &StateArgs,
    item: &ItemStruct,
) -> syn::Result<Option<(syn::Ident, bool)>> {
    if let Some(method) = &args.migration {
        return Ok(Some((method.clone(), false)));
    }
    let mut derives_migrate = false;
    for attr in item.attrs.iter().filter(|a| a.path().is_ident("derive")) {
        attr.parse_nested_meta(|meta| {
            derives_migrate |= meta
                .path
                .segments
                .last()
                .is_some_and(|s| s.ident == "Migrate");
            Ok(())
        })?;
    }
    if !derives_migrate {
        return Ok(None);
    }
    let method = migrate::struct_args(&item.attrs)?.method;
    Ok(Some((
        method.unwrap_or_else(|| migrate::default_method(args.version, item.ident.span())),
        true,
    )))
}

/// `#[derive(Mergeable)]` on a struct whose fields are all CRDTs (`LwwRegister<T>`, counters,
/// collections, other such structs): a *record*. Stored as a map value or a vector element, it
/// is tagged with its name (`#[mergeable(name = "...")]` to choose another, for example to match
/// a TypeScript twin's class), and two concurrent versions of one element merge field by field,
/// each field by its own rule, instead of the later version replacing the earlier.
///
/// `#[mergeable(plain)]` instead makes a struct of plain fields a plain value: an element holding
/// it is last-writer-wins as a whole, like a `String` (see `calimero_storage::merge`).
/// The ABI fragment declaring a struct's or enum's type, so that methods, events and state that
/// name it describe it fully (a struct: a record of its fields, or its one field's type; an enum:
/// its variants).
fn type_fragment(item: &syn::DeriveInput) -> TokenStream2 {
    let name = item.ident.to_string();
    let definition = match &item.data {
        syn::Data::Struct(data) => match &data.fields {
            Fields::Named(fields) => json!({
                "kind": "record",
                "fields": fields.named.iter().map(|f| abi::field(
                    &f.ident.as_ref().map(ToString::to_string).unwrap_or_default(), &f.ty, &name
                )).collect::<Vec<_>>(),
            }),
            Fields::Unnamed(fields) if fields.unnamed.len() == 1 => {
                abi::full(&fields.unnamed[0].ty, &name)
            }
            Fields::Unnamed(fields) => json!({
                "kind": "tuple",
                "elements": fields.unnamed.iter().map(|f| abi::full(&f.ty, &name)).collect::<Vec<_>>(),
            }),
            Fields::Unit => json!({ "kind": "unit" }),
        },
        syn::Data::Enum(data) => json!({
            "kind": "variant",
            "variants": data.variants.iter().map(|v| abi::variant(v, &name)).collect::<Vec<_>>(),
        }),
        syn::Data::Union(_) => return TokenStream2::new(),
    };
    let mut types = serde_json::Map::new();
    types.insert(name, definition);
    fragment_section(&json!({ "types": types }).to_string())
}

/// `#[derive(AbiType)]`: puts the type's definition in the app's ABI manifest, for types that
/// methods take or return, events carry or state holds and that no other app macro describes.
#[proc_macro_derive(AbiType)]
pub fn derive_abi_type(item: TokenStream) -> TokenStream {
    let item = parse_macro_input!(item as syn::DeriveInput);
    let fragment = type_fragment(&item);
    let name = &item.ident;
    let (impl_generics, ty_generics, where_clause) = item.generics.split_for_impl();
    quote! {
        #fragment
        impl #impl_generics ::calimero_sdk::abi::AbiType for #name #ty_generics #where_clause {}
    }
    .into()
}

#[proc_macro_derive(Mergeable, attributes(mergeable))]
pub fn derive_mergeable(item: TokenStream) -> TokenStream {
    let item = parse_macro_input!(item as syn::DeriveInput);
    mergeable_impl(item)
        .unwrap_or_else(|e| e.to_compile_error())
        .into()
}

fn mergeable_impl(item: syn::DeriveInput) -> syn::Result<TokenStream2> {
    let name = &item.ident;
    let mut record = name.to_string();
    let mut plain = false;
    for attr in item.attrs.iter().filter(|a| a.path().is_ident("mergeable")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("name") {
                let value: syn::LitStr = meta.value()?.parse()?;
                record = value.value();
                Ok(())
            } else if meta.path.is_ident("plain") {
                plain = true;
                Ok(())
            } else {
                Err(meta
                    .error("unknown #[mergeable] argument; expected `name = \"...\"` or `plain`"))
            }
        })?;
    }
    let (impl_generics, ty_generics, where_clause) = item.generics.split_for_impl();
    let fragment = type_fragment(&item);
    if plain {
        return Ok(quote! {
            #fragment
            impl #impl_generics ::calimero_sdk::storage::Mergeable for #name #ty_generics #where_clause {
                fn merge(&mut self, other: &Self) -> ::core::result::Result<(), ::calimero_sdk::storage::StoreError> {
                    ::calimero_sdk::storage::merge::merge_plain(self, other)
                }
            }
        });
    }
    let syn::Data::Struct(data) = &item.data else {
        return Err(syn::Error::new(
            item.span(),
            "#[derive(Mergeable)] needs a struct whose fields are CRDTs; for an enum or another \
             plain value, store it in an `LwwRegister<T>`",
        ));
    };
    let mut errors = TokenStream2::new();
    let mut merges = TokenStream2::new();
    let mut registers = TokenStream2::new();
    for (index, field) in data.fields.iter().enumerate() {
        let ty = &field.ty;
        let member = match &field.ident {
            Some(ident) => quote!(#ident),
            None => {
                let index = syn::Index::from(index);
                quote!(#index)
            }
        };
        let shown = field
            .ident
            .as_ref()
            .map_or_else(|| index.to_string(), ToString::to_string);
        if let Some(advice) = non_crdt_advice(ty) {
            errors.extend(spanned_error(
                ty.span(),
                format!(
                    "field `{shown}` of record `{name}` is not a CRDT, so it has no field merge: \
                     {advice}; or, to store `{name}` as one plain value (last-writer-wins as a \
                     whole element), mark it `#[mergeable(plain)]`"
                ),
            ));
            continue;
        }
        merges.extend(quote_spanned! {ty.span()=>
            ::calimero_sdk::storage::Mergeable::merge(&mut self.#member, &other.#member)?;
        });
        registers.extend(quote_spanned! {ty.span()=>
            <#ty as ::calimero_sdk::storage::Mergeable>::register_merges();
        });
    }
    // With field errors the impl is still emitted (over the valid fields), so that the only
    // errors shown are the ones above, not every use of the struct.
    Ok(quote! {
        #errors
        #fragment
        impl #impl_generics ::calimero_sdk::storage::Mergeable for #name #ty_generics #where_clause {
            const RECORD: ::core::option::Option<&'static str> = ::core::option::Option::Some(#record);

            fn merge(&mut self, other: &Self) -> ::core::result::Result<(), ::calimero_sdk::storage::StoreError> {
                #merges
                Ok(())
            }

            fn register_merges() {
                #registers
            }
        }
    })
}

/// Marks an enum as the app's events: `kind` is the variant name, `data` the JSON content.
#[proc_macro_attribute]
pub fn event(_attr: TokenStream, item: TokenStream) -> TokenStream {
    let item = parse_macro_input!(item as ItemEnum);
    event_impl(item).into()
}

fn event_impl(item: ItemEnum) -> TokenStream2 {
    let name = &item.ident;
    let (impl_generics, ty_generics, where_clause) = item.generics.split_for_impl();
    let self_name = name.to_string();
    let mut kinds = TokenStream2::new();
    let mut events = Vec::new();
    for variant in &item.variants {
        let ident = &variant.ident;
        let kind = ident.to_string();
        kinds.extend(quote! { Self::#ident { .. } => #kind, });
        events.push(abi::variant(variant, &self_name));
    }
    let fragment = json!({ "events": events }).to_string();
    let section = fragment_section(&fragment);
    quote! {
        #[derive(::calimero_sdk::serde::Serialize)]
        #[serde(crate = "::calimero_sdk::serde", tag = "kind", content = "data")]
        #item

        impl #impl_generics ::calimero_sdk::event::AppEvent for #name #ty_generics #where_clause {
            fn kind(&self) -> ::std::string::String {
                match self { #kinds }.to_owned()
            }

            fn data(&self) -> ::std::vec::Vec<u8> {
                match ::calimero_sdk::serde_json::to_value(self) {
                    Ok(::calimero_sdk::serde_json::Value::Object(mut map)) => match map.remove("data") {
                        Some(data) => ::calimero_sdk::serde_json::to_vec(&data).unwrap_or_default(),
                        None => ::std::vec::Vec::new(),
                    },
                    _ => ::std::vec::Vec::new(),
                }
            }
        }

        impl #impl_generics ::calimero_sdk::__private::EventAbi for #name #ty_generics #where_clause {
            const FRAGMENT: &'static str = #fragment;
        }

        #section
    }
}

/// Marks an enum as the app's error type: it serializes as `{"kind": <variant>, "data": ...}`,
/// and the ABI lists it as the error of every method returning `app::Result<T>`.
#[proc_macro_attribute]
pub fn error(_attr: TokenStream, item: TokenStream) -> TokenStream {
    let item = parse_macro_input!(item as ItemEnum);
    let name = item.ident.to_string();
    let variants: Vec<Value> = item
        .variants
        .iter()
        .map(|variant| abi::variant(variant, &name))
        .collect();
    let mut types = serde_json::Map::new();
    types.insert(
        name.clone(),
        json!({ "kind": "variant", "variants": variants }),
    );
    let fragment = json!({ "app_error": name, "types": types }).to_string();
    let section = fragment_section(&fragment);
    quote! {
        #[derive(::calimero_sdk::serde::Serialize)]
        #[serde(crate = "::calimero_sdk::serde", tag = "kind", content = "data")]
        #item
        #section
    }
    .into()
}

fn marker_outside_logic(name: &str, item: TokenStream) -> TokenStream {
    let item2: TokenStream2 = item.into();
    let message = format!("#[app::{name}] only goes on a method inside an `#[app::logic]` impl");
    let err = spanned_error(item2.span(), message);
    quote!(#err #item2).into()
}

/// Marks the method that creates the initial state (it must be named `init`).
#[proc_macro_attribute]
pub fn init(_attr: TokenStream, item: TokenStream) -> TokenStream {
    marker_outside_logic("init", item)
}

/// Marks a method as read-only in the ABI.
#[proc_macro_attribute]
pub fn view(_attr: TokenStream, item: TokenStream) -> TokenStream {
    marker_outside_logic("view", item)
}

/// Allows a method to take `self` by value.
#[proc_macro_attribute]
pub fn destroy(_attr: TokenStream, item: TokenStream) -> TokenStream {
    marker_outside_logic("destroy", item)
}

/// Marks a method other contexts may call through `env::xcall` (on the same node). Once a
/// module has one such method, the node lets xcalls reach only those.
/// `#[app::xcall(from_same_app)]` further limits callers to contexts of the same application.
/// Inside the method, `env::xcall_origin()` names the calling context (`None` for a direct call).
#[proc_macro_attribute]
pub fn xcall(_attr: TokenStream, item: TokenStream) -> TokenStream {
    marker_outside_logic("xcall", item)
}

/// Node-local private state: a struct (or enum) stored in this node's private storage, never
/// replicated. Generates `private_handle()`, `private_load()`, `private_load_or_default()` and
/// `private_load_or_init_with(f)`; the type needs `BorshSerialize + BorshDeserialize`.
/// `#[app::private(key = "...")]` chooses the storage key (default: derived from the name).
#[proc_macro_attribute]
pub fn private(attr: TokenStream, item: TokenStream) -> TokenStream {
    let attr2: TokenStream2 = attr.into();
    let item2: TokenStream2 = item.into();
    let (ident, generics) = match syn::parse2::<syn::Item>(item2.clone()) {
        Ok(syn::Item::Struct(s)) => (s.ident, s.generics),
        Ok(syn::Item::Enum(e)) => (e.ident, e.generics),
        _ => {
            let err = spanned_error(item2.span(), "#[app::private] goes on a struct or an enum");
            return quote!(#err #item2).into();
        }
    };
    if !generics.params.is_empty() {
        let err = spanned_error(generics.span(), "#[app::private] types cannot be generic");
        return quote!(#err #item2).into();
    }
    let key = if attr2.is_empty() {
        format!("calimero:private:{ident}")
    } else {
        let parsed = syn::parse2::<syn::MetaNameValue>(attr2.clone())
            .ok()
            .and_then(|nv| match (nv.path.is_ident("key"), nv.value) {
                (
                    true,
                    syn::Expr::Lit(syn::ExprLit {
                        lit: syn::Lit::Str(s),
                        ..
                    }),
                ) => Some(s.value()),
                _ => None,
            });
        match parsed {
            Some(key) => key,
            None => {
                let err = spanned_error(
                    attr2.span(),
                    "expected `#[app::private]` or `#[app::private(key = \"...\")]`",
                );
                return quote!(#err #item2).into();
            }
        }
    };
    let key = proc_macro2::Literal::byte_string(key.as_bytes());
    quote! {
        #item2

        impl #ident {
            /// Where this type's private value lives.
            pub fn private_handle() -> ::calimero_sdk::private_storage::EntryHandle<Self> {
                ::calimero_sdk::private_storage::EntryHandle::new(#key)
            }

            /// The stored private value, if any.
            pub fn private_load() -> ::calimero_sdk::app::Result<
                ::core::option::Option<::calimero_sdk::private_storage::EntryRef<Self>>,
            > {
                Self::private_handle().get()
            }

            /// The stored private value, or the default stored now.
            pub fn private_load_or_default()
            -> ::calimero_sdk::app::Result<::calimero_sdk::private_storage::EntryRef<Self>>
            where
                Self: ::core::default::Default,
            {
                Self::private_handle().get_or_default()
            }

            /// The stored private value, or `make()` stored now.
            pub fn private_load_or_init_with<F: FnOnce() -> Self>(
                make: F,
            ) -> ::calimero_sdk::app::Result<::calimero_sdk::private_storage::EntryRef<Self>> {
                Self::private_handle().get_or_init_with(make)
            }
        }
    }
    .into()
}

#[derive(Default)]
struct Markers {
    init: bool,
    view: bool,
    destroy: bool,
    /// `#[app::xcall]`: `Some(false)`; `#[app::xcall(from_same_app)]`: `Some(true)`.
    xcall: Option<bool>,
    /// A marker written wrongly.
    error: Option<syn::Error>,
}

/// `#[app::xcall]` or `#[app::xcall(from_same_app)]`: whether callers must run the same app.
fn xcall_marker(attr: &Attribute) -> syn::Result<bool> {
    match &attr.meta {
        syn::Meta::Path(_) => Ok(false),
        syn::Meta::List(list) => {
            let ident: syn::Ident = syn::parse2(list.tokens.clone())?;
            if ident == "from_same_app" {
                Ok(true)
            } else {
                Err(syn::Error::new(
                    ident.span(),
                    "expected `#[app::xcall]` or `#[app::xcall(from_same_app)]`",
                ))
            }
        }
        syn::Meta::NameValue(_) => Err(syn::Error::new(
            attr.span(),
            "expected `#[app::xcall]` or `#[app::xcall(from_same_app)]`",
        )),
    }
}

fn take_markers(attrs: &mut Vec<Attribute>) -> Markers {
    let mut markers = Markers::default();
    attrs.retain(|attr| {
        let segments: Vec<String> = attr
            .path()
            .segments
            .iter()
            .map(|s| s.ident.to_string())
            .collect();
        let is_app =
            segments.len() == 1 || segments.iter().rev().nth(1).is_some_and(|s| s == "app");
        match segments.last().map(String::as_str) {
            Some("init") if is_app => markers.init = true,
            Some("view") if is_app => markers.view = true,
            Some("destroy") if is_app => markers.destroy = true,
            Some("xcall") if is_app => match xcall_marker(attr) {
                Ok(same_app) => markers.xcall = Some(same_app),
                Err(error) => markers.error = Some(error),
            },
            _ => return true,
        }
        false
    });
    markers
}

/// A migration: `fn name() -> NewState` (or `-> (NewState, Witness)`) that reads the previous
/// version's state with `calimero_sdk::state::read_raw()` and returns the new one. It becomes an
/// export named like the function, which replaces the root state with the result and commits
/// (after the app's `#[app::migration_check]`, if it has one, accepts it). Name it in
/// `#[app::state(version = N, migration = name)]`.
#[proc_macro_attribute]
pub fn migrate(_attr: TokenStream, item: TokenStream) -> TokenStream {
    let item = parse_macro_input!(item as syn::ItemFn);
    migrate::migrate(item)
        .unwrap_or_else(|e| e.to_compile_error())
        .into()
}

/// A check of a migration's result: `fn check(old: OldState, new: NewState) -> bool`, with an
/// optional third parameter for the witness the migration returned. The migration producing
/// `NewState` runs it before committing; `false` refuses the migration and keeps the previous
/// state.
#[proc_macro_attribute]
pub fn migration_check(_attr: TokenStream, item: TokenStream) -> TokenStream {
    let item = parse_macro_input!(item as syn::ItemFn);
    migrate::migration_check(item)
        .unwrap_or_else(|e| e.to_compile_error())
        .into()
}

/// Writes the migration of the `#[app::state]` struct it is on from the previous version,
/// `#[migrate(from = OldState)]` (a `BorshDeserialize` struct with the old fields in order):
/// each field is carried from the old field of its name, or `#[migrate(new = expr)]`,
/// `#[migrate(from = old_name)]`, `#[migrate(with = function)]` (converted; with `from` when
/// renamed too). `#[migrate(method = name)]` names the export (default `migrate_vN_to_vM`) and
/// `#[migrate(emit = event)]` emits an event.
#[proc_macro_derive(Migrate, attributes(migrate))]
pub fn derive_migrate(item: TokenStream) -> TokenStream {
    let item = parse_macro_input!(item as syn::DeriveInput);
    migrate::derive(item)
        .unwrap_or_else(|e| e.to_compile_error())
        .into()
}

/// Exports the public methods of the app's state impl.
#[proc_macro_attribute]
pub fn logic(_attr: TokenStream, item: TokenStream) -> TokenStream {
    let item = parse_macro_input!(item as ItemImpl);
    logic_impl(item).into()
}

enum Receiver {
    None,
    Ref,
    Mut,
}

/// What `method` became: its generated function and its ABI entry.
struct Export {
    name: String,
    function: TokenStream2,
    abi: Value,
}

fn logic_impl(mut item: ItemImpl) -> TokenStream2 {
    if item.trait_.is_some() {
        return spanned_error(
            item.span(),
            "#[app::logic] goes on an inherent impl (`impl MyState { .. }`)",
        );
    }
    let self_ty = (*item.self_ty).clone();
    let self_name = match &self_ty {
        Type::Path(p) => p
            .path
            .segments
            .last()
            .map(|s| s.ident.to_string())
            .unwrap_or_default(),
        _ => return spanned_error(self_ty.span(), "#[app::logic] needs a named state type"),
    };
    let mut errors = TokenStream2::new();
    let mut exports = Vec::new();
    let mut has_init = false;
    for impl_item in &mut item.items {
        let ImplItem::Fn(method) = impl_item else {
            continue;
        };
        let mut markers = take_markers(&mut method.attrs);
        if let Some(error) = markers.error.take() {
            errors.extend(error.to_compile_error());
            continue;
        }
        if !matches!(method.vis, syn::Visibility::Public(_)) {
            if markers.init || markers.view || markers.xcall.is_some() {
                errors.extend(spanned_error(
                    method.sig.ident.span(),
                    "app methods must be `pub`",
                ));
            }
            continue;
        }
        has_init |= markers.init;
        match export_method(method, &markers, &self_ty, &self_name) {
            Ok(export) => exports.push(export),
            Err(e) => errors.extend(e.to_compile_error()),
        }
    }
    if !errors.is_empty() {
        return quote! { #item #errors };
    }

    // App methods are exports, not a collection API: a `len` export needs no `is_empty`.
    item.attrs
        .push(syn::parse_quote!(#[allow(clippy::len_without_is_empty)]));

    let mut functions = TokenStream2::new();
    let mut table = TokenStream2::new();
    let mut methods_abi = Vec::new();
    for export in &exports {
        functions.extend(export.function.clone());
        let name = &export.name;
        let rust_name = format_ident!("__calimero_method_{}", name);
        table.extend(quote! { (#name, <#self_ty>::#rust_name as fn()), });
        methods_abi.push(export.abi.clone());
    }
    if has_init {
        let wasm = quote! {
            #[cfg(target_arch = "wasm32")]
            #[unsafe(export_name = "__calimero_sync_next")]
            extern "C" fn __calimero_export___calimero_sync_next() {
                <#self_ty>::__calimero_method___calimero_sync_next()
            }
        };
        functions.extend(quote! {
            impl #self_ty {
                #[doc(hidden)]
                pub fn __calimero_method___calimero_sync_next() {
                    ::calimero_sdk::__private::begin();
                    ::calimero_sdk::__private::sync_next::<#self_ty>();
                }
            }
            #wasm
        });
        table.extend(quote! {
            ("__calimero_sync_next", <#self_ty>::__calimero_method___calimero_sync_next as fn()),
        });
    }
    methods_abi.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    let fragment = json!({ "methods": methods_abi }).to_string();
    let section = fragment_section(&fragment);

    quote! {
        #item
        #functions

        impl ::calimero_sdk::__private::AppMethods for #self_ty {
            const METHODS: &'static [(&'static str, fn())] = &[#table];

            fn abi() -> ::std::string::String {
                let mut fragments =
                    <#self_ty as ::calimero_sdk::__private::StateAbi>::fragments();
                fragments.push(#fragment);
                ::calimero_sdk::__private::merge_abi(&fragments)
            }

            fn migration() -> ::core::option::Option<(&'static str, fn())> {
                <#self_ty as ::calimero_sdk::__private::StateAbi>::migration()
            }
        }

        #section
    }
}

/// Stands for the app's `#[app::error]` type until fragments are merged.
fn calimero_app_error_marker() -> &'static str {
    "@app_error"
}

/// The owned type a borrowed parameter is decoded into.
fn owned_param_type(ty: &Type) -> syn::Result<(Type, bool)> {
    match ty {
        Type::Reference(r) => {
            if r.mutability.is_some() {
                return Err(syn::Error::new(
                    ty.span(),
                    "a parameter cannot be `&mut`: arguments are decoded from JSON; take the value by \
                     value instead",
                ));
            }
            let owned: Type = match &*r.elem {
                Type::Path(p) if p.path.is_ident("str") => syn::parse_quote!(::std::string::String),
                Type::Slice(s) => {
                    let elem = &s.elem;
                    syn::parse_quote!(::std::vec::Vec<#elem>)
                }
                other => other.clone(),
            };
            Ok((owned, true))
        }
        Type::ImplTrait(_)
        | Type::TraitObject(_)
        | Type::Ptr(_)
        | Type::BareFn(_)
        | Type::Never(_)
        | Type::Infer(_) => Err(syn::Error::new(
            ty.span(),
            "unsupported parameter type: arguments are decoded from JSON, so use a concrete type \
             that implements `serde::Deserialize` (String, integers, bool, Vec, Option, structs)",
        )),
        other => Ok((other.clone(), false)),
    }
}

fn export_method(
    method: &ImplItemFn,
    markers: &Markers,
    self_ty: &Type,
    self_name: &str,
) -> syn::Result<Export> {
    let sig = &method.sig;
    let name = sig.ident.to_string();
    if name.starts_with("__calimero") {
        return Err(syn::Error::new(
            sig.ident.span(),
            "the prefix `__calimero` is reserved",
        ));
    }
    if !sig.generics.params.is_empty() {
        return Err(syn::Error::new(
            sig.generics.span(),
            "app methods cannot be generic",
        ));
    }
    if let Some(asyncness) = sig.asyncness {
        return Err(syn::Error::new(
            asyncness.span(),
            "app methods cannot be `async`",
        ));
    }
    if markers.init && name != "init" {
        return Err(syn::Error::new(
            sig.ident.span(),
            format!(
                "the #[app::init] method is called `{name}`, but the node calls the export `init` \
                 when it creates a context; rename it to `init`"
            ),
        ));
    }

    let mut receiver = Receiver::None;
    let mut params = Vec::new();
    for input in &sig.inputs {
        match input {
            FnArg::Receiver(r) => {
                if r.reference.is_none() {
                    if !markers.destroy {
                        return Err(syn::Error::new(
                            r.span(),
                            format!(
                                "method `{name}` takes `self` by value; app methods take `&self` \
                                 (read-only) or `&mut self` (mutating)"
                            ),
                        ));
                    }
                    return Err(syn::Error::new(
                        r.span(),
                        "#[app::destroy] methods are not supported yet by this SDK",
                    ));
                }
                receiver = if r.mutability.is_some() {
                    Receiver::Mut
                } else {
                    Receiver::Ref
                };
            }
            FnArg::Typed(pat) => {
                let Pat::Ident(ident) = &*pat.pat else {
                    return Err(syn::Error::new(
                        pat.pat.span(),
                        "parameters must be plain names: they are the keys of the JSON arguments",
                    ));
                };
                params.push((ident.ident.clone(), (*pat.ty).clone()));
            }
        }
    }
    if markers.init && !matches!(receiver, Receiver::None) {
        return Err(syn::Error::new(
            sig.ident.span(),
            "#[app::init] must not take `self`: it builds the state",
        ));
    }
    if markers.view && matches!(receiver, Receiver::Mut) {
        return Err(syn::Error::new(
            sig.ident.span(),
            format!("method `{name}` is marked #[app::view] but takes `&mut self`; take `&self`"),
        ));
    }

    let method_ident = &sig.ident;
    let rust_name = format_ident!("__calimero_method_{}", name);
    let wasm_name = format_ident!("__calimero_export_{}", name);

    let mut fields = TokenStream2::new();
    let mut call_args = TokenStream2::new();
    let mut shape = Vec::new();
    let mut abi_params = Vec::new();
    for (ident, ty) in &params {
        let (owned, by_ref) = owned_param_type(ty)?;
        fields.extend(quote_spanned! {ty.span()=> #ident: #owned, });
        if by_ref {
            call_args.extend(quote! { &__args.#ident, });
        } else {
            call_args.extend(quote! { __args.#ident, });
        }
        shape.push(format!(
            "\"{ident}\": {}",
            quote!(#owned)
                .to_string()
                .replace(' ', "")
                .replace("::std::string::", "")
                .replace("::std::vec::", "")
        ));
        abi_params.push(abi::field(&ident.to_string(), ty, self_name));
    }
    let shape = format!("{{ {} }}", shape.join(", "));

    let parse = if params.is_empty() {
        quote! { ::calimero_sdk::__private::no_args(#name); }
    } else {
        quote! {
            #[derive(::calimero_sdk::serde::Deserialize)]
            #[serde(crate = "::calimero_sdk::serde", deny_unknown_fields)]
            struct __CalimeroArgs { #fields }
            let __args: __CalimeroArgs = ::calimero_sdk::__private::parse_args(#name, #shape);
        }
    };

    let returns = match &sig.output {
        ReturnType::Default => None,
        ReturnType::Type(_, ty) => Some((**ty).clone()),
    };

    let body = if markers.init {
        quote! {
            ::calimero_sdk::__private::ensure_uninitialized(#name);
            #parse
            let __state: #self_ty = <#self_ty>::#method_ident(#call_args);
            ::calimero_sdk::__private::init_state::<#self_ty>(#name, __state);
        }
    } else {
        let (state, receiver_arg, commit) = match receiver {
            Receiver::None => (quote! {}, quote! {}, quote! {}),
            Receiver::Ref => (
                quote! { let __state: #self_ty = ::calimero_sdk::__private::load_state::<#self_ty>(#name); },
                quote! { &__state, },
                quote! {},
            ),
            Receiver::Mut => (
                quote! { let mut __state: #self_ty = ::calimero_sdk::__private::load_state::<#self_ty>(#name); },
                quote! { &mut __state, },
                quote! { ::calimero_sdk::__private::save_and_commit::<#self_ty>(#name, &__state); },
            ),
        };
        let fallible = returns
            .as_ref()
            .is_some_and(|ty| abi::result_parts(ty).is_some());
        let output = if fallible {
            quote! { ::calimero_sdk::__private::return_result(#name, &__output); }
        } else {
            quote! { ::calimero_sdk::__private::return_value(#name, &__output); }
        };
        // An error leaves the state as it was: nothing is saved or committed (the node would
        // discard it anyway), as the TypeScript SDK does.
        let commit = if fallible && !commit.is_empty() {
            quote! { if __output.is_ok() { #commit } }
        } else {
            commit
        };
        quote! {
            #parse
            #state
            let __output = <#self_ty>::#method_ident(#receiver_arg #call_args);
            #output
            #commit
        }
    };

    // The runner is an associated function, so that several states with their logic can share
    // a module (a library of versions, as in tests); only the wasm export is module-level.
    let function = quote! {
        impl #self_ty {
            #[doc(hidden)]
            pub fn #rust_name() {
                ::calimero_sdk::__private::begin();
                #body
            }
        }

        #[cfg(target_arch = "wasm32")]
        #[unsafe(export_name = #name)]
        extern "C" fn #wasm_name() {
            <#self_ty>::#rust_name()
        }
    };

    let mut abi = json!({ "name": name, "params": abi_params });
    if let Some(same_app) = markers.xcall {
        abi["xcall_callable"] = json!(true);
        if same_app {
            abi["xcall_callers"] = json!("same_app");
        }
    }
    if markers.init {
        abi["intent"] = json!("mutating");
    } else {
        abi["intent"] = json!(match receiver {
            Receiver::Ref => "read_only",
            Receiver::Mut => "mutating",
            Receiver::None if markers.view => "read_only",
            Receiver::None => "unspecified",
        });
        if let Some(ty) = &returns {
            let (ok, err) = match abi::result_parts(ty) {
                Some((ok, err)) => (ok, err),
                None => (ty, None),
            };
            let reference = abi::type_ref(ok, self_name);
            if reference.json != json!({ "kind": "unit" }) {
                abi["returns"] = reference.json;
                if reference.nullable {
                    abi["returns_nullable"] = json!(true);
                }
            }
            match err {
                Some(err) => abi["errors"] = abi::full(err, self_name),
                // `app::Result<T>`: the app's `#[app::error]` type, resolved when merging.
                None if abi::result_parts(ty).is_some() => {
                    abi["errors"] = json!({ "$ref": calimero_app_error_marker() })
                }
                None => {}
            }
        }
    }
    Ok(Export {
        name,
        function,
        abi,
    })
}
