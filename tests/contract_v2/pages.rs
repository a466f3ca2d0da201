//! The client's page streams (`charter_client::pages::Pages`) against the
//! server: every item of every page, in the server's order, fetched as the
//! stream is read.

use std::num::NonZeroU32;

use charter_client::pages::Pages;
use futures::{StreamExt, TryStreamExt};

use super::*;

contract_test!(client_streams_every_page_of_each_list, |server| {
    let alice = server.user("Alice").await;
    let bob = server.user("Bob").await;
    let general = channel(&alice, "general", public()).await;
    for name in ["one", "two", "three", "four"] {
        channel(&alice, name, public()).await;
    }
    let mut posted = Vec::new();
    for i in 0..7 {
        posted.push(post(&alice, general.id, &format!("message {i}")).await.id);
    }
    let two = NonZeroU32::new(2);

    // Messages: newest first, across four pages of two.
    let streamed: Vec<uuid::Uuid> = bob
        .client
        .all_messages(general.id, two)
        .map_ok(|m| m.id)
        .try_collect()
        .await
        .expect("every message");
    posted.reverse();
    assert_eq!(streamed, posted);

    // Channels and users: as many as listing by hand finds.
    let channels: Vec<_> = bob
        .client
        .all_channels(two)
        .try_collect()
        .await
        .expect("every channel");
    assert_eq!(channels.len(), 5);
    let users: Vec<_> = bob
        .client
        .all_users(two)
        .try_collect()
        .await
        .expect("every user");
    let ids: Vec<uuid::Uuid> = users.iter().map(|u| u.id).collect();
    assert!(ids.contains(&alice.id) && ids.contains(&bob.id), "{ids:?}");

    // Pages are fetched on demand: three items of pages of two cost two
    // requests, and the rest is never asked for.
    let before = list_messages_requests(&server).await;
    let first: Vec<_> = bob
        .client
        .all_messages(general.id, two)
        .take(3)
        .try_collect()
        .await
        .expect("three messages");
    assert_eq!(first.len(), 3);
    assert_eq!(list_messages_requests(&server).await - before, 2);

    // An error ends the stream after it is yielded.
    let mut stranger = bob.client.all_messages(uuid::Uuid::new_v4(), two);
    let refused = stranger.next().await.expect("one item");
    assert!(
        matches!(refused, Err(Error::ErrorResponse(ref p)) if p.status() == 404),
        "{refused:?}"
    );
    assert!(stranger.next().await.is_none());
});

/// `listMessages` requests the server has answered, from its metrics.
async fn list_messages_requests(server: &TestServer) -> u64 {
    let metrics = server
        .raw()
        .get(format!("{}/metrics", server.admin_base))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    metrics
        .lines()
        .filter(|l| {
            l.starts_with("charter_http_requests_total{")
                && l.contains("operation_id=\"listMessages\"")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}
