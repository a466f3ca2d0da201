//! Writing the collected operations out as Rust: per operation its input
//! structs (`inputs`), its response enum (`responses`), its trait method and
//! handler (`handler`) and its entry in the operation table and the router
//! (`table`); then the file that holds them all.

mod body;
mod extraction;
mod handler;
mod inputs;
mod mock;
mod responses;
mod table;

use heck::ToShoutySnakeCase;
use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use serde_json::Value;

use super::ApiGen;

/// What the operations contribute to the generated file, each list in the
/// order it is written.
#[derive(Default)]
struct Output {
    /// Statics, input structs and response enums.
    items: Vec<TokenStream>,
    trait_methods: Vec<TokenStream>,
    /// Whether the file holds `Mock` (`Settings::with_mock`).
    mock: bool,
    /// The same methods as `Mock` implements them.
    mock_methods: Vec<TokenStream>,
    handlers: Vec<TokenStream>,
    /// The `OperationInfo` entries.
    infos: Vec<TokenStream>,
    /// A `check()` call on every schema and pattern.
    schema_checks: Vec<TokenStream>,
    /// Each route with its method routers, in the order routes first appear.
    routes: Vec<(String, Vec<TokenStream>)>,
}

impl ApiGen<'_> {
    /// The file's items; with `mock`, also `Mock<A>` (`Settings::with_mock`).
    pub fn emit(&self, mock: bool) -> TokenStream {
        let rt = &self.runtime;
        let mut out = Output {
            mock,
            ..Output::default()
        };

        for (name, schema) in &self.validated_components {
            let static_ident = format_ident!("{}_SCHEMA", name.to_shouty_snake_case());
            let doc = format!(" JSON Schema of `{name}` documents (`x-charter-validate`).");
            let schema = raw_string(schema);
            out.items.push(quote! {
                #[doc = #doc]
                pub static #static_ident: #rt::Schema = #rt::Schema::new(#schema);
            });
            out.schema_checks.push(quote!(#static_ident.check()?;));
        }

        for (index, op) in self.operations.iter().enumerate() {
            let inputs = inputs::emit(rt, op, &mut out);
            responses::emit(rt, op, &mut out);
            handler::emit(rt, index, op, inputs, &mut out);
            table::emit(rt, op, &mut out);
        }

        let Output {
            items,
            trait_methods,
            mock: _,
            mock_methods,
            handlers,
            infos,
            schema_checks,
            routes,
        } = out;
        let route_calls = routes.iter().map(|(route, methods)| {
            let mut chain = methods.iter();
            let first = chain.next();
            let rest = chain.map(|m| quote!(.#m));
            quote!(.route(#route, axum::routing::#first #(#rest)*))
        });
        let mock = if mock {
            mock_items(rt, &mock_methods)
        } else {
            quote!()
        };
        let schemes = &self.schemes;
        let (constant_layer, constant_fn) = self.constant_header_layer();
        let constants = self
            .constant_headers
            .iter()
            .map(|(name, value)| quote!((#name, #value)));

        quote! {
            /// Every operation of this version, in spec order.
            pub static OPERATIONS: &[#rt::OperationInfo] = &[#(#infos),*];

            /// The security schemes this version declares.
            pub static SECURITY_SCHEMES: &[#rt::SecurityScheme] = &[#(#schemes),*];

            /// Headers sent with a fixed value on every response of this version.
            pub static CONSTANT_HEADERS: &[(&str, &str)] = &[#(#constants),*];

            #(#items)*

            /// The operations of this version. The router has already authenticated
            /// and validated a request when one of these methods is called.
            pub trait Api: #rt::Authenticator {
                #(#trait_methods)*
            }

            /// Routes every operation of this version to `api`.
            pub fn router<A: Api>(api: A) -> axum::Router {
                axum::Router::new()
                    #(#route_calls)*
                    #constant_layer
                    .with_state(api)
            }

            /// Compiles every request schema and parameter pattern, so one the
            /// validator rejects fails at startup rather than on a request.
            pub fn check_schemas() -> Result<(), String> {
                #(#schema_checks)*
                Ok(())
            }

            #constant_fn

            #(#handlers)*

            #mock
        }
    }

    /// The router layer and the function adding the headers the spec gives
    /// a fixed value (`x-charter-value`); nothing when there are none.
    fn constant_header_layer(&self) -> (TokenStream, TokenStream) {
        if self.constant_headers.is_empty() {
            return (quote!(), quote!());
        }
        let sets = self.constant_headers.iter().map(|(name, value)| {
            quote! {
                response.headers_mut().insert(
                    const { axum::http::HeaderName::from_static(#name) },
                    const { axum::http::HeaderValue::from_static(#value) },
                );
            }
        });
        (
            quote!(.layer(axum::middleware::map_response(version_headers))),
            quote! {
                /// Adds the headers the spec gives a fixed value (`x-charter-value`) to every response.
                async fn version_headers(mut response: axum::response::Response) -> axum::response::Response {
                    #(#sets)*
                    response
                }
            },
        )
    }
}

/// `Mock<A>`: the `Api` trait implemented by `methods`, authentication
/// left to `A`.
fn mock_items(rt: &TokenStream, methods: &[TokenStream]) -> TokenStream {
    quote! {
        /// Answers every operation from the spec alone: its first documented
        /// success with a body made up from the schema (required headers
        /// empty), or, when it documents none, its first documented error as
        /// a problem. `A` authenticates; requests are validated as by any
        /// implementation.
        #[derive(Clone)]
        pub struct Mock<A>(pub A);

        impl<A: #rt::Authenticator> #rt::Authenticator for Mock<A> {
            type Principal = A::Principal;

            fn admit_request(
                &self,
                ctx: &#rt::RequestContext,
                parts: &axum::http::request::Parts,
            ) -> impl std::future::Future<Output = Result<(), #rt::Problem>> + Send {
                self.0.admit_request(ctx, parts)
            }

            fn admit_principal(
                &self,
                ctx: &#rt::RequestContext,
                principal: &Self::Principal,
            ) -> impl std::future::Future<Output = Result<(), #rt::Problem>> + Send {
                self.0.admit_principal(ctx, principal)
            }

            fn authenticate(
                &self,
                ctx: &#rt::RequestContext,
                credential: #rt::Credential<'_>,
            ) -> impl std::future::Future<Output = Result<Self::Principal, #rt::Problem>> + Send {
                self.0.authenticate(ctx, credential)
            }
        }

        #[allow(unused_variables)]
        impl<A: #rt::Authenticator> Api for Mock<A> {
            #(#methods)*
        }
    }
}

/// A raw string literal holding compact JSON, readable in the generated code.
fn raw_string(value: &Value) -> proc_macro2::Literal {
    let text = value.to_string();
    let mut hashes = String::from("#");
    while text.contains(&format!("\"{hashes}")) {
        hashes.push('#');
    }
    format!("r{hashes}\"{text}\"{hashes}")
        .parse()
        .unwrap_or_else(|_| proc_macro2::Literal::string(&text))
}
