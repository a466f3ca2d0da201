//! Live events on top of the generated v2 client: a typed, self-resuming
//! SSE stream of one channel ([`ChannelEvents`]) and a typed WebSocket
//! session ([`Session`]).

use std::time::Duration;

use futures::{SinkExt, Stream, StreamExt};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message as Frame;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role};
use uuid::Uuid;

use crate::v2::{self, types};

pub use tokio_tungstenite::{self, tungstenite};

/// What can go wrong on a live connection.
#[derive(Debug)]
pub enum LiveError {
    /// The server refused the request with a problem document.
    Refused(types::Problem),
    /// The server answered with an unexpected status.
    Status(reqwest::StatusCode),
    /// Transport or protocol failure.
    Transport(String),
    /// A message that does not match the contract.
    Contract(String),
}

impl std::fmt::Display for LiveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LiveError::Refused(problem) => write!(
                f,
                "refused: {} {}",
                problem.status,
                problem.detail.as_deref().unwrap_or(&problem.title)
            ),
            LiveError::Status(status) => write!(f, "unexpected status {status}"),
            LiveError::Transport(error) => write!(f, "transport: {error}"),
            LiveError::Contract(error) => write!(f, "contract: {error}"),
        }
    }
}

impl std::error::Error for LiveError {}

async fn refusal(error: crate::Error<types::Problem>) -> LiveError {
    match error {
        crate::Error::ErrorResponse(problem) => LiveError::Refused(problem.into_inner()),
        crate::Error::UnexpectedResponse(response) => {
            let status = response.status();
            match response.json::<types::Problem>().await {
                Ok(problem) => LiveError::Refused(problem),
                Err(_) => LiveError::Status(status),
            }
        }
        other => LiveError::Transport(other.to_string()),
    }
}

/// The `seq` of an event, its position in its channel's log.
pub fn seq(event: &types::ChannelEvent) -> i64 {
    use types::ChannelEvent as E;
    let seq = match event {
        E::MessageCreatedEvent(e) => e.seq,
        E::MessageDeletedEvent(e) => e.seq,
        E::ChannelUpdatedEvent(e) => e.seq,
        E::ChannelDeletedEvent(e) => e.seq,
        E::MemberAddedEvent(e) => e.seq,
        E::MemberRemovedEvent(e) => e.seq,
        E::MessageUpdatedEvent(e) => e.seq,
    };
    i64::try_from(seq.get()).unwrap_or(i64::MAX)
}

type SseStream = std::pin::Pin<
    Box<
        dyn Stream<
                Item = Result<
                    eventsource_stream::Event,
                    eventsource_stream::EventStreamError<reqwest::Error>,
                >,
            > + Send,
    >,
>;

/// The events of one channel over SSE, typed, reconnecting by itself: after
/// a dropped connection it resumes with `Last-Event-ID`, so no event is
/// missed or repeated.
pub struct ChannelEvents {
    client: v2::Client,
    channel: Uuid,
    last_event_id: Option<i64>,
    /// Whether `message.updated` events are asked for.
    edits: bool,
    retry: Duration,
    /// Reconnections in a row that failed; gives up after [`Self::MAX_RETRIES`].
    failures: u32,
    stream: Option<SseStream>,
    ended: bool,
}

impl ChannelEvents {
    pub const MAX_RETRIES: u32 = 5;

    /// Opens the stream. `last_event_id` resumes after that `seq`; `None`
    /// starts with the next event.
    pub async fn connect(
        client: &v2::Client,
        channel: Uuid,
        last_event_id: Option<i64>,
    ) -> Result<ChannelEvents, LiveError> {
        Self::open_with(client, channel, last_event_id, false).await
    }

    /// [`ChannelEvents::connect`], with message edits (`message.updated`)
    /// delivered too.
    pub async fn connect_with_edits(
        client: &v2::Client,
        channel: Uuid,
        last_event_id: Option<i64>,
    ) -> Result<ChannelEvents, LiveError> {
        Self::open_with(client, channel, last_event_id, true).await
    }

    async fn open_with(
        client: &v2::Client,
        channel: Uuid,
        last_event_id: Option<i64>,
        edits: bool,
    ) -> Result<ChannelEvents, LiveError> {
        let mut events = ChannelEvents {
            client: client.clone(),
            channel,
            last_event_id,
            edits,
            retry: Duration::from_secs(2),
            failures: 0,
            stream: None,
            ended: false,
        };
        events.open().await?;
        Ok(events)
    }

    /// The `seq` of the last event received (or the starting point).
    pub fn last_event_id(&self) -> Option<i64> {
        self.last_event_id
    }

    async fn open(&mut self) -> Result<(), LiveError> {
        let mut request = self.client.stream_channel_events().channel_id(self.channel);
        if self.edits {
            request = request.edits(true);
        }
        if let Some(seq) = self.last_event_id {
            request = request.last_event_id(seq);
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(error) => return Err(refusal(error).await),
        };
        let bytes = response.into_inner().into_inner();
        self.stream = Some(Box::pin(eventsource_stream::Eventsource::eventsource(
            bytes,
        )));
        Ok(())
    }

    /// The next event; `None` when the channel was deleted (or the follower
    /// lost access to it). A dropped connection is resumed transparently.
    pub async fn next(&mut self) -> Option<Result<types::ChannelEvent, LiveError>> {
        loop {
            if self.ended {
                return None;
            }
            let item = match self.stream.as_mut() {
                Some(stream) => stream.next().await,
                None => None,
            };
            match item {
                Some(Ok(event)) => {
                    if let Some(retry) = event.retry {
                        self.retry = retry.min(Duration::from_secs(30));
                    }
                    if event.data.is_empty() {
                        continue;
                    }
                    self.failures = 0;
                    let parsed: types::ChannelEvent = match serde_json::from_str(&event.data) {
                        Ok(parsed) => parsed,
                        Err(error) => return Some(Err(LiveError::Contract(error.to_string()))),
                    };
                    self.last_event_id = Some(seq(&parsed));
                    if matches!(parsed, types::ChannelEvent::ChannelDeletedEvent(_)) {
                        self.ended = true;
                    }
                    return Some(Ok(parsed));
                }
                // The connection ended or broke: resume after the last event.
                Some(Err(_)) | None => {
                    self.stream = None;
                    if self.failures > 0 {
                        tokio::time::sleep(self.retry).await;
                    }
                    self.failures += 1;
                    match self.open().await {
                        Ok(()) => {}
                        // Gone or no longer visible: the stream is over.
                        Err(LiveError::Refused(problem)) if problem.status == 404 => {
                            self.ended = true;
                            return None;
                        }
                        Err(error @ LiveError::Refused(_)) => {
                            self.ended = true;
                            return Some(Err(error));
                        }
                        Err(error) if self.failures >= Self::MAX_RETRIES => {
                            self.ended = true;
                            return Some(Err(error));
                        }
                        Err(_) => {}
                    }
                }
            }
        }
    }
}

/// A WebSocket session (`GET /api/v2/ws`), speaking the contract's
/// `WsClientMessage` / `WsServerMessage` documents.
pub struct Session {
    socket: WebSocketStream<reqwest::Upgraded>,
    /// Server messages read while waiting for something else (an `ack`).
    pending: std::collections::VecDeque<types::WsServerMessage>,
    next_request: u64,
}

/// How a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closed {
    pub code: u16,
    pub reason: String,
}

impl Session {
    /// Opens a session authenticated by `token`, sent as the
    /// `charter.bearer.<token>` subprotocol; waits for `ready`.
    pub async fn connect(client: &v2::Client, token: &str) -> Result<Session, LiveError> {
        let protocols = format!("charter.v2, charter.bearer.{token}");
        let mut session = Session::open(client, Some(protocols)).await?;
        match session.receive().await? {
            types::WsServerMessage::Ready(_) => Ok(session),
            other => Err(LiveError::Contract(format!(
                "expected ready, got {other:?}"
            ))),
        }
    }

    /// Opens a session without authenticating it: the first message must
    /// then be [`Session::authenticate`] (or the client is already
    /// authenticated by the `client`'s `Authorization` header).
    pub async fn open(
        client: &v2::Client,
        protocols: Option<String>,
    ) -> Result<Session, LiveError> {
        let mut request = client.connect_web_socket();
        if let Some(protocols) = protocols {
            request = request.sec_web_socket_protocol(protocols);
        }
        let upgraded = match request.send().await {
            Ok(response) => response.into_inner(),
            Err(error) => return Err(refusal(error).await),
        };
        let socket = WebSocketStream::from_raw_socket(upgraded, Role::Client, None).await;
        Ok(Session {
            socket,
            pending: Default::default(),
            next_request: 0,
        })
    }

    /// Sends one client message.
    pub async fn send(&mut self, message: &types::WsClientMessage) -> Result<(), LiveError> {
        let text =
            serde_json::to_string(message).map_err(|e| LiveError::Contract(e.to_string()))?;
        self.socket
            .send(Frame::Text(text.into()))
            .await
            .map_err(|e| LiveError::Transport(e.to_string()))
    }

    /// `auth` with an access token; waits for `ready`.
    pub async fn authenticate(&mut self, token: &str) -> Result<(), LiveError> {
        let auth = types::WsAuth {
            type_: types::WsAuthType::Auth,
            token: token
                .parse()
                .map_err(|e| LiveError::Contract(format!("{e}")))?,
        };
        self.send(&types::WsClientMessage::Auth(auth)).await?;
        match self.receive().await? {
            types::WsServerMessage::Ready(_) => Ok(()),
            types::WsServerMessage::Error(error) => Err(LiveError::Refused(error.problem)),
            other => Err(LiveError::Contract(format!(
                "expected ready, got {other:?}"
            ))),
        }
    }

    /// Subscribes to a channel (after `last_event_id` when given); returns
    /// the `seq` after which events will follow.
    pub async fn subscribe(
        &mut self,
        channel: Uuid,
        last_event_id: Option<i64>,
    ) -> Result<i64, LiveError> {
        self.subscribe_with(channel, last_event_id, false).await
    }

    /// [`Session::subscribe`], with message edits (`message.updated`)
    /// delivered too.
    pub async fn subscribe_with_edits(
        &mut self,
        channel: Uuid,
        last_event_id: Option<i64>,
    ) -> Result<i64, LiveError> {
        self.subscribe_with(channel, last_event_id, true).await
    }

    async fn subscribe_with(
        &mut self,
        channel: Uuid,
        last_event_id: Option<i64>,
        edits: bool,
    ) -> Result<i64, LiveError> {
        let subscribe = types::WsSubscribe {
            type_: types::WsSubscribeType::Subscribe,
            channel_id: channel,
            last_event_id,
            edits,
        };
        self.send(&types::WsClientMessage::Subscribe(subscribe))
            .await?;
        loop {
            match self.receive_direct().await? {
                types::WsServerMessage::Subscribed(s) if s.channel_id == channel => {
                    return Ok(s.last_event_id);
                }
                types::WsServerMessage::Error(error) if error.request_id.is_none() => {
                    return Err(LiveError::Refused(error.problem));
                }
                other => self.pending.push_back(other),
            }
        }
    }

    /// Stops a subscription.
    pub async fn unsubscribe(&mut self, channel: Uuid) -> Result<(), LiveError> {
        let unsubscribe = types::WsUnsubscribe {
            type_: types::WsUnsubscribeType::Unsubscribe,
            channel_id: channel,
        };
        self.send(&types::WsClientMessage::Unsubscribe(unsubscribe))
            .await
    }

    /// Posts a message and waits for its acknowledgement.
    pub async fn post(&mut self, channel: Uuid, body: &str) -> Result<types::Message, LiveError> {
        self.next_request += 1;
        let request_id = format!("r{}", self.next_request);
        let post = types::WsPost {
            type_: types::WsPostType::Post,
            request_id: request_id
                .parse()
                .map_err(|e| LiveError::Contract(format!("{e}")))?,
            channel_id: channel,
            body: body
                .parse()
                .map_err(|e| LiveError::Contract(format!("{e}")))?,
        };
        self.send(&types::WsClientMessage::Post(post)).await?;
        loop {
            match self.receive_direct().await? {
                types::WsServerMessage::Ack(ack) if ack.request_id == request_id => {
                    return Ok(ack.message);
                }
                types::WsServerMessage::Error(error)
                    if error.request_id.as_deref() == Some(&request_id) =>
                {
                    return Err(LiveError::Refused(error.problem));
                }
                other => self.pending.push_back(other),
            }
        }
    }

    /// The next server message (events, errors, ...).
    pub async fn receive(&mut self) -> Result<types::WsServerMessage, LiveError> {
        match self.pending.pop_front() {
            Some(message) => Ok(message),
            None => self.receive_direct().await,
        }
    }

    /// The next event of any subscribed channel, skipping other messages.
    pub async fn next_event(&mut self) -> Result<types::ChannelEvent, LiveError> {
        loop {
            if let types::WsServerMessage::Event(event) = self.receive().await? {
                return Ok(event.event);
            }
        }
    }

    async fn receive_direct(&mut self) -> Result<types::WsServerMessage, LiveError> {
        loop {
            let frame = match self.socket.next().await {
                Some(Ok(frame)) => frame,
                Some(Err(error)) => return Err(LiveError::Transport(error.to_string())),
                None => return Err(LiveError::Transport("connection closed".into())),
            };
            match frame {
                Frame::Text(text) => {
                    return serde_json::from_str(text.as_str())
                        .map_err(|e| LiveError::Contract(format!("{e}: {}", text.as_str())));
                }
                Frame::Close(frame) => {
                    let closed = closed(frame);
                    return Err(LiveError::Transport(format!(
                        "closed by the server: {} {}",
                        closed.code, closed.reason
                    )));
                }
                _ => {}
            }
        }
    }

    /// Waits for the server to close the session, answering pings meanwhile
    /// and discarding messages; the close code and reason.
    pub async fn closed(&mut self) -> Option<Closed> {
        while let Some(frame) = self.socket.next().await {
            if let Ok(Frame::Close(frame)) = frame {
                return Some(closed(frame));
            }
            frame.ok()?;
        }
        None
    }

    /// Closes the session normally.
    pub async fn close(mut self) -> Result<(), LiveError> {
        self.socket
            .close(None)
            .await
            .map_err(|e| LiveError::Transport(e.to_string()))
    }

    /// The underlying WebSocket, for frames outside the contract.
    pub fn socket(&mut self) -> &mut WebSocketStream<reqwest::Upgraded> {
        &mut self.socket
    }
}

fn closed(frame: Option<CloseFrame>) -> Closed {
    match frame {
        Some(frame) => Closed {
            code: frame.code.into(),
            reason: frame.reason.as_str().to_owned(),
        },
        None => Closed {
            code: 1005,
            reason: String::new(),
        },
    }
}
