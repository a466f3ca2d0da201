//! `?` on a sqlx result in code that returns `Result<_, Problem>`.
//!
//! The orphan rule lets only this crate implement `From<sqlx::Error>` for
//! its [`Problem`], while what a database error means (a 503 that also
//! wakes a health check, or a logged 500) is the server's to say. The
//! server says it once per process, with [`set_database_error_policy`]
//! before it opens a database; until then an error is a logged 500.

use std::sync::OnceLock;

use crate::problem::Problem;

static POLICY: OnceLock<fn(sqlx::Error) -> Problem> = OnceLock::new();

/// Sets how database errors become problems; the first policy set stays.
pub fn set_database_error_policy(policy: fn(sqlx::Error) -> Problem) {
    let _ = POLICY.set(policy);
}

impl From<sqlx::Error> for Problem {
    fn from(error: sqlx::Error) -> Self {
        match POLICY.get() {
            Some(policy) => policy(error),
            None => {
                tracing::error!(%error, "database error");
                Problem::internal()
            }
        }
    }
}
