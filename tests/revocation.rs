//! Revocations and profile changes with principals and profiles cached
//! (PostgreSQL, two instances A and B on one database): each one takes
//! effect on the very next request on the instance that performed it, and
//! on the other, which had the principal or profile cached a moment
//! before, as soon as the announcement (PostgreSQL `NOTIFY`, sent before
//! the change is answered) reaches it, within 1 s at worst: were that
//! message lost, the other instance trusts a cached entry for at most
//! `charter::principal_cache::TRUST_FOR` (500 ms). The changing request
//! waits (up to 1 s) until every listener has acknowledged the
//! announcement, so the next request anywhere sees it (`tests/cluster.rs`
//! holds that between processes); here the bound is what is held.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

/// The bound the other instance must meet.
const ACROSS_INSTANCES: Duration = Duration::from_secs(1);

/// Two instances over the test's database.
struct Pair {
    a: String,
    b: String,
    http: reqwest::Client,
    _b_server: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn second_instance(server: &TestServer) -> Pair {
    let (_, b, b_server) = server.second_instance().await;
    Pair {
        a: server.base.clone(),
        b,
        http: server.raw(),
        _b_server: b_server,
    }
}

/// How a request authenticates.
#[derive(Clone)]
enum Auth {
    Anonymous,
    Bearer(String),
    ApiKey(String),
}

impl Auth {
    fn apply(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self {
            Auth::Anonymous => request,
            Auth::Bearer(token) => request.bearer_auth(token),
            Auth::ApiKey(key) => request.header("x-api-key", key),
        }
    }
}

impl Pair {
    async fn status(&self, base: &str, method: reqwest::Method, path: &str, auth: &Auth) -> u16 {
        auth.apply(self.http.request(method, format!("{base}{path}")))
            .send()
            .await
            .expect("request")
            .status()
            .as_u16()
    }

    /// An authenticated read that bearer tokens and API keys may both make.
    async fn me(&self, base: &str, auth: &Auth) -> u16 {
        self.status(base, reqwest::Method::GET, "/api/v2/channels", auth)
            .await
    }

    /// Both instances accept `auth` now (and so have its principal cached).
    async fn warm(&self, auth: &Auth) {
        assert_eq!(self.me(&self.a, auth).await, 200, "A before");
        assert_eq!(self.me(&self.b, auth).await, 200, "B before");
    }

    /// After a revocation made on A: A refuses at once; B as soon as the
    /// announcement reaches it (its next request, unless this process is
    /// too busy to have read it yet), and within the bound at worst.
    async fn refused_everywhere(&self, auth: &Auth, what: &str) {
        let revoked_at = Instant::now();
        assert_eq!(
            self.me(&self.a, auth).await,
            401,
            "{what}: A's next request"
        );
        let waited = self
            .until(revoked_at, || async { self.me(&self.b, auth).await == 401 })
            .await;
        eprintln!("{what}: refused on B after {waited:?}");
    }

    /// Polls `done` until it holds; how long after `since` that was. Fails
    /// beyond [`ACROSS_INSTANCES`].
    async fn until<F, Fut>(&self, since: Instant, done: F) -> Duration
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        loop {
            if done().await {
                return since.elapsed();
            }
            assert!(
                since.elapsed() <= ACROSS_INSTANCES,
                "the other instance still served what was changed after {:?}",
                since.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn post(&self, base: &str, path: &str, auth: &Auth, body: Value) -> reqwest::Response {
        auth.apply(self.http.post(format!("{base}{path}")).json(&body))
            .send()
            .await
            .expect("request")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocations_take_effect_at_once_here_and_within_a_second_elsewhere() {
    common::run(Backend::Postgres, |server: TestServer| async move {
        let pair = second_instance(&server).await;

        // Logout.
        let user = server.user("Logout").await;
        let auth = Auth::Bearer(user.access_token.clone());
        pair.warm(&auth).await;
        let out = pair
            .post(
                &pair.a,
                "/api/v2/auth/logout",
                &auth,
                json!({"refresh_token": user.refresh_token}),
            )
            .await;
        assert_eq!(out.status(), 204);
        pair.refused_everywhere(&auth, "logout").await;

        // Password change.
        let user = server.user("Password").await;
        let auth = Auth::Bearer(user.access_token.clone());
        pair.warm(&auth).await;
        let changed = pair
            .post(
                &pair.a,
                "/api/v2/me/password",
                &auth,
                json!({"current_password": PASSWORD, "new_password": "another long passphrase"}),
            )
            .await;
        assert_eq!(changed.status(), 204);
        pair.refused_everywhere(&auth, "password change").await;

        // Reuse of a rotated refresh token revokes the whole session.
        let user = server.user("Reuse").await;
        let refreshed: Value = pair
            .post(
                &pair.a,
                "/api/v2/auth/refresh",
                &Auth::Anonymous,
                json!({"refresh_token": user.refresh_token}),
            )
            .await
            .json()
            .await
            .expect("new tokens");
        let auth = Auth::Bearer(
            refreshed["access_token"]
                .as_str()
                .expect("token")
                .to_owned(),
        );
        pair.warm(&auth).await;
        let reused = pair
            .post(
                &pair.a,
                "/api/v2/auth/refresh",
                &Auth::Anonymous,
                json!({"refresh_token": user.refresh_token}),
            )
            .await;
        assert_eq!(reused.status(), 401);
        pair.refused_everywhere(&auth, "refresh-token reuse").await;

        // API-key revocation.
        let user = server.user("Keys").await;
        let owner = Auth::Bearer(user.access_token.clone());
        let created: Value = pair
            .post(
                &pair.a,
                "/api/v2/api-keys",
                &owner,
                json!({"name": "bot", "scopes": ["read"]}),
            )
            .await
            .json()
            .await
            .expect("key");
        let auth = Auth::ApiKey(created["key"].as_str().expect("secret").to_owned());
        pair.warm(&auth).await;
        let id = created["id"].as_str().expect("id");
        let revoked = pair
            .status(
                &pair.a,
                reqwest::Method::DELETE,
                &format!("/api/v2/api-keys/{id}"),
                &owner,
            )
            .await;
        assert_eq!(revoked, 204);
        pair.refused_everywhere(&auth, "API-key revocation").await;

        // Account deletion by an administrator.
        let admin = server.user("Admin").await;
        server.make_admin(&admin.email).await;
        let admin_auth = Auth::Bearer(admin.access_token.clone());
        let user = server.user("Deleted").await;
        let auth = Auth::Bearer(user.access_token.clone());
        pair.warm(&auth).await;
        let deleted = pair
            .status(
                &pair.a,
                reqwest::Method::DELETE,
                &format!("/api/v2/users/{}", user.id),
                &admin_auth,
            )
            .await;
        assert_eq!(deleted, 204);
        pair.refused_everywhere(&auth, "account deletion").await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_change_reaches_the_other_instance_within_a_second() {
    common::run(Backend::Postgres, |server: TestServer| async move {
        let pair = second_instance(&server).await;
        let user = server.user("Promoted").await;
        let auth = Auth::Bearer(user.access_token.clone());
        let victims = [
            server.user("First").await,
            server.user("Second").await,
            server.user("Third").await,
        ];
        // As a plain user, B refuses (and caches the principal).
        let path = |victim: &TestUser| format!("/api/v2/users/{}", victim.id);
        let forbidden = pair
            .status(&pair.b, reqwest::Method::DELETE, &path(&victims[0]), &auth)
            .await;
        assert_eq!(forbidden, 403);
        let before = pair
            .status(&pair.a, reqwest::Method::DELETE, &path(&victims[0]), &auth)
            .await;
        assert_eq!(before, 403);

        // Promoted on A (as `charter create-admin` does): A at once...
        server.make_admin(&user.email).await;
        let promoted_at = Instant::now();
        let on_a = pair
            .status(&pair.a, reqwest::Method::DELETE, &path(&victims[1]), &auth)
            .await;
        assert_eq!(on_a, 204, "A's next request sees the new role");
        // ...and B within the bound.
        let waited = pair
            .until(promoted_at, || async {
                pair.status(&pair.b, reqwest::Method::DELETE, &path(&victims[2]), &auth)
                    .await
                    == 204
            })
            .await;
        eprintln!("role change: seen on B after {waited:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_profile_shows_at_once_here_and_within_a_second_elsewhere() {
    common::run(Backend::Postgres, |server: TestServer| async move {
        let pair = second_instance(&server).await;
        let owner = server.user("Oldname").await;
        let reader = server.user("Reader").await;
        let as_owner = Auth::Bearer(owner.access_token.clone());
        let as_reader = Auth::Bearer(reader.access_token.clone());
        let read = |base: String, path: String, auth: Auth| {
            let http = pair.http.clone();
            async move {
                let response = auth
                    .apply(http.get(format!("{base}{path}")))
                    .send()
                    .await
                    .expect("request");
                assert_eq!(response.status(), 200, "{path}");
                let etag = response.headers()["etag"]
                    .to_str()
                    .expect("etag")
                    .to_owned();
                let body: Value = response.json().await.expect("json");
                (
                    body["full_name"].as_str().expect("full_name").to_owned(),
                    etag,
                )
            }
        };
        let profile = format!("/api/v2/users/{}", owner.id);
        // Both instances have read the profile (and may keep it a moment),
        // as its owner and as someone else.
        for base in [&pair.a, &pair.b] {
            let (name, _) = read(base.clone(), "/api/v2/me".into(), as_owner.clone()).await;
            assert_eq!(name, "Oldname");
            let (name, _) = read(base.clone(), profile.clone(), as_reader.clone()).await;
            assert_eq!(name, "Oldname");
        }

        let renamed = as_owner
            .apply(pair.http.patch(format!("{}/api/v2/me", pair.a)))
            .json(&json!({ "full_name": "Newname" }))
            .send()
            .await
            .expect("rename");
        assert_eq!(renamed.status(), 200);
        let new_tag = renamed.headers()["etag"].to_str().expect("etag").to_owned();
        let renamed_at = Instant::now();

        // A, which made the change, shows it on the next request to everyone.
        let (name, tag) = read(pair.a.clone(), "/api/v2/me".into(), as_owner.clone()).await;
        assert_eq!((name.as_str(), tag.as_str()), ("Newname", new_tag.as_str()));
        let (name, _) = read(pair.a.clone(), profile.clone(), as_reader.clone()).await;
        assert_eq!(name, "Newname");
        // B within the bound, to the owner and to others.
        for (path, auth) in [
            ("/api/v2/me".to_owned(), as_owner.clone()),
            (profile.clone(), as_reader.clone()),
        ] {
            let waited = pair
                .until(renamed_at, || {
                    let read = read(pair.b.clone(), path.clone(), auth.clone());
                    async move { read.await.0 == "Newname" }
                })
                .await;
            eprintln!("rename: {path} on B after {waited:?}");
        }
    })
    .await;
}

/// A listener that never acknowledges (an instance hung, or one of a
/// version that does not) delays a revocation by the bound, no more: the
/// logout still answers, and takes effect here at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_that_never_acknowledges_delays_a_revocation_by_the_bound_only() {
    use sqlx::ConnectOptions;
    common::run(Backend::Postgres, |server: TestServer| async move {
        let url = server.config.database_url.clone().expect("PostgreSQL");
        let options: sqlx::postgres::PgConnectOptions = url.parse().expect("database URL");
        // Counted as a listener by name, but it reads nothing.
        let silent = options
            .application_name(charter::events::LISTENER_APPLICATION_NAME)
            .connect()
            .await
            .expect("connect");

        let user = server.user("Silent").await;
        let auth = Auth::Bearer(user.access_token.clone());
        let http = server.raw();
        let started = Instant::now();
        let out = auth
            .apply(http.post(server.url("/api/v2/auth/logout")))
            .json(&json!({"refresh_token": user.refresh_token}))
            .send()
            .await
            .expect("logout");
        let took = started.elapsed();
        assert_eq!(out.status(), 204);
        eprintln!("logout with a silent listener took {took:?}");
        // The silent listener was counted and waited for, up to the bound
        // (1 s); the upper limit is generous for a busy machine.
        assert!(took >= Duration::from_millis(900), "logout took {took:?}");
        assert!(took < Duration::from_secs(5), "logout took {took:?}");
        let me = auth
            .apply(http.get(server.url("/api/v2/channels")))
            .send()
            .await
            .expect("request");
        assert_eq!(me.status(), 401, "refused at once here");
        drop(silent);
    })
    .await;
}
