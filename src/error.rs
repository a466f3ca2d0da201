//! Mapping of storage and internal errors onto problem documents.

use charter_runtime::Problem;

/// Database errors: constraint violations become 409/422 through
/// [`ResultExt`]; the failures [`classify`] recognises become 503s (an
/// unreachable database also asks the health probe to check it, a full or
/// failing disk to test writes); anything else is a 500 whose cause is
/// logged, never sent. The runtime's `From<sqlx::Error>` applies it once
/// [`install`] has run (the application does before it connects).
/// Makes [`database_problem`] the policy of every `?` on a database error.
pub fn install() {
    charter_runtime::set_database_error_policy(database_problem);
}

pub fn database_problem(error: sqlx::Error) -> Problem {
    match classify(&error) {
        Failure::Unavailable => {
            tracing::warn!(%error, "database unavailable");
            crate::health::suspect();
            crate::health::database_unavailable()
        }
        Failure::Busy => {
            tracing::warn!(%error, "database busy");
            crate::health::database_busy()
        }
        Failure::Storage => {
            tracing::error!(%error, "the database cannot write");
            crate::health::suspect_storage();
            crate::health::storage_unavailable()
        }
        Failure::Other => {
            tracing::error!(%error, "database error");
            Problem::internal()
        }
    }
}

/// What a database error says about the database, as opposed to the query.
enum Failure {
    /// It cannot be reached (or is shutting down, or full of connections).
    Unavailable,
    /// The statement gave up waiting for a lock or ran out of time:
    /// retrying later can succeed, and nothing was changed.
    Busy,
    /// It could not store a write: its disk is full or failing. Nothing of
    /// the transaction was committed.
    Storage,
    Other,
}

fn classify(error: &sqlx::Error) -> Failure {
    let db = match error {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => return Failure::Unavailable,
        sqlx::Error::Database(db) => db,
        _ => return Failure::Other,
    };
    let Some(code) = db.code() else {
        return Failure::Other;
    };
    if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        // Extended result codes carry the primary one in the low byte.
        return match code.parse::<i32>().map(|code| code & 0xff) {
            Ok(5 | 6) => Failure::Busy,      // SQLITE_BUSY, SQLITE_LOCKED
            Ok(10 | 13) => Failure::Storage, // SQLITE_IOERR, SQLITE_FULL
            _ => Failure::Other,
        };
    }
    match &*code {
        // Class 08 (connection exception), 57P01-57P03 (the server is
        // shutting down or starting), too_many_connections.
        c if c.starts_with("08") => Failure::Unavailable,
        "57P01" | "57P02" | "57P03" | "53300" => Failure::Unavailable,
        // lock_not_available (lock_timeout), query_canceled
        // (statement_timeout), serialization_failure, deadlock_detected.
        "55P03" | "57014" | "40001" | "40P01" => Failure::Busy,
        // disk_full, out_of_memory, io_error.
        "53100" | "53200" | "58030" => Failure::Storage,
        _ => Failure::Other,
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
