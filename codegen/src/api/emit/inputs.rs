//! An operation's inputs: a struct per parameter location with the checks
//! that fill it, the request body's schema, and the steps the handler takes
//! to extract them.

use heck::ToShoutySnakeCase;
use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::extraction::Inputs;
use super::{Output, raw_string};
use crate::api::param::Compiled;
use crate::api::{Location, Operation, Param};
use crate::types::{field_ident, field_name};

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
    super::body::emit(rt, op, out, &mut inputs);

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
    let prefix = &op.type_prefix;
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
        let (rule_type, rule) = (&param.rule_type, &param.rule);
        statics.push(quote!(static #rule_ident: #rule_type = #rule;));
        for (ident, compiled) in &param.compiled {
            out.items.push(match compiled {
                Compiled::Pattern(source) => {
                    quote!(static #ident: #rt::Pattern = #rt::Pattern::new(#source);)
                }
                Compiled::Schema(schema) => {
                    let doc = format!(
                        " JSON Schema of the `{}` parameter of `{}`.",
                        param.name, op.id
                    );
                    let schema = raw_string(schema);
                    quote! {
                        #[doc = #doc]
                        static #ident: #rt::Schema = #rt::Schema::new(#schema);
                    }
                }
            });
            out.schema_checks.push(quote!(#ident.check()?;));
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
