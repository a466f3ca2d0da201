//! The per-request context every generated handler builds and every
//! operation receives.

use std::sync::{Mutex, OnceLock};

use axum::http::request::Parts;
use axum::http::{Extensions, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};

use crate::operation::OperationInfo;
use crate::problem::Problem;

/// Per-request facts every operation receives.
#[derive(Debug)]
pub struct RequestContext {
    pub operation: &'static OperationInfo,
    request_id: Option<HeaderValue>,
    /// The request's `Accept`, for [`RequestContext::preferred`].
    accept: Option<HeaderValue>,
    generated_id: OnceLock<String>,
    /// Headers added to whatever response the request gets (rate limits).
    response_headers: Mutex<Vec<(HeaderName, HeaderValue)>>,
    /// Whether `response_headers` holds anything (skips the lock when not).
    has_response_headers: std::sync::atomic::AtomicBool,
    /// What the server's hooks hand each other during the request.
    extensions: Mutex<Extensions>,
}

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

impl RequestContext {
    /// Cheap: copies handles, allocates nothing.
    pub fn new(operation: &'static OperationInfo, parts: &Parts) -> Self {
        RequestContext {
            operation,
            request_id: parts.headers.get(&REQUEST_ID).cloned(),
            accept: parts.headers.get(axum::http::header::ACCEPT).cloned(),
            generated_id: OnceLock::new(),
            response_headers: Mutex::new(Vec::new()),
            has_response_headers: std::sync::atomic::AtomicBool::new(false),
            extensions: Mutex::new(Extensions::new()),
        }
    }

    /// Of the media types a response can be written in (a generated body
    /// enum's `MEDIA_TYPES`), the one the request's `Accept` prefers: see
    /// [`crate::preferred`]. `None`: the client accepts none of them (the
    /// operation may answer 406, or one of them regardless).
    pub fn preferred<'a>(&self, offered: &[&'a str]) -> Option<&'a str> {
        let accept = self.accept.as_ref().and_then(|v| v.to_str().ok());
        crate::accept::preferred(accept, offered)
    }

    /// Keeps a value for a later hook of the same request (one per type).
    pub fn set_extension<T: Clone + Send + Sync + 'static>(&self, value: T) {
        if let Ok(mut extensions) = self.extensions.lock() {
            extensions.insert(value);
        }
    }

    /// Takes back a value an earlier hook kept.
    pub fn take_extension<T: Clone + Send + Sync + 'static>(&self) -> Option<T> {
        self.extensions.lock().ok()?.remove::<T>()
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
