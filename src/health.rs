//! Readiness: whether the database answers and whether the server is
//! draining. A probe watches the database so that, while it is unreachable,
//! API requests are answered 503 at once instead of each waiting out the
//! pool's connect retries; it notices the database's return by itself.

use std::sync::Weak;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use tokio::sync::Notify;

use crate::app::Inner;
use crate::runtime::Problem;

/// How often the probe checks a database that answers.
const PROBE_INTERVAL: Duration = Duration::from_secs(1);
/// How often it checks one that does not.
const RETRY_INTERVAL: Duration = Duration::from_millis(250);
/// Longest one check may take.
const PROBE_TIMEOUT: Duration = Duration::from_millis(500);

/// Woken when a request meets a database error that may mean an outage, so
/// the probes check at once rather than at their next tick.
static SUSPECT: Notify = Notify::const_new();

pub struct Health {
    /// Whether the database answered the last check; requests waiting to
    /// learn of an outage subscribe to it.
    db_up: tokio::sync::watch::Sender<bool>,
    draining: AtomicBool,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            db_up: tokio::sync::watch::Sender::new(true),
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
        Ok(())
    }
}

/// 503 for a request that needs the database while it is unreachable.
pub fn database_unavailable() -> Problem {
    Problem::new(StatusCode::SERVICE_UNAVAILABLE, "DATABASE_UNAVAILABLE")
        .with_detail("The database is unreachable or overloaded; retry shortly.")
        .with_header(header::RETRY_AFTER, HeaderValue::from_static("1"))
}

/// Asks every probe to check the database now.
pub fn suspect() {
    SUSPECT.notify_waiters();
}

/// Checks the database every [`PROBE_INTERVAL`] (or at once when a request
/// [`suspect`]s it), every [`RETRY_INTERVAL`] while it is down; stops when
/// the application is dropped.
pub fn watch(app: Weak<Inner>) {
    tokio::spawn(async move {
        loop {
            let was_up = match app.upgrade() {
                Some(app) => app.health.is_up(),
                None => return,
            };
            if was_up {
                tokio::select! {
                    () = SUSPECT.notified() => {}
                    () = tokio::time::sleep(PROBE_INTERVAL) => {}
                }
            } else {
                tokio::time::sleep(RETRY_INTERVAL).await;
            }
            let Some(app) = app.upgrade() else { return };
            let up = probe(&app).await;
            let previous = app.health.db_up.send_replace(up);
            if previous && !up {
                tracing::error!(
                    "the database is unreachable: API requests are answered 503 until it returns"
                );
            } else if !previous && up {
                tracing::info!("the database answers again");
            }
        }
    });
}

/// One check: a query on a pooled connection (timing the wait for it); if
/// that fails, a fresh connection, so that a pool busy with slow queries is
/// not taken for an outage.
async fn probe(app: &Inner) -> bool {
    if let Ok(Ok(wait)) = tokio::time::timeout(PROBE_TIMEOUT, app.db.ping()).await {
        app.metrics.observe_db_acquire(wait.as_secs_f64());
        return true;
    }
    matches!(
        tokio::time::timeout(PROBE_TIMEOUT, app.db.ping_new_connection()).await,
        Ok(Ok(()))
    )
}
