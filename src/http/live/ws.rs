//! WebSocket sessions: subscribe to channels, post messages, receive
//! events. Every message the server sends is a `WsServerMessage`.

use std::collections::HashMap;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{Open, Settings, follow_visible, wanted};
use crate::api::v2::*;
use crate::app::App;
use crate::auth::{CredentialKind, Principal};
use crate::channels;
use crate::events::EventKind;
use crate::http::models::{event_message, message as message_model};
use charter_runtime::websocket::{CloseFrame, Message, WebSocket};
use charter_runtime::{Problem, WebSocketAccept, WebSocketUpgrade};

/// The subprotocol a WebSocket session speaks.
pub const PROTOCOL: &str = "charter.v2";
/// Prefix of the subprotocol entry that carries a bearer token.
pub const BEARER_PROTOCOL_PREFIX: &str = "charter.bearer.";
/// Where WebSocket sessions are opened; the `instance` of their problems.
const WS_PATH: &str = "/api/v2/ws";

/// WebSocket close codes (RFC 6455 §7.4.1).
mod close {
    pub const NORMAL: u16 = 1000;
    pub const GOING_AWAY: u16 = 1001;
    pub const UNSUPPORTED: u16 = 1003;
    pub const POLICY: u16 = 1008;
    pub const TOO_BIG: u16 = 1009;
}

fn ready(user_id: Uuid) -> WsServerMessage {
    WsServerMessage::WsReady(WsReady {
        r#type: WsReadyType::Ready,
        user_id,
    })
}

fn unsubscribed(channel_id: Uuid) -> WsServerMessage {
    WsServerMessage::WsUnsubscribed(WsUnsubscribed {
        r#type: WsUnsubscribedType::Unsubscribed,
        channel_id,
    })
}

/// Accepts a WebSocket handshake. The client is identified by the
/// `Authorization` header (`header_principal`) or a `charter.bearer.<token>`
/// subprotocol; otherwise its first message must be `auth`. A browser's
/// `Origin` must be one of the configured CORS origins.
pub async fn accept(
    app: &App,
    request_id: &str,
    upgrade: WebSocketUpgrade,
    header_principal: Option<Principal>,
) -> Result<WebSocketAccept, Problem> {
    if let Some(origin) = upgrade.origin() {
        // The configured origins are kept without a trailing slash, as
        // browsers send them.
        let allowed = app
            .config
            .cors_origins
            .iter()
            .any(|allowed| allowed.as_bytes() == origin.as_bytes());
        if !allowed {
            return Err(
                Problem::new(axum::http::StatusCode::FORBIDDEN, "ORIGIN_NOT_ALLOWED")
                    .with_detail("WebSocket sessions from this origin are not allowed."),
            );
        }
    }
    let token = upgrade
        .requested_protocols()
        .find_map(|protocol| protocol.strip_prefix(BEARER_PROTOCOL_PREFIX))
        .map(str::to_owned);
    let principal = match (header_principal, token) {
        (Some(principal), _) => Some(principal),
        (None, Some(token)) => Some(app.bearer_principal(&token).await?),
        (None, None) => None,
    };
    let settings = &app.config.live;
    let max = settings.ws_max_message_bytes;
    let app = app.clone();
    let request_id = request_id.to_owned();
    Ok(upgrade.accept(
        |upgrade| {
            upgrade
                .protocols([PROTOCOL])
                .max_message_size(max)
                .max_frame_size(max)
                // Small buffers: most sessions are idle most of the time.
                .read_buffer_size(4 * 1024)
                .write_buffer_size(0)
                .max_write_buffer_size(max.saturating_mul(4))
        },
        move |socket| run(app, socket, principal, request_id),
    ))
}

/// One frame for the writer task.
enum Outbound {
    Text(String),
    Ping,
    Close(u16, &'static str),
}

/// `None` while the credentials a session acts with hold; otherwise why
/// the session must close.
async fn credentials_lapsed(app: &App, principal: &Principal) -> Option<&'static str> {
    let CredentialKind::AccessToken {
        session_id,
        expires_at,
    } = principal.via
    else {
        return None;
    };
    if chrono::Utc::now().timestamp() >= expires_at {
        return Some("access token expired");
    }
    match crate::users::find_in_session(&app.store, principal.user_id, session_id).await {
        Ok(Some(_)) => None,
        Ok(None) => Some("access token revoked"),
        // The database is unavailable: keep the session, check again later.
        Err(_) => None,
    }
}

struct Session {
    app: App,
    /// Who the session acts for, once authenticated.
    principal: Option<Principal>,
    out: mpsc::Sender<Outbound>,
    /// Cancelled when the client cannot keep up or the connection failed.
    dropped: CancellationToken,
    subscriptions: HashMap<Uuid, tokio::task::JoinHandle<()>>,
    /// The handshake's request id, quoted by every problem of the session.
    request_id: String,
}

async fn run(app: App, socket: WebSocket, principal: Option<Principal>, request_id: String) {
    let _open = Open::new(&app, true);
    let settings = app.config.live.clone();
    let (sink, mut stream) = socket.split();
    let (out, queue) = mpsc::channel(settings.ws_queue);
    let dropped = CancellationToken::new();
    let writer = tokio::spawn(write_frames(
        sink,
        queue,
        settings.ws_send_timeout,
        dropped.clone(),
    ));
    let mut session = Session {
        app,
        principal,
        out,
        dropped: dropped.clone(),
        subscriptions: HashMap::new(),
        request_id,
    };
    if let Some(principal) = &session.principal {
        session.send(&ready(principal.user_id));
    }
    let closing = session.read(&mut stream, &settings).await;
    for (_, task) in session.subscriptions.drain() {
        task.abort();
    }
    match closing {
        Some((code, reason)) if !dropped.is_cancelled() => {
            // Queue the close frame behind what is already queued; a client
            // too slow to take it is dropped by the writer's timeout.
            let _ = session.out.try_send(Outbound::Close(code, reason));
            drop(session);
            let _ = tokio::time::timeout(settings.ws_send_timeout * 2, writer).await;
        }
        _ => writer.abort(),
    }
}

/// Writes queued frames; stops (and marks the session dropped) when a write
/// fails or takes longer than `send_timeout`.
async fn write_frames(
    mut sink: futures::stream::SplitSink<WebSocket, Message>,
    mut queue: mpsc::Receiver<Outbound>,
    send_timeout: Duration,
    dropped: CancellationToken,
) {
    while let Some(outbound) = queue.recv().await {
        let (frame, last) = match outbound {
            Outbound::Text(text) => (Message::Text(text.into()), false),
            Outbound::Ping => (Message::Ping(Default::default()), false),
            Outbound::Close(code, reason) => (
                Message::Close(Some(CloseFrame {
                    code,
                    reason: reason.into(),
                })),
                true,
            ),
        };
        match tokio::time::timeout(send_timeout, sink.send(frame)).await {
            Ok(Ok(())) if !last => {}
            Ok(Ok(())) => break,
            Ok(Err(_)) | Err(_) => {
                dropped.cancel();
                return;
            }
        }
    }
    let _ = tokio::time::timeout(send_timeout, sink.close()).await;
}

impl Session {
    /// Queues a message; a full queue means the client is not reading, and
    /// it is dropped rather than buffered without bound.
    fn send(&self, message: &WsServerMessage) {
        queue(&self.out, &self.dropped, message);
    }

    fn error(&self, request_id: Option<&str>, mut problem: Problem) {
        problem.request_id.clone_from(&self.request_id);
        problem.instance = Some(WS_PATH.into());
        self.send(&WsServerMessage::WsError(WsError {
            r#type: WsErrorType::Error,
            request_id: request_id.map(str::to_owned),
            problem,
        }));
    }

    /// Reads client frames until the session ends; the close code and
    /// reason to send, if any.
    async fn read(
        &mut self,
        stream: &mut futures::stream::SplitStream<WebSocket>,
        settings: &Settings,
    ) -> Option<(u16, &'static str)> {
        let app = self.app.clone();
        let auth_deadline = tokio::time::Instant::now() + settings.ws_auth_timeout;
        let mut ping = tokio::time::interval(settings.ws_ping_interval);
        ping.tick().await;
        let mut last_heard = tokio::time::Instant::now();
        loop {
            tokio::select! {
                _ = app.shutdown.cancelled() => return Some((close::GOING_AWAY, "server shutting down")),
                _ = self.dropped.cancelled() => return None,
                _ = tokio::time::sleep_until(auth_deadline), if self.principal.is_none() => {
                    return Some((close::POLICY, "authentication required"));
                }
                _ = ping.tick() => {
                    if last_heard.elapsed() >= settings.ws_idle_timeout {
                        return Some((close::NORMAL, "idle timeout"));
                    }
                    if let Some(principal) = &self.principal
                        && let Some(reason) = credentials_lapsed(&app, principal).await
                    {
                        return Some((close::POLICY, reason));
                    }
                    if self.out.try_send(Outbound::Ping).is_err() {
                        self.dropped.cancel();
                    }
                }
                frame = stream.next() => {
                    last_heard = tokio::time::Instant::now();
                    match frame {
                        None => return None,
                        Some(Err(error)) => {
                            return is_capacity_error(&error)
                                .then_some((close::TOO_BIG, "message too big"));
                        }
                        Some(Ok(Message::Text(text))) => {
                            if let Some(closing) = self.handle(text.as_str()).await {
                                return Some(closing);
                            }
                        }
                        Some(Ok(Message::Binary(_))) => {
                            return Some((close::UNSUPPORTED, "text messages only"));
                        }
                        Some(Ok(Message::Close(_))) => return Some((close::NORMAL, "")),
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    }
                }
            }
        }
    }

    /// Handles one client message; `Some` when the session must close.
    async fn handle(&mut self, text: &str) -> Option<(u16, &'static str)> {
        let value: Value = match serde_json::from_str(text) {
            Ok(value) => value,
            Err(error) => {
                self.error(
                    None,
                    Problem::bad_request(
                        "MALFORMED_JSON",
                        format!("The message is not valid JSON: {error}."),
                    ),
                );
                return None;
            }
        };
        let request_id = value
            .get("request_id")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let message = match parse_message(&value) {
            Ok(message) => message,
            Err(problem) => {
                self.error(request_id.as_deref(), problem);
                return None;
            }
        };
        // Every message is authorized afresh: the session's credentials
        // first, then the message's own target.
        let principal = match (&self.principal, &message) {
            (_, WsClientMessage::WsAuth(auth)) => return self.authenticate(&auth.token).await,
            (None, _) => return Some((close::POLICY, "authentication required")),
            (Some(principal), _) => principal.clone(),
        };
        if let Some(reason) = credentials_lapsed(&self.app, &principal).await {
            return Some((close::POLICY, reason));
        }
        match message {
            WsClientMessage::WsSubscribe(subscribe) => {
                let channel = subscribe.channel_id;
                match self
                    .subscribe(
                        &principal,
                        channel,
                        subscribe.last_event_id,
                        subscribe.edits,
                    )
                    .await
                {
                    Ok(after) => self.send(&WsServerMessage::WsSubscribed(WsSubscribed {
                        r#type: WsSubscribedType::Subscribed,
                        channel_id: channel,
                        last_event_id: after,
                    })),
                    Err(problem) => self.error(None, problem),
                }
            }
            WsClientMessage::WsUnsubscribe(unsubscribe) => {
                let channel = unsubscribe.channel_id;
                if let Some(task) = self.subscriptions.remove(&channel) {
                    task.abort();
                }
                self.send(&unsubscribed(channel));
            }
            WsClientMessage::WsPost(post) => {
                let posted = crate::messages::post(
                    &self.app.store,
                    &self.app.posts,
                    principal.user_id,
                    post.channel_id,
                    &post.body,
                    None,
                )
                .await;
                match posted {
                    Ok(row) => self.send(&WsServerMessage::WsAck(WsAck {
                        r#type: WsAckType::Ack,
                        request_id: post.request_id,
                        message: message_model(&row),
                    })),
                    Err(problem) => self.error(Some(&post.request_id), problem),
                }
            }
            // Answered above.
            WsClientMessage::WsAuth(_) => {}
        }
        None
    }

    /// `auth`: identifies an unauthenticated session, or renews the
    /// credentials of an authenticated one (same user only).
    async fn authenticate(&mut self, token: &str) -> Option<(u16, &'static str)> {
        let principal = match self.app.bearer_principal(token).await {
            Ok(principal) => principal,
            Err(_) if self.principal.is_none() => {
                return Some((close::POLICY, "invalid access token"));
            }
            Err(problem) => {
                self.error(None, problem);
                return None;
            }
        };
        if let Some(current) = &self.principal
            && current.user_id != principal.user_id
        {
            return Some((close::POLICY, "a session cannot change users"));
        }
        self.send(&ready(principal.user_id));
        self.principal = Some(principal);
        None
    }

    /// Starts following `channel` (message edits only with `edits`); the
    /// seq delivery starts after.
    async fn subscribe(
        &mut self,
        principal: &Principal,
        channel: Uuid,
        last_event_id: Option<i64>,
        edits: bool,
    ) -> Result<i64, Problem> {
        let mut follower =
            follow_visible(&self.app, principal.user_id, channel, last_event_id).await?;
        let start = follower.cursor();
        let app = self.app.clone();
        let out = self.out.clone();
        let dropped = self.dropped.clone();
        let viewer = principal.user_id;
        let task = tokio::spawn(async move {
            loop {
                let event = match follower.next().await {
                    Ok(Some(event)) => event,
                    Ok(None) | Err(_) => break,
                };
                if !wanted(&event, edits) {
                    continue;
                }
                let Ok(message) = event_message(&event) else {
                    break;
                };
                queue_text(&out, &dropped, message.to_string());
                if event.kind == EventKind::ChannelDeleted
                    || !channels::still_visible_after(&app.store, viewer, &event).await
                {
                    break;
                }
            }
            queue(&out, &dropped, &unsubscribed(channel));
        });
        if let Some(previous) = self.subscriptions.insert(channel, task) {
            previous.abort();
        }
        Ok(start)
    }
}

/// Queues a server message; a message that cannot be rendered (never for
/// these types) or a full queue drops the session.
fn queue(out: &mpsc::Sender<Outbound>, dropped: &CancellationToken, message: &WsServerMessage) {
    match serde_json::to_string(message) {
        Ok(text) => queue_text(out, dropped, text),
        Err(_) => dropped.cancel(),
    }
}

fn queue_text(out: &mpsc::Sender<Outbound>, dropped: &CancellationToken, text: String) {
    if out.try_send(Outbound::Text(text)).is_err() {
        dropped.cancel();
    }
}

/// A client message checked against the spec's `WsClientMessage` schema.
fn parse_message(value: &Value) -> Result<WsClientMessage, Problem> {
    let violations = WS_CLIENT_MESSAGE_SCHEMA.violations(value)?;
    if !violations.is_empty() {
        return Err(Problem::validation(violations));
    }
    serde_json::from_value(value.clone()).map_err(|error| {
        Problem::unprocessable(
            "VALIDATION_FAILED",
            format!("The message is not a WsClientMessage: {error}."),
        )
    })
}

fn is_capacity_error(error: &axum::Error) -> bool {
    use std::error::Error as _;
    let mut source = error.source();
    while let Some(cause) = source {
        if let Some(tungstenite) = cause.downcast_ref::<tungstenite::Error>() {
            return matches!(tungstenite, tungstenite::Error::Capacity(_));
        }
        source = cause.source();
    }
    false
}
