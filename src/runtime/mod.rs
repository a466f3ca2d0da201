//! The runtime that generated API code calls: operation metadata, the
//! authentication hook, request extraction and validation, response helpers
//! and problem rendering. It knows nothing about Charter's domain.

mod problem;

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::OnceLock;

use axum::body::Body;
use axum::extract::{FromRequestParts, RawPathParams, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

pub use problem::{Location, PROBLEM_JSON, PendingProblem, Problem, Violation};

/// Largest request body the generated extractors read.
pub const BODY_LIMIT: usize = 1024 * 1024;

/// Static description of one operation, as the spec states it.
#[derive(Debug)]
pub struct OperationInfo {
    pub operation_id: &'static str,
    pub method: &'static str,
    /// Route template, e.g. `/api/v2/users/{user_id}`.
    pub route: &'static str,
    pub summary: &'static str,
    pub tags: &'static [&'static str],
    pub deprecated: bool,
    /// Alternatives of security scheme names; an empty alternative means
    /// "anonymous allowed", an empty list means a public operation.
    pub security: &'static [&'static [&'static str]],
    /// The operation's `x-` extensions, values as JSON text.
    pub extensions: &'static [(&'static str, &'static str)],
}

#[derive(Debug)]
pub enum SchemeKind {
    /// `Authorization: Bearer <token>`.
    Bearer,
    /// An API key in the named (lower-case) header.
    ApiKeyHeader(&'static str),
}

#[derive(Debug)]
pub struct SecurityScheme {
    pub name: &'static str,
    pub kind: SchemeKind,
}

/// A credential found in a request, tagged with the scheme that carried it.
#[derive(Clone)]
pub enum Credential {
    Bearer { scheme: &'static str, token: String },
    ApiKey { scheme: &'static str, key: String },
}

impl std::fmt::Debug for Credential {
    // Never print the secret itself.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::Bearer { scheme, .. } => write!(f, "Bearer({scheme})"),
            Credential::ApiKey { scheme, .. } => write!(f, "ApiKey({scheme})"),
        }
    }
}

/// Supplied by the server: turns a credential into the principal the
/// operation receives. The generated router stays free of any token format.
pub trait Authenticator: Clone + Send + Sync + 'static {
    type Principal: Send + Sync + 'static;

    fn authenticate(
        &self,
        ctx: &RequestContext,
        credential: Credential,
    ) -> impl Future<Output = Result<Self::Principal, Problem>> + Send;
}

/// Per-request facts every operation receives.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub operation: &'static OperationInfo,
    pub request_id: String,
    /// The request path, used as the problem `instance`.
    pub path: String,
}

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

impl RequestContext {
    pub fn new(operation: &'static OperationInfo, parts: &Parts) -> Self {
        RequestContext {
            operation,
            request_id: request_id(&parts.headers),
            path: parts.uri.path().to_owned(),
        }
    }

    /// Renders a problem for this request.
    pub fn problem(&self, problem: Problem) -> Response {
        problem.render(&self.request_id, &self.path)
    }
}

fn request_id(headers: &HeaderMap) -> String {
    headers
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

fn find_credential(
    headers: &HeaderMap,
    alternative: &[&'static str],
    schemes: &'static [SecurityScheme],
) -> Option<Credential> {
    for name in alternative {
        let scheme = schemes.iter().find(|s| s.name == *name)?;
        match scheme.kind {
            SchemeKind::Bearer => {
                let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
                let (kind, token) = value.split_once(' ')?;
                let token = token.trim();
                if kind.eq_ignore_ascii_case("bearer") && !token.is_empty() {
                    return Some(Credential::Bearer {
                        scheme: scheme.name,
                        token: token.to_owned(),
                    });
                }
            }
            SchemeKind::ApiKeyHeader(header_name) => {
                let key = headers.get(header_name)?.to_str().ok()?.trim();
                if !key.is_empty() {
                    return Some(Credential::ApiKey {
                        scheme: scheme.name,
                        key: key.to_owned(),
                    });
                }
            }
        }
    }
    None
}

fn present_credential(
    ctx: &RequestContext,
    headers: &HeaderMap,
    schemes: &'static [SecurityScheme],
) -> Option<Credential> {
    ctx.operation
        .security
        .iter()
        .find_map(|alternative| find_credential(headers, alternative, schemes))
}

/// Authenticates an operation that requires credentials.
pub async fn require_auth<A: Authenticator>(
    api: &A,
    ctx: &RequestContext,
    headers: &HeaderMap,
    schemes: &'static [SecurityScheme],
) -> Result<A::Principal, Problem> {
    match present_credential(ctx, headers, schemes) {
        Some(credential) => api.authenticate(ctx, credential).await,
        None => Err(Problem::unauthorized(
            "This operation requires credentials that the request does not carry.",
        )),
    }
}

/// Authenticates an operation that also admits anonymous callers.
pub async fn optional_auth<A: Authenticator>(
    api: &A,
    ctx: &RequestContext,
    headers: &HeaderMap,
    schemes: &'static [SecurityScheme],
) -> Result<Option<A::Principal>, Problem> {
    match present_credential(ctx, headers, schemes) {
        Some(credential) => api.authenticate(ctx, credential).await.map(Some),
        None => Ok(None),
    }
}

/// A JSON Schema compiled on first use.
pub struct Schema {
    source: &'static str,
    compiled: OnceLock<Result<jsonschema::Validator, String>>,
}

impl Schema {
    pub const fn new(source: &'static str) -> Self {
        Schema {
            source,
            compiled: OnceLock::new(),
        }
    }

    fn validator(&self) -> Result<&jsonschema::Validator, &str> {
        self.compiled
            .get_or_init(|| {
                let schema: Value = serde_json::from_str(self.source).map_err(|e| e.to_string())?;
                jsonschema::options()
                    .with_draft(jsonschema::Draft::Draft202012)
                    .should_validate_formats(true)
                    .build(&schema)
                    .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(String::as_str)
    }

    /// Compiles the schema, reporting why it cannot be.
    pub fn check(&self) -> Result<(), String> {
        self.validator()
            .map(|_| ())
            .map_err(|e| format!("schema {}: {e}", self.source))
    }

    /// Appends a violation for every constraint `value` breaks.
    /// `skip` names top-level properties already reported.
    fn validate(
        &self,
        value: &Value,
        location: Location,
        skip: &HashSet<&str>,
        out: &mut Vec<Violation>,
    ) -> Result<(), Problem> {
        let validator = self.validator().map_err(|e| {
            tracing::error!(error = e, "request schema does not compile");
            Problem::internal()
        })?;
        for error in validator.iter_errors(value) {
            let path = error.instance_path().as_str();
            match error.kind() {
                jsonschema::error::ValidationErrorKind::Required { property } => {
                    let name = property.as_str().unwrap_or_default();
                    if path.is_empty() && skip.contains(name) {
                        continue;
                    }
                    out.push(Violation::new(
                        location,
                        format!("#{path}/{}", escape_pointer(name)),
                        "is required",
                    ));
                }
                jsonschema::error::ValidationErrorKind::AdditionalProperties { unexpected } => {
                    for name in unexpected {
                        out.push(Violation::new(
                            location,
                            format!("#{path}/{}", escape_pointer(name)),
                            "is not a known field",
                        ));
                    }
                }
                _ => out.push(Violation::new(
                    location,
                    format!("#{path}"),
                    error.masked().to_string(),
                )),
            }
        }
        Ok(())
    }
}

fn escape_pointer(name: &str) -> Cow<'_, str> {
    if name.contains(['~', '/']) {
        Cow::Owned(name.replace('~', "~0").replace('/', "~1"))
    } else {
        Cow::Borrowed(name)
    }
}

#[derive(Debug, Clone, Copy)]
pub enum ParamKind {
    String,
    Integer,
    Number,
    Boolean,
}

#[derive(Debug)]
pub struct ParamSpec {
    /// The name on the wire (header names as the spec spells them).
    pub name: &'static str,
    pub kind: ParamKind,
    pub required: bool,
}

/// The parameters of one operation in one location, with their JSON Schema.
pub struct ParamSet {
    pub location: Location,
    pub params: &'static [ParamSpec],
    pub schema: Schema,
}

impl ParamSet {
    /// Coerces raw strings to the declared types, validates them and builds `T`.
    fn extract<'a, T: DeserializeOwned>(
        &self,
        mut raw: impl FnMut(&'static str) -> Result<Option<Cow<'a, str>>, String>,
        violations: &mut Vec<Violation>,
    ) -> Option<T> {
        let before = violations.len();
        let mut values = Map::new();
        let mut reported = HashSet::new();
        for spec in self.params {
            let pointer = format!("#/{}", escape_pointer(spec.name));
            match raw(spec.name) {
                Ok(None) => {}
                Ok(Some(text)) => match coerce(spec.kind, &text) {
                    Ok(value) => {
                        values.insert(spec.name.to_owned(), value);
                    }
                    Err(detail) => {
                        reported.insert(spec.name);
                        violations.push(Violation::new(self.location, pointer, detail));
                    }
                },
                Err(detail) => {
                    reported.insert(spec.name);
                    violations.push(Violation::new(self.location, pointer, detail));
                }
            }
        }
        let values = Value::Object(values);
        if let Err(problem) = self
            .schema
            .validate(&values, self.location, &reported, violations)
        {
            violations.push(Violation::new(
                self.location,
                "#",
                problem.detail.unwrap_or_default(),
            ));
        }
        if violations.len() > before {
            return None;
        }
        match serde_json::from_value(values) {
            Ok(parsed) => Some(parsed),
            Err(e) => {
                violations.push(Violation::new(self.location, "#", e.to_string()));
                None
            }
        }
    }
}

fn coerce(kind: ParamKind, text: &str) -> Result<Value, String> {
    match kind {
        ParamKind::String => Ok(Value::String(text.to_owned())),
        ParamKind::Integer => text
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| "must be an integer".to_owned()),
        ParamKind::Number => match text.parse::<f64>() {
            Ok(n) if n.is_finite() => Ok(Value::from(n)),
            _ => Err("must be a number".to_owned()),
        },
        ParamKind::Boolean => match text {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err("must be `true` or `false`".to_owned()),
        },
    }
}

/// Extracts and validates the path parameters of an operation.
pub async fn path_params<T: DeserializeOwned>(
    parts: &mut Parts,
    set: &ParamSet,
    violations: &mut Vec<Violation>,
) -> Option<T> {
    let raw = match RawPathParams::from_request_parts(parts, &()).await {
        Ok(raw) => raw,
        Err(rejection) => {
            violations.push(Violation::new(Location::Path, "#", rejection.body_text()));
            return None;
        }
    };
    set.extract(
        |name| {
            Ok(raw
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| Cow::Owned(value.to_owned())))
        },
        violations,
    )
}

/// Extracts and validates the query parameters of an operation. Unknown
/// parameters are ignored; a parameter given twice is a violation.
pub fn query_params<T: DeserializeOwned>(
    parts: &Parts,
    set: &ParamSet,
    violations: &mut Vec<Violation>,
) -> Option<T> {
    let pairs: Vec<(Cow<'_, str>, Cow<'_, str>)> =
        form_urlencoded::parse(parts.uri.query().unwrap_or_default().as_bytes()).collect();
    set.extract(
        |name| {
            let mut found = pairs.iter().filter(|(key, _)| key == name);
            match (found.next(), found.next()) {
                (None, _) => Ok(None),
                (Some((_, value)), None) => Ok(Some(value.clone())),
                (Some(_), Some(_)) => Err("must be given at most once".to_owned()),
            }
        },
        violations,
    )
}

/// Extracts and validates the header parameters of an operation.
pub fn header_params<T: DeserializeOwned>(
    parts: &Parts,
    set: &ParamSet,
    violations: &mut Vec<Violation>,
) -> Option<T> {
    set.extract(
        |name| match parts.headers.get(name) {
            None => Ok(None),
            Some(value) => value
                .to_str()
                .map(|text| Some(Cow::Owned(text.to_owned())))
                .map_err(|_| "must be visible ASCII".to_owned()),
        },
        violations,
    )
}

/// Reads a JSON body: `None` when the body is empty.
async fn read_json(parts: &Parts, body: Body) -> Result<Option<Value>, Problem> {
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > BODY_LIMIT as u64) {
        return Err(Problem::for_status(StatusCode::PAYLOAD_TOO_LARGE));
    }
    let bytes = match axum::body::to_bytes(body, BODY_LIMIT).await {
        Ok(bytes) => bytes,
        Err(error) => {
            let too_large = std::error::Error::source(&error)
                .is_some_and(|e| e.is::<http_body_util::LengthLimitError>());
            return Err(if too_large {
                Problem::for_status(StatusCode::PAYLOAD_TOO_LARGE)
            } else {
                Problem::bad_request("BODY_UNREADABLE", "The request body could not be read.")
            });
        }
    };
    if bytes.is_empty() {
        return Ok(None);
    }
    if !is_json_content_type(&parts.headers) {
        return Err(Problem::for_status(StatusCode::UNSUPPORTED_MEDIA_TYPE));
    }
    serde_json::from_slice(&bytes).map(Some).map_err(|e| {
        Problem::bad_request(
            "MALFORMED_JSON",
            format!("The request body is not valid JSON: {e}"),
        )
        .with_title("Malformed JSON")
    })
}

fn is_json_content_type(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("application/json")
        || (essence.len() > 5
            && essence[..essence.len() - 5]
                .to_ascii_lowercase()
                .starts_with("application/")
            && essence[essence.len() - 5..].eq_ignore_ascii_case("+json"))
}

fn parse_body<T: DeserializeOwned>(
    value: Value,
    schema: &Schema,
    violations: &mut Vec<Violation>,
) -> Result<Option<T>, Problem> {
    let before = violations.len();
    schema.validate(&value, Location::Body, &HashSet::new(), violations)?;
    if violations.len() > before {
        return Ok(None);
    }
    match serde_json::from_value(value) {
        Ok(parsed) => Ok(Some(parsed)),
        Err(e) => {
            violations.push(Violation::new(Location::Body, "#", e.to_string()));
            Ok(None)
        }
    }
}

/// Reads, validates and parses a required JSON body. Malformed JSON, a wrong
/// content type or an oversize body end the request; constraint violations
/// are collected with the parameters' ones.
pub async fn json_body<T: DeserializeOwned>(
    parts: &Parts,
    body: Body,
    schema: &Schema,
    violations: &mut Vec<Violation>,
) -> Result<Option<T>, Problem> {
    match read_json(parts, body).await? {
        Some(value) => parse_body(value, schema, violations),
        None => {
            violations.push(Violation::new(
                Location::Body,
                "#",
                "a JSON request body is required",
            ));
            Ok(None)
        }
    }
}

/// Like [`json_body`] for an optional body: an empty body is `Some(None)`.
pub async fn optional_json_body<T: DeserializeOwned>(
    parts: &Parts,
    body: Body,
    schema: &Schema,
    violations: &mut Vec<Violation>,
) -> Result<Option<Option<T>>, Problem> {
    match read_json(parts, body).await? {
        Some(value) => parse_body(value, schema, violations).map(|parsed| parsed.map(Some)),
        None => Ok(Some(None)),
    }
}

/// A JSON response with the given status.
pub fn json_response<T: Serialize>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            bytes,
        )
            .into_response(),
        Err(error) => {
            tracing::error!(%error, "response body does not serialize");
            Problem::internal().into_response()
        }
    }
}

pub fn empty_response(status: StatusCode) -> Response {
    status.into_response()
}

/// Sets a response header; a value that is not a valid header is logged and dropped.
pub fn set_header(response: &mut Response, name: &'static str, value: &str) {
    match HeaderValue::from_str(value) {
        Ok(value) => {
            response
                .headers_mut()
                .insert(HeaderName::from_static(name), value);
        }
        Err(_) => tracing::error!(header = name, "response header value is not valid"),
    }
}

/// Serde adapter for optional nullable fields: absent is `None`, `null` is `Some(None)`.
pub mod double_option {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<T: Serialize, S: Serializer>(
        value: &Option<Option<T>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(inner) => inner.serialize(serializer),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(deserializer).map(Some)
    }
}

/// Outermost middleware: every error response leaves as a complete problem
/// document, including the ones axum or tower produce on their own
/// (405 with `Allow`, 413, 408, unknown routes).
pub async fn problem_layer(request: Request, next: Next) -> Response {
    let request_id = request_id(request.headers());
    let path = request.uri().path().to_owned();
    let mut response = next.run(request).await;
    let pending = response.extensions_mut().remove::<PendingProblem>();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    let problem = match pending {
        Some(PendingProblem(problem)) => problem,
        None if response.status().as_u16() >= 400 && !is_problem => {
            Problem::for_status(response.status())
        }
        None => return response,
    };
    let (old, _) = response.into_parts();
    let mut rendered = problem.render(&request_id, &path);
    for (name, value) in &old.headers {
        if name != header::CONTENT_TYPE
            && name != header::CONTENT_LENGTH
            && !rendered.headers().contains_key(name)
        {
            rendered.headers_mut().insert(name.clone(), value.clone());
        }
    }
    rendered
}

/// Fallback for routes no operation serves.
pub async fn not_found() -> Problem {
    Problem::for_status(StatusCode::NOT_FOUND)
}
