//! Writers of one channel take turns inside the process before they take a
//! database connection. Their transactions queue on the channel's row in
//! the database anyway (see the lock order in `events`); queueing here
//! instead means a row held for long (a slow transaction, an operator's
//! lock) ties up at most one pooled connection, not all of them, so
//! requests about anything else keep being served. A writer that waits
//! longer than the lock timeout gets 503 `DATABASE_BUSY`, as it would from
//! the database.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use uuid::Uuid;

use charter_runtime::Problem;

pub struct WriteGates {
    gates: Mutex<HashMap<Uuid, Arc<Semaphore>>>,
    /// Longest a writer waits for its turn.
    wait: Duration,
}

/// One writer's turn at a key; the next writer's begins when it is dropped.
pub struct WriteTurn<'a> {
    permit: Option<OwnedSemaphorePermit>,
    gate: Arc<Semaphore>,
    key: Uuid,
    gates: &'a WriteGates,
}

impl WriteGates {
    pub fn new(wait: Duration) -> WriteGates {
        WriteGates {
            gates: Mutex::new(HashMap::new()),
            wait,
        }
    }

    /// Waits for the turn to write at `key` (a channel id).
    pub async fn enter(&self, key: Uuid) -> Result<WriteTurn<'_>, Problem> {
        let gate = self
            .lock()
            .entry(key)
            .or_insert_with(|| Arc::new(Semaphore::new(1)))
            .clone();
        match tokio::time::timeout(self.wait, gate.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(WriteTurn {
                permit: Some(permit),
                gate,
                key,
                gates: self,
            }),
            _ => {
                drop(gate);
                self.forget_if_unused(key);
                Err(crate::health::database_busy())
            }
        }
    }

    /// Keys with writers now (holding or awaiting a turn).
    pub fn busy_keys(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Uuid, Arc<Semaphore>>> {
        self.gates.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Drops the key's gate when nobody holds or awaits it any more (only
    /// the map's own reference is left).
    fn forget_if_unused(&self, key: Uuid) {
        let mut gates = self.lock();
        if gates
            .get(&key)
            .is_some_and(|gate| Arc::strong_count(gate) == 1)
        {
            gates.remove(&key);
        }
    }
}

impl Drop for WriteTurn<'_> {
    fn drop(&mut self) {
        self.permit.take();
        let mut gates = self.gates.lock();
        // The map's reference and ours: nobody else is waiting.
        if Arc::strong_count(&self.gate) == 2 {
            gates.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn writers_of_one_key_take_turns_and_others_do_not_wait() {
        let gates = WriteGates::new(Duration::from_millis(50));
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let first = gates.enter(a).await.expect("first turn");
        assert!(
            gates.enter(a).await.is_err(),
            "a second writer of `a` times out"
        );
        let other = gates.enter(b).await.expect("another key is free");
        drop(first);
        drop(other);
        assert_eq!(gates.busy_keys(), 0, "unused gates are forgotten");
        let again = gates.enter(a).await.expect("free again");
        drop(again);
        assert_eq!(gates.busy_keys(), 0);
    }
}
