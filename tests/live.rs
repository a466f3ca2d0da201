//! Live events over HTTP: the SSE stream of a channel and WebSocket
//! sessions, driven through `charter-client`'s typed readers, on both
//! backends; with PostgreSQL, across two server instances.

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use charter_client::live::tungstenite::Message as Frame;
use charter_client::live::{ChannelEvents, LiveError, Session, seq};
use charter_client::{Credentials, v2};
use common::{Backend, TestServer, TestUser, anonymous_client, channel, post, read_until, types};
use futures::{SinkExt, StreamExt};
use tokio::sync::Mutex;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(10);

async fn add_member(owner: &TestUser, channel: Uuid, user: Uuid) {
    owner
        .client
        .add_channel_member()
        .channel_id(channel)
        .user_id(user)
        .send()
        .await
        .expect("add member");
}

async fn next_event(events: &mut ChannelEvents) -> types::ChannelEvent {
    tokio::time::timeout(WAIT, events.next())
        .await
        .expect("an event in time")
        .expect("the stream goes on")
        .expect("a valid event")
}

/// The message id of a `message.created` event.
fn created(event: &types::ChannelEvent) -> Uuid {
    match event {
        types::ChannelEvent::MessageCreatedEvent(e) => e.data.id,
        other => panic!("expected message.created, got {other:?}"),
    }
}

async fn ws_event(session: &mut Session) -> types::ChannelEvent {
    tokio::time::timeout(WAIT, session.next_event())
        .await
        .expect("an event in time")
        .expect("a valid event")
}

async fn closed_with(session: &mut Session) -> u16 {
    tokio::time::timeout(WAIT, session.closed())
        .await
        .expect("closed in time")
        .expect("a close frame")
        .code
}

fn refused_status<T>(result: Result<T, LiveError>) -> (u16, String) {
    match result {
        Err(LiveError::Refused(problem)) => (problem.status as u16, problem.code.to_string()),
        Err(other) => panic!("expected a refusal, got {other:?}"),
        Ok(_) => panic!("expected a refusal, got a success"),
    }
}

async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !condition() {
        assert!(tokio::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---------------------------------------------------------------------------
// Server-sent events

contract_test!(
    sse_delivers_typed_events_and_resumes_with_last_event_id,
    |server| {
        let alice = server.user("Alice").await;
        let room = channel(&alice, "room", types::ChannelVisibility::Public)
            .await
            .id;
        let before = post(&alice, room, "before the stream").await;

        // Without Last-Event-ID only new events come.
        let mut events = ChannelEvents::connect(&alice.client, room, None)
            .await
            .expect("open the stream");
        let mut posted = Vec::new();
        for i in 0..3 {
            posted.push(post(&alice, room, &format!("live {i}")).await.id);
        }
        let mut received = Vec::new();
        for _ in 0..3 {
            received.push(next_event(&mut events).await);
        }
        assert_eq!(received.iter().map(created).collect::<Vec<_>>(), posted);
        assert!(!posted.contains(&before.id));
        let last = events.last_event_id().expect("a last event id");
        drop(events);

        // Disconnected: two more events happen; resuming from `last` gets them,
        // then the live stream, each once.
        let missed = [
            post(&alice, room, "missed 1").await.id,
            post(&alice, room, "missed 2").await.id,
        ];
        let mut events = ChannelEvents::connect(&alice.client, room, Some(last))
            .await
            .expect("resume");
        let first = next_event(&mut events).await;
        assert_eq!(seq(&first), last + 1);
        assert_eq!(created(&first), missed[0]);
        assert_eq!(created(&next_event(&mut events).await), missed[1]);
        let live = post(&alice, room, "live again").await.id;
        let event = next_event(&mut events).await;
        assert_eq!((seq(&event), created(&event)), (last + 3, live));
    }
);

/// The edited message of a `message.updated` event.
fn updated(event: &types::ChannelEvent) -> (Uuid, String) {
    match event {
        types::ChannelEvent::MessageUpdatedEvent(e) => (e.data.id, e.data.body.to_string()),
        other => panic!("expected message.updated, got {other:?}"),
    }
}

contract_test!(
    edits_reach_sse_and_websocket_followers_that_ask_for_them_only,
    |server| {
        let alice = server.user("Alice").await;
        let room = channel(&alice, "room", types::ChannelVisibility::Public)
            .await
            .id;
        let mut with_edits = ChannelEvents::connect_with_edits(&alice.client, room, None)
            .await
            .expect("SSE with edits");
        let mut without = ChannelEvents::connect(&alice.client, room, None)
            .await
            .expect("SSE");
        let mut session = Session::connect(&server.anonymous(), &alice.access_token)
            .await
            .expect("WebSocket");
        session
            .subscribe_with_edits(room, None)
            .await
            .expect("subscribe with edits");
        let mut plain = Session::connect(&server.anonymous(), &alice.access_token)
            .await
            .expect("WebSocket");
        plain.subscribe(room, None).await.expect("subscribe");

        let first = post(&alice, room, "teh plan").await.id;
        alice
            .client
            .update_message()
            .channel_id(room)
            .message_id(first)
            .body(types::UpdateMessageRequest {
                body: "the plan".parse().expect("body"),
            })
            .send()
            .await
            .expect("edit");
        let second = post(&alice, room, "next").await.id;

        // Asked for: created, updated (with the new body), created.
        for events in [
            [
                next_event(&mut with_edits).await,
                next_event(&mut with_edits).await,
                next_event(&mut with_edits).await,
            ],
            [
                ws_event(&mut session).await,
                ws_event(&mut session).await,
                ws_event(&mut session).await,
            ],
        ] {
            assert_eq!(created(&events[0]), first);
            assert_eq!(updated(&events[1]), (first, "the plan".to_owned()));
            assert_eq!(seq(&events[1]), seq(&events[0]) + 1);
            assert_eq!(created(&events[2]), second);
        }
        // Not asked for: the edit's seq is skipped, nothing else is.
        for events in [
            [
                next_event(&mut without).await,
                next_event(&mut without).await,
            ],
            [ws_event(&mut plain).await, ws_event(&mut plain).await],
        ] {
            assert_eq!(created(&events[0]), first);
            assert_eq!(created(&events[1]), second);
            assert_eq!(seq(&events[1]), seq(&events[0]) + 2);
        }

        // Resuming with edits replays the stored edit too.
        let mut resumed = ChannelEvents::connect_with_edits(&alice.client, room, Some(0))
            .await
            .expect("resume");
        let replayed = [
            next_event(&mut resumed).await,
            next_event(&mut resumed).await,
        ];
        assert_eq!(updated(&replayed[1]), (first, "the plan".to_owned()));
    }
);

contract_test!(
    sse_stream_advertises_retry_and_keeps_alive,
    config = |config| config.live.sse_keep_alive = Duration::from_millis(300),
    |server| {
        let alice = server.user("Alice").await;
        let room = channel(&alice, "room", types::ChannelVisibility::Public)
            .await
            .id;
        let response = server
            .raw()
            .get(server.url(&format!("/api/v2/channels/{room}/events")))
            .bearer_auth(&alice.access_token)
            // What a browser's EventSource sends.
            .header("accept", "text/event-stream")
            .send()
            .await
            .expect("open the stream");
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-type"].to_str().expect("ascii"),
            "text/event-stream"
        );
        let mut body = response.bytes_stream();
        let mut text = String::new();
        read_until(&mut body, &mut text, |text| {
            text.contains("retry: 2000") && text.lines().any(|l| l.starts_with(':'))
        })
        .await;
        post(&alice, room, "hello").await;
        read_until(&mut body, &mut text, |text| {
            text.contains("event: message.created")
        })
        .await;
        // Only where the operation streams: a JSON operation refuses it.
        let refused = server
            .raw()
            .get(server.url("/api/v2/me"))
            .bearer_auth(&alice.access_token)
            .header("accept", "text/event-stream")
            .send()
            .await
            .expect("request");
        assert_eq!(refused.status(), 406);
        assert!(
            text.contains("id: 1\n") || text.contains("id: 2\n"),
            "{text}"
        );
    }
);

/// A TCP relay in front of the server whose connections can be cut.
struct Relay {
    base: String,
    connections: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Relay {
    async fn start(target: &str) -> Relay {
        let target = target.trim_start_matches("http://").to_owned();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let connections: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
        let tracked = connections.clone();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                tracked.lock().await.push(task);
            }
        });
        Relay { base, connections }
    }

    /// Drops every open connection, as a network failure would.
    async fn cut(&self) {
        for task in self.connections.lock().await.drain(..) {
            task.abort();
        }
    }
}

contract_test!(
    sse_client_resumes_by_itself_after_a_dropped_connection,
    |server| {
        let alice = server.user("Alice").await;
        let room = channel(&alice, "room", types::ChannelVisibility::Public)
            .await
            .id;
        let relay = Relay::start(&server.base).await;
        let through_relay = charter_client::v2_client(
            &relay.base,
            &Credentials::Bearer(alice.access_token.clone()),
        )
        .expect("client");
        let mut events = ChannelEvents::connect(&through_relay, room, None)
            .await
            .expect("open the stream");
        let first = post(&alice, room, "one").await.id;
        assert_eq!(created(&next_event(&mut events).await), first);

        relay.cut().await;
        let during = [
            post(&alice, room, "two").await.id,
            post(&alice, room, "three").await.id,
        ];
        // The client notices the cut, reconnects with Last-Event-ID and gets
        // what it missed: no gap, no duplicate.
        let mut seqs = vec![1];
        for expected in during {
            let event = next_event(&mut events).await;
            seqs.push(seq(&event));
            assert_eq!(created(&event), expected);
        }
        assert_eq!(seqs, vec![1, 2, 3]);
    }
);

contract_test!(sse_refuses_outsiders_and_anonymous_clients, |server| {
    let alice = server.user("Alice").await;
    let bob = server.user("Bob").await;
    let secret = channel(&alice, "secret", types::ChannelVisibility::Private)
        .await
        .id;
    let (status, code) = refused_status(ChannelEvents::connect(&bob.client, secret, None).await);
    assert_eq!((status, code.as_str()), (404, "NOT_FOUND"));
    let (status, _) =
        refused_status(ChannelEvents::connect(&server.anonymous(), secret, None).await);
    assert_eq!(status, 401);
    let (status, _) =
        refused_status(ChannelEvents::connect(&alice.client, Uuid::new_v4(), None).await);
    assert_eq!(status, 404);
    // A Last-Event-ID that is not a seq is a validation error.
    let response = server
        .raw()
        .get(server.url(&format!("/api/v2/channels/{secret}/events")))
        .bearer_auth(&alice.access_token)
        .header("last-event-id", "abc")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 422);
});

contract_test!(
    a_removed_member_stops_receiving_a_private_channel,
    |server| {
        let alice = server.user("Alice").await;
        let bob = server.user("Bob").await;
        let secret = channel(&alice, "secret", types::ChannelVisibility::Private)
            .await
            .id;
        add_member(&alice, secret, bob.id).await;
        let mut events = ChannelEvents::connect(&bob.client, secret, None)
            .await
            .expect("a member may follow");
        post(&alice, secret, "for members").await;
        next_event(&mut events).await;
        alice
            .client
            .remove_channel_member()
            .channel_id(secret)
            .user_id(bob.id)
            .send()
            .await
            .expect("remove bob");
        match next_event(&mut events).await {
            types::ChannelEvent::MemberRemovedEvent(e) => assert_eq!(e.data.user_id, bob.id),
            other => panic!("expected member.removed, got {other:?}"),
        }
        post(&alice, secret, "after bob left").await;
        // The server ended the stream, and reconnecting is refused: over.
        let end = tokio::time::timeout(WAIT, events.next())
            .await
            .expect("in time");
        assert!(end.is_none(), "{end:?}");
    }
);

contract_test!(deleting_the_channel_ends_its_stream, |server| {
    let alice = server.user("Alice").await;
    let room = channel(&alice, "room", types::ChannelVisibility::Public)
        .await
        .id;
    let mut events = ChannelEvents::connect(&alice.client, room, None)
        .await
        .expect("open");
    alice
        .client
        .delete_channel()
        .channel_id(room)
        .send()
        .await
        .expect("delete");
    assert!(matches!(
        next_event(&mut events).await,
        types::ChannelEvent::ChannelDeletedEvent(_)
    ));
    let end = tokio::time::timeout(WAIT, events.next())
        .await
        .expect("in time");
    assert!(end.is_none(), "{end:?}");
});

// ---------------------------------------------------------------------------
// WebSocket

contract_test!(
    websocket_subscribes_posts_with_ack_and_receives_events,
    |server| {
        let alice = server.user("Alice").await;
        let room = channel(&alice, "room", types::ChannelVisibility::Public)
            .await
            .id;
        let mut session = Session::connect(&server.anonymous(), &alice.access_token)
            .await
            .expect("connect with the token as subprotocol");
        let after = session.subscribe(room, None).await.expect("subscribe");
        let by_http = post(&alice, room, "over HTTP").await;
        let event = ws_event(&mut session).await;
        assert_eq!((seq(&event), created(&event)), (after + 1, by_http.id));

        let acked = session.post(room, "over the socket").await.expect("ack");
        assert_eq!(acked.author_id, alice.id);
        assert_eq!(created(&ws_event(&mut session).await), acked.id);
        let listed = alice
            .client
            .list_messages()
            .channel_id(room)
            .send()
            .await
            .expect("list")
            .into_inner();
        assert_eq!(listed.items[0].id, acked.id);

        // Resuming a subscription from an earlier seq replays, once each.
        session.unsubscribe(room).await.expect("unsubscribe");
        let from = session
            .subscribe(room, Some(after))
            .await
            .expect("resubscribe");
        assert_eq!(from, after);
        let replayed = [ws_event(&mut session).await, ws_event(&mut session).await];
        assert_eq!(
            replayed.iter().map(created).collect::<Vec<_>>(),
            vec![by_http.id, acked.id]
        );
        session.close().await.expect("close");
    }
);

contract_test!(
    websocket_authenticates_by_first_message_within_a_deadline,
    config = |config| config.live.ws_auth_timeout = Duration::from_millis(500),
    |server| {
        let alice = server.user("Alice").await;
        let mut session = Session::open(&server.anonymous(), Some("charter.v2".into()))
            .await
            .expect("open");
        session
            .authenticate(&alice.access_token)
            .await
            .expect("auth message");
        let room = channel(&alice, "room", types::ChannelVisibility::Public)
            .await
            .id;
        session.subscribe(room, None).await.expect("authenticated");

        // A token in the query string is not a credential: the session
        // stays unauthenticated and is closed at the deadline.
        let address = server.base.trim_start_matches("http://").to_owned();
        let tcp = tokio::net::TcpStream::connect(&address)
            .await
            .expect("connect");
        let (mut in_query, _) = charter_client::live::tokio_tungstenite::client_async(
            format!(
                "ws://{address}/api/v2/ws?access_token={}",
                alice.access_token
            ),
            tcp,
        )
        .await
        .expect("handshake");
        match tokio::time::timeout(WAIT, in_query.next())
            .await
            .expect("in time")
        {
            Some(Ok(Frame::Close(Some(frame)))) => assert_eq!(u16::from(frame.code), 1008),
            other => panic!("expected a close, got {other:?}"),
        }
        let mut silent = Session::open(&server.anonymous(), None)
            .await
            .expect("open");
        assert_eq!(closed_with(&mut silent).await, 1008);

        // Anything but `auth` first closes too.
        let mut eager = Session::open(&server.anonymous(), None)
            .await
            .expect("open");
        let subscribe = types::WsClientMessage::Subscribe(types::WsSubscribe {
            type_: types::WsSubscribeType::Subscribe,
            channel_id: room,
            last_event_id: None,
            edits: false,
        });
        eager.send(&subscribe).await.expect("send");
        assert_eq!(closed_with(&mut eager).await, 1008);

        // A bad token in the first message closes as well.
        let mut forged = Session::open(&server.anonymous(), None)
            .await
            .expect("open");
        assert!(forged.authenticate("not-a-token").await.is_err());
    }
);

contract_test!(
    websocket_refuses_bad_handshakes_and_unauthorized_messages,
    config = |config| config.cors_origins = vec!["https://app.example".to_owned()],
    |server| {
        let alice = server.user("Alice").await;
        let bob = server.user("Bob").await;
        let secret = channel(&alice, "secret", types::ChannelVisibility::Private)
            .await
            .id;

        // Handshake: a forged token is 401, a foreign Origin 403, a plain GET 426.
        let (status, _) = refused_status(Session::connect(&server.anonymous(), "forged").await);
        assert_eq!(status, 401);
        let from_origin = |origin: &str| {
            let mut headers = reqwest::header::HeaderMap::new();
            headers.insert("origin", origin.parse().expect("header"));
            v2::Client::new_with_client(
                &server.base,
                reqwest::Client::builder()
                    .default_headers(headers)
                    .build()
                    .expect("client"),
                charter_client::Policy::default(),
            )
        };
        let (status, code) = refused_status(
            Session::connect(&from_origin("https://evil.example"), &alice.access_token).await,
        );
        assert_eq!((status, code.as_str()), (403, "ORIGIN_NOT_ALLOWED"));
        Session::connect(&from_origin("https://app.example"), &alice.access_token)
            .await
            .expect("an allowed origin connects");
        let plain = server
            .raw()
            .get(server.url("/api/v2/ws"))
            .send()
            .await
            .expect("request");
        assert_eq!(plain.status(), 426);
        assert_eq!(plain.headers()["upgrade"], "websocket");
        assert_eq!(
            plain.headers()["content-type"].to_str().expect("ascii"),
            "application/problem+json"
        );

        // Messages: each is authorized on its own; refusals keep the session.
        let mut session = Session::connect(&server.anonymous(), &bob.access_token)
            .await
            .expect("connect");
        let (status, _) = refused_status(session.subscribe(secret, None).await);
        assert_eq!(status, 404);
        let (status, _) = refused_status(session.post(secret, "let me in").await);
        assert_eq!(status, 404);
        session
            .socket()
            .send(Frame::Text(r#"{"type":"post","channel_id":"x"}"#.into()))
            .await
            .expect("send");
        match session.receive().await.expect("an answer") {
            types::WsServerMessage::Error(error) => {
                assert_eq!(error.problem.status, 422);
                assert_eq!(error.problem.code.to_string(), "VALIDATION_FAILED");
                assert!(!error.problem.request_id.is_empty());
            }
            other => panic!("expected an error, got {other:?}"),
        }
        session
            .socket()
            .send(Frame::Text("{not json".into()))
            .await
            .expect("send");
        match session.receive().await.expect("an answer") {
            types::WsServerMessage::Error(error) => assert_eq!(error.problem.status, 400),
            other => panic!("expected an error, got {other:?}"),
        }
        // Still usable: a public channel of its own works.
        let own = channel(&bob, "own", types::ChannelVisibility::Public)
            .await
            .id;
        session.subscribe(own, None).await.expect("subscribe");
        session.post(own, "still here").await.expect("post");
    }
);

contract_test!(
    an_oversize_websocket_message_closes_with_1009,
    config = |config| config.live.ws_max_message_bytes = 4096,
    |server| {
        let alice = server.user("Alice").await;
        let mut session = Session::connect(&server.anonymous(), &alice.access_token)
            .await
            .expect("connect");
        session
            .socket()
            .send(Frame::Text("x".repeat(5000).into()))
            .await
            .expect("send");
        assert_eq!(closed_with(&mut session).await, 1009);
    }
);

contract_test!(
    revoking_the_token_closes_the_websocket_with_1008,
    config = |config| config.live.ws_ping_interval = Duration::from_millis(200),
    |server| {
        let alice = server.user("Alice").await;
        let mut session = Session::connect(&server.anonymous(), &alice.access_token)
            .await
            .expect("connect");
        alice
            .client
            .logout()
            .body(types::LogoutRequest {
                refresh_token: alice.refresh_token.parse().expect("token"),
            })
            .send()
            .await
            .expect("logout");
        assert_eq!(closed_with(&mut session).await, 1008);
    }
);

contract_test!(
    shutting_down_closes_websockets_with_1001_and_ends_streams,
    |server| {
        let alice = server.user("Alice").await;
        let room = channel(&alice, "room", types::ChannelVisibility::Public)
            .await
            .id;
        let mut session = Session::connect(&server.anonymous(), &alice.access_token)
            .await
            .expect("connect");
        let events = ChannelEvents::connect(&alice.client, room, None)
            .await
            .expect("open");
        wait_until("both connections counted", || {
            server.app.live.websocket.load(Ordering::Relaxed) == 1
                && server.app.live.sse.load(Ordering::Relaxed) == 1
        })
        .await;
        server.app.shutdown.cancel();
        assert_eq!(closed_with(&mut session).await, 1001);
        wait_until("the stream ended", || {
            server.app.live.sse.load(Ordering::Relaxed) == 0
        })
        .await;
        drop(events);
    }
);

contract_test!(
    a_silent_websocket_client_is_closed_after_the_idle_timeout,
    config = |config| {
        config.live.ws_ping_interval = Duration::from_millis(100);
        config.live.ws_idle_timeout = Duration::from_millis(400);
    },
    |server| {
        let alice = server.user("Alice").await;
        let mut session = Session::connect(&server.anonymous(), &alice.access_token)
            .await
            .expect("connect");
        // Reading answers the server's pings: the session stays open.
        let open_for = tokio::time::Instant::now() + Duration::from_millis(1200);
        while tokio::time::Instant::now() < open_for {
            let _ = tokio::time::timeout(Duration::from_millis(100), session.socket().next()).await;
        }
        assert_eq!(server.app.live.websocket.load(Ordering::Relaxed), 1);
        // Silent (no pongs): closed once the idle timeout passes. (The
        // client, reading only now, may first fail to answer queued pings on
        // the closed connection, so it sees either the close frame or the end.)
        wait_until("the idle session was closed", || {
            server.app.live.websocket.load(Ordering::Relaxed) == 0
        })
        .await;
        let end = tokio::time::timeout(WAIT, session.closed())
            .await
            .expect("in time");
        assert!(
            end.as_ref().is_none_or(|closed| closed.code == 1000),
            "{end:?}"
        );
    }
);

contract_test!(
    a_websocket_client_that_does_not_read_is_dropped,
    config = |config| config.live.ws_queue = 8,
    |server| {
        let alice = server.user("Alice").await;
        let room = channel(&alice, "room", types::ChannelVisibility::Public)
            .await
            .id;
        let mut session = Session::connect(&server.anonymous(), &alice.access_token)
            .await
            .expect("connect");
        session.subscribe(room, None).await.expect("subscribe");
        // From here on the client reads nothing. Large messages fill the
        // socket buffers, then the session's queue: the server drops it.
        let text = "x".repeat(3900);
        let mut posted = 0;
        while server.app.live.websocket.load(Ordering::Relaxed) > 0 {
            assert!(posted < 2000, "never dropped after {posted} messages");
            post(&alice, room, &text).await;
            posted += 1;
        }
        // The server is fine and the channel intact.
        let listed = alice
            .client
            .list_messages()
            .channel_id(room)
            .limit(1)
            .send()
            .await
            .expect("list");
        assert_eq!(listed.items.len(), 1);
        drop(session);
    }
);

// ---------------------------------------------------------------------------
// Two instances over one PostgreSQL database

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_posted_on_one_instance_reaches_sse_and_websocket_on_another() {
    common::run(Backend::Postgres, |server: TestServer| async move {
        let (b, b_base, b_server) = server.second_instance().await;

        let alice = server.user("Alice").await;
        let room = channel(&alice, "room", types::ChannelVisibility::Public)
            .await
            .id;
        let on_b =
            charter_client::v2_client(&b_base, &Credentials::Bearer(alice.access_token.clone()))
                .expect("client");
        let mut events = ChannelEvents::connect(&on_b, room, None)
            .await
            .expect("SSE on B");
        let mut session = Session::connect(&anonymous_client(&b_base), &alice.access_token)
            .await
            .expect("WebSocket on B");
        session.subscribe(room, None).await.expect("subscribe on B");

        let message = post(&alice, room, "posted on A").await;
        assert_eq!(created(&next_event(&mut events).await), message.id);
        assert_eq!(created(&ws_event(&mut session).await), message.id);

        // And back: posted over B's WebSocket, seen on A's stream.
        let mut on_a = ChannelEvents::connect(&alice.client, room, Some(1))
            .await
            .expect("SSE on A");
        let acked = session.post(room, "posted on B").await.expect("ack");
        assert_eq!(created(&next_event(&mut on_a).await), acked.id);
        b.shutdown.cancel();
        b_server.abort();
        b.store.db.close().await;
    })
    .await;
}
