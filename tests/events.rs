//! Channel events: recorded with every change made through the v2 API, read
//! back in order with `events::since`, delivered live through the hub and,
//! with PostgreSQL, across instances and across a lost listener connection.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use charter::events::{self, Event, EventKind};
use common::{Backend, TestServer, channel, post, types};
use serde_json::Value;
use tokio::sync::broadcast;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(10);

fn message(text: &str) -> types::CreateMessageRequest {
    types::CreateMessageRequest {
        body: text.parse().expect("message body"),
    }
}

async fn all_events(server: &TestServer, channel: Uuid) -> Vec<Event> {
    events::since(&server.app.store.db, channel, 0, events::MAX_PAGE)
        .await
        .expect("read events")
}

fn kinds(events: &[Event]) -> Vec<EventKind> {
    events.iter().map(|e| e.kind).collect()
}

fn seqs(events: &[Event]) -> Vec<i64> {
    events.iter().map(|e| e.seq).collect()
}

/// An RFC 3339 timestamp string.
fn assert_time(value: &Value) {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("{value} is not a string"));
    chrono::DateTime::parse_from_rfc3339(text).unwrap_or_else(|e| panic!("{text}: {e}"));
}

/// The next event a receiver gets, within [`WAIT`].
async fn receive(receiver: &mut broadcast::Receiver<Event>) -> Event {
    tokio::time::timeout(WAIT, receiver.recv())
        .await
        .expect("an event within the wait")
        .expect("the hub is running")
}

/// Events from `receiver` until one with seq `last` arrives; fails on
/// anything out of order, duplicated or lagged.
async fn receive_through(receiver: &mut broadcast::Receiver<Event>, last: i64) -> Vec<Event> {
    let mut received: Vec<Event> = Vec::new();
    while received.last().is_none_or(|e| e.seq < last) {
        let event = receive(receiver).await;
        if let Some(previous) = received.last() {
            assert_eq!(
                event.seq,
                previous.seq + 1,
                "out of order after {previous:?}"
            );
        }
        received.push(event);
    }
    received
}

/// Nothing more arrives for a little while.
async fn assert_quiet(receiver: &mut broadcast::Receiver<Event>) {
    match tokio::time::timeout(Duration::from_millis(300), receiver.recv()).await {
        Err(_) => {}
        Ok(other) => panic!("expected no further event, got {other:?}"),
    }
}

contract_test!(every_change_is_recorded_in_order, |server| {
    let alice = server.user("Alice").await;
    let bob = server.user("Bob").await;
    let room = channel(&alice, "room", types::ChannelVisibility::Private)
        .await
        .id;
    let other = channel(&alice, "other", types::ChannelVisibility::Public)
        .await
        .id;

    let added = alice
        .client
        .add_channel_member()
        .channel_id(room)
        .user_id(bob.id)
        .send()
        .await
        .expect("add bob");
    assert_eq!(added.status().as_u16(), 201);
    // Adding an existing member changes nothing and records nothing.
    let again = alice
        .client
        .add_channel_member()
        .channel_id(room)
        .user_id(bob.id)
        .send()
        .await
        .expect("add bob again");
    assert_eq!(again.status().as_u16(), 200);
    let first = post(&alice, room, "hello").await;
    let second = post(&bob, room, "hi alice").await;
    post(&alice, other, "elsewhere").await;
    let deleted = bob
        .client
        .delete_message()
        .channel_id(room)
        .message_id(second.id)
        .send()
        .await
        .expect("delete message");
    assert_eq!(deleted.status().as_u16(), 204);
    let updated = alice
        .client
        .update_channel()
        .channel_id(room)
        .body(types::UpdateChannelRequest {
            name: None,
            topic: Some("planning".parse().expect("topic")),
        })
        .send()
        .await
        .expect("update channel")
        .into_inner();
    let removed = alice
        .client
        .remove_channel_member()
        .channel_id(room)
        .user_id(bob.id)
        .send()
        .await
        .expect("remove bob");
    assert_eq!(removed.status().as_u16(), 204);
    // Removing a non-member fails and records nothing.
    assert!(
        alice
            .client
            .remove_channel_member()
            .channel_id(room)
            .user_id(bob.id)
            .send()
            .await
            .is_err()
    );
    let gone = alice
        .client
        .delete_channel()
        .channel_id(room)
        .send()
        .await
        .expect("delete channel");
    assert_eq!(gone.status().as_u16(), 204);

    let log = all_events(&server, room).await;
    assert_eq!(
        kinds(&log),
        [
            EventKind::MemberAdded,
            EventKind::MessageCreated,
            EventKind::MessageCreated,
            EventKind::MessageDeleted,
            EventKind::ChannelUpdated,
            EventKind::MemberRemoved,
            EventKind::ChannelDeleted,
        ]
    );
    assert_eq!(seqs(&log), (1..=7).collect::<Vec<_>>());
    assert!(log.iter().all(|e| e.channel_id == room));
    assert!(log.windows(2).all(|w| w[0].created_at <= w[1].created_at));

    // Payloads: the v2 representation, ids as UUID strings, RFC 3339 times.
    let member = &log[0].data;
    assert_eq!(member["channel_id"], room.to_string());
    assert_eq!(member["user_id"], bob.id.to_string());
    assert_eq!(member["role"], "member");
    assert_time(&member["joined_at"]);
    let message = &log[1].data;
    assert_eq!(message["id"], first.id.to_string());
    assert_eq!(message["channel_id"], room.to_string());
    assert_eq!(message["author_id"], alice.id.to_string());
    assert_eq!(message["body"], "hello");
    assert_time(&message["created_at"]);
    let sent: Value = serde_json::to_value(&first).expect("message as JSON");
    assert_eq!(
        chrono::DateTime::parse_from_rfc3339(message["created_at"].as_str().expect("time")).ok(),
        chrono::DateTime::parse_from_rfc3339(sent["created_at"].as_str().expect("time")).ok(),
    );
    assert_eq!(log[2].data["author_id"], bob.id.to_string());
    assert_eq!(
        *log[3].data,
        serde_json::json!({"id": second.id.to_string(), "channel_id": room.to_string()})
    );
    let channel = &log[4].data;
    assert_eq!(channel["id"], room.to_string());
    assert_eq!(channel["name"], "room");
    assert_eq!(channel["topic"], "planning");
    assert_eq!(channel["visibility"], "private");
    assert_eq!(channel["owner_id"], alice.id.to_string());
    assert_time(&channel["created_at"]);
    assert_eq!(
        chrono::DateTime::parse_from_rfc3339(channel["updated_at"].as_str().expect("time")).ok(),
        Some(updated.updated_at.fixed_offset())
    );
    assert_eq!(
        *log[5].data,
        serde_json::json!({"channel_id": room.to_string(), "user_id": bob.id.to_string()})
    );
    assert_eq!(*log[6].data, serde_json::json!({"id": room.to_string()}));

    // Each channel counts on its own.
    let elsewhere = all_events(&server, other).await;
    assert_eq!(kinds(&elsewhere), [EventKind::MessageCreated]);
    assert_eq!(seqs(&elsewhere), [1]);

    // `since` returns exactly the later events, in pages.
    assert_eq!(
        seqs(
            &events::since(&server.app.store.db, room, 3, 100)
                .await
                .expect("since")
        ),
        [4, 5, 6, 7]
    );
    assert_eq!(
        seqs(
            &events::since(&server.app.store.db, room, 3, 2)
                .await
                .expect("since")
        ),
        [4, 5]
    );
    assert!(
        events::since(&server.app.store.db, room, 7, 100)
            .await
            .expect("since")
            .is_empty()
    );
    assert!(
        events::since(&server.app.store.db, Uuid::new_v4(), 0, 100)
            .await
            .expect("since")
            .is_empty()
    );
    assert_eq!(
        events::latest_seq(&server.app.store.db, room)
            .await
            .expect("latest"),
        7
    );
});

contract_test!(an_idempotent_replay_records_no_event, |server| {
    let alice = server.user("Alice").await;
    let room = channel(&alice, "room", types::ChannelVisibility::Public)
        .await
        .id;
    let send = || {
        alice
            .client
            .create_message()
            .channel_id(room)
            .idempotency_key("retry-0001")
            .body(message("once"))
            .send()
    };
    let first = send().await.expect("first").into_inner();
    let replay = send().await.expect("replay").into_inner();
    assert_eq!(first.id, replay.id);
    // Another body with the same key is refused, also without an event.
    assert!(
        alice
            .client
            .create_message()
            .channel_id(room)
            .idempotency_key("retry-0001")
            .body(message("twice"))
            .send()
            .await
            .is_err()
    );
    let log = all_events(&server, room).await;
    assert_eq!(kinds(&log), [EventKind::MessageCreated]);
    assert_eq!(log[0].data["id"], first.id.to_string());
});

contract_test!(concurrent_writers_get_consecutive_seqs, |server| {
    let alice = server.user("Alice").await;
    let room = channel(&alice, "room", types::ChannelVisibility::Public)
        .await
        .id;
    let mut live = server
        .app
        .store
        .events
        .subscribe(room)
        .await
        .expect("subscribe");
    let posts = (0..16).map(|i| {
        let client = alice.client.clone();
        async move {
            client
                .create_message()
                .channel_id(room)
                .body(message(&format!("message {i}")))
                .send()
                .await
                .expect("post")
                .into_inner()
                .id
        }
    });
    let ids: HashSet<Uuid> = futures::future::join_all(posts).await.into_iter().collect();
    let log = all_events(&server, room).await;
    assert_eq!(seqs(&log), (1..=16).collect::<Vec<_>>());
    let logged: HashSet<Uuid> = log
        .iter()
        .map(|e| e.data["id"].as_str().expect("id").parse().expect("uuid"))
        .collect();
    assert_eq!(logged, ids);
    let received = receive_through(&mut live, 16).await;
    assert_eq!(received, log);
    assert_quiet(&mut live).await;
});

contract_test!(a_subscriber_receives_live_events, |server| {
    let alice = server.user("Alice").await;
    let room = channel(&alice, "room", types::ChannelVisibility::Public)
        .await
        .id;
    let quiet = channel(&alice, "quiet", types::ChannelVisibility::Public)
        .await
        .id;
    post(&alice, room, "before").await;
    let mut live = server
        .app
        .store
        .events
        .subscribe(room)
        .await
        .expect("subscribe");
    let mut elsewhere = server
        .app
        .store
        .events
        .subscribe(quiet)
        .await
        .expect("subscribe");
    let message = post(&alice, room, "live").await;
    let event = receive(&mut live).await;
    assert_eq!(
        event.seq, 2,
        "events before subscribing are not replayed live"
    );
    assert_eq!(event.kind, EventKind::MessageCreated);
    assert_eq!(event.data["id"], message.id.to_string());
    alice
        .client
        .delete_message()
        .channel_id(room)
        .message_id(message.id)
        .send()
        .await
        .expect("delete");
    let event = receive(&mut live).await;
    assert_eq!((event.seq, event.kind), (3, EventKind::MessageDeleted));
    assert_quiet(&mut live).await;
    assert_quiet(&mut elsewhere).await;
    // A second subscriber gets the same events.
    let mut second = server
        .app
        .store
        .events
        .subscribe(room)
        .await
        .expect("subscribe");
    post(&alice, room, "to both").await;
    assert_eq!(receive(&mut live).await.seq, 4);
    assert_eq!(receive(&mut second).await.seq, 4);
    // The channel's deletion is its last live event.
    alice
        .client
        .delete_channel()
        .channel_id(room)
        .send()
        .await
        .expect("delete channel");
    let last = receive(&mut live).await;
    assert_eq!((last.seq, last.kind), (5, EventKind::ChannelDeleted));
});

contract_test!(a_follower_resumes_without_gap_or_duplicate, |server| {
    let alice = server.user("Alice").await;
    let room = channel(&alice, "room", types::ChannelVisibility::Public)
        .await
        .id;
    for i in 1..=3 {
        post(&alice, room, &format!("stored {i}")).await;
    }
    // Resuming after event 1 (a client's Last-Event-ID): 2 and 3 from the
    // database, then the live ones.
    let mut follower = events::follow(&server.app.store.events, room, 1)
        .await
        .expect("follow");
    let mut next = async || {
        tokio::time::timeout(WAIT, follower.next())
            .await
            .expect("an event within the wait")
            .expect("no error")
            .expect("not ended")
    };
    assert_eq!(next().await.seq, 2);
    assert_eq!(next().await.seq, 3);
    post(&alice, room, "live 4").await;
    post(&alice, room, "live 5").await;
    assert_eq!(next().await.seq, 4);
    assert_eq!(next().await.seq, 5);
    // An id beyond the log counts as its end.
    let mut ahead = events::follow(&server.app.store.events, room, 1000)
        .await
        .expect("follow");
    assert_eq!(ahead.cursor(), 5);
    post(&alice, room, "live 6").await;
    let event = tokio::time::timeout(WAIT, ahead.next())
        .await
        .expect("in time")
        .expect("ok");
    assert_eq!(event.map(|e| e.seq), Some(6));
    // The stream ends with the channel.
    alice
        .client
        .delete_channel()
        .channel_id(room)
        .send()
        .await
        .expect("delete channel");
    let mut follower = events::follow(&server.app.store.events, room, 5)
        .await
        .expect("follow");
    let tail: Vec<(i64, EventKind)> = {
        let mut tail = Vec::new();
        while let Some(event) = tokio::time::timeout(WAIT, follower.next())
            .await
            .expect("in time")
            .expect("ok")
        {
            tail.push((event.seq, event.kind));
        }
        tail
    };
    assert_eq!(
        tail,
        [
            (6, EventKind::MessageCreated),
            (7, EventKind::ChannelDeleted)
        ]
    );
});

contract_test!(
    a_lagging_subscriber_is_told_and_recovers_from_the_database,
    config = |config| config.event_buffer = 2,
    |server| {
        let alice = server.user("Alice").await;
        let room = channel(&alice, "room", types::ChannelVisibility::Public)
            .await
            .id;
        let mut raw = server
            .app
            .store
            .events
            .subscribe(room)
            .await
            .expect("subscribe");
        let mut follower = events::follow(&server.app.store.events, room, 0)
            .await
            .expect("follow");
        for i in 1..=10 {
            post(&alice, room, &format!("burst {i}")).await;
        }
        // Let the hub deliver everything, then read: the buffer held 2.
        let deadline = tokio::time::Instant::now() + WAIT;
        let lagged = loop {
            match raw.try_recv() {
                Err(broadcast::error::TryRecvError::Lagged(missed)) => break missed,
                Err(broadcast::error::TryRecvError::Empty)
                    if tokio::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                other => panic!("expected to lag, got {other:?}"),
            }
        };
        assert!(lagged >= 1, "{lagged}");
        let mut followed = Vec::new();
        while followed.len() < 10 {
            let event = tokio::time::timeout(WAIT, follower.next())
                .await
                .expect("in time")
                .expect("ok")
                .expect("not ended");
            followed.push(event.seq);
        }
        assert_eq!(followed, (1..=10).collect::<Vec<_>>());
        post(&alice, room, "after the burst").await;
        let event = tokio::time::timeout(WAIT, follower.next())
            .await
            .expect("in time")
            .expect("ok");
        assert_eq!(event.map(|e| e.seq), Some(11));
    }
);

/// Runs `body` against PostgreSQL only (when `TEST_DATABASE_URL` is set).
macro_rules! postgres_test {
    ($name:ident, |$server:ident| $body:block) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            async fn body($server: TestServer) $body
            common::run(Backend::Postgres, body).await;
        }
    };
}

postgres_test!(instances_on_one_database_see_each_others_events, |server| {
    assert_eq!(server.backend, Backend::Postgres);
    let a = server.app.clone();
    let b = charter::App::build(&server.config)
        .await
        .expect("second instance");
    let alice = server.user("Alice").await;
    let room = channel(&alice, "room", types::ChannelVisibility::Public)
        .await
        .id;
    let mut on_a = a
        .store
        .events
        .subscribe(room)
        .await
        .expect("subscribe on A");
    let mut on_b = b
        .store
        .events
        .subscribe(room)
        .await
        .expect("subscribe on B");

    // Written through A's HTTP API: B's subscriber gets it via NOTIFY.
    let message = post(&alice, room, "from A").await;
    let event = receive(&mut on_b).await;
    assert_eq!((event.seq, event.kind), (1, EventKind::MessageCreated));
    assert_eq!(event.data["id"], message.id.to_string());
    assert_eq!(receive(&mut on_a).await, event);

    // Written through B: A's subscriber gets it.
    let row = charter::messages::post(&b.store, &b.posts, alice.id, room, "from B", None)
        .await
        .expect("post on B");
    let event = receive(&mut on_a).await;
    assert_eq!(event.seq, 2);
    assert_eq!(event.data["id"], row.id.to_string());
    assert_eq!(receive(&mut on_b).await, event);
    assert_quiet(&mut on_a).await;
    assert_quiet(&mut on_b).await;
    b.store.db.close().await;
});

/// Backends of this database holding `LISTEN`.
async fn listeners(admin: &sqlx::PgPool) -> Vec<i32> {
    sqlx::query_scalar(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() \
         AND application_name = $1 AND query ILIKE 'LISTEN%'",
    )
    .bind(events::LISTENER_APPLICATION_NAME)
    .fetch_all(admin)
    .await
    .expect("pg_stat_activity")
}

/// Whether any of these backends still exists.
async fn alive(admin: &sqlx::PgPool, pids: &[i32]) -> bool {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = ANY($1))")
        .bind(pids)
        .fetch_one(admin)
        .await
        .expect("pg_stat_activity")
}

/// Waits until `count` listeners are connected.
async fn wait_for_listeners(admin: &sqlx::PgPool, count: usize) -> Vec<i32> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let pids = listeners(admin).await;
        if pids.len() == count {
            return pids;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "listeners: {pids:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

postgres_test!(
    the_listener_catches_up_after_losing_its_connection,
    |server| {
        let charter::db::Db::Postgres(admin) = server.app.store.db.clone() else {
            panic!("a PostgreSQL server");
        };
        let b = charter::App::build(&server.config)
            .await
            .expect("second instance");
        let alice = server.user("Alice").await;
        let room = channel(&alice, "room", types::ChannelVisibility::Public)
            .await
            .id;
        let quiet = channel(&alice, "quiet", types::ChannelVisibility::Public)
            .await
            .id;
        let mut on_b = b
            .store
            .events
            .subscribe(room)
            .await
            .expect("subscribe on B");
        // Subscribed before the loss, no event seen yet: still caught up.
        let mut quiet_on_b = b
            .store
            .events
            .subscribe(quiet)
            .await
            .expect("subscribe on B");
        post(&alice, room, "before").await;
        assert_eq!(receive(&mut on_b).await.seq, 1);
        wait_for_listeners(&admin, 2).await;

        // Kill both instances' listeners and write while they are down; retry
        // in the unlikely case one reconnected before the writes finished.
        let mut written = 1;
        let mut proven = false;
        let mut killed = HashSet::new();
        for _ in 0..5 {
            let pids = listeners(&admin).await;
            sqlx::query("SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid")
                .bind(&pids)
                .execute(&admin)
                .await
                .expect("terminate the listeners");
            killed.extend(pids.iter().copied());
            // Gone for good before writing (a dying backend could still pass
            // a notification on).
            let deadline = tokio::time::Instant::now() + WAIT;
            while alive(&admin, &pids).await {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "{pids:?} still alive"
                );
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            for i in 0..3 {
                charter::messages::post(
                    &server.app.store,
                    &server.app.posts,
                    alice.id,
                    room,
                    &format!("while down {i}"),
                    None,
                )
                .await
                .expect("post while the listeners are down");
                written += 1;
            }
            charter::messages::post(
                &server.app.store,
                &server.app.posts,
                alice.id,
                quiet,
                "quiet while down",
                None,
            )
            .await
            .expect("post while the listeners are down");
            if listeners(&admin).await.is_empty() {
                proven = true;
                break;
            }
            // Reconnected too soon: drain and try again.
            receive_through(
                &mut quiet_on_b,
                events::latest_seq(&b.store.db, quiet)
                    .await
                    .expect("latest"),
            )
            .await;
        }
        assert!(proven, "the writes never fell in a listener outage");

        // B reconnects, catches up from the last seq it saw and stays live.
        let after = wait_for_listeners(&admin, 2).await;
        assert!(
            after.iter().all(|pid| !killed.contains(pid)),
            "{after:?} are new connections"
        );
        let caught_up = receive_through(&mut on_b, written).await;
        assert_eq!(seqs(&caught_up), (2..=written).collect::<Vec<_>>());
        assert_eq!(
            caught_up,
            events::since(&b.store.db, room, 1, 100)
                .await
                .expect("since")
        );
        let quiet_seq = events::latest_seq(&b.store.db, quiet)
            .await
            .expect("latest");
        let quiet_events = receive_through(&mut quiet_on_b, quiet_seq).await;
        assert_eq!(
            quiet_events.last().map(|e| e.kind),
            Some(EventKind::MessageCreated)
        );
        post(&alice, room, "after").await;
        let event = receive(&mut on_b).await;
        assert_eq!(event.seq, written + 1);
        assert_quiet(&mut on_b).await;
        b.store.db.close().await;
    }
);

contract_test!(deleting_a_user_tells_their_channels, |server| {
    let admin = server.user("Admin").await;
    server.make_admin(&admin.email).await;
    let alice = server.user("Alice").await;
    let bob = server.user("Bob").await;
    let room = channel(&alice, "room", types::ChannelVisibility::Private)
        .await
        .id;
    let bobs = channel(&bob, "bobs", types::ChannelVisibility::Public)
        .await
        .id;
    alice
        .client
        .add_channel_member()
        .channel_id(room)
        .user_id(bob.id)
        .send()
        .await
        .expect("add bob");
    let from_bob = post(&bob, room, "from bob").await;
    post(&alice, room, "from alice").await;
    post(&bob, bobs, "at home").await;
    let mut live = server
        .app
        .store
        .events
        .subscribe(room)
        .await
        .expect("subscribe");
    let deleted = admin
        .client
        .delete_user()
        .user_id(bob.id)
        .send()
        .await
        .expect("delete bob");
    assert_eq!(deleted.status().as_u16(), 204);

    let log = all_events(&server, room).await;
    assert_eq!(
        kinds(&log),
        [
            EventKind::MemberAdded,
            EventKind::MessageCreated,
            EventKind::MessageCreated,
            EventKind::MessageDeleted,
            EventKind::MemberRemoved,
        ]
    );
    assert_eq!(seqs(&log), (1..=5).collect::<Vec<_>>());
    assert_eq!(log[3].data["id"], from_bob.id.to_string());
    assert_eq!(log[4].data["user_id"], bob.id.to_string());
    assert_eq!(receive_through(&mut live, 5).await, log[3..]);
    let home = all_events(&server, bobs).await;
    assert_eq!(
        kinds(&home),
        [EventKind::MessageCreated, EventKind::ChannelDeleted]
    );
    assert_eq!(seqs(&home), [1, 2]);
});

contract_test!(a_write_dropped_after_commit_is_still_delivered, |server| {
    let alice = server.user("Alice").await;
    let room = channel(&alice, "room", types::ChannelVisibility::Public)
        .await
        .id;
    let mut live = server
        .app
        .store
        .events
        .subscribe(room)
        .await
        .expect("subscribe");
    // A write whose future is dropped between its commit and its publish:
    // the event is in the log (written here by hand, without NOTIFY), and
    // all the hub gets is its publisher being dropped unused.
    let publisher = server.app.store.events.publisher(room);
    let payload = serde_json::json!({"id": Uuid::new_v4(), "channel_id": room}).to_string();
    crate::on_db!(&server.app.store.db, pool => async {
        let mut tx = pool.begin().await.expect("begin");
        sqlx::query("UPDATE channels SET last_event_seq = last_event_seq + 1 WHERE id = $1")
            .bind(room)
            .execute(&mut *tx)
            .await
            .expect("allocate a seq");
        sqlx::query(
            "INSERT INTO channel_events (channel_id, seq, kind, payload, created_at) \
             VALUES ($1, 1, 'message.deleted', $2, $3)",
        )
        .bind(room)
        .bind(&payload)
        .bind(chrono::Utc::now())
        .execute(&mut *tx)
        .await
        .expect("record");
        tx.commit().await.expect("commit");
    }.await);
    drop(publisher);
    let event = receive(&mut live).await;
    assert_eq!((event.seq, event.kind), (1, EventKind::MessageDeleted));
    // The next write continues after it.
    post(&alice, room, "next").await;
    assert_eq!(receive(&mut live).await.seq, 2);
    assert_quiet(&mut live).await;
});

contract_test!(
    writers_racing_a_channel_deletion_neither_deadlock_nor_leave_gaps,
    |server| {
        let alice = server.user("Alice").await;
        let bob = server.user("Bob").await;
        for round in 0..3 {
            let room = channel(
                &alice,
                &format!("room-{round}"),
                types::ChannelVisibility::Private,
            )
            .await
            .id;
            alice
                .client
                .add_channel_member()
                .channel_id(room)
                .user_id(bob.id)
                .send()
                .await
                .expect("add bob");
            let mut existing = Vec::new();
            for i in 0..8 {
                existing.push(post(&bob, room, &format!("old {i}")).await.id);
            }
            let status = |result: Result<u16, u16>| result.unwrap_or_else(|status| status);
            let code =
                |e: charter_client::Error<types::Problem>| e.status().map_or(0, |s| s.as_u16());
            let mut calls: Vec<std::pin::Pin<Box<dyn std::future::Future<Output = u16> + Send>>> =
                Vec::new();
            for (i, message) in existing.into_iter().enumerate() {
                let client = bob.client.clone();
                calls.push(Box::pin(async move {
                    status(
                        client
                            .delete_message()
                            .channel_id(room)
                            .message_id(message)
                            .send()
                            .await
                            .map(|r| r.status().as_u16())
                            .map_err(code),
                    )
                }));
                let client = bob.client.clone();
                calls.push(Box::pin(async move {
                    status(
                        client
                            .create_message()
                            .channel_id(room)
                            .body(message_text(i))
                            .send()
                            .await
                            .map(|r| r.status().as_u16())
                            .map_err(code),
                    )
                }));
                if i == 4 {
                    let client = alice.client.clone();
                    calls.push(Box::pin(async move {
                        status(
                            client
                                .delete_channel()
                                .channel_id(room)
                                .send()
                                .await
                                .map(|r| r.status().as_u16())
                                .map_err(code),
                        )
                    }));
                }
            }
            let client = alice.client.clone();
            calls.push(Box::pin(async move {
                status(
                    client
                        .remove_channel_member()
                        .channel_id(room)
                        .user_id(bob.id)
                        .send()
                        .await
                        .map(|r| r.status().as_u16())
                        .map_err(code),
                )
            }));
            let statuses = futures::future::join_all(calls).await;
            assert!(
                statuses.iter().all(|s| matches!(s, 201 | 204 | 404)),
                "round {round}: {statuses:?}"
            );
            let log = all_events(&server, room).await;
            assert_eq!(
                seqs(&log),
                (1..=log.len() as i64).collect::<Vec<_>>(),
                "round {round}"
            );
            assert_eq!(log.last().map(|e| e.kind), Some(EventKind::ChannelDeleted));
            assert_eq!(
                log.iter()
                    .filter(|e| e.kind == EventKind::ChannelDeleted)
                    .count(),
                1
            );
        }
    }
);

fn message_text(i: usize) -> types::CreateMessageRequest {
    message(&format!("new {i}"))
}
