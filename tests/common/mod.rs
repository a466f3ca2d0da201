//! Test harness: a real Charter server on 127.0.0.1:0 over a database of the
//! test's own, driven through `charter-client`.
//!
//! Every contract test runs against SQLite; when `TEST_DATABASE_URL` is set it
//! runs against PostgreSQL too, each test in a database created for it. If
//! that variable is set but PostgreSQL is unreachable, the test fails.

#![allow(dead_code)]

pub mod probe;
pub mod process;
pub mod redis;

use std::time::Duration;

use charter::{App, Config};
use charter_client::{ClientBuilder, Credentials, Error, Retry, v1, v2};
use sqlx::Connection;

pub use charter_client::v2::types;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs `$body` with `$pool` bound to the test server's concrete pool, for
/// checks that read the database behind the API's back.
#[macro_export]
macro_rules! on_db {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            charter::db::Db::Sqlite { pool: $pool, .. } => $body,
            charter::db::Db::Postgres($pool) => $body,
        }
    };
}

/// Runs an async test body once per available backend. With
/// `config = |config| { ... }` before the body, that closure adjusts the
/// server's [`charter::Config`] first.
#[macro_export]
macro_rules! contract_test {
    ($name:ident, config = $tweak:expr, |$server:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn body($server: $crate::common::TestServer) $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                $crate::common::run_with($crate::common::Backend::Sqlite, $tweak, body).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                $crate::common::run_with($crate::common::Backend::Postgres, $tweak, body).await;
            }
        }
    };
    ($name:ident, |$server:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn body($server: $crate::common::TestServer) $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                $crate::common::run($crate::common::Backend::Sqlite, body).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                $crate::common::run($crate::common::Backend::Postgres, body).await;
            }
        }
    };
}

/// The running server under test.
pub struct TestServer {
    pub base: String,
    /// The operator listener (`/metrics`, `/healthz`, `/readyz`).
    pub admin_base: String,
    pub app: App,
    pub backend: Backend,
    /// The configuration the server was built from (its secrets included).
    pub config: Config,
}

/// The signing secret of every test server unless a test changes it.
pub const TOKEN_SECRET: &str = "test-secret-test-secret-test-secret-0123";

/// A registered user with a live session.
pub struct TestUser {
    pub id: uuid::Uuid,
    pub email: String,
    pub password: String,
    pub access_token: String,
    pub refresh_token: String,
    pub client: v2::Client,
}

pub const PASSWORD: &str = "correct horse battery";

/// Where the test's database lives, so it can be removed afterwards.
enum Store {
    Sqlite(std::path::PathBuf),
    Postgres { admin_url: String, name: String },
}

pub async fn run<F, Fut>(backend: Backend, body: F)
where
    F: FnOnce(TestServer) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    run_with(backend, |_: &mut Config| {}, body).await;
}

/// [`run`] with the server's configuration adjusted by `tweak` (the database
/// URL is the harness's own unless `tweak` sets one).
pub async fn run_with<T, F, Fut>(backend: Backend, tweak: T, body: F)
where
    T: FnOnce(&mut Config),
    F: FnOnce(TestServer) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (url, store) = match backend {
        Backend::Sqlite => {
            let dir = std::env::temp_dir().join(format!("charter-test-{}", uuid::Uuid::new_v4()));
            (
                format!("sqlite:{}/charter.db", dir.display()),
                Store::Sqlite(dir),
            )
        }
        Backend::Postgres => {
            let Some(admin_url) = test_database_url() else {
                return;
            };
            let name = format!("charter_t_{}", uuid::Uuid::new_v4().simple());
            let mut admin = sqlx::PgConnection::connect(&admin_url)
                .await
                .unwrap_or_else(|e| {
                    panic!("TEST_DATABASE_URL is set but PostgreSQL is unreachable: {e}")
                });
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut admin)
                .await
                .expect("create the test database");
            let _ = admin.close().await;
            (
                database_url(&admin_url, &name),
                Store::Postgres { admin_url, name },
            )
        }
    };
    let mut config = Config {
        token_secret: Some(TOKEN_SECRET.to_owned()),
        // Every test client shares 127.0.0.1: limits are tested on their own.
        rate_limits: charter::ratelimit::Settings {
            default: "1000000/60".parse().expect("limit"),
            auth: "1000000/60".parse().expect("limit"),
            principal: "1000000/60".parse().expect("limit"),
            ..Default::default()
        },
        ..Config::default()
    };
    tweak(&mut config);
    if config.database_url.is_none() {
        config.database_url = Some(url);
    }
    let app = App::build(&config).await.expect("build the app");
    let app_for_admin = app.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a port");
    let base = format!("http://{}", listener.local_addr().expect("local address"));
    let server = tokio::spawn(charter::http::serve(listener, app.clone()));
    let admin_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a port");
    let admin_base = format!(
        "http://{}",
        admin_listener.local_addr().expect("local address")
    );
    let admin_server = tokio::spawn(charter::http::serve_admin(
        admin_listener,
        app_for_admin,
        tokio_util::sync::CancellationToken::new(),
    ));
    let outcome = tokio::spawn(body(TestServer {
        base,
        admin_base,
        app: app.clone(),
        backend,
        config,
    }))
    .await;
    server.abort();
    admin_server.abort();
    app.store.db.close().await;
    match store {
        Store::Sqlite(dir) => {
            let _ = std::fs::remove_dir_all(dir);
        }
        Store::Postgres { admin_url, name } => {
            if let Ok(mut admin) = sqlx::PgConnection::connect(&admin_url).await {
                let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&mut admin)
                .await;
            }
        }
    }
    if let Err(error) = outcome {
        std::panic::resume_unwind(error.into_panic());
    }
}

/// A TCP port nothing listens on now, for a process the test starts.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// `TEST_DATABASE_URL`, or `None` (saying so) when it is unset or empty:
/// the PostgreSQL variants of the tests then do not run.
/// Clients of the harness send what the test says and return every answer
/// as it comes (no retries, no Idempotency-Key of their own): the tests
/// assert the server's own answers.
pub fn plain_client(base: &str) -> ClientBuilder {
    ClientBuilder::new(base)
        .retry(Retry::never())
        .idempotency_keys(false)
}

/// An anonymous [`plain_client`] of v2 at `base`.
pub fn anonymous_client(base: &str) -> v2::Client {
    plain_client(base).v2().expect("client")
}

pub fn test_database_url() -> Option<String> {
    let url = std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|v| !v.is_empty());
    if url.is_none() {
        eprintln!("TEST_DATABASE_URL is not set: the PostgreSQL variant does not run");
    }
    url
}

/// `admin_url` with its database name replaced by `name`.
pub fn database_url(admin_url: &str, name: &str) -> String {
    let (base, query) = match admin_url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (admin_url, String::new()),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    match base[scheme_end..].find('/') {
        Some(slash) => format!("{}/{name}{query}", &base[..scheme_end + slash]),
        None => format!("{base}/{name}{query}"),
    }
}

impl TestServer {
    /// A [`plain_client`] of this server.
    pub fn builder(&self) -> ClientBuilder {
        plain_client(&self.base)
    }

    pub fn anonymous(&self) -> v2::Client {
        self.builder().v2().expect("client")
    }

    pub fn anonymous_v1(&self) -> v1::Client {
        self.builder().v1().expect("client")
    }

    pub fn with(&self, credentials: Credentials) -> v2::Client {
        self.builder()
            .credentials(credentials)
            .v2()
            .expect("client")
    }

    pub fn v1_with_token(&self, token: &str) -> v1::Client {
        self.builder()
            .credentials(Credentials::Bearer(token.to_owned()))
            .v1()
            .expect("client")
    }

    /// Registers a user and logs in.
    pub async fn user(&self, name: &str) -> TestUser {
        let email = format!(
            "{}-{}@example.com",
            name.to_lowercase(),
            uuid::Uuid::new_v4().simple()
        );
        let me = self
            .anonymous()
            .register()
            .body(types::RegisterRequest {
                email: email.parse().expect("email"),
                full_name: name.parse().expect("name"),
                password: PASSWORD.parse().expect("password"),
            })
            .send()
            .await
            .expect("register")
            .into_inner();
        let tokens = self
            .anonymous()
            .login()
            .body(types::LoginRequest {
                email: email.parse().expect("email"),
                password: PASSWORD.parse().expect("password"),
            })
            .send()
            .await
            .expect("login")
            .into_inner();
        TestUser {
            id: me.id,
            email,
            password: PASSWORD.to_owned(),
            client: self.with(Credentials::Bearer(tokens.access_token.clone())),
            access_token: tokens.access_token,
            refresh_token: tokens.refresh_token.to_string(),
        }
    }

    /// Another instance over the same database, serving on a port of its
    /// own until the handle is dropped or aborted: the app and its base URL.
    pub async fn second_instance(
        &self,
    ) -> (App, String, tokio::task::JoinHandle<std::io::Result<()>>) {
        let app = App::build(&self.config).await.expect("second instance");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let server = tokio::spawn(charter::http::serve(listener, app.clone()));
        (app, base, server)
    }

    /// Makes the account with `email` an administrator the way
    /// `charter create-admin` does (no password is needed to promote).
    pub async fn make_admin(&self, email: &str) {
        let outcome = charter::users::bootstrap_admin(
            &self.app.store,
            &self.app.passwords,
            &self.app.principals,
            email,
            "unused",
            || anyhow::bail!("promoting an existing account needs no password"),
        )
        .await
        .expect("promote to administrator");
        assert!(
            matches!(outcome, charter::users::AdminBootstrap::Promoted(_)),
            "{outcome:?}"
        );
    }

    /// A raw HTTP client for requests the typed client cannot express
    /// (malformed JSON, wrong types, unknown fields).
    pub fn raw(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// The problem a failed call returned, checked against the expected status
/// and code.
pub fn problem<T: std::fmt::Debug>(
    result: Result<charter_client::ResponseValue<T>, Error<types::Problem>>,
    status: u16,
    code: &str,
) -> types::Problem {
    match result {
        Err(Error::ErrorResponse(response)) => {
            assert_eq!(response.status().as_u16(), status, "status of {response:?}");
            let problem = response.into_inner();
            assert_eq!(problem.status, i32::from(status));
            assert_eq!(problem.code.as_str(), code, "{problem:?}");
            assert!(!problem.request_id.is_empty());
            problem
        }
        other => panic!("expected a {status} {code} problem, got {other:?}"),
    }
}

/// Same as [`problem`] for the v1 client.
pub fn problem_v1<T: std::fmt::Debug>(
    result: Result<charter_client::ResponseValue<T>, Error<v1::types::Problem>>,
    status: u16,
    code: &str,
) -> v1::types::Problem {
    match result {
        Err(Error::ErrorResponse(response)) => {
            assert_eq!(response.status().as_u16(), status, "status of {response:?}");
            for header in ["deprecation", "sunset", "link"] {
                assert!(
                    response.headers().contains_key(header),
                    "v1 problem lacks {header}"
                );
            }
            let problem = response.into_inner();
            assert_eq!(problem.code.as_str(), code, "{problem:?}");
            problem
        }
        other => panic!("expected a {status} {code} problem, got {other:?}"),
    }
}

/// The pointers named by a validation problem.
pub fn pointers(problem: &types::Problem) -> Vec<String> {
    problem
        .errors
        .iter()
        .map(|e| e.pointer.to_string())
        .collect()
}

/// Creates a channel owned by `user`.
pub async fn channel(
    user: &TestUser,
    name: &str,
    visibility: types::ChannelVisibility,
) -> types::Channel {
    user.client
        .create_channel()
        .body(types::CreateChannelRequest {
            name: name.parse().expect("channel name"),
            topic: None,
            visibility: Some(visibility),
        })
        .send()
        .await
        .expect("create channel")
        .into_inner()
}

/// Posts `text` in `channel` as `user`.
pub async fn post(user: &TestUser, channel: uuid::Uuid, text: &str) -> types::Message {
    user.client
        .create_message()
        .channel_id(channel)
        .body(types::CreateMessageRequest {
            body: text.parse().expect("message body"),
        })
        .send()
        .await
        .expect("post message")
        .into_inner()
}

/// Appends the chunks of a response body to `text` until `done(text)`;
/// fails when that takes more than 10 s or the body ends first.
pub async fn read_until<S>(body: &mut S, text: &mut String, done: impl Fn(&str) -> bool)
where
    S: futures::Stream<Item = reqwest::Result<axum::body::Bytes>> + Unpin,
{
    use futures::StreamExt;
    let reading = async {
        while !done(text) {
            let chunk = body.next().await.expect("the body goes on").expect("bytes");
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
    };
    if tokio::time::timeout(Duration::from_secs(10), reading)
        .await
        .is_err()
    {
        panic!("not read in time: {text:?}");
    }
}

/// The ids of every message of `channel`, listed page by page through the
/// API at `base` with a bearer `token`.
pub async fn listed_message_ids(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    channel: &str,
) -> std::collections::HashSet<String> {
    let mut ids = std::collections::HashSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut request = client
            .get(format!("{base}/api/v2/channels/{channel}/messages"))
            .bearer_auth(token)
            .query(&[("limit", "100")]);
        if let Some(cursor) = &cursor {
            request = request.query(&[("cursor", cursor)]);
        }
        let page: serde_json::Value = request
            .send()
            .await
            .expect("list")
            .json()
            .await
            .expect("page");
        for item in page["items"].as_array().expect("items") {
            ids.insert(item["id"].as_str().expect("id").to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return ids,
        }
    }
}
