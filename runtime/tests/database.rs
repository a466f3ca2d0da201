//! `?` turns a database error into a problem by the policy the server set.
#![cfg(feature = "sqlx")]

use axum::http::StatusCode;
use charter_runtime::{Problem, set_database_error_policy};

fn query() -> Result<(), sqlx::Error> {
    Err(sqlx::Error::PoolTimedOut)
}

fn operation() -> Result<(), Problem> {
    query()?;
    Ok(())
}

#[test]
fn database_errors_follow_the_policy_set_first() {
    let unset = operation().expect_err("fails");
    assert_eq!(unset.status_code(), StatusCode::INTERNAL_SERVER_ERROR);

    set_database_error_policy(|_| Problem::new(StatusCode::SERVICE_UNAVAILABLE, "DATABASE_BUSY"));
    set_database_error_policy(|_| Problem::internal());
    let set = operation().expect_err("fails");
    assert_eq!(
        (set.status_code(), &*set.code),
        (StatusCode::SERVICE_UNAVAILABLE, "DATABASE_BUSY")
    );
}
