//! Reading the operations of a spec: paths, methods, security, request
//! bodies and responses, each checked for what the generated code needs.
//! What the server cannot honour is an error, or skipped with a warning where
//! skipping it lets no request through that the spec would refuse.

use std::collections::BTreeMap;

use quote::{format_ident, quote};

use super::headers::check_header_name;
use super::media::RequestBody;
use super::{ApiGen, BodyKind, Location, Operation, ResponseVariant, Security, status_name};
use crate::error::{Error, Warning};
use crate::json_schema;
use crate::naming::{self, Namespace};
use crate::spec::At;
use crate::types::{TypeGen, doc_attrs};

const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Methods the `Api` trait inherits (from `Authenticator` and `Clone`) and
/// its handlers call: no operation may be named like one.
const RESERVED_METHODS: &[&str] = &[
    "admit_principal",
    "admit_request",
    "authenticate",
    "clone",
    "clone_from",
];

/// An operation as found under `paths`, before it is read.
struct Found<'a> {
    route: &'a str,
    method: &'a str,
    node: At<'a>,
    /// The path item's parameters.
    shared: Vec<At<'a>>,
}

/// The names an operation is known by.
struct OperationName {
    /// Its `operationId`, or the one derived for it.
    id: String,
    /// Its trait method.
    name: String,
    /// What its generated type names start with.
    type_prefix: String,
}

impl<'s> ApiGen<'s> {
    pub fn collect(&mut self, types: &mut TypeGen<'_>) -> Result<(), Error> {
        self.security_schemes()?;
        let root = self.spec.at_root();
        // `webhooks` is OpenAPI 3.1's; 3.0 documents carry them as an extension.
        for key in ["webhooks", "x-webhooks"] {
            self.skip_each(
                root.get(key),
                "webhook",
                "the server sends no requests of its own; nothing is generated for it",
            )?;
        }
        if let Some(schemas) = root.get("components").and_then(|c| c.get("schemas")) {
            for (name, node) in schemas.entries()? {
                if node.flag("x-charter-validate") {
                    let converted = json_schema::convert(self.spec, &node)?;
                    self.validated_components
                        .push((types.component_name(name), converted));
                }
            }
        }
        let paths = root
            .get("paths")
            .ok_or_else(|| root.error("the spec has no `paths`"))?;
        let mut found = Vec::new();
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
                found.push(Found {
                    route,
                    method: key,
                    node,
                    shared: shared.clone(),
                });
            }
        }
        let names = self.operation_names(types, &found)?;
        for (found, name) in found.iter().zip(names) {
            let op = self.operation(types, found, name)?;
            self.operations.push(op);
        }
        Ok(())
    }

    /// Records a warning, once per place and message.
    pub(super) fn warn(&mut self, path: &str, message: String) {
        let warning = Warning {
            path: path.to_owned(),
            message,
        };
        if !self.warnings.contains(&warning) {
            self.warnings.push(warning);
        }
    }

    /// Warns of each entry of `node` (callbacks, links, webhooks) that it is
    /// skipped, and why.
    fn skip_each(&mut self, node: Option<At<'_>>, what: &str, why: &str) -> Result<(), Error> {
        let Some(node) = node else {
            return Ok(());
        };
        for (name, entry) in node.entries()? {
            self.warn(&entry.path.0, format!("{what} `{name}` is skipped: {why}"));
        }
        Ok(())
    }

    /// Names every operation (README, "Operations without operationId"):
    /// its `operationId` by `naming`'s field rule, or one derived from its
    /// method and path, with a warning. Explicit ids are named first (an id
    /// that is its own method name before the others), then derived ones, in
    /// document order. A method name another operation (or the `Api` trait)
    /// has takes the first free suffix `_2`, `_3`, …; so, apart, does the
    /// prefix of the operation's types (`2`, `3`, …) when a schema or another
    /// operation has one of them.
    fn operation_names(
        &mut self,
        types: &mut TypeGen<'_>,
        found: &[Found<'_>],
    ) -> Result<Vec<OperationName>, Error> {
        let mut seen = BTreeMap::new();
        let mut explicit = Vec::new();
        for op in found {
            let id = match op.node.get("operationId") {
                Some(id) => {
                    let text = id
                        .value
                        .as_str()
                        .ok_or_else(|| id.error("an `operationId` is a string"))?;
                    if let Some(previous) = seen.insert(text, op.node.path.0.clone()) {
                        return Err(op.node.error(format!(
                            "operationId `{text}` is already used at {previous}"
                        )));
                    }
                    Some(text.to_owned())
                }
                None => None,
            };
            explicit.push(id);
        }
        let mut order: Vec<usize> = (0..found.len()).collect();
        order.sort_by_key(|&index| match &explicit[index] {
            Some(id) if naming::field_name(id) == *id => 0,
            Some(_) => 1,
            None => 2,
        });
        let mut methods = Namespace::with(RESERVED_METHODS);
        let mut names: Vec<Option<OperationName>> = found.iter().map(|_| None).collect();
        for index in order {
            let op = &found[index];
            let id = explicit[index]
                .clone()
                .unwrap_or_else(|| derived_operation_id(op.method, op.route));
            let name = methods.claim(&naming::field_name(&id), "_");
            // Every operation reserves its `…Response`, so no two share a prefix.
            let suffixes = self.type_suffixes(op)?;
            let type_prefix = naming::first_free(&naming::type_prefix(&id), "", |prefix| {
                suffixes
                    .iter()
                    .all(|suffix| types.is_free(&format!("{prefix}{suffix}")))
            });
            for suffix in &suffixes {
                types.reserve(&format!("{type_prefix}{suffix}"), &op.node.path.0);
            }
            let id = match &explicit[index] {
                Some(id) => id.clone(),
                None => {
                    self.warn(
                        &op.node.path.0,
                        format!(
                            "no `operationId`: the operation is named `{name}` after its method and path"
                        ),
                    );
                    name.clone()
                }
            };
            names[index] = Some(OperationName {
                id,
                name,
                type_prefix,
            });
        }
        Ok(names.into_iter().flatten().collect())
    }

    /// What the names of the types generated for the operation itself end
    /// with: `Response`, and `Path`, `Query` or `Headers` where it has
    /// parameters there.
    fn type_suffixes(&self, op: &Found<'_>) -> Result<Vec<&'static str>, Error> {
        let mut suffixes = vec!["Response"];
        let own = match op.node.get("parameters") {
            Some(list) => list.items()?,
            None => Vec::new(),
        };
        for param in op.shared.iter().chain(&own) {
            let location = match self.spec.resolve(param.clone())?.str("in") {
                Some("path") => Location::Path,
                Some("query") => Location::Query,
                Some("header") => Location::Header,
                _ => continue,
            };
            if !suffixes.contains(&location.suffix()) {
                suffixes.push(location.suffix());
            }
        }
        Ok(suffixes)
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
                // The token arrives as `Authorization: Bearer`; what it grants
                // is the Authenticator's to decide.
                (Some(kind @ ("oauth2" | "openIdConnect")), _, _) => {
                    self.warn(
                        &node.path.0,
                        format!(
                            "security scheme `{name}` ({kind}) is checked as a bearer token: the Authenticator receives the token, and its flows and scopes are not enforced beyond what the Authenticator does"
                        ),
                    );
                    quote!(Bearer)
                }
                // Refusing its credential keeps requests out, never lets one
                // in: skipping is safe while another alternative remains.
                (Some("apiKey"), _, Some("cookie")) => {
                    self.warn(
                        &node.path.0,
                        format!(
                            "security scheme `{name}` (API key in a cookie) is skipped: the server reads credentials from headers only, so no request authenticates with it"
                        ),
                    );
                    self.skipped_schemes.push(name.to_owned());
                    continue;
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
        found: &Found<'s>,
        name: OperationName,
    ) -> Result<Operation, Error> {
        let (route, method, node, shared) = (found.route, found.method, &found.node, &found.shared);
        let type_prefix = name.type_prefix.clone();
        self.skip_each(
            node.get("callbacks"),
            "callback",
            "the server sends no requests of its own; the `Api` implementation may",
        )?;

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
            if param.str("in") == Some("cookie") {
                self.skip_cookie_parameter(&param)?;
                continue;
            }
            params.push(self.param(types, &type_prefix, &param)?);
        }
        super::param::check_query_keys(&params, node)?;
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
        let mut error_statuses = Vec::new();
        for (code, response) in responses.entries()? {
            let response = self.spec.resolve(response)?;
            self.constant_headers_of(&response)?;
            self.skip_each(
                response.get("links"),
                "link",
                "links document how a response leads to other operations; nothing of them is served or checked",
            )?;
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
                error_statuses.push(status);
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
        if variants.is_empty() && !websocket {
            match responses.get("default") {
                // `default` covers every status not listed: with no
                // success listed, it is the success (Swagger Petstore's
                // "default: successful operation").
                Some(default) => {
                    let default = self.spec.resolve(default)?;
                    variants.push(self.response_variant(types, &type_prefix, 200, &default)?);
                    self.warn(
                        &default.path.0,
                        "the operation lists no 1xx, 2xx or 3xx response: its `default` response is its success, answered as 200".to_owned(),
                    );
                }
                // The response enum has no variant: the method can only
                // fail, with a problem, which is all the spec says it does.
                None => self.warn(
                    &responses.path.0,
                    "the operation documents no 1xx, 2xx or 3xx response: its method can answer only with problems".to_owned(),
                ),
            }
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
            id: name.id,
            name: name.name,
            type_prefix,
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
            error_statuses,
            extensions,
            rate_limit,
            websocket,
        })
    }

    /// The alternatives of a `security` list, each the scheme names it needs
    /// (none: anonymous). One naming a skipped scheme is left out, which only
    /// refuses requests; a list left with none is an error, as the operation
    /// would otherwise be open to anyone.
    fn security_requirements(&mut self, list: &At<'_>) -> Result<Vec<Vec<String>>, Error> {
        let mut alternatives = Vec::new();
        let mut skipped = Vec::new();
        for requirement in list.items()? {
            let entries = requirement.entries()?;
            if entries.len() > 1 {
                return Err(requirement.error(
                    "a requirement naming several schemes at once (AND) is not supported; list alternatives instead",
                ));
            }
            let Some((name, scopes)) = entries.into_iter().next() else {
                alternatives.push(Vec::new());
                continue;
            };
            if self.skipped_schemes.iter().any(|n| n == name) {
                skipped.push(format!("`{name}`"));
                continue;
            }
            if !self.scheme_names.iter().any(|n| n == name) {
                return Err(requirement.error(format!(
                    "security scheme `{name}` is not declared in components.securitySchemes"
                )));
            }
            let scopes = scopes
                .items()?
                .iter()
                .map(|scope| scope.value.as_str().unwrap_or_default().to_owned())
                .collect::<Vec<_>>();
            if !scopes.is_empty() {
                self.warn(
                    &requirement.path.key(name).0,
                    format!(
                        "scopes `{}` of `{name}` are not checked: the router authenticates the credential and no more; the operation checks them if they matter",
                        scopes.join("`, `")
                    ),
                );
            }
            alternatives.push(vec![name.to_owned()]);
        }
        if alternatives.is_empty() && !skipped.is_empty() {
            return Err(list.error(format!(
                "every alternative needs a scheme the server cannot check ({}); the operation would be open to anyone",
                skipped.join(", ")
            )));
        }
        Ok(alternatives)
    }

    /// The server reads no cookies: an optional cookie parameter is skipped
    /// with a warning; a required one is an error, since requests without it
    /// would be accepted.
    fn skip_cookie_parameter(&mut self, param: &At<'_>) -> Result<(), Error> {
        let name = param.str("name").unwrap_or_default();
        if param.flag("required") {
            return Err(param.error(format!(
                "cookie parameter `{name}` is required, but the server does not read cookies and would accept requests without it; make it optional to skip it, or send it in a header"
            )));
        }
        self.warn(
            &param.path.0,
            format!(
                "cookie parameter `{name}` is skipped: the server does not read cookies, so it is neither checked nor passed to the operation"
            ),
        );
        Ok(())
    }

    fn request_body(
        &mut self,
        types: &mut TypeGen<'_>,
        prefix: &str,
        node: &At<'s>,
    ) -> Result<RequestBody, Error> {
        let body = self.spec.resolve(node.clone())?;
        let content = body
            .get("content")
            .ok_or_else(|| body.error("a request body needs `content`"))?;
        let media = self.request_media(types, prefix, &content)?;
        if media.len() > 1 {
            claim_type(types, &format!("{prefix}Body"), &content)?;
        }
        Ok(RequestBody {
            required: body.flag("required"),
            media,
        })
    }

    fn response_variant(
        &mut self,
        types: &mut TypeGen<'_>,
        prefix: &str,
        status: u16,
        response: &At<'_>,
    ) -> Result<ResponseVariant, Error> {
        let name = format_ident!("{}", status_name(status));
        let media = match response.get("content") {
            Some(content) => {
                let media = self.response_media(types, &format!("{prefix}{name}"), &content)?;
                if media.len() > 1 {
                    claim_type(types, &format!("{prefix}{name}Body"), &content)?;
                }
                media
            }
            None => Vec::new(),
        };
        let (body, body_kind) = match media.as_slice() {
            [] => (None, BodyKind::Json),
            [one] => (Some(one.ty.clone()), one.kind),
            _ => {
                let alternatives = format_ident!("{prefix}{name}Body");
                (Some(quote!(#alternatives)), BodyKind::OneOf)
            }
        };
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
            media,
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

/// The operationId of an operation without one: its method and the words of
/// its path (parameters without braces) in snake_case, so `get
/// /pets/{petId}/photos` is `get_pets_pet_id_photos`.
fn derived_operation_id(method: &str, route: &str) -> String {
    let segments = route
        .split('/')
        .map(|segment| segment.trim_start_matches('{').trim_end_matches('}'));
    let words: Vec<&str> = std::iter::once(method).chain(segments).collect();
    naming::field_name(&words.join(" "))
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

/// Takes the type name of a body's enum of media types, which no model may
/// have.
fn claim_type(types: &mut TypeGen<'_>, name: &str, content: &At<'_>) -> Result<(), Error> {
    if !types.is_free(name) {
        return Err(content.error(format!(
            "the enum of these media types would be `{name}`, a name a schema already has"
        )));
    }
    types.reserve(name, &content.path.0);
    Ok(())
}
