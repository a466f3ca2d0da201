//! Mapping of storage and internal errors onto problem documents.

use crate::runtime::Problem;

/// Database errors: constraint violations become 409/422 through
/// [`ResultExt`]; an unreachable database is 503 (and the health probe is
/// asked to check it); anything else is a 500
/// whose cause is logged, never sent.
impl From<sqlx::Error> for Problem {
    fn from(error: sqlx::Error) -> Self {
        if unavailable(&error) {
            tracing::warn!(%error, "database unavailable");
            crate::health::suspect();
            return crate::health::database_unavailable();
        }
        if busy(&error) {
            tracing::warn!(%error, "database busy");
            return crate::health::database_busy();
        }
        if storage_failed(&error) {
            tracing::error!(%error, "the database cannot write");
            crate::health::suspect_storage();
            return crate::health::storage_unavailable();
        }
        tracing::error!(%error, "database error");
        Problem::internal()
    }
}

/// SQLite's primary result code of an error (its extended codes carry the
/// primary one in the low byte).
fn sqlite_primary_code(db: &dyn sqlx::error::DatabaseError) -> Option<i32> {
    db.try_downcast_ref::<sqlx::sqlite::SqliteError>()?;
    db.code()?.parse::<i32>().ok().map(|code| code & 0xff)
}

/// Whether the statement gave up waiting for a lock or ran out of time:
/// retrying later can succeed, and the database itself is fine.
fn busy(error: &sqlx::Error) -> bool {
    let sqlx::Error::Database(db) = error else {
        return false;
    };
    if let Some(code) = sqlite_primary_code(db.as_ref()) {
        // SQLITE_BUSY, SQLITE_LOCKED
        return matches!(code, 5 | 6);
    }
    // lock_not_available (lock_timeout), query_canceled (statement_timeout),
    // serialization_failure, deadlock_detected.
    db.code()
        .is_some_and(|code| matches!(&*code, "55P03" | "57014" | "40001" | "40P01"))
}

/// Whether the database could not store a write: its disk is full or
/// failing. Nothing of the transaction was committed.
fn storage_failed(error: &sqlx::Error) -> bool {
    let sqlx::Error::Database(db) = error else {
        return false;
    };
    if let Some(code) = sqlite_primary_code(db.as_ref()) {
        // SQLITE_IOERR, SQLITE_FULL
        return matches!(code, 10 | 13);
    }
    // disk_full, io_error, and the rest of class 53 "insufficient resources"
    // but too_many_connections (an outage, above).
    db.code()
        .is_some_and(|code| matches!(&*code, "53100" | "53200" | "58030"))
}

/// Whether an error says the database cannot be reached (or is shutting
/// down), rather than that the query was wrong.
fn unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => true,
        // SQLSTATE class 08 (connection exception), 57P01-57P03 (the server
        // is shutting down or starting), 53300 (too many connections).
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08") || matches!(&*code, "57P01" | "57P02" | "57P03" | "53300")
        }),
        _ => false,
    }
}

/// Turns constraint violations of a database result into client errors.
pub trait ResultExt<T> {
    /// A unique-constraint violation becomes 409 with `code` and `detail`.
    fn on_unique_violation(self, code: &'static str, detail: &str) -> Result<T, Problem>;
    /// A foreign-key violation (the referenced row vanished) becomes 422.
    fn on_foreign_key_violation(self, code: &'static str, detail: &str) -> Result<T, Problem>;
}

impl<T> ResultExt<T> for Result<T, sqlx::Error> {
    fn on_unique_violation(self, code: &'static str, detail: &str) -> Result<T, Problem> {
        self.map_err(|error| match &error {
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                Problem::conflict(code, detail)
            }
            _ => Problem::from(error),
        })
    }

    fn on_foreign_key_violation(self, code: &'static str, detail: &str) -> Result<T, Problem> {
        self.map_err(|error| match &error {
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
                Problem::unprocessable(code, detail)
            }
            _ => Problem::from(error),
        })
    }
}

/// Logs an unexpected internal failure and returns the generic 500 problem.
pub fn internal(context: &str, error: impl std::fmt::Display) -> Problem {
    tracing::error!(%error, "{context}");
    Problem::internal()
}
