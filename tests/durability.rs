//! No write is acknowledged that is not durable (the real binary, SQLite):
//! - a full disk (a file-size limit on the server process, SIGXFSZ
//!   ignored): writes answer 503 `STORAGE_UNAVAILABLE`, never 500; every
//!   201 is in the database for another reader and after a crash and
//!   restart; readiness is 503 meanwhile; once there is room again, writes
//!   and readiness recover without a restart;
//! - the write lock held by another process past the lock timeout: 503
//!   `DATABASE_BUSY` with `Retry-After`, reads still served;
//! - `kill -9` under writes: every acknowledged write is there after a
//!   restart; commits are `synchronous = FULL` unless told otherwise.

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::process::{Launch, Process};
use common::*;
use serde_json::{Value, json};
use sqlx::Connection;

/// Largest file the server may write while the disk is "full".
const FILE_SIZE_LIMIT: u64 = 1536 * 1024;

/// Runs in the server's process before it starts: files stop growing past
/// [`FILE_SIZE_LIMIT`], and writing past it fails (EFBIG) instead of
/// killing the process.
fn limit_file_size() -> std::io::Result<()> {
    let limit = libc::rlimit {
        rlim_cur: FILE_SIZE_LIMIT,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: signal and setrlimit are async-signal-safe and only touch
    // this (child) process.
    unsafe {
        if libc::signal(libc::SIGXFSZ, libc::SIG_IGN) == libc::SIG_ERR
            || libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0
        {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Gives the running server room again: its file-size limit is lifted.
fn lift_file_size_limit(pid: i32) {
    let unlimited = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: prlimit on our own child's pid with a valid limit.
    let done = unsafe { libc::prlimit(pid, libc::RLIMIT_FSIZE, &unlimited, std::ptr::null_mut()) };
    assert_eq!(done, 0, "prlimit: {}", std::io::Error::last_os_error());
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// A registered user's bearer token and a channel of theirs.
async fn account_and_channel(base: &str) -> (String, String) {
    let client = http();
    let account = json!({
        "email": "writer@example.com",
        "password": PASSWORD,
        "full_name": "Writer",
    });
    let registered = client
        .post(format!("{base}/api/v2/auth/register"))
        .json(&account)
        .send()
        .await
        .expect("register");
    assert_eq!(registered.status(), 201);
    token_and_channel(base, "durable").await
}

/// Logs in the user of [`account_and_channel`] and creates channel `name`.
async fn token_and_channel(base: &str, name: &str) -> (String, String) {
    let client = http();
    let tokens: Value = client
        .post(format!("{base}/api/v2/auth/login"))
        .json(&json!({"email": "writer@example.com", "password": PASSWORD}))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("tokens");
    let token = tokens["access_token"].as_str().expect("token").to_owned();
    let channel: Value = client
        .post(format!("{base}/api/v2/channels"))
        .bearer_auth(&token)
        .json(&json!({"name": name}))
        .send()
        .await
        .expect("create channel")
        .json()
        .await
        .expect("channel");
    (
        token,
        channel["id"].as_str().expect("channel id").to_owned(),
    )
}

/// The outcome of one message post: its id when acknowledged (201), else
/// the problem's status and code.
async fn post_message(
    base: &str,
    token: &str,
    channel: &str,
    body: &str,
) -> Result<String, (u16, String, Option<String>)> {
    let response = http()
        .post(format!("{base}/api/v2/channels/{channel}/messages"))
        .bearer_auth(token)
        .json(&json!({ "body": body }))
        .send()
        .await
        .expect("post");
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let document: Value = response.json().await.expect("JSON body");
    if status == 201 {
        return Ok(document["id"].as_str().expect("message id").to_owned());
    }
    Err((
        status,
        document["code"].as_str().unwrap_or_default().to_owned(),
        retry_after,
    ))
}

/// The ids of the channel's messages as the API lists them.
async fn listed_ids(base: &str, token: &str, channel: &str) -> HashSet<String> {
    listed_message_ids(&http(), base, token, channel).await
}

/// Starts the server again on `dir` and checks that every acknowledged
/// message of `channel` is listed; how many are.
async fn restart_and_find(dir: &std::path::Path, channel: &str, acknowledged: &[String]) -> usize {
    let restarted = Process::launch(Launch {
        dir: Some(dir.to_owned()),
        ..Launch::default()
    });
    let (token, _) = token_and_channel(&restarted.base, "after-restart").await;
    let listed = listed_ids(&restarted.base, &token, channel).await;
    let missing: Vec<_> = acknowledged
        .iter()
        .filter(|id| !listed.contains(*id))
        .collect();
    assert!(
        missing.is_empty(),
        "acknowledged but lost after a restart: {missing:?}"
    );
    listed.len()
}

/// The ids of every message stored in the SQLite file, read by a connection
/// of this (another) process.
async fn stored_ids(dir: &std::path::Path) -> HashSet<String> {
    let mut connection =
        sqlx::SqliteConnection::connect(&format!("sqlite:{}/charter.db", dir.display()))
            .await
            .expect("open the database file");
    let ids: Vec<uuid::Uuid> = sqlx::query_scalar("SELECT id FROM messages")
        .fetch_all(&mut connection)
        .await
        .expect("read messages");
    connection.close().await.ok();
    ids.into_iter().map(|id| id.to_string()).collect()
}

async fn readiness(admin_base: &str) -> (u16, Value) {
    let response = http()
        .get(format!("{admin_base}/readyz"))
        .send()
        .await
        .expect("readyz");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Polls `/readyz` until it answers `status` (for up to 10 s).
async fn await_readiness(admin_base: &str, status: u16) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (now, body) = readiness(admin_base).await;
        if now == status {
            return body;
        }
        assert!(Instant::now() < deadline, "/readyz stayed {now}: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn temp_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("charter-durable-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_never_gets_a_write_acknowledged_that_is_not_stored() {
    let dir = temp_dir();
    let process = Process::launch(Launch {
        dir: Some(dir.clone()),
        pre_exec: Some(limit_file_size),
        args: vec!["--db-lock-timeout".into(), "2s".into()],
        ..Launch::default()
    });
    let base = process.base.clone();
    let (token, channel) = account_and_channel(&base).await;
    let text = "x".repeat(3000);

    // Fill the disk: post until writes have failed a good number of times.
    let mut acknowledged = Vec::new();
    let mut refusals = 0;
    for attempt in 0..1500 {
        match post_message(&base, &token, &channel, &format!("{attempt} {text}")).await {
            Ok(id) => acknowledged.push(id),
            Err((status, code, retry_after)) => {
                assert_eq!(
                    status, 503,
                    "a write on a full disk is 503, not {status} {code}"
                );
                assert!(
                    code == "STORAGE_UNAVAILABLE" || code == "DATABASE_BUSY",
                    "unexpected code {code}"
                );
                assert!(retry_after.is_some(), "{code} carries Retry-After");
                refusals += 1;
                if refusals == 20 {
                    break;
                }
            }
        }
    }
    assert_eq!(refusals, 20, "the file-size limit was never reached");
    assert!(
        !acknowledged.is_empty(),
        "some writes fit before the disk filled"
    );
    let unready = await_readiness(&process.admin_base, 503).await;
    assert_eq!(unready["code"], "STORAGE_UNAVAILABLE", "{unready}");
    // Reads go on while writes cannot.
    let listed = listed_ids(&base, &token, &channel).await;
    let stored = stored_ids(&dir).await;
    for id in &acknowledged {
        assert!(
            listed.contains(id),
            "acknowledged message {id} is not listed"
        );
        assert!(
            stored.contains(id),
            "acknowledged message {id} is not in the database"
        );
    }
    assert_eq!(
        stored.len(),
        acknowledged.len(),
        "nothing refused was stored"
    );

    // Room again: writes and readiness come back by themselves.
    lift_file_size_limit(process.pid());
    await_readiness(&process.admin_base, 200).await;
    let after = post_message(&base, &token, &channel, "after the disk was freed")
        .await
        .unwrap_or_else(|e| panic!("a write after the disk was freed failed: {e:?}"));
    acknowledged.push(after);

    // A crash, then a restart: every acknowledged write is still there.
    process.signal(libc::SIGKILL);
    drop(process);
    let listed = restart_and_find(&dir, &channel, &acknowledged).await;
    assert_eq!(listed, acknowledged.len(), "nothing refused was stored");
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_lock_held_by_another_process_is_503_database_busy() {
    let dir = temp_dir();
    let process = Process::launch(Launch {
        dir: Some(dir.clone()),
        args: vec!["--db-lock-timeout".into(), "1s".into()],
        ..Launch::default()
    });
    let base = process.base.clone();
    let (token, channel) = account_and_channel(&base).await;
    post_message(&base, &token, &channel, "before the lock")
        .await
        .expect("a write before the lock");

    // This process takes the database's write lock and keeps it.
    let mut holder =
        sqlx::SqliteConnection::connect(&format!("sqlite:{}/charter.db", dir.display()))
            .await
            .expect("open the database file");
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut holder)
        .await
        .expect("take the write lock");
    let started = Instant::now();
    let refused = post_message(&base, &token, &channel, "while locked").await;
    let waited = started.elapsed();
    let (status, code, retry_after) = refused.expect_err("a write while the lock is held");
    assert_eq!((status, code.as_str()), (503, "DATABASE_BUSY"));
    assert_eq!(retry_after.as_deref(), Some("1"));
    assert!(
        waited < Duration::from_secs(10),
        "answered after {waited:?}"
    );
    // Reads are not blocked by a writer, and the server stays ready.
    let me = http()
        .get(format!("{base}/api/v2/me"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("me");
    assert_eq!(me.status(), 200);
    assert_eq!(readiness(&process.admin_base).await.0, 200);

    sqlx::query("ROLLBACK")
        .execute(&mut holder)
        .await
        .expect("release the lock");
    holder.close().await.ok();
    post_message(&base, &token, &channel, "after the lock")
        .await
        .expect("a write after the lock was released");
    let stored = stored_ids(&dir).await;
    assert_eq!(stored.len(), 2, "the refused write left nothing behind");
    drop(process);
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_write_survives_kill_9() {
    let dir = temp_dir();
    let process = Process::launch(Launch {
        dir: Some(dir.clone()),
        ..Launch::default()
    });
    let base = process.base.clone();
    let (token, channel) = account_and_channel(&base).await;
    // Writers keep posting; the process is killed while they do.
    let acknowledged = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut writers = Vec::new();
    for writer in 0..4 {
        let (base, token, channel) = (base.clone(), token.clone(), channel.clone());
        let acknowledged = acknowledged.clone();
        writers.push(tokio::spawn(async move {
            for n in 0.. {
                let outcome = http()
                    .post(format!("{base}/api/v2/channels/{channel}/messages"))
                    .bearer_auth(&token)
                    .json(&json!({ "body": format!("writer {writer} message {n}") }))
                    .send()
                    .await;
                let Ok(response) = outcome else { return };
                if response.status() != 201 {
                    return;
                }
                let Ok(message) = response.json::<Value>().await else {
                    return;
                };
                if let Some(id) = message["id"].as_str() {
                    acknowledged.lock().expect("ids").push(id.to_owned());
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    process.signal(libc::SIGKILL);
    for writer in writers {
        writer.await.expect("writer");
    }
    drop(process);
    let acknowledged = acknowledged.lock().expect("ids").clone();
    assert!(
        acknowledged.len() > 10,
        "only {} writes before the kill",
        acknowledged.len()
    );
    restart_and_find(&dir, &channel, &acknowledged).await;
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn sqlite_commits_are_synchronous_full_unless_told_otherwise() {
    use charter::db::{Db, Settings, Synchronous};
    for (setting, expected) in [(Synchronous::Full, 2_i64), (Synchronous::Normal, 1)] {
        let dir = temp_dir();
        let url = format!("sqlite:{}/charter.db", dir.display());
        let settings = Settings {
            sqlite_synchronous: setting,
            ..Settings::default()
        };
        charter::error::install();
        let db = Db::connect(&url, &settings).await.expect("connect");
        let Db::Sqlite { pool, .. } = &db else {
            panic!("a SQLite URL gives a SQLite pool")
        };
        let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(pool)
            .await
            .expect("PRAGMA synchronous");
        assert_eq!(synchronous, expected, "{setting:?}");
        db.close().await;
        std::fs::remove_dir_all(&dir).ok();
    }
    assert_eq!(Settings::default().sqlite_synchronous, Synchronous::Full);
}
