//! The database: SQLite (embedded default) or PostgreSQL, behind one type.
//! Queries are written once in SQL both engines accept and run through
//! [`on_db!`], which instantiates them for the pool at hand.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};

mod migration_lock;

#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the concrete pool, once per backend.
#[macro_export]
macro_rules! on_db {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::db::Db::Sqlite($pool) => $body,
            $crate::db::Db::Postgres($pool) => $body,
        }
    };
}

/// The embedded database used when no `DATABASE_URL` is configured.
pub const DEFAULT_SQLITE_PATH: &str = "data/charter.db";

impl Db {
    /// Connects to `url` (`postgres://…` or `sqlite:…`) and applies migrations.
    pub async fn connect(url: &str) -> anyhow::Result<Db> {
        // For a SQLite file: held from the switch to WAL until migrated, so
        // that processes starting together prepare the file one at a time.
        let mut startup_lock = None;
        let db = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = PgConnectOptions::from_str(url)?;
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(5))
                .connect_with(options)
                .await?;
            Db::Postgres(pool)
        } else if let Some(path) = url.strip_prefix("sqlite:") {
            let path = path.trim_start_matches("//");
            let options = if path == ":memory:" {
                SqliteConnectOptions::from_str("sqlite::memory:")?
            } else {
                if let Some(dir) = Path::new(path)
                    .parent()
                    .filter(|d| !d.as_os_str().is_empty())
                {
                    std::fs::create_dir_all(dir)?;
                }
                startup_lock = Some(migration_lock::MigrationLock::acquire(Path::new(path)).await?);
                SqliteConnectOptions::new()
                    .filename(path)
                    .create_if_missing(true)
            };
            let options = options
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(5));
            if path != ":memory:" {
                // Switching a new file to WAL needs it to itself: do it on one
                // connection before the pool opens several at once (which
                // could otherwise fail with "database is locked").
                use sqlx::Connection;
                sqlx::SqliteConnection::connect_with(&options)
                    .await?
                    .close()
                    .await?;
            }
            // An in-memory database lives as long as its one connection.
            let max = if path == ":memory:" { 1 } else { 8 };
            let pool = SqlitePoolOptions::new()
                .max_connections(max)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .acquire_timeout(Duration::from_secs(5))
                .connect_with(options)
                .await?;
            Db::Sqlite(pool)
        } else {
            anyhow::bail!("DATABASE_URL must start with postgres:// or sqlite:");
        };
        db.migrate().await?;
        drop(startup_lock);
        Ok(db)
    }

    pub async fn migrate(&self) -> anyhow::Result<()> {
        match self {
            Db::Sqlite(pool) => sqlx::migrate!("migrations/sqlite").run(pool).await?,
            // The migrator holds an advisory lock (per database) while it
            // migrates: instances starting together take turns.
            Db::Postgres(pool) => sqlx::migrate!("migrations/postgres").run(pool).await?,
        }
        Ok(())
    }

    /// Runs `SELECT 1` on a pooled connection; returns the wait for it.
    pub async fn ping(&self) -> Result<Duration, sqlx::Error> {
        on_db!(self, pool => {
            let started = std::time::Instant::now();
            let mut connection = pool.acquire().await?;
            let wait = started.elapsed();
            sqlx::query("SELECT 1").execute(&mut *connection).await?;
            Ok(wait)
        })
    }

    /// Opens (and closes) a connection of its own, bypassing the pool.
    pub async fn ping_new_connection(&self) -> Result<(), sqlx::Error> {
        use sqlx::{ConnectOptions, Connection};
        on_db!(self, pool => pool.connect_options().connect().await?.close().await)
    }

    /// The pool's connections now: (open, idle, maximum).
    pub fn pool_state(&self) -> (u32, u32, u32) {
        on_db!(self, pool => (
            pool.size(),
            u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
            pool.options().get_max_connections(),
        ))
    }

    pub fn backend(&self) -> &'static str {
        match self {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }

    pub async fn close(&self) {
        on_db!(self, pool => pool.close().await)
    }
}

/// The current time at the precision both backends store (microseconds), so
/// a value reads back exactly as it was written.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}
