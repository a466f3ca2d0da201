//! The mock's answer to an operation (`Settings::with_mock`): its first
//! documented success, the body made up from the schema at generation time.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::raw_string;
use super::responses::header_field;
use crate::api::media::Media;
use crate::api::{BodyKind, Operation, ResponseVariant};

/// The body of the mock's method for `op`: a `Result` of its response enum.
pub(super) fn answer(rt: &TokenStream, op: &Operation) -> TokenStream {
    let chosen = op
        .responses
        .iter()
        .find(|v| (200..300).contains(&v.status))
        .or_else(|| op.responses.first());
    let Some(variant) = chosen else {
        // Only problems are documented: answer the first.
        let status = op.error_statuses.first().copied().unwrap_or(501);
        let status = proc_macro2::Literal::u16_unsuffixed(status);
        return quote!(Err(#rt::mock_problem(#status)));
    };
    let response = format_ident!("{}Response", op.type_prefix);
    let name = &variant.name;
    let Some(body) = body(rt, variant) else {
        return quote!(Err(#rt::mock_problem(501)));
    };
    let mut fields = Vec::new();
    if let Some(value) = body {
        fields.push(quote!(body: #value));
    }
    for (header, required) in &variant.headers {
        let field = format_ident!("{}", header_field(header));
        if *required {
            fields.push(quote!(#field: String::new()));
        } else {
            fields.push(quote!(#field: None));
        }
    }
    if fields.is_empty() {
        quote!(Ok(#response::#name))
    } else {
        quote!(Ok(#response::#name { #(#fields),* }))
    }
}

/// The expression of `variant`'s body (`Some(None)` without one); `None`
/// for what cannot be made up (a stream, a WebSocket handshake).
fn body(rt: &TokenStream, variant: &ResponseVariant) -> Option<Option<TokenStream>> {
    if variant.body.is_none() {
        return Some(None);
    }
    match (variant.body_kind, variant.media.as_slice()) {
        (BodyKind::OneOf, [first, rest @ ..]) => {
            // The media type the request's `Accept` prefers; the first
            // when it accepts none.
            let alternatives = variant.body.as_ref()?;
            let value_in = |media: &Media| -> Option<TokenStream> {
                let which = &media.variant;
                let value = value(rt, media)?;
                Some(quote!(#alternatives::#which(#value)))
            };
            let otherwise = value_in(first)?;
            let arms = rest.iter().filter_map(|media| {
                let essence = media.essence.as_str();
                value_in(media).map(|value| quote!(Some(#essence) => #value,))
            });
            Some(Some(quote! {
                match ctx.preferred(#alternatives::MEDIA_TYPES) {
                    #(#arms)*
                    _ => #otherwise,
                }
            }))
        }
        (_, [only]) => value(rt, only).map(Some),
        _ => None,
    }
}

/// A value of one media type's body.
fn value(rt: &TokenStream, media: &Media) -> Option<TokenStream> {
    let raw = match media.kind {
        BodyKind::Json => {
            let ty = &media.ty;
            let sample = raw_string(&media.sample);
            return Some(quote!(#rt::mock_body::<#ty>(#sample)?));
        }
        BodyKind::Text => {
            let text = media.sample.as_str().unwrap_or_default();
            quote!(String::from(#text))
        }
        BodyKind::Bytes => quote!(#rt::Bytes::new()),
        _ => return None,
    };
    if !media.range {
        return Some(raw);
    }
    // A range names no type to answer with: the most general within it.
    let content_type = match media.essence.as_str() {
        "text/*" => "text/plain",
        _ => "application/octet-stream",
    };
    Some(quote!(#rt::Content::new(#content_type, #raw)))
}
