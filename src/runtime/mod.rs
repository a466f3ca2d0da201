//! The runtime that generated API code calls: operation metadata, the
//! authentication hook, request extraction and validation, response helpers
//! and problem rendering. It knows nothing about Charter's domain.

mod problem;
pub mod websocket;

use std::borrow::Cow;
use std::str::FromStr;
use std::sync::{Mutex, OnceLock};

use axum::body::Body;
use axum::extract::Request;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

pub use problem::{Location, PROBLEM_JSON, PendingProblem, Problem, ProblemDocument, Violation};
pub use websocket::{WebSocketAccept, WebSocketUpgrade};

/// Largest request body the generated extractors read, unless the server
/// sets another with [`set_body_limit`].
pub const BODY_LIMIT: usize = 1024 * 1024;

static CONFIGURED_BODY_LIMIT: std::sync::atomic::AtomicUsize =
    std::sync::atomic::AtomicUsize::new(BODY_LIMIT);

/// Sets the largest request body the generated extractors read.
pub fn set_body_limit(bytes: usize) {
    CONFIGURED_BODY_LIMIT.store(bytes, std::sync::atomic::Ordering::Relaxed);
}

fn body_limit() -> usize {
    CONFIGURED_BODY_LIMIT.load(std::sync::atomic::Ordering::Relaxed)
}

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
    /// The rate-limit class (`x-rate-limit`; `default` when the spec names none).
    pub rate_limit: &'static str,
    /// Media types of its success responses (`application/json`,
    /// `text/event-stream`), for content negotiation.
    pub produces: &'static [&'static str],
    /// The operation's `x-` extensions, values as JSON text.
    pub extensions: &'static [(&'static str, &'static str)],
}

/// The operation a routed request belongs to, found from its method and the
/// route template axum matched (`MatchedPath`); for middleware that labels
/// spans and metrics by `operationId`.
pub fn find_operation(
    tables: &[&'static [OperationInfo]],
    method: &axum::http::Method,
    route: &str,
) -> Option<&'static OperationInfo> {
    tables
        .iter()
        .flat_map(|table| table.iter())
        .find(|op| op.route == route && op.method == method.as_str())
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
#[derive(Clone, Copy)]
pub enum Credential<'a> {
    Bearer {
        scheme: &'static str,
        token: &'a str,
    },
    ApiKey {
        scheme: &'static str,
        key: &'a str,
    },
}

impl std::fmt::Debug for Credential<'_> {
    // Never print the secret itself.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::Bearer { scheme, .. } => write!(f, "Bearer({scheme})"),
            Credential::ApiKey { scheme, .. } => write!(f, "ApiKey({scheme})"),
        }
    }
}

/// Supplied by the server: admits requests and turns a credential into the
/// principal the operation receives. The generated router calls it in a fixed
/// order (admit the request, authenticate, admit the principal) and stays
/// free of any token format or limiting policy.
pub trait Authenticator: Clone + Send + Sync + 'static {
    type Principal: Send + Sync + 'static;

    /// Called first, before anything else is read: per-client limits.
    /// Headers for the response go through [`RequestContext::add_response_header`].
    fn admit_request(&self, ctx: &RequestContext, parts: &Parts) -> Result<(), Problem> {
        let _ = (ctx, parts);
        Ok(())
    }

    /// Called once the caller is authenticated: per-principal limits.
    fn admit_principal(
        &self,
        ctx: &RequestContext,
        principal: &Self::Principal,
    ) -> Result<(), Problem> {
        let _ = (ctx, principal);
        Ok(())
    }

    fn authenticate(
        &self,
        ctx: &RequestContext,
        credential: Credential<'_>,
    ) -> impl Future<Output = Result<Self::Principal, Problem>> + Send;
}

/// Per-request facts every operation receives.
#[derive(Debug)]
pub struct RequestContext {
    pub operation: &'static OperationInfo,
    request_id: Option<HeaderValue>,
    generated_id: OnceLock<String>,
    /// Headers added to whatever response the request gets (rate limits).
    response_headers: Mutex<Vec<(HeaderName, HeaderValue)>>,
    /// Whether `response_headers` holds anything (skips the lock when not).
    has_response_headers: std::sync::atomic::AtomicBool,
}

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

impl RequestContext {
    /// Cheap: copies handles, allocates nothing.
    pub fn new(operation: &'static OperationInfo, parts: &Parts) -> Self {
        RequestContext {
            operation,
            request_id: parts.headers.get(&REQUEST_ID).cloned(),
            generated_id: OnceLock::new(),
            response_headers: Mutex::new(Vec::new()),
            has_response_headers: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Adds a header to the response, whatever it turns out to be.
    pub fn add_response_header(&self, name: HeaderName, value: HeaderValue) {
        if let Ok(mut headers) = self.response_headers.lock() {
            headers.push((name, value));
            self.has_response_headers
                .store(true, std::sync::atomic::Ordering::Release);
        }
    }

    /// The response with the headers added during the request.
    pub fn finish(&self, mut response: Response) -> Response {
        if !self
            .has_response_headers
            .load(std::sync::atomic::Ordering::Acquire)
        {
            return response;
        }
        if let Ok(mut headers) = self.response_headers.lock() {
            for (name, value) in headers.drain(..) {
                response.headers_mut().append(name, value);
            }
        }
        response
    }

    /// The request's `X-Request-Id`, or one made up for it.
    pub fn request_id(&self) -> &str {
        match self.request_id.as_ref().and_then(|v| v.to_str().ok()) {
            Some(id) => id,
            None => self
                .generated_id
                .get_or_init(|| uuid::Uuid::new_v4().to_string()),
        }
    }

    /// Renders a problem for this request. Its `instance` (the request
    /// path) is filled in by [`problem_layer`], which sees the request
    /// anyway, so handlers need not keep a copy of the URI.
    pub fn problem(&self, mut problem: Problem) -> Response {
        if problem.request_id.is_empty() {
            problem.request_id = self.request_id().to_owned();
        }
        self.finish(problem.into_response())
    }
}

fn find_credential<'a>(
    headers: &'a HeaderMap,
    alternative: &[&'static str],
    schemes: &'static [SecurityScheme],
) -> Option<Credential<'a>> {
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
                        token,
                    });
                }
            }
            SchemeKind::ApiKeyHeader(header_name) => {
                let key = headers.get(header_name)?.to_str().ok()?.trim();
                if !key.is_empty() {
                    return Some(Credential::ApiKey {
                        scheme: scheme.name,
                        key,
                    });
                }
            }
        }
    }
    None
}

fn present_credential<'a>(
    ctx: &RequestContext,
    headers: &'a HeaderMap,
    schemes: &'static [SecurityScheme],
) -> Option<Credential<'a>> {
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

    /// Every constraint a JSON document (outside a request body, such as a
    /// WebSocket message) breaks; empty when it is valid.
    pub fn violations(&self, value: &Value) -> Result<Vec<Violation>, Problem> {
        let mut out = Vec::new();
        self.validate(value, Location::Body, &mut out)?;
        Ok(out)
    }

    /// Appends a violation for every constraint `value` breaks.
    fn validate(
        &self,
        value: &Value,
        location: Location,
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

/// String formats a parameter value is checked against.
#[derive(Debug, Clone, Copy)]
pub enum ParamFormat {
    Uuid,
    DateTime,
    Date,
    Email,
}

/// A regular expression from the spec, compiled on first use.
pub struct Pattern {
    source: &'static str,
    compiled: OnceLock<Result<regex::Regex, String>>,
}

impl Pattern {
    pub const fn new(source: &'static str) -> Self {
        Pattern {
            source,
            compiled: OnceLock::new(),
        }
    }

    fn regex(&self) -> Result<&regex::Regex, &str> {
        self.compiled
            .get_or_init(|| regex::Regex::new(self.source).map_err(|e| e.to_string()))
            .as_ref()
            .map_err(String::as_str)
    }

    pub fn check(&self) -> Result<(), String> {
        self.regex()
            .map(|_| ())
            .map_err(|e| format!("pattern {}: {e}", self.source))
    }
}

/// Every constraint the spec states for one parameter. Generated code builds
/// these as statics; checking one allocates nothing unless it fails.
pub struct ParamRule {
    pub location: Location,
    /// The name as the spec spells it (used in violation pointers).
    pub name: &'static str,
    /// The name to look the value up by (header names lower-cased, which
    /// `HeaderMap` finds without converting).
    pub key: &'static str,
    pub kind: ParamKind,
    pub minimum: Option<(f64, bool)>,
    pub maximum: Option<(f64, bool)>,
    pub min_length: Option<usize>,
    pub max_length: Option<usize>,
    pub pattern: Option<&'static Pattern>,
    pub one_of: &'static [&'static str],
    pub format: Option<ParamFormat>,
}

impl ParamRule {
    pub const fn new(
        location: Location,
        name: &'static str,
        key: &'static str,
        kind: ParamKind,
    ) -> Self {
        ParamRule {
            location,
            name,
            key,
            kind,
            minimum: None,
            maximum: None,
            min_length: None,
            max_length: None,
            pattern: None,
            one_of: &[],
            format: None,
        }
    }

    pub const fn minimum(mut self, bound: f64, exclusive: bool) -> Self {
        self.minimum = Some((bound, exclusive));
        self
    }

    pub const fn maximum(mut self, bound: f64, exclusive: bool) -> Self {
        self.maximum = Some((bound, exclusive));
        self
    }

    pub const fn min_length(mut self, length: usize) -> Self {
        self.min_length = Some(length);
        self
    }

    pub const fn max_length(mut self, length: usize) -> Self {
        self.max_length = Some(length);
        self
    }

    pub const fn pattern(mut self, pattern: &'static Pattern) -> Self {
        self.pattern = Some(pattern);
        self
    }

    pub const fn one_of(mut self, values: &'static [&'static str]) -> Self {
        self.one_of = values;
        self
    }

    pub const fn format(mut self, format: ParamFormat) -> Self {
        self.format = Some(format);
        self
    }

    fn violation(&self, detail: impl Into<String>) -> Violation {
        Violation::new(
            self.location,
            format!("#/{}", escape_pointer(self.name)),
            detail,
        )
    }

    /// Parses `raw` as `T` after checking every constraint.
    fn parse<T: FromStr>(&self, raw: &str) -> Result<T, String> {
        if !self.one_of.is_empty() && !self.one_of.contains(&raw) {
            return Err(format!("must be one of: {}", self.one_of.join(", ")));
        }
        if self.min_length.is_some() || self.max_length.is_some() {
            let length = raw.chars().count();
            if let Some(min) = self.min_length.filter(|min| length < *min) {
                return Err(format!("must be at least {min} characters long"));
            }
            if let Some(max) = self.max_length.filter(|max| length > *max) {
                return Err(format!("must be at most {max} characters long"));
            }
        }
        if let Some(pattern) = self.pattern {
            let regex = pattern
                .regex()
                .map_err(|_| "cannot be checked".to_owned())?;
            if !regex.is_match(raw) {
                return Err(format!("must match the pattern {}", pattern.source));
            }
        }
        if let Some(format) = self.format {
            check_format(format, raw)?;
        }
        let value = raw.parse::<T>().map_err(|_| {
            match (self.format, self.kind) {
                (Some(ParamFormat::Uuid), _) => "must be a UUID",
                (Some(ParamFormat::DateTime), _) => "must be an RFC 3339 date-time",
                (Some(ParamFormat::Date), _) => "must be a date (YYYY-MM-DD)",
                (_, ParamKind::Integer) => "must be an integer in range",
                (_, ParamKind::Number) => "must be a number",
                (_, ParamKind::Boolean) => "must be `true` or `false`",
                (_, ParamKind::String) => "is not a valid value",
            }
            .to_owned()
        })?;
        if self.minimum.is_some() || self.maximum.is_some() {
            let number: f64 = raw.parse().map_err(|_| "must be a number".to_owned())?;
            if !number.is_finite() {
                return Err("must be a finite number".to_owned());
            }
            if let Some((min, exclusive)) = self
                .minimum
                .filter(|(min, exclusive)| number < *min || (*exclusive && number == *min))
            {
                {
                    let relation = if exclusive {
                        "greater than"
                    } else {
                        "at least"
                    };
                    return Err(format!("must be {relation} {min}"));
                }
            }
            if let Some((max, exclusive)) = self
                .maximum
                .filter(|(max, exclusive)| number > *max || (*exclusive && number == *max))
            {
                {
                    let relation = if exclusive { "less than" } else { "at most" };
                    return Err(format!("must be {relation} {max}"));
                }
            }
        }
        Ok(value)
    }
}

fn check_format(format: ParamFormat, raw: &str) -> Result<(), String> {
    let valid = match format {
        // The hyphenated form only, as JSON Schema's `uuid` format; the
        // digits are checked when the value is parsed.
        ParamFormat::Uuid => raw.len() == 36,
        ParamFormat::DateTime => chrono::DateTime::parse_from_rfc3339(raw).is_ok(),
        ParamFormat::Date => chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d").is_ok(),
        ParamFormat::Email => raw
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.')),
    };
    if valid {
        Ok(())
    } else {
        Err(match format {
            ParamFormat::Uuid => "must be a UUID".to_owned(),
            ParamFormat::DateTime => "must be an RFC 3339 date-time".to_owned(),
            ParamFormat::Date => "must be a date (YYYY-MM-DD)".to_owned(),
            ParamFormat::Email => "must be an email address".to_owned(),
        })
    }
}

/// Where parameter values are read from.
pub trait ParamSource {
    /// The raw value of the parameter `key`; an error when it cannot be read as one value.
    fn raw(&self, key: &str) -> Result<Option<&str>, &'static str>;
}

/// The path parameters of a routed request, read straight from its path by
/// their place in the route template, counted from the end (so a router
/// nested under a prefix reads the same). Allocates only to percent-decode.
pub struct PathSegments<'a> {
    path: &'a str,
    /// Each parameter's name and its segment's position from the end.
    params: &'static [(&'static str, usize)],
    /// Decoded values, only when the path holds percent-escapes.
    decoded: Vec<(&'static str, Result<String, ()>)>,
}

impl<'a> PathSegments<'a> {
    pub fn new(path: &'a str, params: &'static [(&'static str, usize)]) -> Self {
        let mut segments = PathSegments {
            path,
            params,
            decoded: Vec::new(),
        };
        if path.contains('%') {
            for (name, from_end) in params {
                if let Some(raw) = path
                    .rsplit('/')
                    .nth(*from_end)
                    .filter(|raw| raw.contains('%'))
                {
                    let value = percent_encoding::percent_decode_str(raw)
                        .decode_utf8()
                        .map(|v| v.into_owned())
                        .map_err(|_| ());
                    segments.decoded.push((name, value));
                }
            }
        }
        segments
    }
}

impl ParamSource for PathSegments<'_> {
    fn raw(&self, key: &str) -> Result<Option<&str>, &'static str> {
        if let Some((_, value)) = self.decoded.iter().find(|(name, _)| *name == key) {
            return match value {
                Ok(value) => Ok(Some(value)),
                Err(()) => Err("must be percent-encoded UTF-8"),
            };
        }
        let Some((_, from_end)) = self.params.iter().find(|(name, _)| *name == key) else {
            return Ok(None);
        };
        Ok(self.path.rsplit('/').nth(*from_end))
    }
}

impl ParamSource for HeaderMap {
    fn raw(&self, name: &str) -> Result<Option<&str>, &'static str> {
        match self.get(name) {
            None => Ok(None),
            Some(value) => value
                .to_str()
                .map(Some)
                .map_err(|_| "must be visible ASCII"),
        }
    }
}

/// The decoded query string of a request.
pub struct QuerySource<'a>(Vec<(Cow<'a, str>, Cow<'a, str>)>);

impl ParamSource for QuerySource<'_> {
    fn raw(&self, name: &str) -> Result<Option<&str>, &'static str> {
        let mut found = self.0.iter().filter(|(key, _)| key == name);
        match (found.next(), found.next()) {
            (None, _) => Ok(None),
            (Some((_, value)), None) => Ok(Some(value)),
            (Some(_), Some(_)) => Err("must be given at most once"),
        }
    }
}

pub fn query_source(parts: &Parts) -> QuerySource<'_> {
    QuerySource(form_urlencoded::parse(parts.uri.query().unwrap_or_default().as_bytes()).collect())
}

/// An optional parameter: `Some(None)` when absent, `Some(Some(value))`
/// when present and valid; `None` (with the violation recorded) when invalid.
pub fn optional<T: FromStr>(
    source: &impl ParamSource,
    rule: &ParamRule,
    violations: &mut Vec<Violation>,
) -> Option<Option<T>> {
    let raw = match source.raw(rule.key) {
        Ok(Some(raw)) => raw,
        Ok(None) => return Some(None),
        Err(detail) => {
            violations.push(rule.violation(detail));
            return None;
        }
    };
    match rule.parse(raw) {
        Ok(value) => Some(Some(value)),
        Err(detail) => {
            violations.push(rule.violation(detail));
            None
        }
    }
}

/// A required parameter: missing is a violation too.
pub fn required<T: FromStr>(
    source: &impl ParamSource,
    rule: &ParamRule,
    violations: &mut Vec<Violation>,
) -> Option<T> {
    match optional(source, rule, violations) {
        Some(Some(value)) => Some(value),
        Some(None) => {
            violations.push(rule.violation("is required"));
            None
        }
        None => None,
    }
}

/// Reads a JSON body: `None` when the body is empty.
async fn read_json(parts: &Parts, body: Body) -> Result<Option<Value>, Problem> {
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let limit = body_limit();
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(Problem::for_status(StatusCode::PAYLOAD_TOO_LARGE));
    }
    let bytes = match axum::body::to_bytes(body, limit).await {
        Ok(bytes) => bytes,
        Err(error) => {
            let too_large = exceeds_length_limit(&error);
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

/// Whether a body error (at any depth) is a length limit being hit, ours or
/// the server's body-limit layer's.
fn exceeds_length_limit(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(error) = current {
        if error.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        current = error.source();
    }
    false
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
    schema.validate(&value, Location::Body, violations)?;
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

/// One server-sent event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The event's `id:`, which a reconnecting client sends back as `Last-Event-ID`.
    pub id: Option<String>,
    /// The event's `event:` name.
    pub event: Option<String>,
    /// The event's `data:` (JSON text for Charter's events).
    pub data: String,
}

/// The body of a `text/event-stream` response: events as they happen, with
/// keep-alive comments while there are none.
pub struct EventStream {
    events: std::pin::Pin<Box<dyn futures::Stream<Item = SseEvent> + Send>>,
    keep_alive: std::time::Duration,
    retry: Option<std::time::Duration>,
}

impl std::fmt::Debug for EventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream")
            .field("keep_alive", &self.keep_alive)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl EventStream {
    /// Keep-alive comments every 15 seconds unless set otherwise.
    pub fn new(events: impl futures::Stream<Item = SseEvent> + Send + 'static) -> Self {
        EventStream {
            events: Box::pin(events),
            keep_alive: std::time::Duration::from_secs(15),
            retry: None,
        }
    }

    pub fn keep_alive(mut self, interval: std::time::Duration) -> Self {
        self.keep_alive = interval;
        self
    }

    /// Advertises how long a client should wait before reconnecting (`retry:`).
    pub fn retry(mut self, delay: std::time::Duration) -> Self {
        self.retry = Some(delay);
        self
    }
}

/// A `text/event-stream` response.
pub fn event_stream_response(status: StatusCode, stream: EventStream) -> Response {
    use axum::response::sse::{Event, KeepAlive, Sse};
    use futures::StreamExt;

    let retry = stream
        .retry
        .map(|delay| Ok::<_, std::convert::Infallible>(Event::default().retry(delay)));
    let events = stream.events.map(|event| {
        let mut sse = Event::default().data(event.data);
        if let Some(id) = event.id {
            sse = sse.id(id);
        }
        if let Some(name) = event.event {
            sse = sse.event(name);
        }
        Ok::<_, std::convert::Infallible>(sse)
    });
    let body = futures::stream::iter(retry).chain(events);
    let mut response = Sse::new(body)
        .keep_alive(KeepAlive::new().interval(stream.keep_alive))
        .into_response();
    *response.status_mut() = status;
    response
}

pub fn empty_response(status: StatusCode) -> Response {
    status.into_response()
}

/// Sets a response header; a value that is not a valid header is logged and dropped.
pub fn set_header(response: &mut Response, name: HeaderName, value: String) {
    match HeaderValue::try_from(value) {
        Ok(value) => {
            response.headers_mut().insert(name, value);
        }
        Err(_) => tracing::error!(header = %name, "response header value is not valid"),
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
    // Handles, not copies: most responses are not problems.
    let request_id = request.headers().get(&REQUEST_ID).cloned();
    let uri = request.uri().clone();
    let response = next.run(request).await;
    complete_problem(response, request_id.as_ref(), uri.path())
}

/// What [`problem_layer`] does to a response, for a middleware of the
/// application's own that does more around it: an error response becomes
/// a complete problem document with the request's id and path.
pub fn complete_problem(
    mut response: Response,
    request_id: Option<&HeaderValue>,
    path: &str,
) -> Response {
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
    let request_id = request_id
        .and_then(|v| v.to_str().ok())
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
    let mut rendered = problem.render(&request_id, path);
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
