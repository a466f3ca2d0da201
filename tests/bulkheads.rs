//! One stuck row cannot starve the API (PostgreSQL): while a second
//! database session holds a channel's row `FOR UPDATE`, twenty clients
//! posting to that channel get 503 `DATABASE_BUSY` with `Retry-After` once
//! the lock timeout passes, and requests about anything else (`GET /me`,
//! posts to another channel) are served meanwhile, each well within the
//! lock timeout. Runs when `TEST_DATABASE_URL` is set.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;
use sqlx::Connection;

/// The lock timeout the server runs with here.
const LOCK_TIMEOUT: Duration = Duration::from_secs(2);
/// How long the second session holds the row.
const HELD_FOR: Duration = Duration::from_secs(6);

/// A database session of the test's own, in an open transaction.
async fn second_session(server: &TestServer) -> sqlx::PgConnection {
    let url = server.config.database_url.clone().expect("database url");
    let mut session = sqlx::PgConnection::connect(&url).await.expect("connect");
    sqlx::query("BEGIN")
        .execute(&mut session)
        .await
        .expect("begin");
    session
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_channel_row_does_not_starve_unrelated_requests() {
    run_with(
        Backend::Postgres,
        |config: &mut charter::Config| config.database.lock_timeout = LOCK_TIMEOUT,
        |server| async move {
            let owner = server.user("owner").await;
            let hot = channel(&owner, "hot", types::ChannelVisibility::Public).await;
            let calm = channel(&owner, "calm", types::ChannelVisibility::Public).await;
            post(&owner, hot.id, "before the lock").await;

            // A second session locks the hot channel's row and keeps it.
            let mut holder = second_session(&server).await;
            sqlx::query("SELECT 1 FROM channels WHERE id = $1 FOR UPDATE")
                .bind(hot.id)
                .execute(&mut holder)
                .await
                .expect("lock the row");
            let locked_at = Instant::now();

            let http = server.raw();
            let mut writers = Vec::new();
            for n in 0..20 {
                let (http, url, token) = (
                    http.clone(),
                    server.url(&format!("/api/v2/channels/{}/messages", hot.id)),
                    owner.access_token.clone(),
                );
                writers.push(tokio::spawn(async move {
                    let response = http
                        .post(url)
                        .bearer_auth(token)
                        .json(&json!({ "body": format!("hot {n}") }))
                        .send()
                        .await
                        .expect("post to the hot channel");
                    let status = response.status().as_u16();
                    let retry_after = response.headers().get("retry-after").cloned();
                    let problem: serde_json::Value = response.json().await.unwrap_or_default();
                    (
                        status,
                        problem["code"].as_str().map(str::to_owned),
                        retry_after,
                    )
                }));
            }

            // Unrelated requests while the row is held.
            let mut latencies = Vec::new();
            let mut n = 0;
            while locked_at.elapsed() < HELD_FOR - Duration::from_millis(500) {
                let started = Instant::now();
                let me = http
                    .get(server.url("/api/v2/me"))
                    .bearer_auth(&owner.access_token)
                    .send()
                    .await
                    .expect("me");
                assert_eq!(me.status(), 200, "GET /me while a row is locked");
                let elsewhere = http
                    .post(server.url(&format!("/api/v2/channels/{}/messages", calm.id)))
                    .bearer_auth(&owner.access_token)
                    .json(&json!({ "body": format!("calm {n}") }))
                    .send()
                    .await
                    .expect("post elsewhere");
                assert_eq!(elsewhere.status(), 201, "a post to another channel");
                latencies.push(started.elapsed());
                n += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            latencies.sort();
            let slowest = *latencies.last().expect("some requests");
            eprintln!(
                "{} unrelated rounds (GET /me + a post elsewhere) while the row was held: \
                 median {:?}, slowest {slowest:?}",
                latencies.len(),
                latencies[latencies.len() / 2],
            );
            assert!(
                slowest < LOCK_TIMEOUT,
                "an unrelated request waited {slowest:?}, as long as the lock timeout"
            );

            let mut busy = 0;
            for writer in writers {
                let (status, code, retry_after) = writer.await.expect("writer");
                assert_eq!(status, 503, "a writer of the locked channel: {code:?}");
                assert_eq!(code.as_deref(), Some("DATABASE_BUSY"));
                assert!(retry_after.is_some(), "DATABASE_BUSY carries Retry-After");
                busy += 1;
            }
            assert_eq!(busy, 20);

            sqlx::query("ROLLBACK")
                .execute(&mut holder)
                .await
                .expect("release the row");
            holder.close().await.ok();
            // The channel takes writes again, and none of the refused ones
            // left anything behind.
            post(&owner, hot.id, "after the lock").await;
            let page = owner
                .client
                .list_messages()
                .channel_id(hot.id)
                .send()
                .await
                .expect("list")
                .into_inner();
            assert_eq!(page.items.len(), 2, "only the two accepted messages");
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_past_the_statement_timeout_is_503_database_busy() {
    run_with(
        Backend::Postgres,
        |config: &mut charter::Config| {
            config.database.statement_timeout = Duration::from_millis(300);
        },
        |server| async move {
            let owner = server.user("owner").await;
            let hot = channel(&owner, "slow", types::ChannelVisibility::Public).await;
            // The channel's table is locked whole by a second session: the
            // server's insert of the event waits; lock_timeout (5 s) is
            // longer, so the statement timeout ends the wait.
            let mut holder = second_session(&server).await;
            sqlx::query("LOCK TABLE channel_events IN ACCESS EXCLUSIVE MODE")
                .execute(&mut holder)
                .await
                .expect("lock the table");
            let started = Instant::now();
            let response = server
                .raw()
                .post(server.url(&format!("/api/v2/channels/{}/messages", hot.id)))
                .bearer_auth(&owner.access_token)
                .json(&json!({ "body": "slow" }))
                .send()
                .await
                .expect("post");
            assert_eq!(response.status(), 503);
            let problem: serde_json::Value = response.json().await.expect("problem");
            assert_eq!(problem["code"], "DATABASE_BUSY");
            assert!(started.elapsed() < Duration::from_secs(3));
            sqlx::query("ROLLBACK").execute(&mut holder).await.ok();
            holder.close().await.ok();
        },
    )
    .await;
}
