//! Mapping of storage and internal errors onto problem documents.

use crate::runtime::Problem;

/// Database errors: constraint violations become 409/422 through
/// [`ResultExt`]; an unavailable database is 503; anything else is a 500
/// whose cause is logged, never sent.
impl From<sqlx::Error> for Problem {
    fn from(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
                tracing::warn!(%error, "database unavailable");
                Problem::service_unavailable("The database is unavailable; retry shortly.")
            }
            _ => {
                tracing::error!(%error, "database error");
                Problem::internal()
            }
        }
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
