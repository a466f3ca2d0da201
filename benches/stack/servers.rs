//! The servers under load, each a process of its own: the bare baseline (this
//! binary re-executed) and the real `charter` binary on SQLite and on
//! PostgreSQL; the PostgreSQL databases of the run; seeding through the API.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};
use sqlx::Connection;

const EMAIL: &str = "bench@example.com";
const PASSWORD: &str = "correct horse battery";
const SECRET: &str = "stack-bench-secret-stack-bench-secret-0123";
/// Far above anything two cores can serve: the limiters still run on every
/// request, they just never refuse one.
const NO_LIMIT: &str = "1000000000/1";
/// Messages posted to the channel before it is read.
const SEED_MESSAGES: usize = 50;

/// A server process; stopped (SIGTERM, then SIGKILL) when dropped.
pub struct Server {
    pub name: &'static str,
    pub base: String,
    child: Child,
    /// Lines the server wrote on standard output after it reported ready,
    /// and the last of them.
    pub log_lines: Arc<AtomicUsize>,
    pub last_log_line: Arc<Mutex<String>>,
}

impl Server {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Starts `command` with piped standard output and waits for the line
    /// `ready` picks an address from; later lines are counted.
    fn spawn(
        name: &'static str,
        mut command: Command,
        ready: impl Fn(&Value) -> Option<String>,
    ) -> anyhow::Result<(Server, Value)> {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("cannot start the {name} server"))?;
        let stdout = child.stdout.take().context("no standard output")?;
        let (lines, received) = mpsc::channel();
        let log_lines = Arc::new(AtomicUsize::new(0));
        let last_log_line = Arc::new(Mutex::new(String::new()));
        let (counter, last) = (log_lines.clone(), last_log_line.clone());
        std::thread::spawn(move || {
            let mut reading = BufReader::new(stdout).lines().map_while(Result::ok);
            for line in reading.by_ref() {
                if let Err(mpsc::SendError(line)) = lines.send(line) {
                    counter.fetch_add(1, Ordering::Relaxed);
                    *last.lock().unwrap_or_else(PoisonError::into_inner) = line;
                    break;
                }
            }
            for line in reading {
                counter.fetch_add(1, Ordering::Relaxed);
                *last.lock().unwrap_or_else(PoisonError::into_inner) = line;
            }
        });
        let mut server = Server {
            name,
            base: String::new(),
            child,
            log_lines,
            last_log_line,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let line =
                match received.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                    Ok(line) => line,
                    Err(_) => bail!("the {name} server did not report that it serves"),
                };
            let Ok(parsed) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            if let Some(address) = ready(&parsed) {
                server.base = format!("http://{address}");
                // Dropping the receiver makes the reader count from here on.
                return Ok((server, parsed));
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            // SAFETY: kill(2) on our own child's pid with a valid signal.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let deadline = Instant::now() + Duration::from_secs(40);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The bare baseline, with the id of the user its point select reads.
pub fn start_bare(pg_url: &str, sqlite_path: &str) -> anyhow::Result<(Server, String)> {
    let mut command = Command::new(std::env::current_exe()?);
    command.args(["--bare-server", pg_url, sqlite_path]);
    let (server, ready) = Server::spawn("bare", command, |line| {
        line["address"].as_str().map(str::to_owned)
    })?;
    let user_id = ready["user_id"].as_str().context("no user_id")?.to_owned();
    Ok((server, user_id))
}

/// The real binary with its production defaults, rate limits raised in number
/// only. Its address comes from its `charter is serving` log line.
pub fn start_charter(name: &'static str, database_url: &str) -> anyhow::Result<Server> {
    let mut command = Command::new(env!("CARGO_BIN_EXE_charter"));
    command
        .args(["serve", "--log-format", "json"])
        .args(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
        .args(["--rate-limit", NO_LIMIT, "--rate-limit-principal", NO_LIMIT])
        .args(["--rate-limit-auth", NO_LIMIT])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("DATABASE_URL", database_url)
        .env("CHARTER_TOKEN_SECRET", SECRET)
        // Warnings only, but Charter's own info events: its serving line (and
        // its request spans, info-level, which production runs with).
        .env(
            "RUST_LOG",
            std::env::var("STACK_BENCH_RUST_LOG").unwrap_or_else(|_| "warn,charter=info".into()),
        );
    let (server, _) = Server::spawn(name, command, |line| {
        (line["fields"]["message"] == "charter is serving")
            .then(|| line["fields"]["address"].as_str().map(str::to_owned))
            .flatten()
    })?;
    Ok(server)
}

/// `url` with its database name replaced by `name`.
pub fn database_url(url: &str, name: &str) -> String {
    let (head, query) = url
        .split_once('?')
        .map_or((url, None), |(h, q)| (h, Some(q)));
    let authority = head.find("://").map_or(0, |i| i + 3);
    let server = head[authority..]
        .find('/')
        .map_or(head, |slash| &head[..authority + slash]);
    match query {
        Some(query) => format!("{server}/{name}?{query}"),
        None => format!("{server}/{name}"),
    }
}

/// Databases created on the PostgreSQL server for this run, dropped by
/// [`Databases::drop_all`].
pub struct Databases {
    admin_url: String,
    names: Vec<String>,
}

impl Databases {
    pub fn new(admin_url: &str) -> Databases {
        Databases {
            admin_url: admin_url.to_owned(),
            names: Vec::new(),
        }
    }

    /// Creates a database named `charter_bench_{purpose}_{random}`; its URL.
    pub async fn create(&mut self, purpose: &str) -> anyhow::Result<String> {
        let name = format!("charter_bench_{purpose}_{}", uuid::Uuid::new_v4().simple());
        let mut admin = sqlx::PgConnection::connect(&self.admin_url)
            .await
            .with_context(|| format!("PostgreSQL at {} is unreachable", self.admin_url))?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .with_context(|| format!("cannot create database {name}"))?;
        let _ = admin.close().await;
        self.names.push(name.clone());
        Ok(database_url(&self.admin_url, &name))
    }

    pub async fn drop_all(&mut self) {
        let Ok(mut admin) = sqlx::PgConnection::connect(&self.admin_url).await else {
            eprintln!("cannot reach PostgreSQL to drop {:?}", self.names);
            return;
        };
        for name in self.names.drain(..) {
            let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
            if let Err(error) = sqlx::query(sqlx::AssertSqlSafe(drop))
                .execute(&mut admin)
                .await
            {
                eprintln!("cannot drop database {name}: {error}");
            }
        }
        let _ = admin.close().await;
    }
}

/// What the load needs from a seeded Charter instance.
pub struct Seeded {
    pub user_id: String,
    pub channel_id: String,
}

/// POSTs `body` (with the bearer `token`, if any) and returns the JSON answer
/// of a 2xx; any other status is an error naming `what`.
async fn post(
    client: &reqwest::Client,
    url: String,
    token: Option<&str>,
    body: Value,
    what: &str,
) -> anyhow::Result<Value> {
    let mut request = client.post(url).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.with_context(|| what.to_owned())?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    if !status.is_success() {
        bail!("{what}: {status}: {text}");
    }
    serde_json::from_str(&text).with_context(|| format!("{what}: not JSON: {text}"))
}

/// A fresh access token of the benchmark's user (one per round, so a long
/// run never outlives a token).
pub async fn login(client: &reqwest::Client, base: &str) -> anyhow::Result<String> {
    let credentials = json!({"email": EMAIL, "password": PASSWORD});
    let url = format!("{base}/api/v2/auth/login");
    let pair = post(client, url, None, credentials, "login").await?;
    let token = pair["access_token"].as_str().context("no access_token")?;
    Ok(token.to_owned())
}

/// Registers the benchmark's user, creates a channel and posts messages to it.
pub async fn seed(client: &reqwest::Client, base: &str) -> anyhow::Result<Seeded> {
    let account = json!({"email": EMAIL, "password": PASSWORD, "full_name": "Bench User"});
    let url = format!("{base}/api/v2/auth/register");
    let me = post(client, url, None, account, "register").await?;
    let token = login(client, base).await?;
    let channel = json!({"name": "bench", "topic": "load"});
    let url = format!("{base}/api/v2/channels");
    let channel = post(client, url, Some(&token), channel, "create a channel").await?;
    let channel_id = channel["id"].as_str().context("no channel id")?.to_owned();
    for n in 0..SEED_MESSAGES {
        let message = json!({"body": format!("seed message {n}")});
        let url = format!("{base}/api/v2/channels/{channel_id}/messages");
        post(client, url, Some(&token), message, "post a message").await?;
    }
    Ok(Seeded {
        user_id: me["id"].as_str().context("no user id")?.to_owned(),
        channel_id,
    })
}
