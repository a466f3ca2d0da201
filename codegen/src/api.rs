//! The per-version API surface: operation inputs, response enums, the `Api`
//! trait, the axum router and the operation table.

use std::collections::BTreeMap;

use heck::{ToShoutySnakeCase, ToSnakeCase, ToUpperCamelCase};
use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use serde_json::Value;

use crate::Error;
use crate::json_schema;
use crate::spec::{At, Spec};
use crate::types::{TypeGen, doc_attrs, field_ident, field_name};

const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

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
    /// The `ParamRule` expression checking the parameter's constraints.
    rule: TokenStream,
    /// The patterns the rule refers to (as `static` items), with their names.
    patterns: Vec<(syn::Ident, TokenStream)>,
    /// The parsed type, without `Option`.
    inner: TokenStream,
    ty: TokenStream,
    docs: TokenStream,
    default: Option<TokenStream>,
}

/// How a response body is written.
#[derive(Clone, Copy, PartialEq, Eq)]
enum BodyKind {
    Json,
    /// `text/event-stream`: a stream of server-sent events.
    EventStream,
    /// The 101 answer of a WebSocket operation: the handshake response.
    WebSocket,
}

struct ResponseVariant {
    status: u16,
    name: syn::Ident,
    body: Option<TokenStream>,
    body_kind: BodyKind,
    headers: Vec<(String, bool)>,
    docs: TokenStream,
}

enum Security {
    Public,
    Required,
    Optional,
}

struct Operation {
    id: String,
    method: String,
    route: String,
    summary: Option<String>,
    description: Option<String>,
    deprecated: bool,
    tags: Vec<String>,
    security: Security,
    security_alternatives: Vec<Vec<String>>,
    params: Vec<Param>,
    body: Option<(TokenStream, Value, bool)>,
    responses: Vec<ResponseVariant>,
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
        }
    }

    pub fn collect(&mut self, types: &mut TypeGen<'_>) -> Result<(), Error> {
        self.security_schemes()?;
        let root = self.spec.at_root();
        if let Some(schemas) = root.get("components").and_then(|c| c.get("schemas")) {
            for (name, node) in schemas.entries()? {
                if node.flag("x-charter-validate") {
                    let converted = json_schema::convert(self.spec, &node)?;
                    self.validated_components.push((name.to_owned(), converted));
                }
            }
        }
        let paths = root
            .get("paths")
            .ok_or_else(|| root.error("the spec has no `paths`"))?;
        let mut seen = BTreeMap::new();
        for (route, item) in paths.entries()? {
            if item.get("$ref").is_some() {
                return Err(item.error("`$ref` on a path item is not supported"));
            }
            check_route(route, &item)?;
            let shared = match item.get("parameters") {
                Some(list) => list.items()?,
                None => Vec::new(),
            };
            for (key, node) in item.entries()? {
                if !METHODS.contains(&key) {
                    if !matches!(key, "parameters" | "summary" | "description" | "servers")
                        && !key.starts_with("x-")
                    {
                        return Err(node.error(format!("unknown path item field `{key}`")));
                    }
                    continue;
                }
                let op = self.operation(types, route, key, &node, &shared)?;
                if let Some(previous) = seen.insert(op.id.clone(), node.path.0.clone()) {
                    return Err(node.error(format!(
                        "operationId `{}` is already used at {previous}",
                        op.id
                    )));
                }
                self.operations.push(op);
            }
        }
        Ok(())
    }

    fn security_schemes(&mut self) -> Result<(), Error> {
        let root = self.spec.at_root();
        let Some(schemes) = root
            .get("components")
            .and_then(|c| c.get("securitySchemes"))
        else {
            return Ok(());
        };
        for (name, node) in schemes.entries()? {
            let node = self.spec.resolve(node)?;
            let kind = match (node.str("type"), node.str("scheme"), node.str("in")) {
                (Some("http"), Some(scheme), _) if scheme.eq_ignore_ascii_case("bearer") => {
                    quote!(Bearer)
                }
                (Some("apiKey"), _, Some("header")) => {
                    let header = node
                        .str("name")
                        .ok_or_else(|| node.error("an apiKey scheme needs `name`"))?;
                    check_header_name(header, &node)?;
                    let lower = header.to_ascii_lowercase();
                    quote!(ApiKeyHeader(#lower))
                }
                (Some("apiKey"), _, Some(place)) => {
                    return Err(node.error(format!(
                        "API keys are accepted only in headers (credentials in `{place}` leak into logs)"
                    )));
                }
                (kind, scheme, _) => {
                    return Err(node.error(format!(
                        "unsupported security scheme (type {kind:?}, scheme {scheme:?}); supported: http bearer, apiKey in header"
                    )));
                }
            };
            let runtime = &self.runtime;
            self.schemes.push(quote!(#runtime::SecurityScheme {
                name: #name,
                kind: #runtime::SchemeKind::#kind,
            }));
            self.scheme_names.push(name.to_owned());
        }
        Ok(())
    }

    fn operation(
        &mut self,
        types: &mut TypeGen<'_>,
        route: &str,
        method: &str,
        node: &At<'_>,
        shared: &[At<'_>],
    ) -> Result<Operation, Error> {
        let id = node
            .str("operationId")
            .ok_or_else(|| node.error("every operation needs an `operationId`"))?
            .to_owned();
        if !id.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(node.error(format!(
                "operationId `{id}` must be an ASCII identifier (letters, digits, `_`)"
            )));
        }
        let type_prefix = id.to_upper_camel_case();

        // Parameters: operation-level ones override path-item-level ones by (name, in).
        let mut raw_params: Vec<At<'_>> = Vec::new();
        let own = match node.get("parameters") {
            Some(list) => list.items()?,
            None => Vec::new(),
        };
        for param in shared.iter().chain(own.iter()) {
            let resolved = self.spec.resolve(param.clone())?;
            let key = (resolved.str("name"), resolved.str("in"));
            let mut replaced = false;
            for existing in raw_params.iter_mut() {
                if (existing.str("name"), existing.str("in")) == key {
                    *existing = resolved.clone();
                    replaced = true;
                }
            }
            if !replaced {
                raw_params.push(resolved);
            }
        }
        let mut params = Vec::new();
        for param in raw_params {
            params.push(self.param(types, &type_prefix, &param)?);
        }
        let template_names = route_params(route);
        for name in &template_names {
            if !params
                .iter()
                .any(|p| p.location == Location::Path && &p.name == name)
            {
                return Err(node.error(format!(
                    "path template parameter `{name}` is not declared as an `in: path` parameter"
                )));
            }
        }
        for param in &params {
            if param.location == Location::Path && !template_names.contains(&param.name) {
                return Err(node.error(format!(
                    "path parameter `{}` does not appear in `{route}`",
                    param.name
                )));
            }
        }

        let body = match node.get("requestBody") {
            Some(body) => Some(self.request_body(types, &type_prefix, &body)?),
            None => None,
        };
        let websocket = node.get("x-dropshot-websocket").is_some();
        if websocket {
            if method != "get" {
                return Err(node.error("a WebSocket operation (`x-dropshot-websocket`) is a GET"));
            }
            if body.is_some() {
                return Err(node.error("a WebSocket operation takes no request body"));
            }
        }

        let responses = node
            .get("responses")
            .ok_or_else(|| node.error("an operation needs `responses`"))?;
        let mut variants = Vec::new();
        for (code, response) in responses.entries()? {
            let response = self.spec.resolve(response)?;
            self.constant_headers_of(&response)?;
            let status = match code.parse::<u16>() {
                Ok(status) if (100..600).contains(&status) => status,
                Ok(_) => return Err(response.error(format!("`{code}` is not an HTTP status"))),
                Err(_) if code == "default" || code.ends_with("XX") => {
                    if code.starts_with('2') || code.starts_with('3') {
                        return Err(response.error(
                            "declare success responses with explicit status codes, not ranges",
                        ));
                    }
                    continue;
                }
                Err(_) => return Err(response.error(format!("`{code}` is not an HTTP status"))),
            };
            if status >= 400 {
                continue;
            }
            let mut variant = self.response_variant(types, &type_prefix, status, &response)?;
            if websocket && status == 101 {
                if variant.body.is_some() {
                    return Err(response.error("a WebSocket's 101 response has no content"));
                }
                let rt = &self.runtime;
                variant.body = Some(quote!(#rt::WebSocketAccept));
                variant.body_kind = BodyKind::WebSocket;
            }
            variants.push(variant);
        }
        if websocket && !variants.iter().any(|v| v.status == 101) {
            return Err(responses.error(
                "a WebSocket operation (`x-dropshot-websocket`) declares its `101` response",
            ));
        }
        if variants.is_empty() {
            return Err(responses.error("an operation needs at least one 1xx, 2xx or 3xx response"));
        }

        let alternatives = match node.get("security") {
            Some(list) => self.security_requirements(&list)?,
            None => match self.spec.at_root().get("security") {
                Some(list) => self.security_requirements(&list)?,
                None => Vec::new(),
            },
        };
        let security = if alternatives.is_empty() {
            Security::Public
        } else if alternatives.iter().any(Vec::is_empty) {
            Security::Optional
        } else {
            Security::Required
        };

        let tags = match node.get("tags") {
            Some(list) => list
                .items()?
                .iter()
                .map(|t| {
                    t.value
                        .as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| t.error("tags are strings"))
                })
                .collect::<Result<Vec<_>, _>>()?,
            None => Vec::new(),
        };
        let mut extensions = Vec::new();
        for (key, value) in node.entries()? {
            if key.starts_with("x-") {
                extensions.push((key.to_owned(), value.value.to_string()));
            }
        }
        let rate_limit = match node.get("x-rate-limit") {
            None => "default".to_owned(),
            Some(class) => match class.value.as_str() {
                Some(name)
                    if name.starts_with(|c: char| c.is_ascii_lowercase())
                        && name
                            .chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') =>
                {
                    name.to_owned()
                }
                _ => {
                    return Err(class.error(
                        "`x-rate-limit` names a rate-limit class: lower-case letters, digits and `-`",
                    ));
                }
            },
        };

        Ok(Operation {
            id,
            method: method.to_ascii_uppercase(),
            route: route.to_owned(),
            summary: node.str("summary").map(str::to_owned),
            description: node.str("description").map(str::to_owned),
            deprecated: node.flag("deprecated"),
            tags,
            security,
            security_alternatives: alternatives,
            params,
            body,
            responses: variants,
            extensions,
            rate_limit,
            websocket,
        })
    }

    fn security_requirements(&self, list: &At<'_>) -> Result<Vec<Vec<String>>, Error> {
        let mut alternatives = Vec::new();
        for requirement in list.items()? {
            let entries = requirement.entries()?;
            if entries.len() > 1 {
                return Err(requirement.error(
                    "a requirement naming several schemes at once (AND) is not supported; list alternatives instead",
                ));
            }
            let mut names = Vec::new();
            for (name, _) in entries {
                if !self.scheme_names.iter().any(|n| n == name) {
                    return Err(requirement.error(format!(
                        "security scheme `{name}` is not declared in components.securitySchemes"
                    )));
                }
                names.push(name.to_owned());
            }
            alternatives.push(names);
        }
        Ok(alternatives)
    }

    fn param(&self, types: &mut TypeGen<'_>, prefix: &str, node: &At<'_>) -> Result<Param, Error> {
        let name = node
            .str("name")
            .ok_or_else(|| node.error("a parameter needs `name`"))?
            .to_owned();
        let location = match node.str("in") {
            Some("path") => Location::Path,
            Some("query") => Location::Query,
            Some("header") => {
                check_header_name(&name, node)?;
                Location::Header
            }
            Some("cookie") => {
                return Err(node.error(
                    "cookie parameters are not supported (the client generator cannot send them)",
                ));
            }
            other => return Err(node.error(format!("unknown parameter location {other:?}"))),
        };
        let schema = node.get("schema").ok_or_else(|| {
            node.error("a parameter needs a `schema` (`content` is not supported)")
        })?;
        let resolved = self.spec.resolve(schema.clone())?;
        let rt = &self.runtime;
        let kind = match resolved.str("type") {
            Some("integer") => quote!(Integer),
            Some("number") => quote!(Number),
            Some("boolean") => quote!(Boolean),
            Some("string") => quote!(String),
            other => {
                return Err(schema.error(format!(
                    "parameters must be strings, integers, numbers or booleans, found {other:?}"
                )));
            }
        };
        if resolved.flag("nullable") {
            return Err(schema.error("parameters cannot be nullable"));
        }
        let required = location == Location::Path || node.flag("required");
        if location == Location::Path && !node.flag("required") {
            return Err(node.error("path parameters must say `required: true`"));
        }
        let loc = location.runtime_variant();
        let lookup = if location == Location::Header {
            name.to_ascii_lowercase()
        } else {
            name.clone()
        };
        let mut rule = quote!(#rt::ParamRule::new(
            #rt::Location::#loc,
            #name,
            #lookup,
            #rt::ParamKind::#kind
        ));
        for (key, exclusive_key, method) in [
            ("minimum", "exclusiveMinimum", quote!(minimum)),
            ("maximum", "exclusiveMaximum", quote!(maximum)),
        ] {
            if let Some(bound) = resolved.get(key) {
                let value = bound
                    .value
                    .as_f64()
                    .ok_or_else(|| bound.error(format!("`{key}` must be a number")))?;
                let lit = proc_macro2::Literal::f64_unsuffixed(value);
                let exclusive = resolved.flag(exclusive_key);
                rule = quote!(#rule.#method(#lit, #exclusive));
            }
        }
        for (key, method) in [
            ("minLength", quote!(min_length)),
            ("maxLength", quote!(max_length)),
        ] {
            if let Some(bound) = resolved.get(key) {
                let value = bound
                    .value
                    .as_u64()
                    .and_then(|v| usize::try_from(v).ok())
                    .ok_or_else(|| {
                        bound.error(format!("`{key}` must be a non-negative integer"))
                    })?;
                let lit = proc_macro2::Literal::usize_unsuffixed(value);
                rule = quote!(#rule.#method(#lit));
            }
        }
        let mut patterns = Vec::new();
        if let Some(pattern) = resolved.str("pattern") {
            let ident = format_ident!(
                "{}_{}_PATTERN",
                prefix.to_shouty_snake_case(),
                field_name(&name).to_shouty_snake_case()
            );
            patterns.push((ident.clone(), quote!(#rt::Pattern::new(#pattern))));
            rule = quote!(#rule.pattern(&#ident));
        }
        if let Some(values) = resolved.get("enum") {
            let values = values
                .items()?
                .iter()
                .map(|v| {
                    v.value
                        .as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| v.error("parameter enums list strings"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            rule = quote!(#rule.one_of(&[#(#values),*]));
        }
        if let Some(format) = resolved.str("format") {
            let format = match format {
                "uuid" => Some(quote!(Uuid)),
                "date-time" => Some(quote!(DateTime)),
                "date" => Some(quote!(Date)),
                "email" => Some(quote!(Email)),
                _ => None,
            };
            if let Some(format) = format {
                rule = quote!(#rule.format(#rt::ParamFormat::#format));
            }
        }
        let hint = format!("{prefix}{}", field_name(&name).to_upper_camel_case());
        let inner = types.type_of(&schema, &hint)?;
        let default = match resolved.get("default") {
            Some(value) if !required => Some(default_param_literal(&value, &inner)?),
            _ => None,
        };
        let ty = if required || default.is_some() {
            inner.clone()
        } else {
            quote!(Option<#inner>)
        };
        Ok(Param {
            location,
            required,
            rule,
            patterns,
            inner,
            ty,
            docs: doc_attrs(node.str("description")),
            default,
            name,
        })
    }

    fn request_body(
        &self,
        types: &mut TypeGen<'_>,
        prefix: &str,
        node: &At<'_>,
    ) -> Result<(TokenStream, Value, bool), Error> {
        let body = self.spec.resolve(node.clone())?;
        let content = body
            .get("content")
            .ok_or_else(|| body.error("a request body needs `content`"))?;
        let mut json = None;
        for (media, entry) in content.entries()? {
            if media == "application/json" {
                json = Some(entry);
            } else {
                return Err(entry.error(format!(
                    "request bodies of type `{media}` are not supported; use application/json"
                )));
            }
        }
        let json = json.ok_or_else(|| content.error("no application/json request body"))?;
        let schema = json
            .get("schema")
            .ok_or_else(|| json.error("the request body needs a `schema`"))?;
        let ty = types.type_of(&schema, &format!("{prefix}Body"))?;
        let converted = json_schema::convert(self.spec, &schema)?;
        Ok((ty, converted, body.flag("required")))
    }

    fn response_variant(
        &mut self,
        types: &mut TypeGen<'_>,
        prefix: &str,
        status: u16,
        response: &At<'_>,
    ) -> Result<ResponseVariant, Error> {
        let name = format_ident!("{}", status_name(status));
        let mut body = None;
        let mut body_kind = BodyKind::Json;
        if let Some(content) = response.get("content") {
            let entries = content.entries()?;
            if entries.len() > 1 {
                return Err(content.error("a response has one media type"));
            }
            for (media, entry) in entries {
                match media {
                    "application/json" => {
                        let schema = entry
                            .get("schema")
                            .ok_or_else(|| entry.error("the response needs a `schema`"))?;
                        body = Some(types.type_of(&schema, &format!("{prefix}{name}Body"))?);
                    }
                    "text/event-stream" => {
                        // The schema (if any) documents each event's data;
                        // the handler produces the events themselves.
                        if let Some(schema) = entry.get("schema") {
                            types.type_of(&schema, &format!("{prefix}{name}Event"))?;
                        }
                        let rt = &self.runtime;
                        body = Some(quote!(#rt::EventStream));
                        body_kind = BodyKind::EventStream;
                    }
                    other => {
                        return Err(entry.error(format!(
                            "responses of type `{other}` are not supported; use application/json or text/event-stream"
                        )));
                    }
                }
            }
        }
        let mut headers = Vec::new();
        if let Some(list) = response.get("headers") {
            for (header, node) in list.entries()? {
                check_header_name(header, &node)?;
                let node = self.spec.resolve(node)?;
                if node.get("x-charter-value").is_some() {
                    continue;
                }
                headers.push((header.to_owned(), node.flag("required")));
            }
        }
        let docs = doc_attrs(Some(&format!(
            "{status}: {}",
            response.str("description").unwrap_or_default()
        )));
        Ok(ResponseVariant {
            status,
            name,
            body,
            body_kind,
            headers,
            docs,
        })
    }

    fn constant_headers_of(&mut self, response: &At<'_>) -> Result<(), Error> {
        let Some(list) = response.get("headers") else {
            return Ok(());
        };
        for (header, node) in list.entries()? {
            check_header_name(header, &node)?;
            let node = self.spec.resolve(node)?;
            let Some(value) = node.get("x-charter-value") else {
                continue;
            };
            let value = value
                .value
                .as_str()
                .ok_or_else(|| value.error("`x-charter-value` must be a string"))?;
            if !value
                .bytes()
                .all(|b| b == b'\t' || (0x20..0x7f).contains(&b))
            {
                return Err(node.error("`x-charter-value` must be a visible ASCII header value"));
            }
            let key = header.to_ascii_lowercase();
            if let Some(existing) = self.constant_headers.get(&key).filter(|e| *e != value) {
                return Err(node.error(format!(
                    "header `{header}` has x-charter-value `{value}` here but `{existing}` elsewhere"
                )));
            }
            self.constant_headers.insert(key, value.to_owned());
        }
        Ok(())
    }

    pub fn emit(&self) -> TokenStream {
        let rt = &self.runtime;
        let mut items = Vec::new();
        let mut trait_methods = Vec::new();
        let mut handlers = Vec::new();
        let mut infos = Vec::new();
        let mut schema_checks = Vec::new();
        let mut routes: Vec<(String, Vec<TokenStream>)> = Vec::new();

        for (name, schema) in &self.validated_components {
            let static_ident = format_ident!("{}_SCHEMA", name.to_shouty_snake_case());
            let doc = format!(" JSON Schema of `{name}` documents (`x-charter-validate`).");
            let schema = raw_string(schema);
            items.push(quote! {
                #[doc = #doc]
                pub static #static_ident: #rt::Schema = #rt::Schema::new(#schema);
            });
            schema_checks.push(quote!(#static_ident.check()?;));
        }

        for (index, op) in self.operations.iter().enumerate() {
            let prefix = op.id.to_upper_camel_case();
            let shouty = op.id.to_shouty_snake_case();
            let method_ident = format_ident!("{}", op.id.to_snake_case());
            let handler_ident = format_ident!("handle_{}", op.id.to_snake_case());
            let response_ident = format_ident!("{}Response", prefix);
            let op_doc = doc_attrs(Some(&format!(
                "{}\n\n`{} {}` (`{}`){}",
                op.summary.as_deref().unwrap_or(&op.id),
                op.method,
                op.route,
                op.id,
                if op.deprecated { ", deprecated" } else { "" }
            )));
            let description = doc_attrs(op.description.as_deref());

            // Input structs and their parameter tables.
            let mut args = Vec::new();
            let mut extract = Vec::new();
            let mut bound = Vec::new();
            let mut call_args = Vec::new();
            for location in [Location::Path, Location::Query, Location::Header] {
                let params: Vec<&Param> = op
                    .params
                    .iter()
                    .filter(|p| p.location == location)
                    .collect();
                if params.is_empty() {
                    continue;
                }
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
                    let rule_ident =
                        format_ident!("{}", field_name(&param.name).to_shouty_snake_case());
                    let rule = &param.rule;
                    statics.push(quote!(static #rule_ident: #rt::ParamRule = #rule;));
                    for (pattern, init) in &param.patterns {
                        items.push(quote!(static #pattern: #rt::Pattern = #init;));
                        schema_checks.push(quote!(#pattern.check()?;));
                    }
                    if param.required {
                        reads.push(quote!(let #field = #rt::required::<#inner>(source, &#rule_ident, violations);));
                        builds.push(quote!(#field: #field?));
                    } else if let Some(default) = &param.default {
                        reads.push(quote!(let #field = #rt::optional::<#inner>(source, &#rule_ident, violations);));
                        builds.push(quote!(#field: #field?.unwrap_or_else(|| #default)));
                    } else {
                        reads.push(quote!(let #field = #rt::optional::<#inner>(source, &#rule_ident, violations);));
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
                items.push(quote! {
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
                args.push(quote!(#var: #struct_ident));
                let call = match location {
                    Location::Path => {
                        // Each parameter's segment, counted from the end of the route.
                        let places = op
                            .params
                            .iter()
                            .filter(|p| p.location == Location::Path)
                            .filter_map(|p| {
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
                extract.push(quote!(let #var = #call;));
                bound.push(var.clone());
                call_args.push(quote!(#var));
            }
            let mut uses_body = false;
            if let Some((ty, schema, required)) = &op.body {
                uses_body = true;
                let static_ident = format_ident!("{}_BODY", shouty);
                let schema = raw_string(schema);
                let doc = format!(" JSON Schema of the `{}` request body.", op.id);
                items.push(quote! {
                    #[doc = #doc]
                    static #static_ident: #rt::Schema = #rt::Schema::new(#schema);
                });
                schema_checks.push(quote!(#static_ident.check()?;));
                let (arg_ty, reader) = if *required {
                    (quote!(#ty), quote!(json_body))
                } else {
                    (quote!(Option<#ty>), quote!(optional_json_body))
                };
                args.push(quote!(body: #arg_ty));
                extract.push(quote! {
                    let body = match #rt::#reader::<#ty>(&parts, body, &#static_ident, &mut violations).await {
                        Ok(body) => body,
                        Err(problem) => return ctx.problem(problem),
                    };
                });
                bound.push(format_ident!("body"));
                call_args.push(quote!(body));
            }

            // A WebSocket handshake is checked last, once the request is
            // known to be admissible; the trait method decides to accept it.
            let upgrade_step = if op.websocket {
                args.push(quote!(upgrade: #rt::WebSocketUpgrade));
                call_args.push(quote!(upgrade));
                Some(quote! {
                    let upgrade = match #rt::WebSocketUpgrade::from_parts(&mut parts).await {
                        Ok(upgrade) => upgrade,
                        Err(problem) => return ctx.problem(problem),
                    };
                })
            } else {
                None
            };

            // The response enum.
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
                let make = match (&variant.body, variant.body_kind) {
                    (Some(_), BodyKind::Json) => quote!(#rt::json_response(#status_tokens, &body)),
                    (Some(_), BodyKind::EventStream) => {
                        quote!(#rt::event_stream_response(#status_tokens, body))
                    }
                    (Some(_), BodyKind::WebSocket) => {
                        quote!(axum::response::IntoResponse::into_response(body))
                    }
                    (None, _) => quote!(#rt::empty_response(#status_tokens)),
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
            let derives = if op.responses.iter().any(|v| v.body_kind != BodyKind::Json) {
                quote!(#[derive(Debug)])
            } else {
                quote!(#[derive(Debug, Clone)])
            };
            items.push(quote! {
                #[doc = #response_doc]
                #derives
                pub enum #response_ident { #(#variants,)* }
                impl axum::response::IntoResponse for #response_ident {
                    fn into_response(self) -> axum::response::Response {
                        match self { #(#arms,)* }
                    }
                }
            });

            // The trait method and its handler.
            let (auth_arg, auth_step) = match op.security {
                Security::Public => (None, None),
                Security::Required => (
                    Some(quote!(auth: Self::Principal,)),
                    Some(quote! {
                        let auth = match #rt::require_auth(&api, &ctx, &parts.headers, SECURITY_SCHEMES).await {
                            Ok(principal) => principal,
                            Err(problem) => return ctx.problem(problem),
                        };
                        if let Err(problem) = api.admit_principal(&ctx, &auth) {
                            return ctx.problem(problem);
                        }
                    }),
                ),
                Security::Optional => (
                    Some(quote!(auth: Option<Self::Principal>,)),
                    Some(quote! {
                        let auth = match #rt::optional_auth(&api, &ctx, &parts.headers, SECURITY_SCHEMES).await {
                            Ok(principal) => principal,
                            Err(problem) => return ctx.problem(problem),
                        };
                        if let Some(Err(problem)) = auth.as_ref().map(|p| api.admit_principal(&ctx, p)) {
                            return ctx.problem(problem);
                        }
                    }),
                ),
            };
            let auth_call = auth_arg.as_ref().map(|_| quote!(auth,));
            trait_methods.push(quote! {
                #op_doc
                #[doc = ""]
                #description
                fn #method_ident(
                    &self,
                    ctx: &#rt::RequestContext,
                    #auth_arg
                    #(#args),*
                ) -> impl std::future::Future<Output = Result<#response_ident, #rt::Problem>> + Send;
            });
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
            handlers.push(quote! {
                #[doc = #handler_doc]
                async fn #handler_ident<A: Api>(
                    axum::extract::State(api): axum::extract::State<A>,
                    request: axum::extract::Request,
                ) -> axum::response::Response {
                    let (#parts_binding, #body_binding) = request.into_parts();
                    let ctx = #rt::RequestContext::new(&OPERATIONS[#index_lit], &parts);
                    if let Err(problem) = api.admit_request(&ctx, &parts) {
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

            // Operation metadata.
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
            for variant in &op.responses {
                let media = match (&variant.body, variant.body_kind) {
                    (Some(_), BodyKind::Json) => "application/json",
                    (Some(_), BodyKind::EventStream) => "text/event-stream",
                    _ => continue,
                };
                if !produces.contains(&media) {
                    produces.push(media);
                }
            }
            infos.push(quote! {
                #rt::OperationInfo {
                    operation_id: #id,
                    method: #method,
                    route: #route,
                    summary: #summary,
                    tags: &[#(#tags),*],
                    deprecated: #deprecated,
                    security: &[#(#alternatives),*],
                    rate_limit: #rate_limit,
                    produces: &[#(#produces),*],
                    extensions: &[#(#extensions),*],
                }
            });

            let method_fn = format_ident!("{}", op.method.to_ascii_lowercase());
            let route_entry = quote!(#method_fn(#handler_ident::<A>));
            match routes.iter_mut().find(|(r, _)| r == &op.route) {
                Some((_, list)) => list.push(route_entry),
                None => routes.push((op.route.clone(), vec![route_entry])),
            }
        }

        let route_calls = routes.iter().map(|(route, methods)| {
            let mut chain = methods.iter();
            let first = chain.next();
            let rest = chain.map(|m| quote!(.#m));
            quote!(.route(#route, axum::routing::#first #(#rest)*))
        });
        let schemes = &self.schemes;
        let (constant_layer, constant_fn) = if self.constant_headers.is_empty() {
            (quote!(), quote!())
        } else {
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
        };
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

/// The Rust field name for a response header (`ETag` -> `etag`); header
/// names are checked to be HTTP tokens first.
fn header_field(header: &str) -> String {
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

/// Header names must be RFC 9110 tokens (the runtime builds them as such).
fn check_header_name(name: &str, node: &At<'_>) -> Result<(), Error> {
    let valid = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if valid {
        Ok(())
    } else {
        Err(node.error(format!("`{name}` is not a valid HTTP header name")))
    }
}

fn default_param_literal(value: &At<'_>, ty: &TokenStream) -> Result<TokenStream, Error> {
    match value.value {
        Value::Bool(b) => Ok(quote!(#b)),
        Value::Number(n) => match n.as_i64() {
            Some(i) => {
                let lit = proc_macro2::Literal::i64_unsuffixed(i);
                Ok(quote!(#lit))
            }
            None => {
                let lit = proc_macro2::Literal::f64_unsuffixed(n.as_f64().unwrap_or_default());
                Ok(quote!(#lit))
            }
        },
        Value::String(s) if ty.to_string() == "String" => Ok(quote!(#s.to_owned())),
        Value::String(s) => {
            let variant = crate::types::variant_ident(s);
            Ok(quote!(#ty::#variant))
        }
        _ => Err(value.error("unsupported parameter default")),
    }
}

fn route_params(route: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = route;
    while let Some(start) = rest.find('{') {
        let Some(end) = rest[start..].find('}') else {
            break;
        };
        names.push(rest[start + 1..start + end].to_owned());
        rest = &rest[start + end + 1..];
    }
    names
}

fn check_route(route: &str, node: &At<'_>) -> Result<(), Error> {
    if !route.starts_with('/') {
        return Err(node.error(format!("path `{route}` must start with `/`")));
    }
    for segment in route.split('/') {
        let opens = segment.matches('{').count();
        let closes = segment.matches('}').count();
        let whole = segment.starts_with('{') && segment.ends_with('}');
        if opens != closes || opens > 1 || (opens == 1 && !whole) {
            return Err(node.error(format!(
                "path segment `{segment}` must be literal or a whole `{{param}}`"
            )));
        }
    }
    Ok(())
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
