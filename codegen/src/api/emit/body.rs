//! An operation's request body: the schemas it is checked against, its
//! media types with how each is read, the enum of them when there are
//! several, and the handler's steps reading it.

use heck::ToShoutySnakeCase;
use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use serde_json::Value;

use super::extraction::Inputs;
use super::{Output, raw_string};
use crate::api::media::{Media, RequestBody};
use crate::api::{BodyKind, Operation};

/// Writes the statics and types of `op`'s request body to `out`, and adds
/// its argument and extraction to `inputs`.
pub(super) fn emit(rt: &TokenStream, op: &Operation, out: &mut Output, inputs: &mut Inputs) {
    let Some(body) = &op.body else {
        return;
    };
    inputs.uses_body = true;
    inputs.bound.push(format_ident!("body"));
    inputs.call_args.push(quote!(body));
    let static_prefix = op.name.to_shouty_snake_case();
    if let [json] = body.media.as_slice()
        && json.essence == "application/json"
        && let Some(schema) = &json.schema
    {
        let doc = format!(" JSON Schema of the `{}` request body.", op.id);
        let schema = schema_static(rt, &format!("{static_prefix}_BODY"), &doc, schema, out);
        json_only(rt, &json.ty, &schema, body.required, inputs);
        return;
    }

    let several = body.media.len() > 1;
    let mut entries = Vec::new();
    // Media types of one schema (JSON and a form of the same model) share
    // its static.
    let mut statics: Vec<(&Value, syn::Ident)> = Vec::new();
    for media in &body.media {
        let schema = media.schema.as_ref().map(|schema| {
            if let Some((_, ident)) = statics.iter().find(|(emitted, _)| *emitted == schema) {
                return ident.clone();
            }
            let (name, doc) = if several {
                let variant = media.variant.to_string().to_shouty_snake_case();
                (
                    format!("{static_prefix}_{variant}_BODY"),
                    format!(
                        " JSON Schema of the `{}` request body as `{}`.",
                        op.id, media.essence
                    ),
                )
            } else {
                (
                    format!("{static_prefix}_BODY"),
                    format!(" JSON Schema of the `{}` request body.", op.id),
                )
            };
            let ident = schema_static(rt, &name, &doc, schema, out);
            statics.push((schema, ident.clone()));
            ident
        });
        entries.push(body_media(rt, media, schema));
    }
    let media_ident = format_ident!("{static_prefix}_MEDIA");
    let doc = format!(
        " The media types of the `{}` request body, with how each is read and checked.",
        op.id
    );
    out.items.push(quote! {
        #[doc = #doc]
        static #media_ident: &[#rt::BodyMedia] = &[#(#entries),*];
    });

    let (ty, read) = match body.media.as_slice() {
        [single] => (single.ty.clone(), accessor(single)),
        alternatives => alternatives_enum(op, alternatives, out),
    };
    finish(rt, &ty, &read, &media_ident, body, inputs);
}

/// A body of one media type, `application/json` with a schema: read by the
/// runtime's JSON extractors.
fn json_only(
    rt: &TokenStream,
    ty: &TokenStream,
    schema: &syn::Ident,
    required: bool,
    inputs: &mut Inputs,
) {
    let (arg_ty, reader) = if required {
        (quote!(#ty), quote!(json_body))
    } else {
        (quote!(Option<#ty>), quote!(optional_json_body))
    };
    inputs.args.push(quote!(body: #arg_ty));
    inputs.extract.push(quote! {
        let body = match #rt::#reader::<#ty>(&parts, body, &#schema, &mut violations).await {
            Ok(body) => body,
            Err(problem) => return ctx.problem(problem),
        };
    });
}

/// The trait method's argument and the handler's steps for a body read by
/// `read_body`: `read` turns the `Received` body into `ty`.
fn finish(
    rt: &TokenStream,
    ty: &TokenStream,
    read: &TokenStream,
    media: &syn::Ident,
    body: &RequestBody,
    inputs: &mut Inputs,
) {
    let (arg_ty, typed) = if body.required {
        (
            quote!(#ty),
            quote!(body.required(&mut violations).and_then(|body| #read)),
        )
    } else {
        (
            quote!(Option<#ty>),
            quote! {
                body.optional().and_then(|body| match body {
                    Some(body) => Option::map(#read, Some),
                    None => Some(None),
                })
            },
        )
    };
    inputs.args.push(quote!(body: #arg_ty));
    inputs.extract.push(quote! {
        let body = match #rt::read_body(&parts, body, #media, &mut violations).await {
            Ok(body) => body,
            Err(problem) => return ctx.problem(problem),
        };
        let body = #typed;
    });
}

/// The enum of a body's media types, and the expression that picks its
/// variant by the media type the request matched.
fn alternatives_enum(
    op: &Operation,
    alternatives: &[Media],
    out: &mut Output,
) -> (TokenStream, TokenStream) {
    let ident = format_ident!("{}Body", op.type_prefix);
    let doc = format!(
        " The `{}` request body, by the media type it was sent as.",
        op.id
    );
    let variants = alternatives.iter().map(Media::variant_decl);
    out.items.push(quote! {
        #[doc = #doc]
        #[derive(Debug, Clone)]
        pub enum #ident { #(#variants,)* }
    });
    let last = alternatives.len().saturating_sub(1);
    let arms = alternatives.iter().enumerate().map(|(index, media)| {
        let variant = &media.variant;
        let read = accessor(media);
        // The last media type takes every other index, which `read_body`
        // never hands out: the match needs no arm that cannot happen.
        let pattern = if index == last {
            quote!(_)
        } else {
            let index = proc_macro2::Literal::usize_unsuffixed(index);
            quote!(#index)
        };
        quote!(#pattern => #read.map(#ident::#variant))
    });
    (quote!(#ident), quote!(match body.media() { #(#arms,)* }))
}

/// The runtime's `BodyMedia` of one media type.
fn body_media(rt: &TokenStream, media: &Media, schema: Option<syn::Ident>) -> TokenStream {
    let schema = match schema {
        Some(schema) => quote!(Some(&#schema)),
        None => quote!(None),
    };
    let fields = media.fields.iter().map(|field| field.tokens(rt));
    let decoding = match media.kind {
        BodyKind::Json => quote!(Json(#schema)),
        BodyKind::Text => quote!(Text(#schema)),
        BodyKind::Form => quote!(Form(#schema, &[#(#fields),*])),
        BodyKind::Multipart => quote!(Multipart(#schema, &[#(#fields),*])),
        // Bytes; reading refuses the other kinds for request bodies.
        _ => quote!(Bytes),
    };
    let essence = &media.essence;
    quote!(#rt::BodyMedia::new(#essence, #rt::Decoding::#decoding))
}

/// The `Received` accessor giving a media type's value as its Rust type.
fn accessor(media: &Media) -> TokenStream {
    let ty = &media.ty;
    let method = match (media.kind, media.range) {
        (BodyKind::Json, _) => quote!(json::<#ty>),
        (BodyKind::Form, _) if media.schema.is_some() => quote!(form::<#ty>),
        (BodyKind::Form, _) => quote!(form_pairs),
        (BodyKind::Text, false) => quote!(text),
        (BodyKind::Text, true) => quote!(text_content),
        (BodyKind::Multipart, _) => quote!(multipart),
        (_, false) => quote!(bytes),
        (_, true) => quote!(bytes_content),
    };
    quote!(body.#method(&mut violations))
}

/// A static JSON Schema, compiled at startup by `check_schemas`.
fn schema_static(
    rt: &TokenStream,
    name: &str,
    doc: &str,
    schema: &Value,
    out: &mut Output,
) -> syn::Ident {
    let ident = format_ident!("{name}");
    let schema = raw_string(schema);
    out.items.push(quote! {
        #[doc = #doc]
        static #ident: #rt::Schema = #rt::Schema::new(#schema);
    });
    out.schema_checks.push(quote!(#ident.check()?;));
    ident
}
