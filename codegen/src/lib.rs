//! `charter-codegen` turns an OpenAPI 3.0 document into the server side of one
//! API version: models, request-input structs, a response enum per operation,
//! an `Api` trait with one async method per `operationId`, an axum router that
//! authenticates, extracts and validates requests before calling the trait, and
//! an operation table for middleware.
//!
//! The generated code refers to a small runtime (problem documents, extraction,
//! authentication hooks; the `charter-runtime` crate) at a path chosen by
//! [`Settings::runtime`]. A spec the
//! generator cannot honour is an [`Error`] naming the JSON path of the node at
//! fault; what it can honour only in part (a callback, an optional cookie
//! parameter, an OAuth2 scheme checked as a bearer token, an operation
//! without `operationId`) is a [`Warning`] located the same way
//! ([`generate_with_warnings`]). The generator never panics on input.
//!
//! Schema, property and operation names become Rust names by one rule, the
//! client generator's (typify's); see the crate's README.

mod api;
pub mod compat;
mod error;
mod json_schema;
mod naming;
mod sample;
mod spec;
mod types;

use std::collections::BTreeMap;

use proc_macro2::TokenStream;
use quote::quote;
use serde_json::Value;

pub use error::{Error, Warning};
pub use sample::sample as sample_value;

/// How the generated code is wired into its host crate.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Path of the runtime the generated code calls (e.g. `::charter_runtime`).
    pub runtime: String,
    /// Schemas mapped to existing Rust types instead of generated ones
    /// (e.g. `Problem` -> `::charter_runtime::Problem`).
    pub replacements: BTreeMap<String, String>,
    /// Named in the generated file's header comment.
    pub source_name: String,
    /// Also generate `Mock<A>`, an implementation of the trait answering
    /// from the spec alone (see [`Settings::with_mock`]).
    pub mock: bool,
}

impl Settings {
    pub fn new(runtime: &str, source_name: &str) -> Self {
        Settings {
            runtime: runtime.to_owned(),
            replacements: BTreeMap::new(),
            source_name: source_name.to_owned(),
            mock: false,
        }
    }

    /// Also generates `Mock<A>`: an implementation of the `Api` trait that
    /// answers every operation with its first documented success (the
    /// lowest 2xx, else its first 1xx or 3xx), the body made up from the
    /// response's schema ([`sample_value`]), required headers empty; an
    /// operation that documents none answers its first documented error as
    /// a problem, and a stream or WebSocket 501. `A` authenticates. For
    /// consumers' tests before a server exists, and for checking a
    /// generated router end to end.
    pub fn with_mock(mut self) -> Self {
        self.mock = true;
        self
    }

    pub fn replace(mut self, schema: &str, rust_path: &str) -> Self {
        self.replacements
            .insert(schema.to_owned(), rust_path.to_owned());
        self
    }
}

/// Parses a YAML or JSON OpenAPI document and checks its structure.
pub fn load(source: &str) -> Result<Value, Error> {
    let value: Value = serde_yaml::from_str(source).map_err(|e| {
        let at = e
            .location()
            .map(|l| format!("line {}, column {}", l.line(), l.column()))
            .unwrap_or_else(|| "$".to_owned());
        Error::at(at, format!("not a YAML/JSON document: {e}"))
    })?;
    match value.get("openapi").and_then(Value::as_str) {
        Some(version) if version.starts_with("3.0.") => {}
        Some(version) => {
            return Err(Error::at(
                "$.openapi",
                format!("OpenAPI {version} is not supported; write 3.0.x"),
            ));
        }
        None => return Err(Error::at("$.openapi", "missing `openapi: 3.0.x`")),
    }
    // The typed model catches structural mistakes (a misspelt field type, a
    // response without description) with the path where they occur.
    let checked: Result<openapiv3::OpenAPI, _> = serde_path_to_error::deserialize(&value);
    if let Err(e) = checked {
        let path = e.path().to_string();
        let path = if path == "." {
            "$".to_owned()
        } else {
            format!("$.{path}")
        };
        return Err(Error::at(path, e.inner().to_string()));
    }
    Ok(value)
}

/// The JSON Schema of the OpenAPI 3.0 schema at `pointer` (a JSON pointer,
/// `$ref`s resolved in `document`), as the generated router checks request
/// bodies with: for tools checking a body against the spec. Recursive
/// schemas are an error.
pub fn json_schema_at(document: &Value, pointer: &str) -> Result<Value, Error> {
    let spec = spec::Spec { root: document };
    let node = document
        .pointer(pointer)
        .ok_or_else(|| Error::at("$", format!("no schema at `{pointer}`")))?;
    json_schema::convert(&spec, &spec::At::new(node, spec::OwnedPath::root()))
}

/// The spec as pretty JSON, for serving to API portals.
pub fn to_json(source: &str) -> Result<String, Error> {
    let value = load(source)?;
    serde_json::to_string_pretty(&value).map_err(|e| Error::at("$", e.to_string()))
}

/// Generates the formatted Rust source of one API version, without its
/// warnings: see [`generate_with_warnings`] for a build that reports them.
pub fn generate(source: &str, settings: &Settings) -> Result<String, Error> {
    generate_with_warnings(source, settings).map(|(code, _)| code)
}

/// Generates the formatted Rust source of one API version, with what of the
/// spec the generated server skips or honours only in part. A spec whose root
/// says `x-charter-strict: true` has no warnings: the first is an error.
pub fn generate_with_warnings(
    source: &str,
    settings: &Settings,
) -> Result<(String, Vec<Warning>), Error> {
    let root = load(source)?;
    let strict = match root.get("x-charter-strict") {
        None => false,
        Some(Value::Bool(strict)) => *strict,
        Some(_) => return Err(Error::at("$.x-charter-strict", "expected true or false")),
    };
    let (tokens, warnings) = generate_tokens(&root, settings)?;
    if let Some(first) = warnings.first().filter(|_| strict) {
        return Err(Error::at(
            first.path.clone(),
            format!("{} (an error with x-charter-strict)", first.message),
        ));
    }
    let file: syn::File = syn::parse2(tokens)
        .map_err(|e| Error::at("$", format!("generated code does not parse: {e}")))?;
    let title = root
        .pointer("/info/title")
        .and_then(Value::as_str)
        .unwrap_or("API");
    let version = root
        .pointer("/info/version")
        .and_then(Value::as_str)
        .unwrap_or("");
    let header = format!(
        "// {title} {version}: models, the `Api` trait and its router.\n\
         // Generated by charter-codegen from {}. Do not edit: change the spec.\n\n",
        settings.source_name
    );
    Ok((header + &prettyplease::unparse(&file), warnings))
}

fn generate_tokens(
    root: &Value,
    settings: &Settings,
) -> Result<(TokenStream, Vec<Warning>), Error> {
    let spec = spec::Spec { root };
    let runtime: TokenStream = syn::parse_str::<syn::Path>(&settings.runtime)
        .map(|p| quote!(#p))
        .map_err(|e| Error::at("$", format!("runtime path `{}`: {e}", settings.runtime)))?;
    let mut types = types::TypeGen::new(
        &spec,
        &settings.replacements,
        runtime.clone(),
        settings.mock,
    );
    types.components()?;
    let mut api = api::ApiGen::new(&spec, runtime);
    api.collect(&mut types)?;
    let api_items = api.emit(settings.mock);
    let models = types.defs.values();
    Ok((
        quote! {
            #(#models)*
            #api_items
        },
        api.warnings,
    ))
}
