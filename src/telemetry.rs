//! Logs, traces and request metrics.
//!
//! Every request runs in one `request` span carrying its request id, W3C
//! trace id, method, route template, operationId and status; log lines
//! inside it carry those fields. An incoming `traceparent` continues its
//! trace. Spans are exported with OTLP/HTTP when the standard
//! `OTEL_EXPORTER_OTLP_*` variables name an endpoint.

use std::io::IsTerminal;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::field::{RecordFields, VisitOutput};
use tracing_subscriber::fmt::FormattedFields;
use tracing_subscriber::fmt::format::{FormatFields, JsonVisitor, Writer};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, with the request's span fields.
    Json,
}

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

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

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
