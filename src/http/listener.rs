//! Serving client connections with bounds: hyper's HTTP/1.1 over each
//! accepted socket, as `axum::serve` does, plus what it leaves unset.
//!
//! - A cap on open connections (live sessions included): beyond it a new
//!   connection gets a 503 problem and is closed at once, counted in
//!   `charter_connections_refused_total` and logged at most every few
//!   seconds. The operator listener has a cap of its own, so it stays
//!   reachable while the API listener is full.
//! - A header-read timeout: hyper starts it whenever it waits for a request
//!   head, on a new connection and between the requests of a kept-alive
//!   one, so a client that sends nothing, sends its head slowly, or keeps
//!   an idle connection open is closed when it runs out.
//! - Limits on the size and number of header fields (431), which also
//!   bound the memory an unfinished head holds.
//! - hyper answers malformed heads itself (400, 414, 431) with an empty
//!   body; [`Guarded`] rewrites those answers into problem documents.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::StatusCode;
use hyper_util::rt::{TokioIo, TokioTimer};
use prometheus::IntGauge;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

pub use crate::config::ConnectionLimits as Settings;
pub use crate::metrics::ListenerCounters as Counters;
use charter_runtime::Problem;

/// Connections the operator listener (metrics, probes) accepts at once.
pub const ADMIN_MAX_CONNECTIONS: usize = 64;

/// Descriptors kept free of client connections: the database pool, the
/// operator listener, files.
const RESERVED_DESCRIPTORS: u64 = ADMIN_MAX_CONNECTIONS as u64 + 192;

/// Shortest time between two log lines about refused connections.
const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Raises the process's descriptor limit to its hard limit and lowers
/// `max_connections` (with a warning) when the connections would not fit.
pub fn fit_descriptor_limit(settings: &mut Settings) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write `limit`.
    let soft = unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit.rlim_cur = limit.rlim_max;
            }
        }
        limit.rlim_cur
    };
    let fits = usize::try_from(soft.saturating_sub(RESERVED_DESCRIPTORS))
        .unwrap_or(usize::MAX)
        .max(1);
    if settings.max_connections > fits {
        tracing::warn!(
            configured = settings.max_connections,
            allowed = fits,
            descriptor_limit = soft,
            "CHARTER_MAX_CONNECTIONS does not fit the open-file limit; lowered"
        );
        settings.max_connections = fits;
    }
}

/// Serves `router` on `listener` until `shutdown` is cancelled, then stops
/// accepting, lets each connection finish its request in flight and waits
/// for them. Upgraded connections (WebSocket) close by themselves.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    settings: &Settings,
    counters: Counters,
    shutdown: CancellationToken,
) -> io::Result<()> {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(settings.header_read_timeout)
        .max_headers(settings.max_headers)
        .max_header_size(settings.max_header_bytes)
        // Room for a full head plus a little: the head limit is what bites.
        .max_buf_size(settings.max_header_bytes.max(8192) + 8192)
        // One buffer per write, so that `Guarded` sees whole responses.
        .writev(false);
    let permits = Arc::new(Semaphore::new(settings.max_connections));
    let connections = TaskTracker::new();
    let mut refusals = RateLimitedLog::default();
    let mut accept_errors = RateLimitedLog::default();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = shutdown.cancelled() => break,
        };
        let (stream, remote) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of descriptors, or a connection reset before it was
                // accepted: wait a little rather than spin.
                if let Some(suppressed) = accept_errors.due() {
                    tracing::warn!(%error, suppressed, "cannot accept a connection");
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            counters.refused.inc();
            if let Some(suppressed) = refusals.due() {
                tracing::warn!(
                    max_connections = settings.max_connections,
                    refused_since_last_line = suppressed + 1,
                    "refusing connections: the listener is at its connection cap"
                );
            }
            refuse(&stream);
            continue;
        };
        stream.set_nodelay(true).ok();
        let io = TokioIo::new(Guarded::new(stream, permit, counters.open.clone()));
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<_>| {
            request
                .extensions_mut()
                .insert(ConnectInfo::<SocketAddr>(remote));
            router.clone().oneshot(request.map(axum::body::Body::new))
        });
        let connection = http.serve_connection(io, service).with_upgrades();
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            let mut connection = std::pin::pin!(connection);
            tokio::select! {
                served = connection.as_mut() => {
                    if let Err(error) = served {
                        tracing::debug!(%error, %remote, "connection ended with an error");
                    }
                    return;
                }
                () = shutdown.cancelled() => {}
            }
            connection.as_mut().graceful_shutdown();
            connection.await.ok();
        });
    }
    // No new connections while those open finish.
    drop(listener);
    connections.close();
    connections.wait().await;
    Ok(())
}

/// Tells a connection beyond the cap why it is closed, without waiting:
/// whatever the socket does not take at once is dropped with it.
fn refuse(stream: &TcpStream) {
    let problem = Problem::new(StatusCode::SERVICE_UNAVAILABLE, "TOO_MANY_CONNECTIONS")
        .with_detail("The server has as many connections open as it accepts; retry shortly.");
    stream
        .try_write(&raw_problem_response(problem, &[("retry-after", "1")]))
        .ok();
}

/// A complete HTTP/1.1 response carrying `problem`, closing the connection.
fn raw_problem_response(mut problem: Problem, extra_headers: &[(&str, &str)]) -> Vec<u8> {
    problem.request_id = uuid::Uuid::new_v4().to_string();
    let body = serde_json::to_vec(&*problem).unwrap_or_else(|_| b"{}".to_vec());
    let status = problem.status_code();
    let mut head = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: {}\r\ncontent-length: {}\r\nconnection: close\r\n\
         cache-control: no-store\r\nx-content-type-options: nosniff\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or("Error"),
        charter_runtime::PROBLEM_JSON,
        body.len()
    );
    for (name, value) in extra_headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let mut response = head.into_bytes();
    response.extend_from_slice(&body);
    response
}

/// Logs at most once per [`REFUSAL_LOG_INTERVAL`], counting what it skipped.
#[derive(Default)]
struct RateLimitedLog {
    last: Option<Instant>,
    suppressed: u64,
}

impl RateLimitedLog {
    /// `Some(lines skipped since the last one)` when a line is due now.
    fn due(&mut self) -> Option<u64> {
        let now = Instant::now();
        if self
            .last
            .is_some_and(|last| now.duration_since(last) < REFUSAL_LOG_INTERVAL)
        {
            self.suppressed += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.suppressed))
    }
}

/// A client's socket while it holds one of the listener's places; counted
/// as open until dropped (with an upgraded connection, when the live
/// session ends). Rewrites hyper's own error answers into problem documents.
struct Guarded {
    stream: TcpStream,
    _permit: OwnedSemaphorePermit,
    open: IntGauge,
    /// Bytes sent in place of a write of hyper's: the bytes, how many are
    /// written, and the length of the write they replace.
    replacement: Option<(Vec<u8>, usize, usize)>,
    /// Past a `101 Switching Protocols` the bytes are not HTTP/1.1 any more.
    upgraded: bool,
}

impl Guarded {
    fn new(stream: TcpStream, permit: OwnedSemaphorePermit, open: IntGauge) -> Guarded {
        open.inc();
        Guarded {
            stream,
            _permit: permit,
            open,
            replacement: None,
            upgraded: false,
        }
    }

    /// Writes what is left of the replacement; `Ready(Ok(n))` with the
    /// length of the write it replaced once all of it is written.
    fn write_replacement(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<usize>>> {
        while let Some((bytes, written, _)) = &mut self.replacement {
            if *written == bytes.len() {
                let replaced = self.replacement.take().map(|(_, _, replaced)| replaced);
                return Poll::Ready(Ok(replaced));
            }
            let n = ready!(Pin::new(&mut self.stream).poll_write(cx, &bytes[*written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *written += n;
        }
        Poll::Ready(Ok(None))
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        self.open.dec();
    }
}

impl AsyncRead for Guarded {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.replacement.is_none() && !this.upgraded {
            if let Some((at, status)) = hyper_error_answer(buf) {
                let mut bytes = buf[..at].to_vec();
                bytes.extend(raw_problem_response(head_problem(status), &[]));
                tracing::debug!(status = status.as_u16(), "malformed request head refused");
                this.replacement = Some((bytes, 0, buf.len()));
            } else if buf.starts_with(b"HTTP/1.1 101 ") {
                this.upgraded = true;
            }
        }
        if this.replacement.is_some() {
            let replaced = ready!(this.write_replacement(cx))?;
            return Poll::Ready(Ok(replaced.unwrap_or(0).min(buf.len())));
        }
        Pin::new(&mut this.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.write_replacement(cx))?;
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.write_replacement(cx))?;
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// The problem for a request head hyper refused.
fn head_problem(status: StatusCode) -> Problem {
    let (code, detail) = match status {
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => (
            "HEADERS_TOO_LARGE",
            "The request head has too many header fields or is too large.",
        ),
        StatusCode::URI_TOO_LONG => ("URI_TOO_LONG", "The request target is too long."),
        _ => (
            "MALFORMED_REQUEST",
            "The request line or a header field is malformed.",
        ),
    };
    Problem::new(status, code).with_detail(detail)
}

/// Where `buf` ends with an answer hyper wrote by itself for a request head
/// it could not parse (400, 414 or 431 with an empty body; Charter's own
/// answers always carry a problem document), and its status.
fn hyper_error_answer(buf: &[u8]) -> Option<(usize, StatusCode)> {
    const START: &[u8] = b"HTTP/1.1 ";
    if !buf.ends_with(b"\r\n\r\n") {
        return None;
    }
    let at = buf.windows(START.len()).rposition(|w| w == START)?;
    let head = &buf[at..];
    let status = match head.get(START.len()..START.len() + 4)? {
        b"400 " => StatusCode::BAD_REQUEST,
        b"414 " => StatusCode::URI_TOO_LONG,
        b"431 " => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        _ => return None,
    };
    let head = String::from_utf8_lossy(head).to_ascii_lowercase();
    let empty = head.contains("\r\ncontent-length: 0\r\n") && !head.contains("\r\ncontent-type:");
    empty.then_some((at, status))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hyper_error_answers_are_recognised() {
        let canned = b"HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\ncontent-length: 0\r\ndate: x\r\n\r\n";
        assert_eq!(
            hyper_error_answer(canned),
            Some((0, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE))
        );
        let mut after_a_response = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}".to_vec();
        after_a_response.extend_from_slice(canned);
        assert_eq!(
            hyper_error_answer(&after_a_response).map(|(at, _)| at),
            Some(after_a_response.len() - canned.len())
        );
        let ours = b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/problem+json\r\ncontent-length: 0\r\n\r\n";
        assert_eq!(hyper_error_answer(ours), None);
        let not_modified = b"HTTP/1.1 304 Not Modified\r\ncontent-length: 0\r\n\r\n";
        assert_eq!(hyper_error_answer(not_modified), None);
    }
}
