//! WebSocket operations (`x-dropshot-websocket`): the generated handler
//! checks the handshake and hands a [`WebSocketUpgrade`] to the trait
//! method, which accepts it with a session of its own.

use std::future::Future;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

pub use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};

use crate::problem::Problem;

/// A valid WebSocket handshake, not yet accepted.
pub struct WebSocketUpgrade {
    inner: axum::extract::ws::WebSocketUpgrade,
    origin: Option<HeaderValue>,
}

impl std::fmt::Debug for WebSocketUpgrade {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocketUpgrade")
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl WebSocketUpgrade {
    /// Reads the handshake; anything but a valid WebSocket (version 13)
    /// upgrade is 426 `UPGRADE_REQUIRED`.
    pub async fn from_parts(parts: &mut Parts) -> Result<Self, Problem> {
        let origin = parts.headers.get(header::ORIGIN).cloned();
        match axum::extract::ws::WebSocketUpgrade::from_request_parts(parts, &()).await {
            Ok(inner) => Ok(WebSocketUpgrade { inner, origin }),
            Err(rejection) => Err(
                Problem::new(StatusCode::UPGRADE_REQUIRED, "UPGRADE_REQUIRED")
                    .with_detail(format!(
                        "This operation is a WebSocket handshake: {}.",
                        rejection.body_text().trim_end_matches('.')
                    ))
                    .with_header(header::UPGRADE, HeaderValue::from_static("websocket")),
            ),
        }
    }

    /// The `Origin` the handshake came from (browsers always send one).
    pub fn origin(&self) -> Option<&HeaderValue> {
        self.origin.as_ref()
    }

    /// The subprotocols the client offered, in its order.
    pub fn requested_protocols(&self) -> impl Iterator<Item = &str> {
        self.inner
            .requested_protocols()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|list| list.split(','))
            .map(str::trim)
            .filter(|protocol| !protocol.is_empty())
    }

    /// Accepts the handshake: `configure` sets protocols and limits, then
    /// `session` runs on the upgraded connection.
    pub fn accept<C, S, Fut>(self, configure: C, session: S) -> WebSocketAccept
    where
        C: FnOnce(axum::extract::ws::WebSocketUpgrade) -> axum::extract::ws::WebSocketUpgrade,
        S: FnOnce(WebSocket) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        WebSocketAccept(configure(self.inner).on_upgrade(session))
    }
}

/// The handshake's answer (101 Switching Protocols), the body of a
/// WebSocket operation's 101 response.
pub struct WebSocketAccept(Response);

impl std::fmt::Debug for WebSocketAccept {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("WebSocketAccept")
            .field(&self.0.status())
            .finish()
    }
}

impl IntoResponse for WebSocketAccept {
    fn into_response(self) -> Response {
        self.0
    }
}
