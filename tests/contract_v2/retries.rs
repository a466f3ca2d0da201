//! The client's retries against the server's rate limits: a 429 is sent
//! again after its `Retry-After` when the request is safe to repeat, within
//! the bounds of the `Retry` policy; a POST without an `Idempotency-Key` is
//! not repeated, and `createMessage` gets a key of the client's own.

use std::time::{Duration, Instant};

use charter_client::{ClientBuilder, Retry};

use super::*;

/// Two requests, then one every two seconds, per principal.
fn tight(config: &mut charter::config::Config) {
    config.rate_limits.principal = "2/4".parse().expect("limit");
}

/// Spends the principal's allowance until the server refuses, with a
/// client that never retries.
async fn exhaust(server: &TestServer, user: &TestUser) {
    let strict = server
        .builder()
        .credentials(Credentials::Bearer(user.access_token.clone()))
        .v2()
        .expect("client");
    for _ in 0..10 {
        match strict.get_me().send().await {
            Ok(_) => continue,
            Err(error) => {
                assert_eq!(error.status(), Some(StatusCode::TOO_MANY_REQUESTS));
                return;
            }
        }
    }
    panic!("the allowance never ran out");
}

contract_test!(
    client_retries_refused_reads_after_retry_after,
    config = tight,
    |server| {
        let alice = server.user("Alice").await;
        let patient = ClientBuilder::new(&server.base)
            .credentials(Credentials::Bearer(alice.access_token.clone()))
            .v2()
            .expect("client");

        exhaust(&server, &alice).await;
        let started = Instant::now();
        let me = patient
            .get_me()
            .send()
            .await
            .expect("retried until admitted");
        assert_eq!(me.id, alice.id);
        assert!(
            started.elapsed() >= Duration::from_millis(500),
            "the read waited for Retry-After: {:?}",
            started.elapsed()
        );

        // A total bound shorter than the wait the server asks for: the 429 is
        // returned as it came, at once.
        let hurried = ClientBuilder::new(&server.base)
            .credentials(Credentials::Bearer(alice.access_token.clone()))
            .retry(Retry {
                max_total: Duration::from_millis(200),
                ..Retry::default()
            })
            .v2()
            .expect("client");
        exhaust(&server, &alice).await;
        let started = Instant::now();
        let refused = fail(hurried.get_me().send().await, 429, "RATE_LIMITED");
        assert!(refused.status == 429);
        assert!(started.elapsed() < Duration::from_millis(500));
    }
);

contract_test!(
    client_repeats_a_post_only_under_an_idempotency_key,
    config = tight,
    |server| {
        let alice = server.user("Alice").await;
        let room = channel(&alice, "retries", public()).await;
        let patient = ClientBuilder::new(&server.base)
            .credentials(Credentials::Bearer(alice.access_token.clone()))
            .v2()
            .expect("client");

        // createChannel carries no key: its 429 is the caller's to handle.
        exhaust(&server, &alice).await;
        fail(
            patient
                .create_channel()
                .body(types::CreateChannelRequest {
                    name: "not-repeated".parse().expect("name"),
                    topic: None,
                    visibility: None,
                })
                .send()
                .await,
            429,
            "RATE_LIMITED",
        );

        // createMessage gets a key of the client's own: refused, repeated, and
        // stored once.
        exhaust(&server, &alice).await;
        let started = Instant::now();
        let posted = patient
            .create_message()
            .channel_id(room.id)
            .body(types::CreateMessageRequest {
                body: "sent until admitted".parse().expect("body"),
            })
            .send()
            .await
            .expect("retried until admitted")
            .into_inner();
        assert!(started.elapsed() >= Duration::from_millis(500));
        tokio::time::sleep(Duration::from_secs(4)).await;
        let stored = messages_page(&alice.client, room.id).await;
        let copies = stored
            .items
            .iter()
            .filter(|m| m.body.as_str() == "sent until admitted")
            .count();
        assert_eq!(copies, 1, "stored once");
        assert_eq!(stored.items[0].id, posted.id);
    }
);
