//! Reading the operations of a spec: paths, methods, security, request
//! bodies and responses, each checked for what the generated code needs.

use std::collections::BTreeMap;

use heck::ToUpperCamelCase;
use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use serde_json::Value;

use super::{ApiGen, BodyKind, Location, Operation, ResponseVariant, Security, status_name};
use crate::error::Error;
use crate::json_schema;
use crate::spec::At;
use crate::types::{TypeGen, doc_attrs};

const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

impl ApiGen<'_> {
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
}

/// Header names must be RFC 9110 tokens (the runtime builds them as such).
pub(super) fn check_header_name(name: &str, node: &At<'_>) -> Result<(), Error> {
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
