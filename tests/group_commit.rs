//! Group commit of message posts: many clients posting to one channel at
//! once are committed in shared transactions, and each of them still gets
//! exactly what a post alone gets: its own 201, its message stored once,
//! one `message.created` event with a seq of its own, delivered live in
//! order (with PostgreSQL also on another instance, which one notification
//! per commit reaches).

mod common;

use std::collections::HashSet;
use std::time::Duration;

use broadcast::error::RecvError;
use charter::events::{self, Event, EventKind};
use common::*;
use tokio::sync::broadcast;
use uuid::Uuid;

const POSTS: usize = 96;
const POSTERS: usize = 4;

async fn receive_all(receiver: &mut broadcast::Receiver<Event>, count: usize) -> Vec<Event> {
    let mut received = Vec::with_capacity(count);
    while received.len() < count {
        match tokio::time::timeout(Duration::from_secs(10), receiver.recv()).await {
            Ok(Ok(event)) => received.push(event),
            Ok(Err(RecvError::Lagged(_) | RecvError::Closed)) | Err(_) => {
                panic!("received {} of {count} events", received.len())
            }
        }
    }
    received
}

/// `charter_message_posts_per_commit`'s count and sum.
async fn commits_and_posts(server: &TestServer) -> (f64, f64) {
    let text = server
        .raw()
        .get(format!("{}/metrics", server.admin_base))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    let value = |name: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.trim().parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (
        value("charter_message_posts_per_commit_count "),
        value("charter_message_posts_per_commit_sum "),
    )
}

contract_test!(posts_racing_for_one_channel_share_commits, |server| {
    let owner = server.user("Owner").await;
    let posters: Vec<TestUser> = {
        let mut posters = Vec::new();
        for i in 0..POSTERS {
            posters.push(server.user(&format!("Poster{i}")).await);
        }
        posters
    };
    let room = channel(&owner, "busy", types::ChannelVisibility::Public)
        .await
        .id;
    let mut live = server
        .app
        .store
        .events
        .subscribe(room)
        .await
        .expect("subscribe");
    // With PostgreSQL, another instance's subscribers too.
    let elsewhere = match server.backend {
        Backend::Postgres => {
            let (other, _, handle) = server.second_instance().await;
            let receiver = other.store.events.subscribe(room).await.expect("subscribe");
            Some((other, receiver, handle))
        }
        Backend::Sqlite => None,
    };
    let (commits_before, posts_before) = commits_and_posts(&server).await;

    let posts = (0..POSTS).map(|i| {
        let client = posters[i % POSTERS].client.clone();
        async move {
            client
                .create_message()
                .channel_id(room)
                .body(types::CreateMessageRequest {
                    body: format!("message {i}").parse().expect("body"),
                })
                .send()
                .await
                .map(|created| created.into_inner())
        }
    });
    let created = futures::future::join_all(posts).await;
    let mut ids = HashSet::new();
    for (i, result) in created.into_iter().enumerate() {
        let message = result.unwrap_or_else(|e| panic!("post {i} refused: {e:?}"));
        assert_eq!(message.body.to_string(), format!("message {i}"));
        assert_eq!(message.author_id, posters[i % POSTERS].id);
        assert!(ids.insert(message.id), "one message per post");
    }

    // Stored once each.
    let listed = listed_message_ids(
        &server.raw(),
        &server.base,
        &owner.access_token,
        &room.to_string(),
    )
    .await;
    let posted: HashSet<String> = ids.iter().map(Uuid::to_string).collect();
    assert_eq!(listed, posted);
    // One event each, numbered without gaps, in the order the messages
    // were stored.
    let log = events::since(&server.app.store.db, room, 0, events::MAX_PAGE)
        .await
        .expect("log");
    let created_events: Vec<&Event> = log
        .iter()
        .filter(|e| e.kind == EventKind::MessageCreated)
        .collect();
    assert_eq!(created_events.len(), POSTS);
    let seqs: Vec<i64> = log.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=log.len() as i64).collect::<Vec<_>>());
    let page: serde_json::Value = server
        .raw()
        .get(server.url(&format!("/api/v2/channels/{room}/messages?limit=100")))
        .bearer_auth(&owner.access_token)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("page");
    let newest_first: Vec<&str> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| item["id"].as_str().expect("id"))
        .collect();
    let logged_oldest_first: Vec<&str> = created_events
        .iter()
        .map(|e| e.data["id"].as_str().expect("id"))
        .collect();
    assert_eq!(
        newest_first.into_iter().rev().collect::<Vec<_>>(),
        logged_oldest_first,
        "events follow the messages' order"
    );

    // Delivered live, in order, once each, here and on the other instance.
    let received = receive_all(&mut live, log.len()).await;
    assert_eq!(received, log);
    if let Some((_other, mut receiver, handle)) = elsewhere {
        let received = receive_all(&mut receiver, log.len()).await;
        assert_eq!(received, log, "the other instance");
        handle.abort();
    }

    // And they shared commits.
    let (commits_after, posts_after) = commits_and_posts(&server).await;
    let (commits, posts) = (commits_after - commits_before, posts_after - posts_before);
    assert_eq!(
        posts, POSTS as f64,
        "every post went through the group commit"
    );
    assert!(
        commits < posts,
        "{POSTS} racing posts took {commits} commits"
    );
    eprintln!("{POSTS} racing posts: {commits} commits");
});
