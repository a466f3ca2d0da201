//! Logs, traces and request metrics.
//!
//! Every request runs in one `request` span carrying its request id, W3C
//! trace id, method, route template, operationId and status; log lines
//! inside it carry those fields. An incoming `traceparent` continues its
//! trace. Spans are exported with OTLP/HTTP when the standard
//! `OTEL_EXPORTER_OTLP_*` variables name an endpoint.

use std::io::IsTerminal;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::field::{RecordFields, VisitOutput};
use tracing_subscriber::fmt::FormattedFields;
use tracing_subscriber::fmt::format::{FormatFields, JsonVisitor, Writer};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::app::App;
use crate::cli::LogFormat;
use crate::runtime::{self, OperationInfo};

/// Flushes exported spans when dropped at the end of `main`.
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(error) = provider.shutdown()
        {
            eprintln!("charter: flushing trace spans failed: {error}");
        }
    }
}

/// Whether the environment asks for OTLP span export.
fn otlp_requested() -> bool {
    let set = |name: &str| std::env::var(name).is_ok_and(|v| !v.trim().is_empty());
    let disabled = std::env::var("OTEL_SDK_DISABLED").is_ok_and(|v| v.eq_ignore_ascii_case("true"))
        || std::env::var("OTEL_TRACES_EXPORTER").is_ok_and(|v| v.trim() == "none");
    !disabled && (set("OTEL_EXPORTER_OTLP_ENDPOINT") || set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
}

/// Installs the global subscriber: `RUST_LOG` filtering (default `info`),
/// text or JSON lines on standard output, and OTLP export when configured.
pub fn init(format: LogFormat) -> anyhow::Result<Telemetry> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let (otel, provider) = if otlp_requested() {
        let provider = tracer_provider()?;
        // Not activated on enter, the exported span stays open to changes
        // until the route is known and names it (`GET /api/v2/me`).
        let layer = tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("charter"))
            .with_context_activation(false);
        (Some(layer), Some(provider))
    } else {
        (None, None)
    };
    let registry = tracing_subscriber::registry().with(filter).with(otel);
    match format {
        LogFormat::Text => registry
            .with(tracing_subscriber::fmt::layer().with_ansi(std::io::stdout().is_terminal()))
            .try_init()?,
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_current_span(true)
                    .with_span_list(false)
                    .fmt_fields(AppendingJsonFields),
            )
            .try_init()?,
    }
    Ok(Telemetry { provider })
}

/// A span's fields as one JSON object, as `tracing_subscriber`'s
/// `JsonFields` writes them, except that a field recorded later is appended
/// to the object instead of the object being parsed and written again: the
/// request span gets its route, operation and status that way, and parsing
/// on each of those was a tenth of a request's CPU. A field recorded twice
/// appears twice; the event formatter reads the object with `serde_json`,
/// where the later one wins.
struct AppendingJsonFields;

impl<'writer> FormatFields<'writer> for AppendingJsonFields {
    fn format_fields<R: RecordFields>(
        &self,
        mut writer: Writer<'writer>,
        fields: R,
    ) -> std::fmt::Result {
        let mut visitor = JsonVisitor::new(&mut writer);
        fields.record(&mut visitor);
        visitor.finish()
    }

    fn add_fields(
        &self,
        current: &'writer mut FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> std::fmt::Result {
        let mut added = String::new();
        self.format_fields(Writer::new(&mut added), fields)?;
        let current = &mut current.fields;
        match (current.strip_suffix('}'), added.strip_prefix('{')) {
            // Nothing was added.
            (_, Some("}")) => {}
            // `{…}` and `{…}`: one object.
            (Some(head), Some(tail)) if head != "{" => {
                current.truncate(head.len());
                current.push(',');
                current.push_str(tail);
            }
            _ => *current = added,
        }
        Ok(())
    }
}

fn tracer_provider() -> anyhow::Result<SdkTracerProvider> {
    use opentelemetry_otlp::{Protocol, SpanExporter, WithExportConfig};
    for name in [
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    ] {
        if let Ok(protocol) = std::env::var(name) {
            anyhow::ensure!(
                matches!(protocol.trim(), "" | "http/protobuf"),
                "{name}={protocol}: Charter exports spans over OTLP http/protobuf only"
            );
        }
    }
    let exporter = SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .build()
        .map_err(|e| anyhow::anyhow!("OTLP exporter: {e}"))?;
    let mut resource = opentelemetry_sdk::Resource::builder();
    let named = std::env::var("OTEL_SERVICE_NAME").is_ok_and(|v| !v.is_empty())
        || std::env::var("OTEL_RESOURCE_ATTRIBUTES").is_ok_and(|v| v.contains("service.name="));
    if !named {
        resource = resource.with_service_name("charter");
    }
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource.build())
        .build())
}

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

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// Log lines written by a JSON subscriber with [`AppendingJsonFields`].
    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Lines {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn fields_recorded_later_join_the_span_object() {
        let lines = Lines::default();
        let writer = lines.clone();
        let subscriber = tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .json()
                .with_current_span(true)
                .with_span_list(false)
                .fmt_fields(AppendingJsonFields)
                .with_writer(move || writer.clone()),
        );
        tracing::subscriber::with_default(subscriber, || {
            let empty = tracing::info_span!("empty", later = tracing::field::Empty);
            empty.in_scope(|| tracing::info!("first"));
            empty.record("later", 1);
            empty.in_scope(|| tracing::info!("second"));
            let span = tracing::info_span!(
                "request",
                request_id = "r-1",
                status = tracing::field::Empty,
                route = tracing::field::Empty,
            );
            span.record("route", "/a \"quoted\" route");
            span.record("status", 200);
            span.record("status", 503);
            span.in_scope(|| tracing::info!("third"));
        });
        let text = String::from_utf8(lines.0.lock().expect("lock").clone()).expect("utf-8");
        let spans: Vec<serde_json::Value> = text
            .lines()
            .map(|line| serde_json::from_str::<serde_json::Value>(line).expect("a JSON line"))
            .map(|line| line["span"].clone())
            .collect();
        assert_eq!(spans[0], serde_json::json!({"name": "empty"}));
        assert_eq!(spans[1], serde_json::json!({"name": "empty", "later": 1}));
        assert_eq!(
            spans[2],
            serde_json::json!({
                "name": "request",
                "request_id": "r-1",
                "route": "/a \"quoted\" route",
                "status": 503,
            }),
            "the later value wins"
        );
    }
}
