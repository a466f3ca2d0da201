//! Prometheus metrics of one server, rendered as text at `/metrics` on the
//! operator listener. Request metrics are recorded by the request span
//! middleware (`http::request_span`); gauges of the pool and of live
//! connections are read when scraped.

use std::sync::Mutex;

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

use charter_runtime::OperationInfo;

/// Label value of requests that matched no operation (404, 405, health, docs).
pub const UNMATCHED: &str = "unmatched";

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    duration: HistogramVec,
    in_flight: IntGauge,
    rate_limited: IntCounterVec,
    auth_failures: IntCounterVec,
    rate_limit_fallbacks: IntCounter,
    db_unavailable: IntCounter,
    db_acquire: Histogram,
    db_up: IntGauge,
    db_connections: IntGaugeVec,
    db_max_connections: IntGauge,
    live_connections: IntGaugeVec,
    db_writable: IntGauge,
    connections_open: IntGaugeVec,
    connections_refused: IntCounterVec,
    posts_per_commit: Histogram,
    db_inline_reads: IntCounterVec,
    /// Held while the inline-read counters catch up with the database's.
    db_inline_reads_sync: Mutex<()>,
}

/// One listener's figures.
pub struct ListenerCounters {
    pub open: IntGauge,
    pub refused: IntCounter,
}

impl Metrics {
    pub fn new() -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new_custom(Some("charter".to_owned()), None)?;
        let request_labels = &["operation_id", "method", "status_class"];
        let requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests answered, by operation, method and status class.",
            ),
            request_labels,
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "Time from receiving a request to its response headers, by operation, method and status class.",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0, 30.0,
            ]),
            request_labels,
        )?;
        let in_flight = IntGauge::new(
            "http_requests_in_flight",
            "HTTP requests being handled now.",
        )?;
        let rate_limited = IntCounterVec::new(
            Opts::new(
                "rate_limited_total",
                "Requests refused with 429 by a rate limit, by operation.",
            ),
            &["operation_id"],
        )?;
        let auth_failures = IntCounterVec::new(
            Opts::new(
                "auth_failures_total",
                "Requests refused with 401, by operation and the credential presented \
                 (bearer, api_key, password for login, none).",
            ),
            &["operation_id", "credential"],
        )?;
        let rate_limit_fallbacks = IntCounter::new(
            "rate_limit_local_fallbacks_total",
            "Requests judged by this instance's own rate limiter because the shared store (Redis) did not answer in time.",
        )?;
        registry.register(Box::new(rate_limit_fallbacks.clone()))?;
        let db_unavailable = IntCounter::new(
            "db_unavailable_total",
            "Requests answered 503 at once because the database was unreachable.",
        )?;
        let db_acquire = Histogram::with_opts(
            HistogramOpts::new(
                "db_pool_acquire_seconds",
                "Wait for a pooled database connection, sampled by the health probe every second.",
            )
            .buckets(vec![
                0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0,
            ]),
        )?;
        let db_up = IntGauge::new(
            "db_up",
            "1 while the database answers, 0 while it is unreachable.",
        )?;
        let db_connections = IntGaugeVec::new(
            Opts::new(
                "db_pool_connections",
                "Connections of the database pool, by state (idle, in_use).",
            ),
            &["state"],
        )?;
        let db_max_connections = IntGauge::new(
            "db_pool_max_connections",
            "Most connections the database pool opens.",
        )?;
        let live_connections = IntGaugeVec::new(
            Opts::new(
                "live_connections",
                "Open live connections, by kind (sse, websocket).",
            ),
            &["kind"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        registry.register(Box::new(in_flight.clone()))?;
        registry.register(Box::new(rate_limited.clone()))?;
        registry.register(Box::new(auth_failures.clone()))?;
        registry.register(Box::new(db_unavailable.clone()))?;
        registry.register(Box::new(db_acquire.clone()))?;
        registry.register(Box::new(db_up.clone()))?;
        registry.register(Box::new(db_connections.clone()))?;
        registry.register(Box::new(db_max_connections.clone()))?;
        registry.register(Box::new(live_connections.clone()))?;
        let db_writable = IntGauge::new(
            "db_writable",
            "1 while the database stores writes, 0 after a write failed for want of storage \
             until a test write succeeds.",
        )?;
        let connections_open = IntGaugeVec::new(
            Opts::new(
                "connections_open",
                "Open client connections, by listener (api, admin).",
            ),
            &["listener"],
        )?;
        let connections_refused = IntCounterVec::new(
            Opts::new(
                "connections_refused_total",
                "Client connections refused at once because the listener was at its cap, by listener.",
            ),
            &["listener"],
        )?;
        registry.register(Box::new(db_writable.clone()))?;
        registry.register(Box::new(connections_open.clone()))?;
        registry.register(Box::new(connections_refused.clone()))?;
        let posts_per_commit = Histogram::with_opts(
            HistogramOpts::new(
                "message_posts_per_commit",
                "Messages committed together by a channel's group commit.",
            )
            .buckets(vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0]),
        )?;
        registry.register(Box::new(posts_per_commit.clone()))?;
        let db_inline_reads = IntCounterVec::new(
            Opts::new(
                "db_inline_reads_total",
                "Hot SQLite reads, by outcome: inline (on a read-only connection, on the \
                 request's own thread) or fallback (through the pool: none free, or an error).",
            ),
            &["outcome"],
        )?;
        registry.register(Box::new(db_inline_reads.clone()))?;
        Ok(Metrics {
            registry,
            requests,
            duration,
            in_flight,
            rate_limited,
            auth_failures,
            rate_limit_fallbacks,
            db_unavailable,
            db_acquire,
            db_up,
            db_connections,
            db_max_connections,
            live_connections,
            db_writable,
            connections_open,
            connections_refused,
            posts_per_commit,
            db_inline_reads,
            db_inline_reads_sync: Mutex::new(()),
        })
    }

    /// The open-connection gauge and refusal counter of one listener.
    pub fn listener(&self, listener: &str) -> ListenerCounters {
        ListenerCounters {
            open: self.connections_open.with_label_values(&[listener]),
            refused: self.connections_refused.with_label_values(&[listener]),
        }
    }

    /// Counts a request as in flight until the guard is dropped (also when
    /// the request is cancelled).
    pub fn start_request(&self) -> InFlight {
        self.in_flight.inc();
        InFlight(self.in_flight.clone())
    }

    /// Records an answered request.
    pub fn record_request(
        &self,
        operation: Option<&OperationInfo>,
        method: &axum::http::Method,
        status: u16,
        credential: &'static str,
        seconds: f64,
    ) {
        let operation_id = operation.map_or(UNMATCHED, |op| op.operation_id);
        let method = operation.map_or_else(|| known_method(method), |op| op.method);
        let class = status_class(status);
        let labels = [operation_id, method, class];
        self.requests.with_label_values(&labels).inc();
        self.duration.with_label_values(&labels).observe(seconds);
        match status {
            401 => self
                .auth_failures
                .with_label_values(&[operation_id, credential])
                .inc(),
            429 => self.rate_limited.with_label_values(&[operation_id]).inc(),
            _ => {}
        }
    }

    /// Records how many messages one group commit stored.
    /// The histogram of posts per group commit, for the messages module.
    /// Counts requests judged locally while Redis does not answer.
    pub fn rate_limit_fallbacks(&self) -> IntCounter {
        self.rate_limit_fallbacks.clone()
    }

    pub fn posts_per_commit(&self) -> prometheus::Histogram {
        self.posts_per_commit.clone()
    }

    pub fn record_db_unavailable(&self) {
        self.db_unavailable.inc();
    }

    /// Seconds the health probe waited for a pooled connection.
    pub fn db_acquire(&self) -> &Histogram {
        &self.db_acquire
    }

    /// The Prometheus text exposition of every metric, with the gauges as
    /// read now.
    pub fn render(&self, now: &Gauges) -> Result<String, prometheus::Error> {
        let (size, idle, max) = now.pool;
        self.db_connections
            .with_label_values(&["idle"])
            .set(i64::from(idle));
        self.db_connections
            .with_label_values(&["in_use"])
            .set(i64::from(size.saturating_sub(idle)));
        self.db_max_connections.set(i64::from(max));
        self.db_up.set(i64::from(now.db_up));
        self.db_writable.set(i64::from(now.db_writable));
        self.live_connections
            .with_label_values(&["sse"])
            .set(now.sse as i64);
        self.live_connections
            .with_label_values(&["websocket"])
            .set(now.websocket as i64);
        if let Some((inline, fallback)) = now.inline_reads {
            let _sync = self
                .db_inline_reads_sync
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            for (outcome, total) in [("inline", inline), ("fallback", fallback)] {
                let counter = self.db_inline_reads.with_label_values(&[outcome]);
                counter.inc_by(total.saturating_sub(counter.get()));
            }
        }
        let mut text = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut text)?;
        String::from_utf8(text).map_err(|e| prometheus::Error::Msg(e.to_string()))
    }
}

/// The gauges' values at a scrape, read from the parts they describe.
pub struct Gauges {
    /// Pool size, idle connections, maximum.
    pub pool: (u32, u32, u32),
    pub db_up: bool,
    pub db_writable: bool,
    /// Open SSE streams and WebSocket sessions.
    pub sse: usize,
    pub websocket: usize,
    /// Hot SQLite reads served inline and through the pool, so far.
    pub inline_reads: Option<(u64, u64)>,
}

/// Decrements the in-flight gauge when dropped.
pub struct InFlight(IntGauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// The method as a label: standard methods by name, anything else as
/// `OTHER`, so a client cannot create unbounded label values.
fn known_method(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_classes_and_methods_are_bounded() {
        assert_eq!(status_class(101), "1xx");
        assert_eq!(status_class(204), "2xx");
        assert_eq!(status_class(429), "4xx");
        assert_eq!(status_class(503), "5xx");
        let odd = axum::http::Method::from_bytes(b"BREW").unwrap_or(axum::http::Method::GET);
        assert_eq!(known_method(&odd), "OTHER");
    }
}
