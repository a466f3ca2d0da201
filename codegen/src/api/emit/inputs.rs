//! An operation's inputs: a struct per parameter location with the checks
//! that fill it, the request body's schema, and the steps the handler takes
//! to extract them.

use heck::{ToShoutySnakeCase, ToUpperCamelCase};
use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::{Output, raw_string};
use crate::api::{Location, Operation, Param};
use crate::types::{field_ident, field_name};

/// What the handler and the trait method need to know of the inputs.
pub(super) struct Inputs {
    /// The trait method's arguments after the principal.
    pub args: Vec<TokenStream>,
    /// The handler's statements extracting each input (collecting violations).
    pub extract: Vec<TokenStream>,
    /// The variables `extract` binds to an `Option` of each input.
    pub bound: Vec<syn::Ident>,
    /// The values passed to the trait method after the principal.
    pub call_args: Vec<TokenStream>,
    pub uses_body: bool,
    /// The WebSocket handshake, checked once the request is admissible.
    pub upgrade_step: Option<TokenStream>,
}

/// Writes the input structs and the body schema of `op` to `out`, and
/// returns how the handler extracts them.
pub(super) fn emit(rt: &TokenStream, op: &Operation, out: &mut Output) -> Inputs {
    let mut inputs = Inputs {
        args: Vec::new(),
        extract: Vec::new(),
        bound: Vec::new(),
        call_args: Vec::new(),
        uses_body: false,
        upgrade_step: None,
    };
    for location in [Location::Path, Location::Query, Location::Header] {
        let params: Vec<&Param> = op
            .params
            .iter()
            .filter(|p| p.location == location)
            .collect();
        if !params.is_empty() {
            parameters(rt, op, location, &params, out, &mut inputs);
        }
    }
    if let Some((ty, schema, required)) = &op.body {
        inputs.uses_body = true;
        let static_ident = format_ident!("{}_BODY", op.id.to_shouty_snake_case());
        let schema = raw_string(schema);
        let doc = format!(" JSON Schema of the `{}` request body.", op.id);
        out.items.push(quote! {
            #[doc = #doc]
            static #static_ident: #rt::Schema = #rt::Schema::new(#schema);
        });
        out.schema_checks.push(quote!(#static_ident.check()?;));
        let (arg_ty, reader) = if *required {
            (quote!(#ty), quote!(json_body))
        } else {
            (quote!(Option<#ty>), quote!(optional_json_body))
        };
        inputs.args.push(quote!(body: #arg_ty));
        inputs.extract.push(quote! {
            let body = match #rt::#reader::<#ty>(&parts, body, &#static_ident, &mut violations).await {
                Ok(body) => body,
                Err(problem) => return ctx.problem(problem),
            };
        });
        inputs.bound.push(format_ident!("body"));
        inputs.call_args.push(quote!(body));
    }

    // A WebSocket handshake is checked last, once the request is known to
    // be admissible; the trait method decides to accept it.
    if op.websocket {
        inputs.args.push(quote!(upgrade: #rt::WebSocketUpgrade));
        inputs.call_args.push(quote!(upgrade));
        inputs.upgrade_step = Some(quote! {
            let upgrade = match #rt::WebSocketUpgrade::from_parts(&mut parts).await {
                Ok(upgrade) => upgrade,
                Err(problem) => return ctx.problem(problem),
            };
        });
    }
    inputs
}

/// The struct of one location's parameters, with its `extract`.
fn parameters(
    rt: &TokenStream,
    op: &Operation,
    location: Location,
    params: &[&Param],
    out: &mut Output,
    inputs: &mut Inputs,
) {
    let prefix = op.id.to_upper_camel_case();
    let struct_ident = format_ident!("{}{}", prefix, location.suffix());
    let var = format_ident!("{}", location.suffix().to_ascii_lowercase());
    let mut fields = Vec::new();
    let mut reads = Vec::new();
    let mut builds = Vec::new();
    let mut statics = Vec::new();
    for param in params {
        let field = field_ident(&param.name);
        let ty = &param.ty;
        let inner = &param.inner;
        let docs = &param.docs;
        fields.push(quote! {
            #docs
            pub #field: #ty
        });
        let rule_ident = format_ident!("{}", field_name(&param.name).to_shouty_snake_case());
        let rule = &param.rule;
        statics.push(quote!(static #rule_ident: #rt::ParamRule = #rule;));
        for (pattern, init) in &param.patterns {
            out.items
                .push(quote!(static #pattern: #rt::Pattern = #init;));
            out.schema_checks.push(quote!(#pattern.check()?;));
        }
        if param.required {
            reads.push(
                quote!(let #field = #rt::required::<#inner>(source, &#rule_ident, violations);),
            );
            builds.push(quote!(#field: #field?));
        } else if let Some(default) = &param.default {
            reads.push(
                quote!(let #field = #rt::optional::<#inner>(source, &#rule_ident, violations);),
            );
            builds.push(quote!(#field: #field?.unwrap_or_else(|| #default)));
        } else {
            reads.push(
                quote!(let #field = #rt::optional::<#inner>(source, &#rule_ident, violations);),
            );
            builds.push(quote!(#field: #field?));
        }
    }
    let doc = format!(
        " {} parameters of `{}`.",
        match location {
            Location::Path => "Path",
            Location::Query => "Query",
            Location::Header => "Header",
        },
        op.id
    );
    out.items.push(quote! {
        #[doc = #doc]
        #[derive(Debug, Clone, PartialEq)]
        pub struct #struct_ident { #(#fields,)* }
        impl #struct_ident {
            /// Parses and checks every parameter, recording each violation;
            /// `None` when any is missing or invalid.
            pub fn extract(
                source: &impl #rt::ParamSource,
                violations: &mut Vec<#rt::Violation>,
            ) -> Option<Self> {
                #(#statics)*
                #(#reads)*
                Some(Self { #(#builds,)* })
            }
        }
    });
    inputs.args.push(quote!(#var: #struct_ident));
    let call = match location {
        Location::Path => {
            // Each parameter's segment, counted from the end of the route.
            let places = params.iter().filter_map(|p| {
                let name = &p.name;
                let segment = format!("{{{name}}}");
                let from_end = op.route.rsplit('/').position(|s| s == segment)?;
                let from_end = proc_macro2::Literal::usize_unsuffixed(from_end);
                Some(quote!((#name, #from_end)))
            });
            quote!(#struct_ident::extract(
                &#rt::PathSegments::new(parts.uri.path(), &[#(#places),*]),
                &mut violations,
            ))
        }
        Location::Query => {
            quote!(#struct_ident::extract(&#rt::query_source(&parts), &mut violations))
        }
        Location::Header => {
            quote!(#struct_ident::extract(&parts.headers, &mut violations))
        }
    };
    inputs.extract.push(quote!(let #var = #call;));
    inputs.bound.push(var.clone());
    inputs.call_args.push(quote!(#var));
}
