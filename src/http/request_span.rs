//! The outermost layer of every request: its id, its span (continuing an
//! incoming W3C trace) and its metrics; and, inside the router, the layer
//! that names the operation on that span.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::app::App;
use charter_runtime::{self as runtime, OperationInfo};

/// `traceparent` / `tracestate` read from request headers.
struct Headers<'a>(&'a HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|name| name.as_str()).collect()
    }
}

/// Where the router tells the request span which operation matched.
#[derive(Clone, Default)]
struct MatchedOperation(Arc<OnceLock<&'static OperationInfo>>);

/// Longest request id taken from a client; longer or odd ones are replaced.
const MAX_REQUEST_ID: usize = 128;

/// The request's id: the client's `X-Request-Id` when it is one value of
/// at most [`MAX_REQUEST_ID`] letters, digits and `-_.:` (anything else could
/// garble logs), else a fresh UUID. Left in the request's headers, where
/// every layer and handler after this reads it.
fn assign_request_id(headers: &mut HeaderMap) -> HeaderValue {
    let acceptable = |value: &HeaderValue| {
        let bytes = value.as_bytes();
        !bytes.is_empty()
            && bytes.len() <= MAX_REQUEST_ID
            && bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
    };
    let mut given = headers.get_all(&runtime::REQUEST_ID).iter();
    if let (Some(value), None) = (given.next(), given.next())
        && acceptable(value)
    {
        return value.clone();
    }
    let mut text = [0_u8; uuid::fmt::Hyphenated::LENGTH];
    let fresh = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut text);
    let value = HeaderValue::from_str(fresh).unwrap_or_else(|_| HeaderValue::from_static("-"));
    headers.insert(runtime::REQUEST_ID, value.clone());
    value
}

/// The outermost layer of a request: assigns its id (returned in every
/// response's `X-Request-Id`), opens its span, continues an incoming W3C
/// trace, and records the request's metrics once the response, whatever
/// produced it, is known.
pub async fn request_span(State(app): State<App>, mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let in_flight = app.metrics.start_request();
    let method = request.method().clone();
    let credential = credential_presented(request.headers());
    let request_id_value = assign_request_id(request.headers_mut());
    let request_id = request_id_value.to_str().unwrap_or_default();
    let span = tracing::info_span!(
        "request",
        otel.name = %method,
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        http.request.method = %method,
        http.route = tracing::field::Empty,
        http.response.status_code = tracing::field::Empty,
        operation_id = tracing::field::Empty,
        request_id,
        trace_id = tracing::field::Empty,
    );
    let parent = TraceContextPropagator::new().extract(&Headers(request.headers()));
    let incoming = parent.span().span_context().clone();
    if incoming.is_valid() {
        span.record("trace_id", tracing::field::display(incoming.trace_id()));
    }
    // Without an OpenTelemetry subscriber there is no span to attach to;
    // the incoming trace id is still logged.
    let _ = span.set_parent(parent);
    let matched = MatchedOperation::default();
    request.extensions_mut().insert(matched.clone());
    let mut response = next.run(request).instrument(span.clone()).await;
    if !response.headers().contains_key(&runtime::REQUEST_ID) {
        response
            .headers_mut()
            .insert(runtime::REQUEST_ID, request_id_value.clone());
    }
    let status = response.status().as_u16();
    span.record("http.response.status_code", i64::from(status));
    if status >= 500 {
        span.record("otel.status_code", "ERROR");
    }
    let operation = matched.0.get().copied();
    if operation.is_none() {
        record_trace_id(&span);
    }
    app.metrics.record_request(
        operation,
        &method,
        status,
        match operation {
            Some(op) if op.operation_id == "login" => "password",
            _ => credential,
        },
        started.elapsed().as_secs_f64(),
    );
    drop(in_flight);
    tracing::debug!(parent: &span, status, "answered");
    response
}

/// Inside the router, where the route is known: names the operation on the
/// request span.
pub async fn operation_span(request: Request, next: Next) -> Response {
    let operation = request.extensions().get::<MatchedPath>().and_then(|route| {
        runtime::find_operation(
            crate::http::OPERATION_TABLES,
            request.method(),
            route.as_str(),
        )
    });
    if let Some(operation) = operation {
        let span = tracing::Span::current();
        span.record("operation_id", operation.operation_id);
        span.record("http.route", operation.route);
        span.record(
            "otel.name",
            tracing::field::display(format_args!("{} {}", operation.method, operation.route)),
        );
        record_trace_id(&span);
        if let Some(matched) = request.extensions().get::<MatchedOperation>() {
            let _ = matched.0.set(operation);
        }
    }
    next.run(request).await
}

/// Logs the exported span's trace id (new, or the caller's). Starts the
/// exported span, so it comes after naming it.
fn record_trace_id(span: &tracing::Span) {
    let context = span.context();
    let exported = context.span().span_context().clone();
    if exported.is_valid() {
        span.record("trace_id", tracing::field::display(exported.trace_id()));
    }
}

/// Which kind of credential a request carries, for the auth-failure metric.
fn credential_presented(headers: &HeaderMap) -> &'static str {
    if headers.contains_key("x-api-key") {
        "api_key"
    } else if headers.contains_key(header::AUTHORIZATION) {
        "bearer"
    } else {
        "none"
    }
}
