//! Three PostgreSQL-backed Charter processes behind HAProxy (Debian's
//! package), sharing one database and one Redis, health-checked on
//! `/readyz`. Through the balancer: the per-address and per-user limits
//! hold for the three together; a message posted on one instance reaches
//! SSE and WebSocket subscribers on the others; a logout through one
//! instance refuses the token on the next request on every other; a
//! rolling restart under steady load loses nothing; and an instance killed
//! with SIGKILL fails only what it had in flight.
//!
//! Runs when `TEST_DATABASE_URL` is set (then HAProxy must be installed);
//! uses `TEST_REDIS_URL` or a Redis of its own.

mod common;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use charter_client::Credentials;
use charter_client::live::{ChannelEvents, Session};
use common::process::{Launch, Process};
use common::redis::TestRedis;
use common::{anonymous_client, free_port};
use serde_json::json;
use sqlx::Connection;
use tokio::sync::Mutex;

/// One cluster at a time: each is four processes on two cores.
static ONE_AT_A_TIME: Mutex<()> = Mutex::const_new(());

/// A database of the test's own, dropped with it.
struct Database {
    admin_url: String,
    name: String,
    url: String,
}

impl Database {
    async fn create(admin_url: &str) -> Database {
        let name = format!("charter_cluster_{}", uuid::Uuid::new_v4().simple());
        let mut admin = sqlx::PgConnection::connect(admin_url)
            .await
            .unwrap_or_else(|e| {
                panic!("TEST_DATABASE_URL is set but PostgreSQL is unreachable: {e}")
            });
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("create the database");
        Database {
            admin_url: admin_url.to_owned(),
            url: common::database_url(admin_url, &name),
            name,
        }
    }

    async fn drop_database(self) {
        if let Ok(mut admin) = sqlx::PgConnection::connect(&self.admin_url).await {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            )))
            .execute(&mut admin)
            .await;
        }
    }
}

/// The configuration the README's deployment guide gives HAProxy.
fn haproxy_config(front: u16, servers: &[u16]) -> String {
    let mut config = format!(
        "global
    maxconn 4096

defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout tunnel 1h
    # The client's address reaches Charter (trusted proxy: 127.0.0.1).
    option forwardfor
    # A connection refused (an instance stopping) is retried elsewhere.
    retries 3
    option redispatch
    retry-on conn-failure

frontend api
    bind 127.0.0.1:{front}

    default_backend charter

backend charter
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    default-server check inter 200ms fall 1 rise 2
"
    );
    for (i, port) in servers.iter().enumerate() {
        config.push_str(&format!("    server charter{i} 127.0.0.1:{port}\n"));
    }
    config
}

struct Cluster {
    database: Option<Database>,
    _redis: TestRedis,
    ports: Vec<u16>,
    instances: Vec<Option<Process>>,
    args: Vec<String>,
    database_url: String,
    haproxy: Child,
    dir: std::path::PathBuf,
    /// The balancer's URL.
    base: String,
}

impl Cluster {
    /// Three instances with `extra` arguments on a new database, migrated
    /// once, behind HAProxy; `None` without `TEST_DATABASE_URL`.
    async fn start(extra: &[&str]) -> Option<Cluster> {
        let admin_url = common::test_database_url()?;
        let haproxy_runs = Command::new("haproxy")
            .arg("-v")
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            haproxy_runs,
            "TEST_DATABASE_URL is set: the cluster test needs HAProxy (Debian's haproxy package)"
        );
        let database = Database::create(&admin_url).await;
        let migrated = Command::new(env!("CARGO_BIN_EXE_charter"))
            .arg("migrate")
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("DATABASE_URL", &database.url)
            .output()
            .expect("charter migrate runs");
        assert!(migrated.status.success(), "{migrated:?}");
        let redis = TestRedis::get();
        let prefix = format!("charter-cluster-{}", uuid::Uuid::new_v4());
        let mut args: Vec<String> = vec![
            "--trusted-proxies".into(),
            "127.0.0.1".into(),
            "--shutdown-delay".into(),
            "1s".into(),
            "--redis-prefix".into(),
            prefix,
            "--redis-url".into(),
            redis.url(),
        ];
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let dir = std::env::temp_dir().join(format!("charter-cluster-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("cluster directory");
        let front = free_port();
        let config = dir.join("haproxy.cfg");
        std::fs::write(&config, haproxy_config(front, &ports)).expect("haproxy.cfg");
        let haproxy = Command::new("haproxy")
            .arg("-db")
            .arg("-f")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("haproxy starts");
        let mut cluster = Cluster {
            database_url: database.url.clone(),
            database: Some(database),
            _redis: redis,
            instances: (0..3).map(|_| None).collect(),
            ports,
            args,
            haproxy,
            dir,
            base: format!("http://127.0.0.1:{front}"),
        };
        for i in 0..3 {
            cluster.launch(i);
        }
        cluster.until_balanced().await;
        Some(cluster)
    }

    fn launch(&mut self, i: usize) {
        self.instances[i] = Some(Process::launch(Launch {
            args: self.args.clone(),
            database_url: Some(self.database_url.clone()),
            listen: Some(format!("127.0.0.1:{}", self.ports[i])),
            ..Launch::default()
        }));
    }

    fn instance(&self, i: usize) -> &Process {
        self.instances[i].as_ref().expect("instance running")
    }

    /// Waits until the balancer sends requests to every instance: each
    /// answers `/readyz` itself and HAProxy has seen it up.
    async fn until_balanced(&self) {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        for port in &self.ports {
            loop {
                let ready = http
                    .get(format!("http://127.0.0.1:{port}/readyz"))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success());
                if ready {
                    break;
                }
                assert!(Instant::now() < deadline, "instance on {port} not ready");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        // `rise 2` at `inter 200ms`.
        tokio::time::sleep(Duration::from_millis(700)).await;
        loop {
            let through = http.get(format!("{}/readyz", self.base)).send().await;
            if through.is_ok_and(|r| r.status().is_success()) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "HAProxy does not reach the instances"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn stop(mut self) {
        self.instances.clear();
        if let Some(database) = self.database.take() {
            database.drop_database().await;
        }
    }
}

impl Drop for Cluster {
    /// Also when a test fails before `stop`: nothing is left running, and
    /// the database is dropped on a runtime of its own.
    fn drop(&mut self) {
        let _ = self.haproxy.kill();
        let _ = self.haproxy.wait();
        self.instances.clear();
        let _ = std::fs::remove_dir_all(&self.dir);
        if let Some(database) = self.database.take() {
            let _ = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                if let Ok(runtime) = runtime {
                    runtime.block_on(database.drop_database());
                }
            })
            .join();
        }
    }
}

/// A registered user, through the balancer.
struct User {
    token: String,
    refresh: String,
}

async fn register(http: &reqwest::Client, base: &str, name: &str) -> User {
    let email = format!(
        "{}-{}@example.com",
        name.to_lowercase(),
        uuid::Uuid::new_v4().simple()
    );
    let password = "correct horse battery";
    http.post(format!("{base}/api/v2/auth/register"))
        .json(&json!({"email": email, "password": password, "full_name": name}))
        .send()
        .await
        .expect("register")
        .error_for_status()
        .expect("registered");
    let tokens: serde_json::Value = http
        .post(format!("{base}/api/v2/auth/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .expect("login")
        .error_for_status()
        .expect("logged in")
        .json()
        .await
        .expect("tokens");
    User {
        token: tokens["access_token"]
            .as_str()
            .expect("access token")
            .to_owned(),
        refresh: tokens["refresh_token"]
            .as_str()
            .expect("refresh token")
            .to_owned(),
    }
}

async fn room(http: &reqwest::Client, base: &str, user: &User, name: &str) -> uuid::Uuid {
    let created: serde_json::Value = http
        .post(format!("{base}/api/v2/channels"))
        .bearer_auth(&user.token)
        .json(&json!({"name": name, "visibility": "public"}))
        .send()
        .await
        .expect("create channel")
        .error_for_status()
        .expect("created")
        .json()
        .await
        .expect("channel");
    created["id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .expect("id")
}

async fn post(
    http: &reqwest::Client,
    base: &str,
    user: &User,
    room: uuid::Uuid,
    text: &str,
) -> reqwest::Result<reqwest::Response> {
    http.post(format!("{base}/api/v2/channels/{room}/messages"))
        .bearer_auth(&user.token)
        .json(&json!({"body": text}))
        .send()
        .await
}

/// Every acknowledged message is stored in `room`.
async fn assert_stored(
    http: &reqwest::Client,
    base: &str,
    user: &User,
    room: uuid::Uuid,
    acknowledged: &[String],
) {
    let stored = stored_messages(http, base, user, room).await;
    let lost: Vec<&String> = acknowledged
        .iter()
        .filter(|id| !stored.contains(*id))
        .collect();
    assert!(lost.is_empty(), "acknowledged but not stored: {lost:?}");
}

/// Every message id in `room`, read page by page through `base`.
async fn stored_messages(
    http: &reqwest::Client,
    base: &str,
    user: &User,
    room: uuid::Uuid,
) -> std::collections::HashSet<String> {
    let mut ids = std::collections::HashSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut request = http
            .get(format!("{base}/api/v2/channels/{room}/messages"))
            .bearer_auth(&user.token)
            .query(&[("limit", "100")]);
        if let Some(cursor) = &cursor {
            request = request.query(&[("cursor", cursor)]);
        }
        let page: serde_json::Value = request
            .send()
            .await
            .expect("list")
            .error_for_status()
            .expect("listed")
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

/// What a steady load saw.
#[derive(Default, Debug)]
struct Seen {
    ok: usize,
    /// Connection errors and 5xx answers, with when they happened.
    failures: Vec<(Instant, String)>,
    /// Ids of the messages the cluster acknowledged (201).
    acknowledged: Vec<String>,
}

/// `tasks` clients posting and reading through the balancer until `stop`.
async fn steady_load(
    base: String,
    user: Arc<User>,
    room: uuid::Uuid,
    tasks: usize,
    stop: Arc<AtomicBool>,
) -> Seen {
    let mut handles = Vec::new();
    for task in 0..tasks {
        let (base, user, stop) = (base.clone(), user.clone(), stop.clone());
        handles.push(tokio::spawn(async move {
            let http = reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .expect("client");
            let mut seen = Seen::default();
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let outcome = if n.is_multiple_of(2) {
                    post(&http, &base, &user, room, &format!("load {task}-{n}")).await
                } else {
                    http.get(format!("{base}/api/v2/channels/{room}"))
                        .bearer_auth(&user.token)
                        .send()
                        .await
                };
                match outcome {
                    Ok(response) if response.status().is_server_error() => seen
                        .failures
                        .push((Instant::now(), format!("{}", response.status()))),
                    Ok(response) if response.status() == reqwest::StatusCode::CREATED => {
                        let body: serde_json::Value = response.json().await.expect("message");
                        seen.acknowledged
                            .push(body["id"].as_str().expect("id").to_owned());
                        seen.ok += 1;
                    }
                    Ok(response) => {
                        assert!(response.status().is_success(), "{}", response.status());
                        seen.ok += 1;
                    }
                    Err(error) => seen.failures.push((Instant::now(), error.to_string())),
                }
            }
            seen
        }));
    }
    let mut total = Seen::default();
    for handle in handles {
        let seen = handle.await.expect("load task");
        total.ok += seen.ok;
        total.failures.extend(seen.failures);
        total.acknowledged.extend(seen.acknowledged);
    }
    total
}

/// High limits: nothing in these phases is refused for rate.
const OPEN_LIMITS: &[&str] = &[
    "--rate-limit",
    "1000000/60",
    "--rate-limit-auth",
    "1000000/60",
    "--rate-limit-principal",
    "1000000/60",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_address_and_user_limits_hold_for_the_three_together() {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some(cluster) = Cluster::start(&[
        "--rate-limit",
        "30/60",
        "--rate-limit-auth",
        "1000/60",
        "--rate-limit-principal",
        "20/60",
    ])
    .await
    else {
        return;
    };
    let http = reqwest::Client::new();
    // One client address (as HAProxy forwards it) over the three instances.
    let mut admitted = 0;
    for _ in 0..45 {
        let status = http
            .get(format!("{}/api/v2/me", cluster.base))
            .header("x-forwarded-for", "203.0.113.10")
            .send()
            .await
            .expect("request")
            .status();
        assert!(status == 401 || status == 429, "{status}");
        admitted += usize::from(status == 401);
    }
    assert!(
        admitted.abs_diff(30) <= 1,
        "{admitted} admitted for a limit of 30"
    );

    // One user over the three instances, from addresses of its own.
    let user = register(&http, &cluster.base, "Limited").await;
    let mut admitted = 0;
    for i in 0..30 {
        let status = http
            .get(format!("{}/api/v2/me", cluster.base))
            .header("x-forwarded-for", format!("198.51.100.{i}"))
            .bearer_auth(&user.token)
            .send()
            .await
            .expect("request")
            .status();
        assert!(status == 200 || status == 429, "{status}");
        admitted += usize::from(status == 200);
    }
    assert!(
        admitted.abs_diff(20) <= 1,
        "{admitted} admitted for a limit of 20"
    );
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_behind_haproxy_serve_as_one() {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some(mut cluster) = Cluster::start(OPEN_LIMITS).await else {
        return;
    };
    let http = reqwest::Client::new();
    let alice = Arc::new(register(&http, &cluster.base, "Alice").await);
    let lobby = room(&http, &cluster.base, &alice, "lobby").await;

    // Live events: subscribers spread over the instances by the balancer
    // (round robin: two on each), and one on each instance directly; a
    // message posted through the balancer reaches them all.
    let through =
        charter_client::v2_client(&cluster.base, &Credentials::Bearer(alice.token.clone()))
            .expect("client");
    let mut streams = Vec::new();
    let mut sessions = Vec::new();
    for _ in 0..3 {
        streams.push(
            ChannelEvents::connect(&through, lobby, None)
                .await
                .expect("SSE"),
        );
        let mut session = Session::connect(&anonymous_client(&cluster.base), &alice.token)
            .await
            .expect("WebSocket");
        session.subscribe(lobby, None).await.expect("subscribe");
        sessions.push(session);
    }
    for i in 0..3 {
        let direct = charter_client::v2_client(
            &cluster.instance(i).base,
            &Credentials::Bearer(alice.token.clone()),
        )
        .expect("client");
        streams.push(
            ChannelEvents::connect(&direct, lobby, None)
                .await
                .expect("SSE direct"),
        );
    }
    let posted = post(
        &http,
        &cluster.instance(0).base,
        &alice,
        lobby,
        "hello everyone",
    )
    .await
    .expect("post")
    .json::<serde_json::Value>()
    .await
    .expect("message");
    let id = posted["id"].as_str().expect("id").to_owned();
    for stream in &mut streams {
        let event = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .expect("an SSE event in time")
            .expect("the stream goes on")
            .expect("an event");
        assert!(serde_json::to_string(&event).expect("json").contains(&id));
    }
    for session in &mut sessions {
        let event = tokio::time::timeout(Duration::from_secs(10), session.next_event())
            .await
            .expect("a WebSocket event in time")
            .expect("an event");
        assert!(serde_json::to_string(&event).expect("json").contains(&id));
    }
    drop(streams);
    for session in sessions {
        let _ = session.close().await;
    }

    // Logout through one instance: refused on the next request everywhere.
    let bob = register(&http, &cluster.base, "Bob").await;
    for i in 0..3 {
        let status = http
            .get(format!("{}/api/v2/me", cluster.instance(i).base))
            .bearer_auth(&bob.token)
            .send()
            .await
            .expect("me")
            .status();
        assert_eq!(status, 200, "instance {i} knows Bob (and caches him)");
    }
    let out = http
        .post(format!("{}/api/v2/auth/logout", cluster.instance(1).base))
        .bearer_auth(&bob.token)
        .json(&json!({"refresh_token": bob.refresh}))
        .send()
        .await
        .expect("logout");
    assert_eq!(out.status(), 204);
    for i in [0, 2, 1] {
        let status = http
            .get(format!("{}/api/v2/me", cluster.instance(i).base))
            .bearer_auth(&bob.token)
            .send()
            .await
            .expect("me")
            .status();
        assert_eq!(status, 401, "instance {i} after the logout on instance 1");
    }
    let status = http
        .get(format!("{}/api/v2/me", cluster.base))
        .bearer_auth(&bob.token)
        .send()
        .await
        .expect("me")
        .status();
    assert_eq!(status, 401, "through the balancer");

    // A rolling restart under steady load loses nothing.
    let stop = Arc::new(AtomicBool::new(false));
    let load = tokio::spawn(steady_load(
        cluster.base.clone(),
        alice.clone(),
        lobby,
        4,
        stop.clone(),
    ));
    tokio::time::sleep(Duration::from_millis(500)).await;
    for i in 0..3 {
        let mut instance = cluster.instances[i].take().expect("running");
        instance.signal(libc::SIGTERM);
        let status = instance.wait(Duration::from_secs(30));
        assert!(status.success(), "instance {i} stopped cleanly: {status}");
        drop(instance);
        cluster.launch(i);
        cluster.until_balanced().await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let seen = load.await.expect("load");
    assert!(seen.ok > 50, "the load ran: {seen:?}");
    assert!(
        seen.failures.is_empty(),
        "nothing failed during the rolling restart: {:?}",
        seen.failures
    );
    assert_stored(&http, &cluster.base, &alice, lobby, &seen.acknowledged).await;
    eprintln!(
        "rolling restart: {} requests answered, {} messages acknowledged and stored",
        seen.ok,
        seen.acknowledged.len()
    );

    // An instance killed under load: only what it had in flight fails.
    let tasks = 4;
    let stop = Arc::new(AtomicBool::new(false));
    let load = tokio::spawn(steady_load(
        cluster.base.clone(),
        alice.clone(),
        lobby,
        tasks,
        stop.clone(),
    ));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let killed_at = Instant::now();
    cluster.instances[2]
        .take()
        .expect("running")
        .signal(libc::SIGKILL);
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    let seen = load.await.expect("load");
    // A request in flight on the killed instance fails; HAProxy then closes
    // that client connection, and a request the client had just started
    // on it (keep-alive) fails with it: two per client at most.
    assert!(
        seen.failures.len() <= 2 * tasks,
        "only what was in flight on it fails: {:?}",
        seen.failures
    );
    assert!(
        seen.failures
            .iter()
            .all(|(at, _)| at.duration_since(killed_at) < Duration::from_millis(500)),
        "the balancer routes around it at once: {:?}",
        seen.failures
    );
    assert_stored(&http, &cluster.base, &alice, lobby, &seen.acknowledged).await;
    eprintln!(
        "SIGKILL: {} answered, {} failed",
        seen.ok,
        seen.failures.len()
    );
    cluster.stop().await;
}
