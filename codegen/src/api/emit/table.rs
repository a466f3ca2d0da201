//! An operation's entry in the operation table (`OPERATIONS`, what
//! middleware reads) and in the router.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::Output;
use crate::api::Operation;

/// Writes the `OperationInfo` of `op` and its route to `out`.
pub(super) fn emit(rt: &TokenStream, op: &Operation, out: &mut Output) {
    let id = &op.id;
    let method = &op.method;
    let route = &op.route;
    let summary = op.summary.clone().unwrap_or_default();
    let deprecated = op.deprecated;
    let tags = &op.tags;
    let alternatives = op
        .security_alternatives
        .iter()
        .map(|alt| quote!(&[#(#alt),*]));
    let extensions = op.extensions.iter().map(|(k, v)| quote!((#k, #v)));
    let rate_limit = &op.rate_limit;
    let mut produces: Vec<&str> = Vec::new();
    for media in op.responses.iter().flat_map(|variant| &variant.media) {
        if !produces.contains(&media.essence.as_str()) {
            produces.push(&media.essence);
        }
    }
    out.infos.push(quote! {
        #rt::OperationInfo {
            operation_id: #id,
            method: #method,
            route: #route,
            summary: #summary,
            tags: &[#(#tags),*],
            deprecated: #deprecated,
            security: &[#(#alternatives),*],
            schemes: SECURITY_SCHEMES,
            rate_limit: #rate_limit,
            produces: &[#(#produces),*],
            extensions: &[#(#extensions),*],
        }
    });

    let handler_ident = format_ident!("handle_{}", op.name);
    let method_fn = format_ident!("{}", op.method.to_ascii_lowercase());
    let route_entry = quote!(#method_fn(#handler_ident::<A>));
    match out.routes.iter_mut().find(|(r, _)| r == &op.route) {
        Some((_, list)) => list.push(route_entry),
        None => out.routes.push((op.route.clone(), vec![route_entry])),
    }
}
