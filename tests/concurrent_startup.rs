//! Several `charter` processes starting at once on one new database: every
//! one must start (here: `charter migrate` exits 0) and the schema must end
//! up complete, each migration applied once. On SQLite the processes take
//! turns through a lock file next to the database; on PostgreSQL through
//! the migrator's advisory lock.

mod common;

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

use sqlx::{Connection, PgConnection, SqliteConnection};

/// Processes started at once.
const PROCESSES: usize = 6;
/// Races per backend: a lost race shows in most tries, not all.
const ROUNDS: usize = 4;

/// The migrations shipped for `backend` (`sqlite` or `postgres`).
fn migrations(backend: &str) -> i64 {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend);
    let files = std::fs::read_dir(dir)
        .expect("migrations directory")
        .filter(|entry| {
            entry
                .as_ref()
                .expect("directory entry")
                .path()
                .extension()
                .is_some_and(|e| e == "sql")
        })
        .count();
    i64::try_from(files).expect("a count")
}

/// Starts `charter migrate` on `url` [`PROCESSES`] times at once; their
/// outputs once all have exited.
async fn race(url: &str) -> Vec<Output> {
    let children: Vec<_> = (0..PROCESSES)
        .map(|_| {
            tokio::process::Command::new(env!("CARGO_BIN_EXE_charter"))
                .arg("migrate")
                .env_clear()
                .env("PATH", std::env::var_os("PATH").unwrap_or_default())
                .env("DATABASE_URL", url)
                .env("CHARTER_TOKEN_SECRET", common::TOKEN_SECRET)
                .env("RUST_LOG", "warn")
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .expect("start charter migrate")
        })
        .collect();
    let outputs = futures::future::join_all(
        children
            .into_iter()
            .map(|child| tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())),
    )
    .await;
    outputs
        .into_iter()
        .map(|output| {
            output
                .expect("charter migrate finished within 60 s")
                .expect("charter migrate output")
        })
        .collect()
}

/// Every process exited 0.
fn assert_all_started(round: usize, outputs: &[Output]) {
    for (i, output) in outputs.iter().enumerate() {
        assert!(
            output.status.success(),
            "round {round}, process {i} of {PROCESSES}: {}\nstdout: {}\nstderr: {}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_processes_starting_together_all_migrate() {
    for round in 0..ROUNDS {
        let dir = std::env::temp_dir().join(format!("charter-startup-{}", uuid::Uuid::new_v4()));
        // The directory is new too: the processes also race to create it.
        let path = dir.join("charter.db");
        let url = format!("sqlite:{}", path.display());
        let outputs = race(&url).await;
        assert_all_started(round, &outputs);

        let mut db = SqliteConnection::connect(&url).await.expect("open");
        let applied: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
                .fetch_one(&mut db)
                .await
                .expect("migrations table");
        assert_eq!(applied, migrations("sqlite"), "round {round}");
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&mut db)
            .await
            .expect("journal mode");
        assert_eq!(mode, "wal", "round {round}");
        // The schema is usable: the last migration's table is there.
        let events: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM channel_events")
            .fetch_one(&mut db)
            .await
            .expect("the event log");
        assert_eq!(events, 0);
        db.close().await.expect("close");
        // Starting again on the migrated file applies nothing and succeeds.
        if round == 0 {
            assert_all_started(round, &race(&url).await);
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_processes_starting_together_all_migrate() {
    let Some(admin_url) = common::test_database_url() else {
        return;
    };
    let mut admin = PgConnection::connect(&admin_url)
        .await
        .unwrap_or_else(|e| panic!("TEST_DATABASE_URL is set but PostgreSQL is unreachable: {e}"));
    for round in 0..ROUNDS {
        let name = format!("charter_t_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("create the test database");
        let url = common::database_url(&admin_url, &name);
        let outputs = race(&url).await;

        let mut db = PgConnection::connect(&url).await.expect("connect");
        let applied: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
                .fetch_one(&mut db)
                .await
                .expect("migrations table");
        let events: Result<i64, _> = sqlx::query_scalar("SELECT COUNT(*) FROM channel_events")
            .fetch_one(&mut db)
            .await;
        db.close().await.expect("close");
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(&mut admin)
        .await
        .expect("drop the test database");

        assert_all_started(round, &outputs);
        assert_eq!(applied, migrations("postgres"), "round {round}");
        assert_eq!(events.expect("the event log"), 0);
    }
    admin.close().await.expect("close");
}
