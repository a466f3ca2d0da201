//! Read-only SQLite connections used inline, on the calling task's thread.
//!
//! sqlx runs each SQLite connection on a thread of its own and hands every
//! statement to it over a channel; for a point read that hand-off costs more
//! than the read. The hot reads run here instead: a few read-only connections
//! on the same database file, each behind a mutex, taken with `try_lock` (a
//! task never waits for one). In WAL mode a reader is not blocked by writers
//! and sees every transaction committed before its statement started.
//!
//! A read here either succeeds with exactly what sqlx would have returned, or
//! yields `None` and the caller reads through the pool: when no connection is
//! free, on any SQLite error (busy, I/O, schema), and for any stored value in
//! another form than the one sqlx writes. Errors therefore reach the client
//! as they always did, classified from the pool's attempt.

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::config::DbConfig;
use rusqlite::types::{Type, ValueRef};
use rusqlite::{Connection, OpenFlags};
use uuid::Uuid;

/// How long a reader waits for SQLite's locks before the read goes to the
/// pool. A WAL reader waits only in rare cases (recovery, a checkpoint
/// resetting the log).
const BUSY_TIMEOUT: Duration = Duration::from_millis(50);

/// The read-only connections of one database and their counters.
pub struct InlineReads {
    connections: Box<[Mutex<Option<Connection>>]>,
    next: AtomicUsize,
    inline: AtomicU64,
    fallback: AtomicU64,
}

impl std::fmt::Debug for InlineReads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InlineReads")
            .field("connections", &self.connections.len())
            .finish_non_exhaustive()
    }
}

/// A parameter of an inline read, bound as sqlx binds it for SQLite.
#[derive(Clone, Copy, Debug)]
pub enum Param {
    /// A 16-byte BLOB.
    Uuid(Uuid),
    Int(i64),
}

impl From<Uuid> for Param {
    fn from(value: Uuid) -> Self {
        Param::Uuid(value)
    }
}

impl From<i64> for Param {
    fn from(value: i64) -> Self {
        Param::Int(value)
    }
}

/// A row type an inline read can produce: the counterpart of its
/// `sqlx::FromRow`, decoding every column as sqlx does.
pub trait FromInlineRow: Sized {
    fn from_inline_row(row: &InlineRow<'_>) -> rusqlite::Result<Self>;
}

/// One result row, with decoders that accept exactly the values sqlx writes
/// (anything else is an error, and the read goes to the pool).
pub struct InlineRow<'a> {
    row: &'a rusqlite::Row<'a>,
    /// Where the next column asked for probably is: row types read their
    /// columns in the order the queries select them.
    next: std::cell::Cell<usize>,
}

impl<'a> InlineRow<'a> {
    fn new(row: &'a rusqlite::Row<'a>) -> Self {
        InlineRow {
            row,
            next: std::cell::Cell::new(0),
        }
    }

    /// The index of `column`: the guessed one when its name matches, else
    /// found by name (rusqlite compares every column's name up to it).
    fn index(&self, column: &str) -> rusqlite::Result<usize> {
        let statement = self.row.as_ref();
        let guess = self.next.get();
        let index = match statement.column_name(guess) {
            Ok(name) if name == column => guess,
            _ => statement.column_index(column)?,
        };
        self.next.set(index + 1);
        Ok(index)
    }

    pub fn int(&self, column: &str) -> rusqlite::Result<i64> {
        self.row.get(self.index(column)?)
    }

    pub fn text(&self, column: &str) -> rusqlite::Result<String> {
        self.row.get(self.index(column)?)
    }

    pub fn optional_text(&self, column: &str) -> rusqlite::Result<Option<String>> {
        self.row.get(self.index(column)?)
    }

    /// A TEXT column converted with `TryFrom<String>` (sqlx's `try_from`).
    pub fn text_as<T>(&self, column: &str) -> rusqlite::Result<T>
    where
        T: TryFrom<String>,
        T::Error: std::error::Error + Send + Sync + 'static,
    {
        let index = self.index(column)?;
        T::try_from(self.row.get::<_, String>(index)?)
            .map_err(|e| rusqlite::Error::FromSqlConversionFailure(index, Type::Text, Box::new(e)))
    }

    /// sqlx stores a `Uuid` as a 16-byte BLOB.
    pub fn uuid(&self, column: &str) -> rusqlite::Result<Uuid> {
        let index = self.index(column)?;
        match self.row.get_ref(index)? {
            ValueRef::Blob(bytes) => Uuid::from_slice(bytes).map_err(|e| {
                rusqlite::Error::FromSqlConversionFailure(index, Type::Blob, Box::new(e))
            }),
            other => Err(rusqlite::Error::InvalidColumnType(
                index,
                column.to_owned(),
                other.data_type(),
            )),
        }
    }

    /// A nullable [`InlineRow::timestamp`].
    pub fn optional_timestamp(&self, column: &str) -> rusqlite::Result<Option<DateTime<Utc>>> {
        let index = self.index(column)?;
        if matches!(self.row.get_ref(index)?, ValueRef::Null) {
            return Ok(None);
        }
        // Read the same column again as a timestamp.
        self.next.set(index);
        self.timestamp(column).map(Some)
    }

    /// sqlx stores a `DateTime<Utc>` as RFC 3339 TEXT
    /// (`2026-12-01T10:00:00.123456+00:00`) and decodes it with
    /// `DateTime::parse_from_rfc3339` first; the other forms it reads
    /// (SQLite's own formats, Unix seconds, Julian days) are left to it.
    pub fn timestamp(&self, column: &str) -> rusqlite::Result<DateTime<Utc>> {
        let index = self.index(column)?;
        match self.row.get_ref(index)? {
            ValueRef::Text(bytes) => std::str::from_utf8(bytes)
                .map_err(|e| {
                    rusqlite::Error::FromSqlConversionFailure(index, Type::Text, Box::new(e))
                })
                .and_then(|text| {
                    DateTime::parse_from_rfc3339(text).map_err(|e| {
                        rusqlite::Error::FromSqlConversionFailure(index, Type::Text, Box::new(e))
                    })
                })
                .map(|at| at.with_timezone(&Utc)),
            other => Err(rusqlite::Error::InvalidColumnType(
                index,
                column.to_owned(),
                other.data_type(),
            )),
        }
    }
}

impl InlineReads {
    /// Opens `count` read-only connections on the database file at `path`,
    /// which must exist (and be migrated).
    pub fn open(path: &Path, count: usize) -> rusqlite::Result<InlineReads> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let connections = (0..count)
            .map(|_| {
                let connection = Connection::open_with_flags(path, flags)?;
                connection.busy_timeout(BUSY_TIMEOUT)?;
                // See `db::stable_plans`: no re-preparing for each `LIMIT`.
                connection.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
                Ok(Mutex::new(Some(connection)))
            })
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(InlineReads {
            connections: connections.into_boxed_slice(),
            next: AtomicUsize::new(0),
            inline: AtomicU64::new(0),
            fallback: AtomicU64::new(0),
        })
    }

    /// The first row `sql` returns (`Some(None)` when none); `None` when the
    /// read must go through the pool.
    pub fn optional<T: FromInlineRow>(&self, sql: &str, params: &[Param]) -> Option<Option<T>> {
        self.run(|connection| {
            let mut statement = connection.prepare_cached(sql)?;
            bind(&mut statement, params)?;
            let mut rows = statement.raw_query();
            match rows.next()? {
                Some(row) => T::from_inline_row(&InlineRow::new(row)).map(Some),
                None => Ok(None),
            }
        })
    }

    /// Every row `sql` returns; `None` when the read must go through the pool.
    pub fn all<T: FromInlineRow>(&self, sql: &str, params: &[Param]) -> Option<Vec<T>> {
        self.run(|connection| {
            let mut statement = connection.prepare_cached(sql)?;
            bind(&mut statement, params)?;
            let mut rows = statement.raw_query();
            let mut found = Vec::new();
            while let Some(row) = rows.next()? {
                found.push(T::from_inline_row(&InlineRow::new(row))?);
            }
            Ok(found)
        })
    }

    /// Reads served here and reads handed to the pool, since opening.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.inline.load(Ordering::Relaxed),
            self.fallback.load(Ordering::Relaxed),
        )
    }

    /// Closes the connections; every later read goes to the pool.
    pub fn close(&self) {
        for slot in self.connections.iter() {
            let mut slot = slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            slot.take();
        }
    }

    /// Runs `read` on a free connection, starting the search at the next
    /// one in turn. Never waits for a connection.
    fn run<R>(&self, read: impl FnOnce(&Connection) -> rusqlite::Result<R>) -> Option<R> {
        let count = self.connections.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let mut outcome = None;
        for offset in 0..count {
            let slot = &self.connections[(start + offset) % count];
            // Busy with another read; a poisoned one is left alone.
            let Ok(guard) = slot.try_lock() else {
                continue;
            };
            if let Some(connection) = guard.as_ref() {
                outcome = Some(read(connection));
                break;
            }
        }
        match outcome {
            Some(Ok(value)) => {
                self.inline.fetch_add(1, Ordering::Relaxed);
                Some(value)
            }
            Some(Err(error)) => {
                tracing::debug!(%error, "inline read failed; reading through the pool");
                self.fallback.fetch_add(1, Ordering::Relaxed);
                None
            }
            None => {
                self.fallback.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }
}

/// Binds `params` as sqlx does: `$N` and `?N` name the N-th parameter (so
/// one may appear several times, in any order), a bare `?` the next one;
/// a parameter beyond `params` stays NULL.
fn bind(statement: &mut rusqlite::Statement<'_>, params: &[Param]) -> rusqlite::Result<()> {
    let mut sequential = 0;
    for index in 1..=statement.parameter_count() {
        let n = match statement.parameter_name(index) {
            Some(name) => name
                .strip_prefix('$')
                .or_else(|| name.strip_prefix('?'))
                .and_then(|number| number.parse::<usize>().ok())
                .ok_or_else(|| rusqlite::Error::InvalidParameterName(name.to_owned()))?,
            None => {
                sequential += 1;
                sequential
            }
        };
        let Some(param) = n.checked_sub(1).and_then(|i| params.get(i)) else {
            break;
        };
        match param {
            Param::Uuid(uuid) => statement.raw_bind_parameter(index, &uuid.as_bytes()[..])?,
            Param::Int(value) => statement.raw_bind_parameter(index, value)?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Pair(i64, Option<String>);

    impl FromInlineRow for Pair {
        fn from_inline_row(row: &InlineRow<'_>) -> rusqlite::Result<Self> {
            Ok(Pair(row.int("n")?, row.optional_text("t")?))
        }
    }

    fn database() -> (std::path::PathBuf, Connection) {
        let dir = std::env::temp_dir().join(format!("charter-inline-{}", Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("db.sqlite");
        let writer = Connection::open(&path).unwrap();
        writer
            .execute_batch(
                "PRAGMA journal_mode = WAL; \
                 CREATE TABLE t (n INTEGER, t TEXT, id BLOB, at TEXT); \
                 INSERT INTO t VALUES (1, 'one', NULL, '2026-12-01 10:00:00'), (2, NULL, NULL, NULL);",
            )
            .unwrap();
        (path, writer)
    }

    #[test]
    fn plans_do_not_depend_on_parameter_values() {
        let (path, _writer) = database();
        let reads = InlineReads::open(&path, 2).unwrap();
        for slot in reads.connections.iter() {
            let guard = slot.lock().unwrap();
            let connection = guard.as_ref().unwrap();
            assert!(
                connection
                    .db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG)
                    .unwrap()
            );
        }
    }

    #[test]
    fn numbered_parameters_bind_by_number_in_any_order() {
        let (path, _writer) = database();
        let reads = InlineReads::open(&path, 1).unwrap();
        // `$2` comes first in the text: SQLite numbers it 1, sqlx binds it
        // the second value.
        let row: Option<Option<Pair>> = reads.optional(
            "SELECT n, t FROM t WHERE n = $2 AND $1 = $1",
            &[Param::Int(99), Param::Int(2)],
        );
        let row = row.unwrap().unwrap();
        assert_eq!((row.0, row.1), (2, None));
        let all: Vec<Pair> = reads
            .all(
                "SELECT n, t FROM t WHERE n < $1 ORDER BY n",
                &[Param::Int(10)],
            )
            .unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].1.as_deref(), Some("one"));
        assert_eq!(reads.counts(), (2, 0));
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    #[test]
    fn errors_and_missing_connections_fall_back() {
        let (path, writer) = database();
        let reads = InlineReads::open(&path, 1).unwrap();
        // A schema error.
        let missing: Option<Option<Pair>> = reads.optional("SELECT n, t FROM gone", &[]);
        assert!(missing.is_none());
        // A value in another form than sqlx writes.
        struct At(#[allow(dead_code)] DateTime<Utc>);
        impl FromInlineRow for At {
            fn from_inline_row(row: &InlineRow<'_>) -> rusqlite::Result<Self> {
                row.timestamp("at").map(At)
            }
        }
        let at: Option<Option<At>> = reads.optional("SELECT at FROM t WHERE n = 1", &[]);
        assert!(at.is_none());
        // Read-only: a write is refused.
        assert!(
            reads
                .optional::<Pair>("INSERT INTO t (n) VALUES (3) RETURNING n, t", &[])
                .is_none()
        );
        // The connection is in use (the lock held by another reader).
        let held = reads.connections[0].lock().unwrap();
        assert!(reads.optional::<Pair>("SELECT n, t FROM t", &[]).is_none());
        drop(held);
        reads.close();
        assert!(reads.optional::<Pair>("SELECT n, t FROM t", &[]).is_none());
        assert_eq!(reads.counts(), (0, 5));
        let none = InlineReads::open(&path, 0).unwrap();
        assert!(none.optional::<Pair>("SELECT n, t FROM t", &[]).is_none());
        let count: i64 = writer
            .query_row("SELECT count(*) FROM t", [], |row| row.get(0))
            .unwrap();
        assert_eq!(count, 2);
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    #[test]
    fn uuids_and_timestamps_decode_as_sqlx_writes_them() {
        let (path, writer) = database();
        let id = Uuid::new_v4();
        writer
            .execute(
                "INSERT INTO t (n, id, at) VALUES (5, ?1, '2026-12-01T10:00:00.123456+00:00'), \
                 (6, ?2, '2026-12-01T10:00:00+00:00')",
                rusqlite::params![&id.as_bytes()[..], id.to_string()],
            )
            .unwrap();
        struct Stamped(Uuid, DateTime<Utc>);
        impl FromInlineRow for Stamped {
            fn from_inline_row(row: &InlineRow<'_>) -> rusqlite::Result<Self> {
                Ok(Stamped(row.uuid("id")?, row.timestamp("at")?))
            }
        }
        let reads = InlineReads::open(&path, 1).unwrap();
        let found = reads
            .optional::<Stamped>("SELECT id, at FROM t WHERE id = $1", &[Param::Uuid(id)])
            .unwrap()
            .unwrap();
        assert_eq!(found.0, id);
        assert_eq!(found.1.to_rfc3339(), "2026-12-01T10:00:00.123456+00:00");
        // A UUID stored as text is not sqlx's form: the pool reads it.
        assert!(
            reads
                .optional::<Stamped>("SELECT id, at FROM t WHERE n = 6", &[])
                .is_none()
        );
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }
}
