//! Database outage: a PostgreSQL cluster of the test's own (on a port of
//! its own) is stopped under a steady load of writes, then started again.
//! While it is down, requests get a 503 problem at once; readiness is
//! false; afterwards everything works again without a restart, and every
//! write that was acknowledged is there.
//!
//! Runs when `TEST_DATABASE_URL` is set (as the other PostgreSQL tests do);
//! the server binaries are found under /usr/lib/postgresql/*/bin, or in
//! `TEST_PG_BINDIR`. With the variable set, a missing binary fails the test.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::*;

/// A throwaway PostgreSQL cluster in a temporary directory.
struct Cluster {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
}

/// The directory holding `initdb` and `pg_ctl`.
fn pg_bindir() -> PathBuf {
    if let Some(dir) = std::env::var_os("TEST_PG_BINDIR").filter(|v| !v.is_empty()) {
        return PathBuf::from(dir);
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|entry| entry.path().join("bin"))
                .filter(|bin| bin.join("initdb").exists() && bin.join("pg_ctl").exists())
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found.pop().unwrap_or_else(|| {
        panic!("TEST_DATABASE_URL is set but no PostgreSQL server binaries were found; set TEST_PG_BINDIR")
    })
}

/// PostgreSQL refuses to run as root: as root, commands run as `postgres`.
fn as_server_user(program: &Path) -> Command {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

fn check(command: &mut Command, what: &str) {
    let output = command.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        output.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

impl Cluster {
    fn create() -> Cluster {
        let bin = pg_bindir();
        let dir =
            std::env::temp_dir().join(format!("charter-pg-{}", uuid::Uuid::new_v4().simple()));
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            check(
                Command::new("install")
                    .args(["-d", "-o", "postgres", "-g", "postgres"])
                    .arg(&dir),
                "create the cluster directory",
            );
        } else {
            std::fs::create_dir_all(&dir).expect("cluster directory");
        }
        let port = common::free_port();
        check(
            as_server_user(&bin.join("initdb"))
                .args(["-U", "postgres", "-A", "trust", "--no-sync", "-D"])
                .arg(dir.join("data")),
            "initdb",
        );
        let cluster = Cluster { bin, dir, port };
        cluster.start();
        cluster
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn start(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.dir.display()
        );
        check(
            as_server_user(&self.bin.join("pg_ctl"))
                .args(["start", "-w", "-t", "30", "-D"])
                .arg(self.dir.join("data"))
                .arg("-l")
                .arg(self.dir.join("server.log"))
                .args(["-o", &options]),
            "pg_ctl start",
        );
    }

    /// A fast shutdown: sessions are terminated, committed work is kept.
    fn stop(&self) {
        check(
            as_server_user(&self.bin.join("pg_ctl"))
                .args(["stop", "-w", "-m", "fast", "-D"])
                .arg(self.dir.join("data")),
            "pg_ctl stop",
        );
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = as_server_user(&self.bin.join("pg_ctl"))
            .args(["stop", "-m", "immediate", "-D"])
            .arg(self.dir.join("data"))
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One write attempt: when it started (since the test began), how long it
/// took, its status, and the message id or problem code.
#[derive(Debug)]
struct Attempt {
    started: Duration,
    took: Duration,
    status: u16,
    id: Option<String>,
    code: Option<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_rides_out_a_database_outage() {
    if std::env::var("TEST_DATABASE_URL").map_or(true, |v| v.is_empty()) {
        eprintln!("TEST_DATABASE_URL is not set: the outage test does not run");
        return;
    }
    let cluster = Arc::new(
        tokio::task::spawn_blocking(Cluster::create)
            .await
            .expect("cluster"),
    );
    let url = cluster.url();
    run_with(
        Backend::Postgres,
        move |config: &mut charter::Config| config.database_url = Some(url),
        move |server| outage(server, cluster),
    )
    .await;
}

async fn outage(server: TestServer, cluster: Arc<Cluster>) {
    let ada = server.user("Ada").await;
    let room = channel(&ada, "outage", types::ChannelVisibility::Public).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client");
    let began = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));

    let mut writers = Vec::new();
    for writer in 0..4 {
        // Through the generated client: a 503 the spec did not declare
        // would come back as an unexpected response, not a typed problem.
        let (client, stop) = (ada.client.clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            let mut attempts = Vec::new();
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let started = began.elapsed();
                let sent = client
                    .create_message()
                    .channel_id(room.id)
                    .body(types::CreateMessageRequest {
                        body: format!("writer {writer} message {n}")
                            .parse()
                            .expect("message body"),
                    })
                    .send()
                    .await;
                let (status, id, code) = match sent {
                    Ok(created) => (
                        created.status().as_u16(),
                        Some(created.into_inner().id.to_string()),
                        None,
                    ),
                    Err(charter_client::Error::ErrorResponse(refused)) => {
                        let content_type = refused
                            .headers()
                            .get("content-type")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned();
                        assert_eq!(content_type, "application/problem+json");
                        let status = refused.status().as_u16();
                        (status, None, Some(refused.into_inner().code.to_string()))
                    }
                    Err(other) => panic!(
                        "the server answers with a declared response (no hang, no dropped connection): {other}"
                    ),
                };
                attempts.push(Attempt {
                    started,
                    took: began.elapsed() - started,
                    status,
                    id,
                    code,
                });
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            attempts
        }));
    }

    let ready = |base: String, client: reqwest::Client| async move {
        client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .expect("readyz")
            .status()
            .as_u16()
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(ready(server.admin_base.clone(), client.clone()).await, 200);

    let stopper = cluster.clone();
    tokio::task::spawn_blocking(move || stopper.stop())
        .await
        .expect("stop");
    let down_at = began.elapsed();
    // The probe notices within a few seconds; from then on, not ready.
    let noticed = Instant::now();
    while ready(server.admin_base.clone(), client.clone()).await != 503 {
        assert!(
            noticed.elapsed() < Duration::from_secs(10),
            "readiness stayed true with the database down"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let noticed_at = began.elapsed();
    // v1 answers the same, and still says it is deprecated.
    let legacy = server
        .v1_with_token(&ada.access_token)
        .get_me()
        .send()
        .await;
    let Err(charter_client::Error::ErrorResponse(legacy)) = legacy else {
        panic!("v1 did not answer a declared problem: {legacy:?}");
    };
    assert_eq!(legacy.status(), 503);
    for header in ["deprecation", "sunset", "link", "retry-after"] {
        assert!(
            legacy.headers().contains_key(header),
            "v1 503 lacks {header}"
        );
    }
    assert_eq!(legacy.into_inner().code.as_str(), "DATABASE_UNAVAILABLE");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(ready(server.admin_base.clone(), client.clone()).await, 503);

    let restarting_at = began.elapsed();
    let starter = cluster.clone();
    tokio::task::spawn_blocking(move || starter.start())
        .await
        .expect("start");
    let up_at = began.elapsed();
    let recovering = Instant::now();
    while ready(server.admin_base.clone(), client.clone()).await != 200 {
        assert!(
            recovering.elapsed() < Duration::from_secs(15),
            "readiness did not come back with the database"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Relaxed);

    let mut attempts = Vec::new();
    for writer in writers {
        attempts.extend(writer.await.expect("writer"));
    }
    eprintln!(
        "{} writes; database down at {down_at:?}, noticed at {noticed_at:?}, up at {up_at:?}",
        attempts.len()
    );

    // Every answer was a success or a 503 problem; never a 500.
    for attempt in &attempts {
        assert!(
            attempt.status == 201
                || (attempt.status == 503
                    && attempt.code.as_deref() == Some("DATABASE_UNAVAILABLE")),
            "{attempt:?}"
        );
    }
    // Once the outage was noticed, requests failed fast rather than waiting.
    let while_down: Vec<&Attempt> = attempts
        .iter()
        .filter(|a| a.started > noticed_at && a.started + a.took < restarting_at)
        .collect();
    assert!(
        !while_down.is_empty(),
        "no request was made while the database was down"
    );
    for attempt in &while_down {
        assert_eq!(attempt.status, 503, "{attempt:?}");
        assert!(
            attempt.took < Duration::from_millis(500),
            "slow 503: {attempt:?}"
        );
    }
    // Writes succeed again after the return, with no restart.
    assert!(
        attempts
            .iter()
            .any(|a| a.started > up_at && a.status == 201),
        "no write succeeded after the database returned"
    );

    // No acknowledged write is missing.
    let stored = listed_message_ids(
        &client,
        &server.base,
        &ada.access_token,
        &room.id.to_string(),
    )
    .await;
    let acknowledged: Vec<&String> = attempts.iter().filter_map(|a| a.id.as_ref()).collect();
    assert!(
        acknowledged.len() > 10,
        "too few writes: {}",
        acknowledged.len()
    );
    for id in acknowledged {
        assert!(stored.contains(id), "acknowledged message {id} is missing");
    }
}
