//! The per-version API surface: operation inputs, response enums, the `Api`
//! trait, the axum router and the operation table.
//!
//! `read` (with `param`) walks the spec into [`Operation`]s, checking what
//! the generated code relies on; `emit` writes them out as Rust.

mod emit;
mod headers;
mod media;
mod param;
mod read;

use std::collections::BTreeMap;

use proc_macro2::TokenStream;
use quote::quote;
use serde_json::Value;

use crate::spec::Spec;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Location {
    Path,
    Query,
    Header,
}

impl Location {
    fn suffix(self) -> &'static str {
        match self {
            Location::Path => "Path",
            Location::Query => "Query",
            Location::Header => "Headers",
        }
    }

    fn runtime_variant(self) -> TokenStream {
        match self {
            Location::Path => quote!(Path),
            Location::Query => quote!(Query),
            Location::Header => quote!(Header),
        }
    }
}

struct Param {
    name: String,
    location: Location,
    required: bool,
    /// The type of the rule checking the parameter (`ParamRule`,
    /// `ArrayRule`, `ObjectRule`, `ContentRule`) and the expression building it.
    rule_type: TokenStream,
    rule: TokenStream,
    /// The patterns and schemas the rule refers to (as `static` items), with their names.
    compiled: Vec<(syn::Ident, param::Compiled)>,
    /// The query keys the parameter reads (each property of an exploded
    /// `form` object is one), so two parameters cannot read the same.
    keys: Vec<String>,
    /// The parsed type, without `Option`.
    inner: TokenStream,
    ty: TokenStream,
    docs: TokenStream,
    default: Option<TokenStream>,
}

/// How a body of one media type reaches Rust, and how a response body is
/// written.
#[derive(Clone, Copy, PartialEq, Eq)]
enum BodyKind {
    /// JSON (`application/json`, `application/*+json`): the schema's type,
    /// or `serde_json::Value` without one.
    Json,
    /// `text/event-stream`: a stream of server-sent events.
    EventStream,
    /// The 101 answer of a WebSocket operation: the handshake response.
    WebSocket,
    /// `text/*` (and urlencoded responses): `String`.
    Text,
    /// Any other media type, and ranges outside `text/`: `Bytes`.
    Bytes,
    /// An `application/x-www-form-urlencoded` request body.
    Form,
    /// A `multipart/form-data` request body.
    Multipart,
    /// A response of several media types: an enum of them.
    OneOf,
}

struct ResponseVariant {
    status: u16,
    name: syn::Ident,
    body: Option<TokenStream>,
    body_kind: BodyKind,
    /// The media types of `body`: one, several for `OneOf`, none without a
    /// body or for a WebSocket handshake.
    media: Vec<media::Media>,
    headers: Vec<(String, bool)>,
    docs: TokenStream,
}

enum Security {
    Public,
    Required,
    Optional,
}

struct Operation {
    /// The `operationId`, or the one derived from method and path.
    id: String,
    /// The trait method's name (`naming`: snake_case, unique in the version).
    name: String,
    /// What the operation's generated type names start with (`ListPets`).
    type_prefix: String,
    method: String,
    route: String,
    summary: Option<String>,
    description: Option<String>,
    deprecated: bool,
    tags: Vec<String>,
    security: Security,
    security_alternatives: Vec<Vec<String>>,
    params: Vec<Param>,
    body: Option<media::RequestBody>,
    responses: Vec<ResponseVariant>,
    /// The 4xx and 5xx statuses it documents, in spec order.
    error_statuses: Vec<u16>,
    extensions: Vec<(String, String)>,
    /// The rate-limit class (`x-rate-limit`), `default` when absent.
    rate_limit: String,
    /// `x-dropshot-websocket`: the operation upgrades to a WebSocket, which
    /// the trait method accepts through `WebSocketUpgrade`.
    websocket: bool,
}

pub struct ApiGen<'a> {
    spec: &'a Spec<'a>,
    runtime: TokenStream,
    operations: Vec<Operation>,
    /// Response headers with a fixed value on every response (`x-charter-value`).
    constant_headers: BTreeMap<String, String>,
    schemes: Vec<TokenStream>,
    scheme_names: Vec<String>,
    /// Component schemas marked `x-charter-validate: true`, as JSON Schema:
    /// documents the server validates outside an operation's request body
    /// (WebSocket messages).
    validated_components: Vec<(String, Value)>,
    /// Security schemes skipped with a warning: an alternative naming one
    /// cannot be met.
    skipped_schemes: Vec<String>,
    /// What the generated server skips or honours only in part.
    pub warnings: Vec<crate::error::Warning>,
}

impl<'a> ApiGen<'a> {
    pub fn new(spec: &'a Spec<'a>, runtime: TokenStream) -> Self {
        ApiGen {
            spec,
            runtime,
            operations: Vec::new(),
            constant_headers: BTreeMap::new(),
            schemes: Vec::new(),
            scheme_names: Vec::new(),
            validated_components: Vec::new(),
            skipped_schemes: Vec::new(),
            warnings: Vec::new(),
        }
    }
}

fn status_name(status: u16) -> String {
    match status {
        100 => "Continue".into(),
        101 => "SwitchingProtocols".into(),
        200 => "Ok".into(),
        201 => "Created".into(),
        202 => "Accepted".into(),
        203 => "NonAuthoritativeInformation".into(),
        204 => "NoContent".into(),
        205 => "ResetContent".into(),
        206 => "PartialContent".into(),
        301 => "MovedPermanently".into(),
        302 => "Found".into(),
        303 => "SeeOther".into(),
        304 => "NotModified".into(),
        307 => "TemporaryRedirect".into(),
        308 => "PermanentRedirect".into(),
        other => format!("Status{other}"),
    }
}
