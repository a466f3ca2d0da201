//! RFC 9457 problem documents: the one error type of the service.

use std::borrow::Cow;

use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

pub const PROBLEM_JSON: &str = "application/problem+json";

/// Where a validation violation was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Location {
    Body,
    Path,
    Query,
    Header,
}

/// One violated constraint of a request input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    pub location: Location,
    /// JSON pointer into the input, in `#/field/0` form.
    pub pointer: String,
    pub detail: String,
}

impl Violation {
    pub fn new(location: Location, pointer: impl Into<String>, detail: impl Into<String>) -> Self {
        Violation {
            location,
            pointer: pointer.into(),
            detail: detail.into(),
        }
    }
}

/// An RFC 9457 problem document, rendered as `application/problem+json`.
/// Boxed, so `Result<T, Problem>` stays small on the success path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Problem(Box<ProblemDocument>);

/// The members of a problem document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProblemDocument {
    #[serde(rename = "type")]
    pub type_uri: Cow<'static, str>,
    pub title: Cow<'static, str>,
    pub status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// Stable UPPER_SNAKE_CASE code clients can branch on.
    pub code: Cow<'static, str>,
    pub request_id: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<Violation>,
    /// Response headers that belong to this problem (`WWW-Authenticate`, `Allow`, ...).
    #[serde(skip)]
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

/// Marks a response whose problem body still lacks the request id and instance;
/// the problem layer completes it.
#[derive(Debug, Clone)]
pub struct PendingProblem(pub Problem);

impl Problem {
    /// A problem with the given status and code; the title is the status' reason phrase.
    pub fn new(status: StatusCode, code: &'static str) -> Self {
        Problem(Box::new(ProblemDocument {
            type_uri: Cow::Owned(format!(
                "/problems/{}",
                code.to_ascii_lowercase().replace('_', "-")
            )),
            title: Cow::Borrowed(status.canonical_reason().unwrap_or("Error")),
            status: status.as_u16(),
            detail: None,
            instance: None,
            code: Cow::Borrowed(code),
            request_id: String::new(),
            errors: Vec::new(),
            headers: Vec::new(),
        }))
    }

    pub fn with_title(mut self, title: &'static str) -> Self {
        self.title = Cow::Borrowed(title);
        self
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// 422 listing every violated constraint.
    pub fn validation(errors: Vec<Violation>) -> Self {
        let count = errors.len();
        let mut problem = Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_FAILED")
            .with_title("Request validation failed")
            .with_detail(if count == 1 {
                "1 constraint of the request was violated".to_owned()
            } else {
                format!("{count} constraints of the request were violated")
            });
        problem.errors = errors;
        problem
    }

    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Problem::new(StatusCode::BAD_REQUEST, code).with_detail(detail)
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Problem::new(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED")
            .with_detail(detail)
            .with_header(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"charter\""),
            )
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Problem::new(StatusCode::FORBIDDEN, "FORBIDDEN").with_detail(detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Problem::new(StatusCode::NOT_FOUND, "NOT_FOUND").with_detail(detail)
    }

    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        Problem::new(StatusCode::CONFLICT, code).with_detail(detail)
    }

    pub fn precondition_failed(detail: impl Into<String>) -> Self {
        Problem::new(StatusCode::PRECONDITION_FAILED, "PRECONDITION_FAILED").with_detail(detail)
    }

    pub fn unprocessable(code: &'static str, detail: impl Into<String>) -> Self {
        Problem::new(StatusCode::UNPROCESSABLE_ENTITY, code).with_detail(detail)
    }

    /// 500. The detail stays generic: the cause is logged, never sent.
    pub fn internal() -> Self {
        Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR")
            .with_detail("An unexpected error occurred; quote the request_id when reporting it.")
    }

    /// A problem for a bare error status produced outside any handler (405, 413, 408, ...).
    pub fn for_status(status: StatusCode) -> Self {
        let (code, detail) = match status {
            StatusCode::NOT_FOUND => ("NOT_FOUND", "No resource exists at this path."),
            StatusCode::METHOD_NOT_ALLOWED => (
                "METHOD_NOT_ALLOWED",
                "This resource does not support the request method; see the Allow header.",
            ),
            StatusCode::PAYLOAD_TOO_LARGE => (
                "PAYLOAD_TOO_LARGE",
                "The request body exceeds the size limit.",
            ),
            StatusCode::REQUEST_TIMEOUT => {
                ("REQUEST_TIMEOUT", "The request took too long to complete.")
            }
            StatusCode::UNSUPPORTED_MEDIA_TYPE => (
                "UNSUPPORTED_MEDIA_TYPE",
                "The request body must be application/json.",
            ),
            StatusCode::TOO_MANY_REQUESTS => ("RATE_LIMITED", "Too many requests."),
            s if s.is_server_error() => ("INTERNAL_ERROR", "An unexpected error occurred."),
            _ => ("REQUEST_REJECTED", "The request was rejected."),
        };
        Problem::new(status, code).with_detail(detail)
    }

    /// Renders the problem, completing its request id and instance.
    pub fn render(mut self, request_id: &str, instance: &str) -> Response {
        if self.request_id.is_empty() {
            self.request_id = request_id.to_owned();
        }
        if self.instance.is_none() {
            self.instance = Some(instance.to_owned());
        }
        self.into_response()
    }
}

impl std::ops::Deref for Problem {
    type Target = ProblemDocument;
    fn deref(&self) -> &ProblemDocument {
        &self.0
    }
}

impl std::ops::DerefMut for Problem {
    fn deref_mut(&mut self) -> &mut ProblemDocument {
        &mut self.0
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status_code();
        let body = serde_json::to_vec(&self).unwrap_or_else(|_| b"{}".to_vec());
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        for (name, value) in &self.headers {
            headers.append(name.clone(), value.clone());
        }
        if self.request_id.is_empty() || self.instance.is_none() {
            response.extensions_mut().insert(PendingProblem(self));
        }
        response
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.code)?;
        if let Some(detail) = &self.detail {
            write!(f, ": {detail}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Problem {}

/// Escapes a name for use as one JSON pointer segment (RFC 6901).
pub(crate) fn escape_pointer(name: &str) -> Cow<'_, str> {
    if name.contains(['~', '/']) {
        Cow::Owned(name.replace('~', "~0").replace('/', "~1"))
    } else {
        Cow::Borrowed(name)
    }
}
