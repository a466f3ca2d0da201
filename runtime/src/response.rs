//! Building responses: JSON, server-sent event streams, empty ones, and
//! headers.

use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::problem::Problem;

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
