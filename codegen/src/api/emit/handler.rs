//! An operation's trait method and the axum handler that admits,
//! authenticates and validates a request before calling it.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::Output;
use super::extraction::Inputs;
use crate::api::{Operation, Security};
use crate::types::doc_attrs;

/// Writes the trait method and the handler of the operation at `index` in
/// the operation table to `out`.
pub(super) fn emit(
    rt: &TokenStream,
    index: usize,
    op: &Operation,
    inputs: Inputs,
    out: &mut Output,
) {
    let Inputs {
        args,
        extract,
        bound,
        call_args,
        uses_body,
        upgrade_step,
    } = inputs;
    let method_ident = crate::naming::ident(&op.name);
    let handler_ident = format_ident!("handle_{}", op.name);
    let response_ident = format_ident!("{}Response", op.type_prefix);
    let op_doc = doc_attrs(Some(&format!(
        "{}\n\n`{} {}` (`{}`){}",
        op.summary.as_deref().unwrap_or(&op.id),
        op.method,
        op.route,
        op.id,
        if op.deprecated { ", deprecated" } else { "" }
    )));
    let description = doc_attrs(op.description.as_deref());

    let (auth_arg, auth_step) = authentication(rt, &op.security);
    let auth_call = auth_arg.as_ref().map(|_| quote!(auth,));
    let signature = quote! {
        fn #method_ident(
            &self,
            ctx: &#rt::RequestContext,
            #auth_arg
            #(#args),*
        ) -> impl std::future::Future<Output = Result<#response_ident, #rt::Problem>> + Send
    };
    out.trait_methods.push(quote! {
        #op_doc
        #[doc = ""]
        #description
        #signature;
    });
    if out.mock {
        let answer = super::mock::answer(rt, op);
        out.mock_methods
            .push(quote!(#signature { async move { #answer } }));
    }
    let parts_binding = if op.websocket {
        quote!(mut parts)
    } else {
        quote!(parts)
    };
    let body_binding = if uses_body {
        quote!(body)
    } else {
        quote!(_body)
    };
    let validate = if bound.is_empty() {
        quote!()
    } else if bound.len() == 1 {
        let single = &bound[0];
        quote! {
            let mut violations = Vec::new();
            #(#extract)*
            let Some(#single) = #single else {
                return ctx.problem(#rt::Problem::validation(violations));
            };
        }
    } else {
        let pattern = bound.iter().map(|b| quote!(Some(#b)));
        let values = bound.iter();
        quote! {
            let mut violations = Vec::new();
            #(#extract)*
            let (#(#pattern,)*) = (#(#values,)*) else {
                return ctx.problem(#rt::Problem::validation(violations));
            };
        }
    };
    let index_lit = proc_macro2::Literal::usize_unsuffixed(index);
    let handler_doc = format!(" Serves `{} {}` (`{}`).", op.method, op.route, op.id);
    out.handlers.push(quote! {
        #[doc = #handler_doc]
        async fn #handler_ident<A: Api>(
            axum::extract::State(api): axum::extract::State<A>,
            request: axum::extract::Request,
        ) -> axum::response::Response {
            let (#parts_binding, #body_binding) = request.into_parts();
            let ctx = #rt::RequestContext::new(&OPERATIONS[#index_lit], &parts);
            if let Err(problem) = api.admit_request(&ctx, &parts).await {
                return ctx.problem(problem);
            }
            #auth_step
            #validate
            #upgrade_step
            match api.#method_ident(&ctx, #auth_call #(#call_args),*).await {
                Ok(response) => ctx.finish(axum::response::IntoResponse::into_response(response)),
                Err(problem) => ctx.problem(problem),
            }
        }
    });
}

/// The principal argument of the trait method and the handler's step that
/// produces it, by whether the operation's security is required, optional
/// or absent.
fn authentication(
    rt: &TokenStream,
    security: &Security,
) -> (Option<TokenStream>, Option<TokenStream>) {
    match security {
        Security::Public => (None, None),
        Security::Required => (
            Some(quote!(auth: Self::Principal,)),
            Some(quote! {
                let auth = match #rt::require_auth(&api, &ctx, &parts.headers).await {
                    Ok(principal) => principal,
                    Err(problem) => return ctx.problem(problem),
                };
                if let Err(problem) = api.admit_principal(&ctx, &auth).await {
                    return ctx.problem(problem);
                }
            }),
        ),
        Security::Optional => (
            Some(quote!(auth: Option<Self::Principal>,)),
            Some(quote! {
                let auth = match #rt::optional_auth(&api, &ctx, &parts.headers).await {
                    Ok(principal) => principal,
                    Err(problem) => return ctx.problem(problem),
                };
                if let Some(principal) = auth.as_ref()
                    && let Err(problem) = api.admit_principal(&ctx, principal).await
                {
                    return ctx.problem(problem);
                }
            }),
        ),
    }
}
