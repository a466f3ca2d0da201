//! The client's token session against the server: it renews the access
//! token before it expires and after a 401, one renewal at a time however
//! many tasks share it (two would trip refresh-token reuse detection), and
//! reports a revoked session as an error of its own.

use std::time::Duration;

use charter_client::{ClientBuilder, SessionError, TokenSession, is_session_revoked};

use super::*;

/// Access tokens that live two seconds (renewed one second early).
fn short_lived(config: &mut charter::config::Config) {
    config.access_token_ttl = Duration::from_secs(2);
}

fn pair(access_token: &str, refresh_token: &str, expires_in: u32) -> types::TokenPair {
    types::TokenPair {
        access_token: access_token.to_owned(),
        token_type: types::TokenPairTokenType::Bearer,
        expires_in: std::num::NonZeroU32::new(expires_in).expect("positive"),
        refresh_token: refresh_token.to_owned(),
    }
}

/// A fresh login of `user` as a session, and a client that uses it.
async fn signed_in(server: &TestServer, user: &TestUser) -> (TokenSession, v2::Client) {
    let session = TokenSession::login(&server.base, &user.email, PASSWORD)
        .await
        .expect("login");
    let client = ClientBuilder::new(&server.base)
        .session(session.clone())
        .v2()
        .expect("client");
    (session, client)
}

contract_test!(
    session_renews_before_expiry_once_for_many_tasks,
    config = short_lived,
    |server| {
        let alice = server.user("Alice").await;
        let (session, client) = signed_in(&server, &alice).await;

        for round in 1..=2u64 {
            // Past the renewal point: every task finds the token expiring.
            tokio::time::sleep(Duration::from_millis(1200)).await;
            let tasks: Vec<_> = (0..16)
                .map(|_| {
                    let client = client.clone();
                    tokio::spawn(async move { client.get_me().send().await.map(|me| me.id) })
                })
                .collect();
            for task in tasks {
                assert_eq!(task.await.expect("task").expect("get_me"), alice.id);
            }
            assert_eq!(session.renewals().await, round, "one renewal per expiry");
            assert!(!session.is_revoked().await);
        }
    }
);

contract_test!(session_renews_after_a_401_and_sends_again, |server| {
    let alice = server.user("Alice").await;
    // An access token the server does not accept, with a valid refresh
    // token, that the session believes good for an hour.
    let session = TokenSession::new(
        &server.base,
        pair("not-a-token", &alice.refresh_token, 3600),
    )
    .expect("session");
    let client = ClientBuilder::new(&server.base)
        .session(session.clone())
        .v2()
        .expect("client");

    let me = client
        .get_me()
        .send()
        .await
        .expect("sent again after renewal");
    assert_eq!(me.id, alice.id);
    assert_eq!(session.renewals().await, 1);
    // The rotated refresh token is the session's; the old one is spent.
    assert_ne!(session.refresh_token().await, alice.refresh_token);
});

contract_test!(session_reports_revocation_as_its_own_error, |server| {
    let alice = server.user("Alice").await;
    let (session, client) = signed_in(&server, &alice).await;
    client.get_me().send().await.expect("signed in");

    // Ending the session server-side: its access token stops working, the
    // renewal is refused, and the request fails as revoked.
    let refresh_token = session.refresh_token().await;
    client
        .logout()
        .body(types::LogoutRequest {
            refresh_token: refresh_token.parse().expect("refresh token"),
        })
        .send()
        .await
        .expect("logout");
    let error = client.get_me().send().await.expect_err("revoked");
    assert!(is_session_revoked(&error), "{error:?}");
    assert!(session.is_revoked().await);
    // And every later request, without a round trip.
    let again = client.list_channels().send().await.expect_err("revoked");
    assert!(is_session_revoked(&again));
    assert_eq!(session.access_token().await, Err(SessionError::Revoked));
});
