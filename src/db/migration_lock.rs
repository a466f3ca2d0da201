//! The startup lock of an embedded (SQLite) database. Switching a new file
//! to WAL and applying migrations must happen in one process at a time:
//! SQLite has no lock that spans a migration run, so two instances starting
//! together on a new file would both find migration 1 unapplied and the
//! second would fail ("table users already exists"). Each process therefore
//! takes an exclusive lock on a sidecar file, `<database>.lock`, first; the
//! others wait, then find the migrations applied and apply nothing.
//!
//! The lock is the operating system's (`flock`), so it goes with the process
//! that holds it, even one killed mid-migration. The sidecar file is left in
//! place: removing it would let two processes lock two different files.
//! PostgreSQL needs none of this: sqlx's migrator holds an advisory lock per
//! database while it migrates.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;

/// How long a process waits for others to finish starting the database.
const WAIT: Duration = Duration::from_secs(120);

/// How often a waiting process tries again.
const POLL: Duration = Duration::from_millis(20);

/// Held while the database is prepared; released when dropped.
#[derive(Debug)]
pub struct MigrationLock {
    file: File,
}

impl MigrationLock {
    /// Locks `<database>.lock`, waiting (without blocking a runtime thread)
    /// for at most two minutes while another process holds it.
    pub async fn acquire(database: &Path) -> anyhow::Result<MigrationLock> {
        let path = lock_path(database);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("opening the migration lock {}", path.display()))?;
        let deadline = Instant::now() + WAIT;
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(MigrationLock { file }),
                Err(TryLockError::WouldBlock) => {}
                Err(TryLockError::Error(error)) => {
                    return Err(error)
                        .with_context(|| format!("taking the migration lock {}", path.display()));
                }
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "another process has held the migration lock {} for over {} s",
                path.display(),
                WAIT.as_secs()
            );
            tokio::time::sleep(POLL).await;
        }
    }
}

impl Drop for MigrationLock {
    fn drop(&mut self) {
        // Closing the file would release it too; unlocking first says so.
        let _ = self.file.unlock();
    }
}

/// `<database>.lock`, next to the database file.
fn lock_path(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_holder_at_a_time() {
        let dir = std::env::temp_dir().join(format!("charter-lock-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let database = dir.join("charter.db");
        let held = MigrationLock::acquire(&database).await.expect("lock");
        assert!(dir.join("charter.db.lock").exists());
        // A second open file description (as another process has) waits.
        let waiting = tokio::spawn({
            let database = database.clone();
            async move { MigrationLock::acquire(&database).await }
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!waiting.is_finished());
        drop(held);
        let second = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("the lock is handed over")
            .expect("task")
            .expect("lock");
        drop(second);
        let _ = std::fs::remove_dir_all(dir);
    }
}
