//! Migrations: `#[app::migrate]`, `#[app::migration_check]` and `#[derive(app::Migrate)]`.
//!
//! A migration is a free function returning the new state (or `(state, witness)`). It becomes an
//! export named like the function that reads nothing from the call, runs the function (which
//! reads the previous state with `calimero_sdk::state::read_raw`), replaces the root state with
//! the result, runs the app's `#[app::migration_check]` if it has one, and commits. A failing
//! check or a panic traps the call, so nothing of the migration is kept.

use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{format_ident, quote};
use syn::spanned::Spanned;
use syn::{
    Attribute, Data, DeriveInput, Expr, Fields, FnArg, Ident, ItemFn, Pat, ReturnType, Type,
};

fn error(span: Span, message: &str) -> syn::Error {
    syn::Error::new(span, message)
}

/// The state type a migration returns, and its witness type if it returns a pair.
fn migration_output(sig: &syn::Signature) -> syn::Result<(Type, Option<Type>)> {
    let ReturnType::Type(_, ty) = &sig.output else {
        return Err(error(
            sig.ident.span(),
            "a migration returns the new state (`-> MyState`), or the new state and a witness \
             for the migration check (`-> (MyState, Witness)`)",
        ));
    };
    match &**ty {
        Type::Tuple(tuple) if tuple.elems.len() == 2 => {
            Ok((tuple.elems[0].clone(), Some(tuple.elems[1].clone())))
        }
        other => Ok((other.clone(), None)),
    }
}

/// `#[app::migrate]` on `fn name() -> NewState` (or `-> (NewState, Witness)`).
pub fn migrate(item: ItemFn) -> syn::Result<TokenStream2> {
    let sig = &item.sig;
    if !sig.inputs.is_empty() {
        return Err(error(
            sig.inputs.span(),
            "a migration takes no parameters: read the previous state with \
             `calimero_sdk::state::read_raw()` and decode it as the old state type",
        ));
    }
    if !sig.generics.params.is_empty() {
        return Err(error(sig.generics.span(), "a migration cannot be generic"));
    }
    if let Some(asyncness) = sig.asyncness {
        return Err(error(asyncness.span(), "a migration cannot be `async`"));
    }
    let name = &sig.ident;
    let name_str = name.to_string();
    if name_str.starts_with("__calimero") {
        return Err(error(name.span(), "the prefix `__calimero` is reserved"));
    }
    let (state, witness) = migration_output(sig)?;
    let split = match &witness {
        Some(_) => quote! {
            let (__state, __witness) = #name();
            let __witness = ::calimero_sdk::__private::encode_witness(#name_str, &__witness);
        },
        None => quote! {
            let __state = #name();
            let __witness = ::core::option::Option::None;
        },
    };
    let rust_name = format_ident!("__calimero_method_{}", name);
    let wasm_name = format_ident!("__calimero_export_{}", name);
    Ok(quote! {
        #item

        #[doc(hidden)]
        pub fn #rust_name() {
            let __old = ::calimero_sdk::__private::migration_begin::<#state>(#name_str);
            #split
            ::calimero_sdk::__private::migration_finish::<#state>(
                #name_str,
                &__old,
                __state,
                __witness,
                |__old, __new, __witness| {
                    #[allow(unused_imports)]
                    use ::calimero_sdk::__private::{CheckDeclared as _, CheckMissing as _};
                    (&::calimero_sdk::__private::CheckProbe::<#state>::new())
                        .run_check(__old, __new, __witness)
                },
            );
        }

        #[cfg(target_arch = "wasm32")]
        #[unsafe(export_name = #name_str)]
        extern "C" fn #wasm_name() {
            #rust_name()
        }
    })
}

fn typed_param(arg: &FnArg, what: &str) -> syn::Result<(Ident, Type)> {
    let FnArg::Typed(typed) = arg else {
        return Err(error(
            arg.span(),
            "a migration check is a free function, not a method",
        ));
    };
    let Pat::Ident(pat) = &*typed.pat else {
        return Err(error(
            typed.pat.span(),
            &format!("the {what} parameter of a migration check must be a plain name"),
        ));
    };
    Ok((pat.ident.clone(), (*typed.ty).clone()))
}

/// `#[app::migration_check]` on `fn check(old: Old, new: New) -> bool` (or with a third
/// `witness: Witness` parameter): implements `calimero_sdk::state::MigrationCheck` for `New`,
/// which the migration returning `New` runs before committing.
pub fn migration_check(item: ItemFn) -> syn::Result<TokenStream2> {
    let sig = &item.sig;
    let inputs: Vec<&FnArg> = sig.inputs.iter().collect();
    if !(2..=3).contains(&inputs.len()) {
        return Err(error(
            sig.ident.span(),
            "a migration check takes the previous state and the new one, and optionally the \
             migration's witness: `fn check(old: OldState, new: NewState) -> bool`",
        ));
    }
    let returns_bool = matches!(&sig.output, ReturnType::Type(_, ty)
        if matches!(&**ty, Type::Path(p) if p.path.is_ident("bool")));
    if !returns_bool {
        return Err(error(
            sig.output.span(),
            "a migration check returns `bool`: `true` keeps the migrated state, `false` refuses \
             the migration and the context keeps its previous state",
        ));
    }
    if !sig.generics.params.is_empty() {
        return Err(error(
            sig.generics.span(),
            "a migration check cannot be generic",
        ));
    }
    let name = &sig.ident;
    let name_str = name.to_string();
    let (_, old_ty) = typed_param(inputs[0], "first")?;
    let (_, new_ty) = typed_param(inputs[1], "second")?;
    let (witness_decode, witness_arg) = match inputs.get(2) {
        Some(arg) => {
            let (_, witness_ty) = typed_param(arg, "third")?;
            (
                quote! {
                    let __witness: #witness_ty =
                        ::calimero_sdk::__private::decode_witness(#name_str, __witness);
                },
                quote! { , __witness },
            )
        }
        None => (quote! {}, quote! {}),
    };
    Ok(quote! {
        #item

        impl ::calimero_sdk::state::MigrationCheck for #new_ty {
            fn check_migration(
                __old: &[u8],
                __new: &[u8],
                __witness: ::core::option::Option<&[u8]>,
            ) -> bool {
                let __old: #old_ty =
                    ::calimero_sdk::__private::decode_for_check(#name_str, "previous", __old);
                let __new: #new_ty =
                    ::calimero_sdk::__private::decode_for_check(#name_str, "migrated", __new);
                #witness_decode
                #name(__old, __new #witness_arg)
            }
        }
    })
}

enum FieldSource {
    /// The old field of the same name.
    Carry,
    /// A new value: `#[migrate(new = expr)]`.
    New(Expr),
    /// The old field `from`, converted by `with` if given.
    From { field: Ident, with: Option<Expr> },
}

fn field_source(field: &syn::Field) -> syn::Result<FieldSource> {
    let name = field.ident.clone().expect("named field");
    let (mut new, mut from, mut with) = (None, None, None);
    for attr in field.attrs.iter().filter(|a| a.path().is_ident("migrate")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("new") {
                new = Some(meta.value()?.parse::<Expr>()?);
            } else if meta.path.is_ident("from") {
                from = Some(meta.value()?.parse::<Ident>().map_err(|_| {
                    meta.error("`#[migrate(from = old_field)]` names one field of the old state")
                })?);
            } else if meta.path.is_ident("with") {
                with = Some(meta.value()?.parse::<Expr>()?);
            } else {
                return Err(meta.error(
                    "unknown `#[migrate(..)]` option on a field; expected `new = expr` (a field \
                     the old state did not have), `from = old_field` (renamed) or \
                     `with = function` (converted)",
                ));
            }
            Ok(())
        })?;
    }
    match (new, from, with) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => Err(error(
            field.span(),
            "`#[migrate(new = ..)]` makes a field the old state did not have, so it cannot be \
             combined with `from` or `with`",
        )),
        (Some(expr), None, None) => Ok(FieldSource::New(expr)),
        (None, None, None) => Ok(FieldSource::Carry),
        (None, from, with) => Ok(FieldSource::From {
            field: from.unwrap_or(name),
            with,
        }),
    }
}

/// What `#[migrate(..)]` on the state struct says.
pub struct MigrateArgs {
    pub from: Option<Type>,
    pub method: Option<Ident>,
    pub emit: Option<Expr>,
    /// `state_version = N`: written by `#[app::state(version = N)]` for the derive, which runs
    /// after it and no longer sees its arguments.
    pub state_version: Option<u32>,
}

pub fn struct_args(attrs: &[Attribute]) -> syn::Result<MigrateArgs> {
    let mut args = MigrateArgs {
        from: None,
        method: None,
        emit: None,
        state_version: None,
    };
    for attr in attrs.iter().filter(|a| a.path().is_ident("migrate")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("from") {
                args.from = Some(meta.value()?.parse()?);
            } else if meta.path.is_ident("method") {
                args.method = Some(meta.value()?.parse()?);
            } else if meta.path.is_ident("emit") {
                args.emit = Some(meta.value()?.parse()?);
            } else if meta.path.is_ident("state_version") {
                let lit: syn::LitInt = meta.value()?.parse()?;
                args.state_version = Some(lit.base10_parse()?);
            } else {
                return Err(meta.error(
                    "unknown `#[migrate(..)]` option on the state; expected `from = OldState`, \
                     `method = name` or `emit = event`",
                ));
            }
            Ok(())
        })?;
    }
    Ok(args)
}

/// The migration's name when `#[migrate(method = ..)]` does not give one: `migrate_vN_to_vM`
/// for a state of version `M` > 1, else `migrate`.
pub fn default_method(version: Option<u32>, span: Span) -> Ident {
    match version {
        Some(to) if to > 1 => Ident::new(&format!("migrate_v{}_to_v{}", to - 1, to), span),
        _ => Ident::new("migrate", span),
    }
}

/// The `version = N` of an `#[app::state(..)]` attribute among `attrs`, if any.
fn state_version(attrs: &[Attribute]) -> Option<u32> {
    let attr = attrs.iter().find(|a| {
        let segments: Vec<String> = a
            .path()
            .segments
            .iter()
            .map(|s| s.ident.to_string())
            .collect();
        segments.ends_with(&["app".to_owned(), "state".to_owned()])
    })?;
    let mut version = None;
    let _ = attr.parse_nested_meta(|meta| {
        if meta.path.is_ident("version") {
            version = meta.value()?.parse::<syn::LitInt>()?.base10_parse().ok();
        } else if meta.input.peek(syn::Token![=]) {
            let value = meta.value()?;
            if value.peek(syn::Token![for]) {
                let _: syn::BoundLifetimes = value.parse()?;
            }
            let _: Type = value.parse()?;
        }
        Ok(())
    });
    version
}

/// `#[derive(app::Migrate)]`: writes the migration from `#[migrate(from = OldState)]`, field by
/// field (carried, renamed, converted or new).
pub fn derive(input: DeriveInput) -> syn::Result<TokenStream2> {
    let ident = &input.ident;
    if !input.generics.params.is_empty() {
        return Err(error(
            input.generics.span(),
            "#[derive(Migrate)] needs a state struct without generics",
        ));
    }
    let Data::Struct(data) = &input.data else {
        return Err(error(
            ident.span(),
            "#[derive(Migrate)] goes on the app's state struct",
        ));
    };
    let Fields::Named(fields) = &data.fields else {
        return Err(error(
            ident.span(),
            "#[derive(Migrate)] needs a struct with named fields",
        ));
    };
    let args = struct_args(&input.attrs)?;
    let Some(from) = args.from else {
        return Err(error(
            ident.span(),
            "#[derive(Migrate)] needs `#[migrate(from = OldState)]`: a struct deriving \
             `BorshDeserialize` with the previous version's fields, in their order",
        ));
    };
    let version = args.state_version.or_else(|| state_version(&input.attrs));
    let method = args
        .method
        .unwrap_or_else(|| default_method(version, ident.span()));
    let mut inits = Vec::new();
    for field in &fields.named {
        let name = field.ident.as_ref().expect("named field");
        inits.push(match field_source(field)? {
            FieldSource::Carry => quote! { #name: __old.#name },
            FieldSource::New(expr) => quote! { #name: #expr },
            FieldSource::From { field, with: None } => quote! { #name: __old.#field },
            FieldSource::From {
                field,
                with: Some(with),
            } => quote! { #name: (#with)(__old.#field) },
        });
    }
    let emit = args
        .emit
        .map(|event| quote! { ::calimero_sdk::app::emit!(#event); });
    let method_str = method.to_string();
    Ok(quote! {
        #[::calimero_sdk::app::migrate]
        pub fn #method() -> #ident {
            let __old: #from = ::calimero_sdk::__private::read_previous(#method_str);
            #emit
            #ident { #(#inits),* }
        }
    })
}
