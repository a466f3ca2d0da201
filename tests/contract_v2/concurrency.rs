//! Concurrent requests that compete for the same outcome.

use super::*;

/// Sends `count` copies of a request at once and returns the statuses and bodies.
async fn race(count: usize, request: reqwest::RequestBuilder) -> Vec<(u16, Value)> {
    let mut handles = Vec::new();
    for _ in 0..count {
        let request = request.try_clone().expect("cloneable request");
        handles.push(tokio::spawn(async move {
            let response = request.send().await.expect("send");
            let status = response.status().as_u16();
            let body = response.json::<Value>().await.unwrap_or(Value::Null);
            (status, body)
        }));
    }
    let mut outcomes = Vec::new();
    for handle in handles {
        outcomes.push(handle.await.expect("join"));
    }
    outcomes
}

contract_test!(concurrent_refresh_has_one_winner, |server| {
    let alice = server.user("Alice").await;
    let request = server
        .raw()
        .post(server.url("/api/v2/auth/refresh"))
        .json(&json!({"refresh_token": alice.refresh_token}));
    let outcomes = race(16, request).await;
    let statuses: Vec<u16> = outcomes.iter().map(|(s, _)| *s).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 401),
        "{statuses:?}"
    );
    for (status, body) in &outcomes {
        if *status == 401 {
            assert_eq!(body["code"], "UNAUTHENTICATED");
        }
    }
});

contract_test!(concurrent_idempotent_posts_share_one_message, |server| {
    let alice = server.user("Alice").await;
    let general = channel(&alice, "general", public()).await;
    let request = server
        .raw()
        .post(server.url(&format!("/api/v2/channels/{}/messages", general.id)))
        .bearer_auth(&alice.access_token)
        .header("idempotency-key", "race-0001")
        .json(&json!({"body": "only once"}));
    let outcomes = race(8, request).await;
    assert!(outcomes.iter().all(|(s, _)| *s == 201), "{outcomes:?}");
    let ids: HashSet<String> = outcomes.iter().map(|(_, b)| b["id"].to_string()).collect();
    assert_eq!(ids.len(), 1, "{outcomes:?}");
    let listed = messages_page(&alice.client, general.id).await;
    assert_eq!(listed.items.len(), 1);
});

contract_test!(concurrent_channel_names_conflict, |server| {
    let alice = server.user("Alice").await;
    let request = server
        .raw()
        .post(server.url("/api/v2/channels"))
        .bearer_auth(&alice.access_token)
        .json(&json!({"name": "race"}));
    let outcomes = race(8, request).await;
    let statuses: Vec<u16> = outcomes.iter().map(|(s, _)| *s).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 201 || *s == 409),
        "{statuses:?}"
    );
});
