//! The database: SQLite (embedded default) or PostgreSQL, behind one type.
//! Queries are written once in SQL both engines accept and run through
//! [`on_db!`], which instantiates them for the pool at hand. On a SQLite
//! file the hot reads run first on [`inline_reads`], falling back to the pool.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Connection, PgPool, SqlitePool};
use uuid::Uuid;

pub mod inline_reads;
mod migration_lock;

use inline_reads::InlineReads;
pub use inline_reads::{FromInlineRow, InlineRow, Param};

#[derive(Clone, Debug)]
pub enum Db {
    Sqlite {
        pool: SqlitePool,
        /// Read-only connections for hot reads, on a database file.
        reads: Option<Arc<InlineReads>>,
    },
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the concrete pool, once per backend.
/// Named `crate::db::on_db` like any item of this module (not exported at
/// the crate root, which would make every query an import of `lib.rs`).
macro_rules! on_db {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::db::Db::Sqlite { pool: $pool, .. } => $body,
            $crate::db::Db::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_db;

/// A row type [`Db::fetch_optional`] and [`Db::fetch_all`] can read: from
/// either pool (sqlx) and from an inline SQLite read.
pub trait ReadRow:
    FromInlineRow
    + for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
    + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
    + Send
    + Unpin
{
}

impl<T> ReadRow for T where
    T: FromInlineRow
        + for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
        + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
        + Send
        + Unpin
{
}

/// `query` with `params` bound in order, as `$1`, `$2`, ...
fn bind_params<'q, DB, T>(
    mut query: sqlx::query::QueryAs<'q, DB, T, <DB as sqlx::Database>::Arguments>,
    params: &[Param],
) -> sqlx::query::QueryAs<'q, DB, T, <DB as sqlx::Database>::Arguments>
where
    DB: sqlx::Database,
    Uuid: for<'e> sqlx::Encode<'e, DB> + sqlx::Type<DB>,
    i64: for<'e> sqlx::Encode<'e, DB> + sqlx::Type<DB>,
{
    for param in params {
        query = match *param {
            Param::Uuid(value) => query.bind(value),
            Param::Int(value) => query.bind(value),
        };
    }
    query
}

/// The embedded database used when no `DATABASE_URL` is configured.
pub const DEFAULT_SQLITE_PATH: &str = "data/charter.db";

/// How long the database may make one request wait, and how durable a
/// SQLite commit is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Longest wait for a lock: PostgreSQL's `lock_timeout`, SQLite's busy
    /// timeout. Beyond it the request is answered 503 `DATABASE_BUSY`.
    pub lock_timeout: Duration,
    /// Longest one PostgreSQL statement may run (`statement_timeout`).
    pub statement_timeout: Duration,
    /// SQLite's `synchronous`: `Full` (the default) makes a commit survive
    /// an OS crash or power loss; `Normal` may lose the last commits then.
    pub sqlite_synchronous: Synchronous,
    /// Read-only connections on a SQLite file for reads run inline (see
    /// [`inline_reads`]); `None`: twice the runtime's worker threads, at
    /// least 4. With 0 every read goes through the pool.
    pub sqlite_read_connections: Option<usize>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            lock_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(10),
            sqlite_synchronous: Synchronous::Full,
            sqlite_read_connections: None,
        }
    }
}

/// SQLite's `synchronous` settings Charter offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Synchronous {
    /// Every commit is on disk before it is acknowledged.
    Full,
    /// Faster; a commit can be lost (not corrupted) by an OS crash or power loss.
    Normal,
}

/// A pooled PostgreSQL connection idle for longer is pinged before use.
const PG_PING_AFTER_IDLE: Duration = Duration::from_secs(1);

/// A transaction left open by a pooled PostgreSQL connection is ended by
/// the server after this long, releasing its locks.
const PG_IDLE_IN_TRANSACTION_TIMEOUT: Duration = Duration::from_secs(60);

impl Db {
    /// Connects to `url` (`postgres://…` or `sqlite:…`) and applies migrations.
    pub async fn connect(url: &str, settings: &Settings) -> anyhow::Result<Db> {
        // For a SQLite file: held from the switch to WAL until migrated, so
        // that processes starting together prepare the file one at a time.
        let mut startup_lock = None;
        // A SQLite database's file, for the read-only connections.
        let mut sqlite_file = None;
        let mut db = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            // Each session bounds its own waits, so one stuck row or slow
            // statement costs the requests that need it, not the pool.
            let options = PgConnectOptions::from_str(url)?.options([
                ("lock_timeout", millis(settings.lock_timeout)),
                ("statement_timeout", millis(settings.statement_timeout)),
                (
                    "idle_in_transaction_session_timeout",
                    millis(PG_IDLE_IN_TRANSACTION_TIMEOUT),
                ),
            ]);
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(5))
                // sqlx pings a connection on every acquire by default: a
                // round trip per query. Only one that sat idle for a while
                // (through an outage, say) is pinged; under load none is.
                .test_before_acquire(false)
                .before_acquire(|connection, meta| {
                    Box::pin(async move {
                        if meta.idle_for > PG_PING_AFTER_IDLE {
                            connection.ping().await?;
                        }
                        Ok(true)
                    })
                })
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
                sqlite_file = Some(PathBuf::from(path));
                SqliteConnectOptions::new()
                    .filename(path)
                    .create_if_missing(true)
            };
            let synchronous = match settings.sqlite_synchronous {
                Synchronous::Full => SqliteSynchronous::Full,
                Synchronous::Normal => SqliteSynchronous::Normal,
            };
            let options = options
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(synchronous)
                .foreign_keys(true)
                .busy_timeout(settings.lock_timeout);
            if path != ":memory:" {
                // Switching a new file to WAL needs it to itself: do it on one
                // connection before the pool opens several at once (which
                // could otherwise fail with "database is locked").
                SqliteConnection::connect_with(&options)
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
                // An in-process connection has no peer to lose: no ping (a
                // hand-off to its thread) on every acquire.
                .test_before_acquire(false)
                .after_connect(|connection, _| Box::pin(stable_plans(connection)))
                .after_release(|connection, _| {
                    Box::pin(async move { Ok(transaction_state_is_known(connection).await) })
                })
                .connect_with(options)
                .await?;
            Db::Sqlite { pool, reads: None }
        } else {
            anyhow::bail!("DATABASE_URL must start with postgres:// or sqlite:");
        };
        db.migrate().await?;
        drop(startup_lock);
        if let (Db::Sqlite { reads, .. }, Some(file)) = (&mut db, sqlite_file) {
            *reads = open_inline_reads(&file, settings.sqlite_read_connections);
        }
        Ok(db)
    }

    /// The first row `sql` reads, if any: run inline on a SQLite file (see
    /// [`inline_reads`]), else, or when that cannot answer (no read-only
    /// connection free, any error), through the pool, whose errors are
    /// the ones reported. `params` bind `$1`, `$2`, ... on both paths.
    pub async fn fetch_optional<T: ReadRow>(
        &self,
        sql: &'static str,
        params: &[Param],
    ) -> Result<Option<T>, sqlx::Error> {
        if let Some(found) = self
            .inline_reads()
            .and_then(|reads| reads.optional(sql, params))
        {
            return Ok(found);
        }
        on_db!(self, pool => bind_params(sqlx::query_as(sql), params).fetch_optional(pool).await)
    }

    /// Every row `sql` reads, as [`Db::fetch_optional`] reads one.
    pub async fn fetch_all<T: ReadRow>(
        &self,
        sql: &'static str,
        params: &[Param],
    ) -> Result<Vec<T>, sqlx::Error> {
        if let Some(found) = self.inline_reads().and_then(|reads| reads.all(sql, params)) {
            return Ok(found);
        }
        on_db!(self, pool => bind_params(sqlx::query_as(sql), params).fetch_all(pool).await)
    }

    /// Reads run inline and reads handed to the pool, when there are
    /// read-only connections.
    pub fn inline_read_counts(&self) -> Option<(u64, u64)> {
        match self {
            Db::Sqlite {
                reads: Some(reads), ..
            } => Some(reads.counts()),
            _ => None,
        }
    }

    fn inline_reads(&self) -> Option<&InlineReads> {
        match self {
            // A closed pool answers every read with an error: so do reads.
            Db::Sqlite {
                pool,
                reads: Some(reads),
            } if !pool.is_closed() => Some(reads),
            _ => None,
        }
    }

    pub async fn migrate(&self) -> anyhow::Result<()> {
        match self {
            Db::Sqlite { pool, .. } => sqlx::migrate!("migrations/sqlite").run(pool).await?,
            // The migrator holds an advisory lock (per database) while it
            // migrates: instances starting together take turns. It runs on
            // a connection of its own without the pool's lock and statement
            // timeouts, so waiting for another instance's migration, or a
            // long one, does not fail; closing it releases the lock even if
            // a migration failed.
            Db::Postgres(pool) => {
                let migrator = PgPoolOptions::new()
                    .max_connections(1)
                    .after_connect(|connection, _| {
                        Box::pin(async move {
                            sqlx::raw_sql("SET lock_timeout = 0; SET statement_timeout = 0")
                                .execute(connection)
                                .await
                                .map(|_| ())
                        })
                    })
                    .connect_with((*pool.connect_options()).clone())
                    .await?;
                let migrated = sqlx::migrate!("migrations/postgres").run(&migrator).await;
                migrator.close().await;
                migrated?
            }
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

    /// Stores `bytes` bytes in the probe's row, then empties it again: two
    /// commits that need room to grow the database files as a real write
    /// does. `Ok` when both committed.
    pub async fn test_write(&self, bytes: usize) -> Result<(), sqlx::Error> {
        const WRITE: &str = "INSERT INTO health_probe (id, payload) VALUES (1, $1) \
             ON CONFLICT (id) DO UPDATE SET payload = excluded.payload";
        let payload = vec![0x5a_u8; bytes];
        on_db!(self, pool => {
            sqlx::query(WRITE).bind(payload).execute(pool).await?;
            sqlx::query(WRITE).bind(Vec::<u8>::new()).execute(pool).await?;
            Ok(())
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
            Db::Sqlite { .. } => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }

    pub async fn close(&self) {
        if let Db::Sqlite {
            reads: Some(reads), ..
        } = self
        {
            reads.close();
        }
        on_db!(self, pool => pool.close().await)
    }
}

/// Opens the read-only connections on a migrated SQLite file. Without them
/// (should SQLite refuse) every read goes through the pool.
fn open_inline_reads(file: &Path, count: Option<usize>) -> Option<Arc<InlineReads>> {
    let count = count.unwrap_or_else(|| {
        let workers = tokio::runtime::Handle::try_current()
            .map(|runtime| runtime.metrics().num_workers())
            .unwrap_or(1);
        (2 * workers).max(4)
    });
    match InlineReads::open(file, count) {
        Ok(reads) => Some(Arc::new(reads)),
        Err(error) => {
            tracing::warn!(%error, "no read-only SQLite connections; every read goes through the pool");
            None
        }
    }
}

/// `duration` in milliseconds, as PostgreSQL's timeout settings take it.
fn millis(duration: Duration) -> String {
    duration.as_millis().to_string()
}

/// Turns on SQLite's query planner stability guarantee (QPSG) for a
/// connection. Without it a statement whose `LIMIT` is a bound parameter
/// (every page of a listing) is marked expired whenever that parameter is
/// bound, and prepared again on each run: a third of a message listing's
/// CPU went there. With it, plans do not depend on parameter values, which
/// Charter's queries never relied on.
async fn stable_plans(connection: &mut SqliteConnection) -> Result<(), sqlx::Error> {
    let mut handle = connection.lock_handle().await?;
    let raw = handle.as_raw_handle();
    // SAFETY: the handle is locked for us, so no other thread uses the
    // connection; SQLITE_DBCONFIG_ENABLE_QPSG takes an int and an optional
    // int pointer for the new state, which is not asked for (null).
    let status = unsafe {
        libsqlite3_sys::sqlite3_db_config(
            raw.as_ptr(),
            libsqlite3_sys::SQLITE_DBCONFIG_ENABLE_QPSG,
            1 as std::ffi::c_int,
            std::ptr::null_mut::<std::ffi::c_int>(),
        )
    };
    if status == libsqlite3_sys::SQLITE_OK {
        Ok(())
    } else {
        Err(sqlx::Error::Configuration(
            format!("enabling SQLite's query planner stability guarantee failed ({status})").into(),
        ))
    }
}

/// Whether a SQLite connection coming back to the pool is outside any
/// transaction, as both sqlx and SQLite itself see it. SQLite rolls a
/// transaction back by itself when a write or COMMIT meets a full disk or an
/// I/O error; sqlx's count of open transactions then stays up, and the
/// connection's next "transaction" would be a savepoint whose release
/// commits nothing. Such a connection is closed instead of reused, so no
/// later write is acknowledged without a real COMMIT.
async fn transaction_state_is_known(connection: &mut SqliteConnection) -> bool {
    // The common case, without a round trip to the connection's thread:
    // sqlx counts no open transaction (it counts one from BEGIN until its
    // COMMIT or ROLLBACK succeeded, so a failed COMMIT or a rollback still
    // queued takes the check below).
    if !connection.is_in_transaction() {
        return true;
    }
    let in_sqlite_transaction = match connection.lock_handle().await {
        Ok(mut handle) => {
            let raw = handle.as_raw_handle();
            // SAFETY: the handle is locked for us, so no other thread uses
            // the connection; sqlite3_get_autocommit only reads its state.
            unsafe { libsqlite3_sys::sqlite3_get_autocommit(raw.as_ptr()) == 0 }
        }
        Err(_) => return false,
    };
    // Read after the handle was locked: any rollback queued before the
    // release has run by then.
    let in_sqlx_transaction = connection.is_in_transaction();
    if in_sqlite_transaction || in_sqlx_transaction {
        tracing::warn!(
            in_sqlite_transaction,
            in_sqlx_transaction,
            "closing a database connection whose transaction state is uncertain"
        );
        return false;
    }
    true
}

/// The current time at the precision both backends store (microseconds), so
/// a value reads back exactly as it was written.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn pooled_sqlite_connections_plan_independently_of_parameters() {
        let dir = std::env::temp_dir().join(format!("charter-db-{}", uuid::Uuid::new_v4()));
        let url = format!("sqlite:{}/charter.db", dir.display());
        let db = Db::connect(&url, &Settings::default())
            .await
            .expect("connect");
        let Db::Sqlite { pool, .. } = &db else {
            panic!("a SQLite database")
        };
        let mut connection = pool.acquire().await.expect("a connection");
        let mut handle = connection.lock_handle().await.expect("its handle");
        let mut enabled: std::ffi::c_int = -1;
        // SAFETY: the handle is locked; a negative value only reads the
        // setting into `enabled`.
        unsafe {
            libsqlite3_sys::sqlite3_db_config(
                handle.as_raw_handle().as_ptr(),
                libsqlite3_sys::SQLITE_DBCONFIG_ENABLE_QPSG,
                -1 as std::ffi::c_int,
                &mut enabled as *mut std::ffi::c_int,
            );
        }
        assert_eq!(enabled, 1);
        drop(handle);
        drop(connection);
        db.close().await;
        let _ = std::fs::remove_dir_all(dir);
    }
}
