//! Hot SQLite reads run inline on read-only connections: they return exactly
//! what the pool returns, are counted in `/metrics`, and fall back to the
//! pool (with the same answers) when they cannot run.

mod common;

use std::future::Future;

use charter::App;
use charter::runtime::Problem;
use chrono::{TimeZone, Utc};
use common::{Backend, TestServer, TestUser, channel, post, types};
use uuid::Uuid;

/// Runs `body` against a SQLite file database, its configuration adjusted
/// by `tweak`.
async fn sqlite<T, F, Fut>(tweak: T, body: F)
where
    T: FnOnce(&mut charter::Config),
    F: FnOnce(TestServer) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    common::run_with(Backend::Sqlite, tweak, body).await;
}

fn counts(app: &App) -> (u64, u64) {
    app.store
        .db
        .inline_read_counts()
        .expect("a SQLite file database has read-only connections")
}

/// A second instance on the server's database that reads through its pool
/// only.
async fn pool_only(server: &TestServer) -> App {
    let mut config = server.config.clone();
    config.database.sqlite_read_connections = Some(0);
    App::build(&config).await.expect("a pool-only instance")
}

/// Runs `read` inline on `server.app` and through the pool on `pooled`, and
/// checks that both answer the same and that each took its path.
async fn same<T, F, Fut>(server: &TestServer, pooled: &App, read: F) -> Result<T, Problem>
where
    T: PartialEq + std::fmt::Debug,
    F: Fn(App) -> Fut,
    Fut: Future<Output = Result<T, Problem>>,
{
    let before = counts(&server.app);
    let inline = read(server.app.clone()).await;
    let after = counts(&server.app);
    assert!(
        after.0 > before.0,
        "not read inline: {before:?} → {after:?}"
    );
    assert_eq!(after.1, before.1, "fell back to the pool");
    let (_, pooled_before) = counts(pooled);
    let through_pool = read(pooled.clone()).await;
    let (inline_reads, pooled_after) = counts(pooled);
    assert_eq!(inline_reads, 0);
    assert!(pooled_after > pooled_before, "not read through the pool");
    assert_eq!(inline, through_pool);
    inline
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inline_reads_return_what_the_pool_returns() {
    sqlite(
        |_| {},
        |server| async move {
            let alice = server.user("Alice").await;
            let bob = server.user("Bob").await;
            server.make_admin(&bob.email).await;
            let open = channel(&alice, "open", types::ChannelVisibility::Public).await;
            let hidden = alice
                .client
                .create_channel()
                .body(types::CreateChannelRequest {
                    name: "hidden".parse().expect("name"),
                    topic: Some("a topic".parse().expect("topic")),
                    visibility: Some(types::ChannelVisibility::Private),
                })
                .send()
                .await
                .expect("create channel")
                .into_inner();
            let empty = channel(&alice, "empty", types::ChannelVisibility::Public).await;
            for text in ["one", "two", "three"] {
                post(&alice, open.id, text).await;
            }
            post(&bob, open.id, "from an admin").await;
            post(&alice, hidden.id, "secret").await;
            let pooled = pool_only(&server).await;
            let pooled = &pooled;
            // Timestamps with no fraction and with nanoseconds, stored as
            // the application stores them.
            let whole = Utc
                .with_ymd_and_hms(2026, 12, 1, 10, 0, 0)
                .single()
                .expect("time");
            let fine = whole + chrono::Duration::nanoseconds(123_456_789);
            crate::on_db!(&server.app.store.db, pool => {
                sqlx::query("UPDATE users SET updated_at = $1 WHERE id = $2")
                    .bind(whole)
                    .bind(bob.id)
                    .execute(pool)
                    .await
                    .expect("update");
                sqlx::query("UPDATE messages SET created_at = $1 WHERE body = 'two'")
                    .bind(fine)
                    .execute(pool)
                    .await
                    .expect("update");
            });

            // users::find: a user, an administrator, nobody.
            let found = same(&server, pooled, |app| async move {
                charter::users::find(&app.store, alice.id).await
            })
            .await
            .expect("find");
            assert_eq!(found.map(|u| u.role), Some(charter::auth::Role::User));
            let found = same(&server, pooled, |app| async move {
                charter::users::find(&app.store, bob.id).await
            })
            .await
            .expect("find")
            .expect("bob");
            assert_eq!(found.role, charter::auth::Role::Admin);
            assert_eq!(found.updated_at, whole);
            let nobody = same(&server, pooled, |app| async move {
                charter::users::find(&app.store, Uuid::new_v4()).await
            })
            .await
            .expect("find");
            assert!(nobody.is_none());

            // users::find_in_session: a live session, another user's, an
            // ended one.
            let session =
                charter::users::start_session(&server.app.store, &server.app.tokens, alice.id)
                    .await
                    .expect("session");
            let sid = session.session_id;
            let found = same(&server, pooled, |app| async move {
                charter::users::find_in_session(&app.store, alice.id, sid).await
            })
            .await
            .expect("find_in_session");
            assert_eq!(found.map(|u| u.id), Some(alice.id));
            let foreign = same(&server, pooled, |app| async move {
                charter::users::find_in_session(&app.store, bob.id, sid).await
            })
            .await
            .expect("find_in_session");
            assert!(foreign.is_none());
            charter::users::logout(
                &server.app.store,
                &server.app.principals,
                alice.id,
                &session.refresh_token,
            )
            .await
            .expect("logout");
            let ended = same(&server, pooled, |app| async move {
                charter::users::find_in_session(&app.store, alice.id, sid).await
            })
            .await
            .expect("find_in_session");
            assert!(ended.is_none());

            // channels::visible: public, private to its member, with and
            // without a topic, hidden from others (404).
            for (viewer, id) in [(bob.id, open.id), (alice.id, hidden.id), (bob.id, empty.id)] {
                same(&server, pooled, |app| async move {
                    charter::channels::visible(&app.store, viewer, id).await
                })
                .await
                .expect("visible");
            }
            let row = same(&server, pooled, |app| async move {
                charter::channels::visible(&app.store, alice.id, hidden.id).await
            })
            .await
            .expect("visible");
            assert_eq!(row.topic.as_deref(), Some("a topic"));
            let refused = same(&server, pooled, |app| async move {
                charter::channels::visible(&app.store, bob.id, hidden.id).await
            })
            .await;
            assert_eq!(refused.map_err(|p| p.status), Err(404));

            // messages::list_visible_before: pages, an empty channel, a
            // hidden one, the first page past the last message.
            let page = |viewer: Uuid, id: Uuid, before: i64, limit: usize| {
                move |app: App| async move {
                    charter::messages::list_visible_before(&app.store, viewer, id, before, limit)
                        .await
                }
            };
            let (rows, more) = same(&server, pooled, page(bob.id, open.id, i64::MAX, 2))
                .await
                .expect("page");
            assert_eq!((rows.len(), more), (2, true));
            let (rows, more) = same(&server, pooled, page(bob.id, open.id, rows[1].seq, 10))
                .await
                .expect("page");
            assert_eq!((rows.len(), more), (2, false));
            assert_eq!(rows[0].body, "two");
            assert_eq!(rows[0].created_at, fine);
            let (rows, more) = same(&server, pooled, page(bob.id, empty.id, i64::MAX, 10))
                .await
                .expect("page");
            assert!(rows.is_empty() && !more);
            same(&server, pooled, page(alice.id, hidden.id, i64::MAX, 10))
                .await
                .expect("page");
            let refused = same(&server, pooled, page(bob.id, hidden.id, i64::MAX, 10)).await;
            assert_eq!(refused.map_err(|p| p.status), Err(404));
            let (rows, _) = same(&server, pooled, page(bob.id, open.id, 1, 10))
                .await
                .expect("page");
            assert!(rows.is_empty());
        },
    )
    .await;
}

/// The value of `series` in a Prometheus text exposition.
fn sample(text: &str, series: &str) -> u64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0)
}

async fn inline_metrics(server: &TestServer) -> (u64, u64) {
    let text = reqwest::get(format!("{}/metrics", server.admin_base))
        .await
        .expect("scrape")
        .text()
        .await
        .expect("metrics");
    (
        sample(&text, r#"charter_db_inline_reads_total{outcome="inline"}"#),
        sample(
            &text,
            r#"charter_db_inline_reads_total{outcome="fallback"}"#,
        ),
    )
}

async fn get_user(as_user: &TestUser, id: Uuid) -> types::User {
    as_user
        .client
        .get_user()
        .user_id(id)
        .send()
        .await
        .expect("get user")
        .into_inner()
}

/// Reads a user, a channel and its messages over HTTP and posts one; checks
/// the answers.
async fn browse(server: &TestServer) {
    let alice = server.user("Alice").await;
    let bob = server.user("Bob").await;
    let open = channel(&alice, "open", types::ChannelVisibility::Public).await;
    let first = post(&alice, open.id, "hello").await;
    assert_eq!(get_user(&bob, alice.id).await.id, alice.id);
    let seen = bob
        .client
        .get_channel()
        .channel_id(open.id)
        .send()
        .await
        .expect("get channel")
        .into_inner();
    assert_eq!(seen.id, open.id);
    let second = post(&bob, open.id, "hi").await;
    let page = bob
        .client
        .list_messages()
        .channel_id(open.id)
        .limit(20u32)
        .send()
        .await
        .expect("list messages")
        .into_inner();
    let ids: Vec<Uuid> = page.items.iter().map(|m| m.id).collect();
    assert_eq!(ids, [second.id, first.id]);
    assert_eq!(page.items[1].created_at, first.created_at);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_read_inline() {
    sqlite(
        |_| {},
        |server| async move {
            browse(&server).await;
            let (inline, fallback) = inline_metrics(&server).await;
            // At least the user, the channel (twice, with the post before
            // it) and the page; authentication reads too.
            assert!(inline >= 5, "inline reads: {inline}");
            assert_eq!(fallback, 0);
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_read_connections_reads_go_through_the_pool() {
    sqlite(
        |config| config.database.sqlite_read_connections = Some(0),
        |server| async move {
            browse(&server).await;
            let (inline, fallback) = inline_metrics(&server).await;
            assert_eq!(inline, 0);
            assert!(fallback >= 5, "fallbacks: {fallback}");
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_stored_otherwise_is_read_through_the_pool() {
    sqlite(
        |_| {},
        |server| async move {
            let alice = server.user("Alice").await;
            // SQLite's own timestamp form (as `CURRENT_TIMESTAMP` or a hand
            // edit writes it): sqlx reads it, the inline decoder does not.
            crate::on_db!(&server.app.store.db, pool => sqlx::query(
                "UPDATE users SET created_at = '2026-12-01 10:00:00' WHERE id = $1")
                .bind(alice.id)
                .execute(pool)
                .await
                .map(|_| ())
                .expect("update"));
            let (_, before) = inline_metrics(&server).await;
            let me = get_user(&alice, alice.id).await;
            assert_eq!(
                me.created_at,
                Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0)
                    .single()
                    .expect("time")
            );
            let (_, after) = inline_metrics(&server).await;
            // Authentication read the user too.
            assert!(after > before, "fallbacks: {before} → {after}");
        },
    )
    .await;
}
