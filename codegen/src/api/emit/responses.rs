//! An operation's response enum: a variant per success status, with its
//! body and headers, and how each becomes an HTTP response.

use heck::ToShoutySnakeCase;
use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::Output;
use crate::api::media::Media;
use crate::api::{BodyKind, Operation, status_name};

/// Writes the response enum of `op` and its `IntoResponse` to `out`.
pub(super) fn emit(rt: &TokenStream, op: &Operation, out: &mut Output) {
    let response_ident = format_ident!("{}Response", op.type_prefix);
    let mut variants = Vec::new();
    let mut arms = Vec::new();
    for variant in &op.responses {
        let name = &variant.name;
        let docs = &variant.docs;
        let mut fields = Vec::new();
        let mut bindings = Vec::new();
        let mut header_sets = Vec::new();
        if let Some(body) = &variant.body {
            fields.push(quote!(body: #body));
            bindings.push(quote!(body));
        }
        for (header, required) in &variant.headers {
            let field = format_ident!("{}", header_field(header));

            let lower = header.to_ascii_lowercase();
            if *required {
                fields.push(quote!(#field: String));
                header_sets.push(quote!(#rt::set_header(&mut response, const { axum::http::HeaderName::from_static(#lower) }, #field);));
            } else {
                fields.push(quote!(#field: Option<String>));
                header_sets.push(quote! {
                    if let Some(value) = #field {
                        #rt::set_header(&mut response, const { axum::http::HeaderName::from_static(#lower) }, value);
                    }
                });
            }
            bindings.push(quote!(#field));
        }
        let status_tokens = status_tokens(variant.status);
        let make = match (&variant.body, variant.body_kind, variant.media.as_slice()) {
            (Some(_), BodyKind::WebSocket, _) => {
                quote!(axum::response::IntoResponse::into_response(body))
            }
            (Some(alternatives), BodyKind::OneOf, media) => {
                out.items.push(alternatives_enum(
                    rt,
                    op,
                    variant.status,
                    alternatives,
                    media,
                ));
                quote!(body.respond(#status_tokens))
            }
            (Some(_), _, [media]) => respond(rt, media, &status_tokens),
            _ => quote!(#rt::empty_response(#status_tokens)),
        };
        if fields.is_empty() {
            variants.push(quote!(#docs #name));
            arms.push(quote!(Self::#name => #make));
        } else if header_sets.is_empty() {
            variants.push(quote!(#docs #name { #(#fields),* }));
            arms.push(quote!(Self::#name { #(#bindings),* } => #make));
        } else {
            variants.push(quote!(#docs #name { #(#fields),* }));
            arms.push(quote! {
                Self::#name { #(#bindings),* } => {
                    let mut response = #make;
                    #(#header_sets)*
                    response
                }
            });
        }
    }
    let response_doc = format!(" The responses of `{}` other than problems.", op.id);
    // A stream of events or a handshake can be consumed once: no Clone.
    let derives = if op
        .responses
        .iter()
        .any(|v| matches!(v.body_kind, BodyKind::EventStream | BodyKind::WebSocket))
    {
        quote!(#[derive(Debug)])
    } else {
        quote!(#[derive(Debug, Clone)])
    };
    out.items.push(quote! {
        #[doc = #response_doc]
        #derives
        pub enum #response_ident { #(#variants,)* }
        impl axum::response::IntoResponse for #response_ident {
            fn into_response(self) -> axum::response::Response {
                match self { #(#arms,)* }
            }
        }
    });
}

/// The enum of a response's media types, each variant written as its own
/// media type; the operation picks one.
fn alternatives_enum(
    rt: &TokenStream,
    op: &Operation,
    status: u16,
    ident: &TokenStream,
    alternatives: &[Media],
) -> TokenStream {
    let doc = format!(
        " A `{status}` body of `{}`, in one of its media types.",
        op.id
    );
    let variants = alternatives.iter().map(Media::variant_decl);
    let arms = alternatives.iter().map(|media| {
        let variant = &media.variant;
        let make = respond(rt, media, &quote!(status));
        quote!(Self::#variant(body) => #make)
    });
    let media_types = alternatives.iter().map(|media| media.essence.as_str());
    quote! {
        #[doc = #doc]
        #[derive(Debug, Clone)]
        pub enum #ident { #(#variants,)* }
        impl #ident {
            /// Its media types in the spec's order: which one the request's
            /// `Accept` prefers is `ctx.preferred(Self::MEDIA_TYPES)`.
            pub const MEDIA_TYPES: &'static [&'static str] = &[#(#media_types),*];

            /// The response of `status` with this body, of its media type.
            fn respond(self, status: axum::http::StatusCode) -> axum::response::Response {
                match self { #(#arms,)* }
            }
        }
    }
}

/// The response of `status` with `body`, a value of one media type.
fn respond(rt: &TokenStream, media: &Media, status: &TokenStream) -> TokenStream {
    let essence = media.essence.as_str();
    match (media.kind, media.range) {
        (BodyKind::Json, _) if essence == "application/json" => {
            quote!(#rt::json_response(#status, &body))
        }
        (BodyKind::Json, _) => quote! {
            #rt::json_response_as(#status, const { axum::http::HeaderValue::from_static(#essence) }, &body)
        },
        (BodyKind::EventStream, _) => quote!(#rt::event_stream_response(#status, body)),
        (_, true) => quote!(#rt::content_response(#status, #essence, body)),
        (kind, false) => {
            // Text is written as UTF-8, which its type says.
            let content_type = if kind == BodyKind::Text && essence.starts_with("text/") {
                format!("{essence}; charset=utf-8")
            } else {
                essence.to_owned()
            };
            quote! {
                #rt::raw_response(#status, const { axum::http::HeaderValue::from_static(#content_type) }, body)
            }
        }
    }
}

/// The Rust field name for a response header (`ETag` -> `etag`); header
/// names are checked to be HTTP tokens first.
pub(super) fn header_field(header: &str) -> String {
    let field: String = header
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if field.starts_with(|c: char| c.is_ascii_digit()) {
        format!("h_{field}")
    } else {
        field
    }
}

/// The `http::StatusCode` constant for a status, when it has a well-known name.
fn status_tokens(status: u16) -> TokenStream {
    let name = status_name(status);
    if name.starts_with("Status") {
        quote!(axum::http::StatusCode::from_u16(#status).unwrap_or(axum::http::StatusCode::OK))
    } else {
        let constant = format_ident!("{}", name.to_shouty_snake_case());
        quote!(axum::http::StatusCode::#constant)
    }
}
