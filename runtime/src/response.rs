//! Building responses: JSON, raw bytes and text, server-sent event
//! streams, empty ones, and headers.

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::media::Content;
use crate::media_type::{essence, within};
use crate::problem::Problem;

/// A JSON response with the given status.
pub fn json_response<T: Serialize>(status: StatusCode, body: &T) -> Response {
    json_response_as(
        status,
        const { HeaderValue::from_static("application/json") },
        body,
    )
}

/// A JSON response of another JSON media type (`application/merge-patch+json`).
pub fn json_response_as<T: Serialize>(
    status: StatusCode,
    content_type: HeaderValue,
    body: &T,
) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => raw_response(status, content_type, bytes),
        Err(error) => {
            tracing::error!(%error, "response body does not serialize");
            Problem::internal().into_response()
        }
    }
}

/// A response of the media type the spec declares for it: bytes
/// (`bytes::Bytes`, `Vec<u8>`) or text (`String`).
pub fn raw_response(
    status: StatusCode,
    content_type: HeaderValue,
    body: impl Into<Body>,
) -> Response {
    (status, [(header::CONTENT_TYPE, content_type)], body.into()).into_response()
}

/// A response of a media type range the spec declares (`image/*`, `*/*`),
/// of the type the operation names. A type outside the range, or one that
/// is no media type, is the operation's bug: logged, and a 500 rather than
/// a body of a type the spec does not promise.
pub fn content_response<T: Into<Body>>(
    status: StatusCode,
    range: &str,
    content: Content<T>,
) -> Response {
    let media_type = essence(&content.content_type);
    let named = media_type.split_once('/').is_some_and(|(kind, subtype)| {
        is_token(kind) && is_token(subtype) && kind != "*" && subtype != "*"
    });
    if !named || !within(range, media_type) {
        tracing::error!(
            content_type = content.content_type,
            range,
            "response content type is not within its declared range"
        );
        return Problem::internal().into_response();
    }
    match HeaderValue::try_from(content.content_type) {
        Ok(content_type) => raw_response(status, content_type, content.data),
        Err(error) => {
            tracing::error!(%error, "response content type is not a header value");
            Problem::internal().into_response()
        }
    }
}

/// An RFC 9110 token, as the type and subtype of a media type are.
fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
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
