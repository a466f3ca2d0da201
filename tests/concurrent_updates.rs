//! Concurrent updates through the real server. Without `If-Match` an update
//! is unconditional: however many race, each one applies (200), one after
//! the other, and a field it does not change keeps what a concurrent update
//! wrote. With a stale `If-Match` an update is still refused with 412. Each
//! applied channel update records exactly one `channel.updated` event, in
//! order.

mod common;

use charter::events::{self, EventKind};
use common::{TestServer, TestUser, channel, types};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Concurrent requests per round and resource.
const WRITERS: usize = 6;
const ROUNDS: usize = 4;

/// `PATCH path` with `body`, as `user`, with `If-Match` when given.
async fn patch(
    server: &TestServer,
    user: &TestUser,
    path: &str,
    if_match: Option<&str>,
    body: Value,
) -> (StatusCode, Option<String>, Value) {
    let mut request = server
        .raw()
        .patch(server.url(path))
        .bearer_auth(&user.access_token)
        .json(&body);
    if let Some(tag) = if_match {
        request = request.header("if-match", tag);
    }
    let response = request.send().await.expect("PATCH");
    let status = response.status();
    let etag = response
        .headers()
        .get("etag")
        .map(|v| v.to_str().expect("ASCII ETag").to_owned());
    let body = response.json().await.expect("JSON body");
    (status, etag, body)
}

async fn get(server: &TestServer, user: &TestUser, path: &str) -> (String, Value) {
    let response = server
        .raw()
        .get(server.url(path))
        .bearer_auth(&user.access_token)
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), StatusCode::OK);
    let etag = response
        .headers()
        .get("etag")
        .expect("ETag")
        .to_str()
        .expect("ASCII ETag")
        .to_owned();
    (etag, response.json().await.expect("JSON body"))
}

/// Runs the PATCHes at once and asserts that every one answered 200.
async fn all_at_once(server: &TestServer, user: &TestUser, path: &str, bodies: Vec<Value>) {
    let outcomes = futures::future::join_all(
        bodies
            .into_iter()
            .map(|body| patch(server, user, path, None, body)),
    )
    .await;
    for (status, etag, body) in outcomes {
        assert_eq!(status, StatusCode::OK, "unconditional PATCH {path}: {body}");
        assert!(etag.is_some(), "no ETag on {body}");
    }
}

contract_test!(unconditional_channel_updates_all_apply, |server| {
    let alice = server.user("Alice").await;
    let room = channel(&alice, "race-room", types::ChannelVisibility::Public).await;
    let path = format!("/api/v2/channels/{}", room.id);
    let mut applied = 0;
    for round in 0..ROUNDS {
        // One writer renames the channel while the others change its topic:
        // no topic update may put the old name back.
        let name = format!("race-room-{round}");
        let topics: Vec<String> = (0..WRITERS)
            .map(|writer| format!("topic {round}.{writer}"))
            .collect();
        let mut bodies: Vec<Value> = topics.iter().map(|t| json!({"topic": t})).collect();
        bodies.insert(WRITERS / 2, json!({"name": name}));
        applied += bodies.len();
        all_at_once(&server, &alice, &path, bodies).await;

        let (_, now) = get(&server, &alice, &path).await;
        assert_eq!(
            now["name"],
            name.as_str(),
            "a topic update undid the rename"
        );
        let topic = now["topic"].as_str().expect("a topic");
        assert!(topics.iter().any(|t| t == topic), "topic {topic:?}");
    }

    // One event per applied update, numbered without gaps, the last one
    // describing the final state.
    let log = events::since(&server.app.store.db, room.id, 0, events::MAX_PAGE)
        .await
        .expect("event log");
    assert_eq!(log.len(), applied);
    for (i, event) in log.iter().enumerate() {
        assert_eq!(event.seq, i as i64 + 1);
        assert_eq!(event.kind, EventKind::ChannelUpdated);
    }
    let (tag, now) = get(&server, &alice, &path).await;
    let last = &log[log.len() - 1].data;
    assert_eq!(last["topic"], now["topic"]);
    assert_eq!(last["name"], now["name"]);

    // A conditional update still checks: the current ETag applies, a stale
    // one is refused and changes nothing.
    let (status, fresh, _) = patch(
        &server,
        &alice,
        &path,
        Some(&tag),
        json!({"topic": "conditional"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(fresh.as_deref(), Some(tag.as_str()));
    let (status, _, problem) = patch(
        &server,
        &alice,
        &path,
        Some(&tag),
        json!({"topic": "stale"}),
    )
    .await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED, "{problem}");
    assert_eq!(problem["code"], "PRECONDITION_FAILED");
    let (_, now) = get(&server, &alice, &path).await;
    assert_eq!(now["topic"], "conditional");
    let log = events::since(&server.app.store.db, room.id, 0, events::MAX_PAGE)
        .await
        .expect("event log");
    assert_eq!(log.len(), applied + 1);
});

contract_test!(unconditional_profile_updates_all_apply, |server| {
    let alice = server.user("Alice").await;
    for round in 0..ROUNDS {
        let names: Vec<String> = (0..WRITERS)
            .map(|writer| format!("Alice {round}.{writer}"))
            .collect();
        let bodies = names.iter().map(|n| json!({"full_name": n})).collect();
        all_at_once(&server, &alice, "/api/v2/me", bodies).await;
        let (_, me) = get(&server, &alice, "/api/v2/me").await;
        let name = me["full_name"].as_str().expect("a name");
        assert!(names.iter().any(|n| n == name), "full_name {name:?}");
    }

    let (stale, _) = get(&server, &alice, "/api/v2/me").await;
    let (status, fresh, _) = patch(
        &server,
        &alice,
        "/api/v2/me",
        Some(&stale),
        json!({"full_name": "Alice Liddell"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(fresh.as_deref(), Some(stale.as_str()));
    let (status, _, problem) = patch(
        &server,
        &alice,
        "/api/v2/me",
        Some(&stale),
        json!({"full_name": "Lost Update"}),
    )
    .await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED, "{problem}");
    assert_eq!(problem["code"], "PRECONDITION_FAILED");
    let (_, me) = get(&server, &alice, "/api/v2/me").await;
    assert_eq!(me["full_name"], "Alice Liddell");
});

contract_test!(unconditional_channel_deletes_race, |server| {
    let alice = server.user("Alice").await;
    let room = channel(&alice, "doomed", types::ChannelVisibility::Public).await;
    let path = format!("/api/v2/channels/{}", room.id);
    let statuses = futures::future::join_all((0..WRITERS).map(|_| async {
        server
            .raw()
            .delete(server.url(&path))
            .bearer_auth(&alice.access_token)
            .send()
            .await
            .expect("DELETE")
            .status()
    }))
    .await;
    // One deletion applies; the others find the channel gone.
    let deleted = statuses
        .iter()
        .filter(|s| **s == StatusCode::NO_CONTENT)
        .count();
    assert_eq!(deleted, 1, "{statuses:?}");
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::NO_CONTENT || *s == StatusCode::NOT_FOUND),
        "{statuses:?}"
    );
    let log = events::since(&server.app.store.db, room.id, 0, events::MAX_PAGE)
        .await
        .expect("event log");
    let kinds: Vec<EventKind> = log.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [EventKind::ChannelDeleted]);
});
