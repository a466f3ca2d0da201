//! Readiness: whether the database answers, whether it can store writes,
//! and whether the server is draining. A probe watches the database so
//! that, while it is unreachable, API requests are answered 503 at once
//! instead of each waiting out the pool's connect retries; it notices the
//! database's return by itself. When a write fails because the database's
//! storage is full or failing, the probe writes a test row until that
//! succeeds again, and readiness is false meanwhile.

use std::sync::Weak;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use tokio::sync::Notify;

use crate::db::Db;
use charter_runtime::Problem;

/// How often the probe checks a database that answers.
const PROBE_INTERVAL: Duration = Duration::from_secs(1);
/// How often it checks one that does not.
const RETRY_INTERVAL: Duration = Duration::from_millis(250);
/// Longest one check may take.
const PROBE_TIMEOUT: Duration = Duration::from_millis(500);

/// Size of the probe's test write: several pages, so that it needs the
/// database files to have room to grow as a real write would.
const PROBE_WRITE_BYTES: usize = 64 * 1024;

/// Woken when a request meets a database error that may mean an outage, so
/// the probes check at once rather than at their next tick.
static SUSPECT: Notify = Notify::const_new();

/// Counts the writes that failed for want of storage (any database of the
/// process); a probe that sees it change tests whether its own database
/// can still write.
static STORAGE_FAILURES: AtomicU64 = AtomicU64::new(0);

pub struct Health {
    /// Whether the database answered the last check; requests waiting to
    /// learn of an outage subscribe to it.
    db_up: tokio::sync::watch::Sender<bool>,
    /// Whether the database can store writes: false from a failed test
    /// write until one succeeds.
    writable: AtomicBool,
    draining: AtomicBool,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            db_up: tokio::sync::watch::Sender::new(true),
            writable: AtomicBool::new(true),
            draining: AtomicBool::new(false),
        }
    }
}

impl Health {
    /// Whether the database answered the last check.
    pub fn is_up(&self) -> bool {
        *self.db_up.borrow()
    }

    /// Completes when the database is found unreachable.
    pub async fn outage(&self) {
        let mut changes = self.db_up.subscribe();
        let _ = changes.wait_for(|up| !*up).await;
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// Readiness turns false for good: the process is shutting down.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    /// `Ok` when the server should receive traffic, else the 503 problem
    /// `/readyz` answers.
    pub fn readiness(&self) -> Result<(), Problem> {
        if self.is_draining() {
            return Err(
                Problem::new(StatusCode::SERVICE_UNAVAILABLE, "SHUTTING_DOWN")
                    .with_detail("The server is shutting down and takes no new work."),
            );
        }
        if !self.is_up() {
            return Err(database_unavailable());
        }
        if !self.is_writable() {
            return Err(storage_unavailable());
        }
        Ok(())
    }

    /// Whether the last test write succeeded (true until one fails).
    pub fn is_writable(&self) -> bool {
        self.writable.load(Ordering::Relaxed)
    }
}

/// 503 for a request that needs the database while it is unreachable.
pub fn database_unavailable() -> Problem {
    Problem::new(StatusCode::SERVICE_UNAVAILABLE, "DATABASE_UNAVAILABLE")
        .with_detail("The database is unreachable or overloaded; retry shortly.")
        .with_header(header::RETRY_AFTER, HeaderValue::from_static("1"))
}

/// 503 for a request that waited too long for a lock or a statement.
pub fn database_busy() -> Problem {
    Problem::new(StatusCode::SERVICE_UNAVAILABLE, "DATABASE_BUSY")
        .with_detail(
            "The data this request needs is busy (locked by other work); nothing was changed. \
             Retry shortly.",
        )
        .with_header(header::RETRY_AFTER, HeaderValue::from_static("1"))
}

/// 503 for a write the database could not store (full or failing disk).
pub fn storage_unavailable() -> Problem {
    Problem::new(StatusCode::SERVICE_UNAVAILABLE, "STORAGE_UNAVAILABLE")
        .with_detail(
            "The database cannot store writes right now; nothing of this request was stored. \
             Retry later.",
        )
        .with_header(header::RETRY_AFTER, HeaderValue::from_static("5"))
}

/// Asks every probe to check the database now.
pub fn suspect() {
    SUSPECT.notify_waiters();
}

/// A write failed for want of storage: every probe tests its database's
/// writes now.
pub fn suspect_storage() {
    STORAGE_FAILURES.fetch_add(1, Ordering::SeqCst);
    SUSPECT.notify_waiters();
}

/// What the watch reads of its owner.
pub struct Watched<'a> {
    pub db: &'a Db,
    pub health: &'a Health,
    /// Observes how long the probe waited for a pooled connection.
    pub acquire_seconds: &'a prometheus::Histogram,
}

/// Checks the database every [`PROBE_INTERVAL`] (or at once when a request
/// [`suspect`]s it), every [`RETRY_INTERVAL`] while it is down; stops when
/// `owner` (the application holding them) is dropped.
pub fn watch<T: Send + Sync + 'static>(owner: Weak<T>, parts: for<'a> fn(&'a T) -> Watched<'a>) {
    tokio::spawn(async move {
        let mut storage_failures_seen = STORAGE_FAILURES.load(Ordering::SeqCst);
        loop {
            let (was_up, was_writable) = match owner.upgrade() {
                Some(owner) => {
                    let health = parts(&owner).health;
                    (health.is_up(), health.is_writable())
                }
                None => return,
            };
            if was_up && was_writable {
                tokio::select! {
                    () = SUSPECT.notified() => {}
                    () = tokio::time::sleep(PROBE_INTERVAL) => {}
                }
            } else {
                tokio::time::sleep(RETRY_INTERVAL).await;
            }
            let Some(owner) = owner.upgrade() else { return };
            let app = parts(&owner);
            let up = probe(&app).await;
            let previous = app.health.db_up.send_replace(up);
            if previous && !up {
                tracing::error!(
                    "the database is unreachable: API requests are answered 503 until it returns"
                );
            } else if !previous && up {
                tracing::info!("the database answers again");
            }
            let storage_failures = STORAGE_FAILURES.load(Ordering::SeqCst);
            if up && (!was_writable || storage_failures != storage_failures_seen) {
                storage_failures_seen = storage_failures;
                let writable = matches!(
                    tokio::time::timeout(PROBE_TIMEOUT * 4, app.db.test_write(PROBE_WRITE_BYTES))
                        .await,
                    Ok(Ok(()))
                );
                let previous = app.health.writable.swap(writable, Ordering::Relaxed);
                if previous && !writable {
                    tracing::error!(
                        "the database cannot store writes (full or failing storage): \
                         not ready until a test write succeeds"
                    );
                } else if !previous && writable {
                    tracing::info!("the database stores writes again");
                }
            }
        }
    });
}

/// One check: a query on a pooled connection (timing the wait for it); if
/// that fails, a fresh connection, so that a pool busy with slow queries is
/// not taken for an outage.
async fn probe(app: &Watched<'_>) -> bool {
    if let Ok(Ok(wait)) = tokio::time::timeout(PROBE_TIMEOUT, app.db.ping()).await {
        app.acquire_seconds.observe(wait.as_secs_f64());
        return true;
    }
    matches!(
        tokio::time::timeout(PROBE_TIMEOUT, app.db.ping_new_connection()).await,
        Ok(Ok(()))
    )
}
