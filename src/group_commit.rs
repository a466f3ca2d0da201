//! Group commit: writes to one key (a channel) that arrive while a write
//! there is under way are committed together, in one transaction, instead
//! of each waiting for its own. A channel's writes are serialised anyway
//! (its event log is numbered in commit order), so without this a busy
//! channel commits one write per round of transaction, lock and fsync;
//! with it, one round commits everything that queued meanwhile.
//!
//! The first writer of an idle key starts a drainer task that takes the
//! queued items in batches (at most `max_batch`) and hands each batch to the
//! commit function, until the queue is empty. Each submitter awaits its own
//! result. The drainer is a task of its own, so a submitter that goes away
//! (its client disconnected, its request timed out) never strands the
//! others; an item whose submitter has gone before its batch starts is not
//! written at all.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::oneshot;
use uuid::Uuid;

/// Per-key queues of items `T` whose commits answer `R` each.
pub struct GroupCommit<T, R> {
    /// A key is present exactly while its drainer runs.
    queues: Queues<T, R>,
    max_batch: usize,
}

type Queues<T, R> = Arc<Mutex<HashMap<Uuid, Vec<Pending<T, R>>>>>;

struct Pending<T, R> {
    item: T,
    reply: oneshot::Sender<R>,
}

/// The drainer ended without answering (it panicked).
#[derive(Debug)]
pub struct Abandoned;

impl<T: Send + 'static, R: Send + 'static> GroupCommit<T, R> {
    pub fn new(max_batch: usize) -> Self {
        GroupCommit {
            queues: Arc::default(),
            max_batch: max_batch.max(1),
        }
    }

    /// Queues `item` at `key` and waits for the result of its commit. When
    /// no drainer runs at `key`, one starts with `commit`, which must answer
    /// one `R` per item, in order.
    pub async fn submit<C, Fut>(&self, key: Uuid, item: T, commit: C) -> Result<R, Abandoned>
    where
        C: FnMut(Vec<T>) -> Fut + Send + 'static,
        Fut: Future<Output = Vec<R>> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let start = {
            let mut queues = lock(&self.queues);
            match queues.get_mut(&key) {
                Some(queue) => {
                    queue.push(Pending { item, reply });
                    false
                }
                None => {
                    queues.insert(key, vec![Pending { item, reply }]);
                    true
                }
            }
        };
        if start {
            let drainer = Drainer {
                queues: self.queues.clone(),
                key,
                max_batch: self.max_batch,
                released: false,
            };
            tokio::spawn(drainer.run(commit));
        }
        answer.await.map_err(|_| Abandoned)
    }

    /// Keys with a drainer running now.
    pub fn busy_keys(&self) -> usize {
        lock(&self.queues).len()
    }
}

fn lock<K, V>(map: &Mutex<HashMap<K, V>>) -> MutexGuard<'_, HashMap<K, V>> {
    map.lock().unwrap_or_else(PoisonError::into_inner)
}

struct Drainer<T, R> {
    queues: Queues<T, R>,
    key: Uuid,
    max_batch: usize,
    /// The queue was found empty and the key released.
    released: bool,
}

impl<T, R> Drainer<T, R> {
    async fn run<C, Fut>(mut self, mut commit: C)
    where
        C: FnMut(Vec<T>) -> Fut,
        Fut: Future<Output = Vec<R>>,
    {
        while let Some(batch) = self.next_batch() {
            let (items, replies): (Vec<T>, Vec<_>) = batch
                .into_iter()
                .map(|pending| (pending.item, pending.reply))
                .unzip();
            let results = commit(items).await;
            for (reply, result) in replies.into_iter().zip(results) {
                // The submitter may have gone; its item is committed anyway.
                let _ = reply.send(result);
            }
        }
    }

    /// The next batch of items whose submitters still wait; `None` (and the
    /// key is released) when there are none.
    fn next_batch(&mut self) -> Option<Vec<Pending<T, R>>> {
        let mut queues = lock(&self.queues);
        let queue = queues.get_mut(&self.key)?;
        queue.retain(|pending| !pending.reply.is_closed());
        if queue.is_empty() {
            queues.remove(&self.key);
            self.released = true;
            return None;
        }
        let take = queue.len().min(self.max_batch);
        Some(queue.drain(..take).collect())
    }
}

/// A drainer that ends early (it panicked, or the runtime is shutting down)
/// releases its key: the submitters still queued get [`Abandoned`] and the
/// next one starts a new drainer.
impl<T, R> Drop for Drainer<T, R> {
    fn drop(&mut self) {
        if !self.released {
            lock(&self.queues).remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writes_queued_meanwhile_are_committed_together_in_order() {
        let commits = Arc::new(Mutex::new(Vec::<Vec<u32>>::new()));
        let group = Arc::new(GroupCommit::<u32, u32>::new(8));
        let key = Uuid::new_v4();
        let committer = |commits: Arc<Mutex<Vec<Vec<u32>>>>| {
            move |items: Vec<u32>| {
                let commits = commits.clone();
                async move {
                    // A slow commit, so that the others queue meanwhile.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    commits.lock().expect("lock").push(items.clone());
                    items.into_iter().map(|item| item * 10).collect()
                }
            }
        };
        let first = {
            let (group, commit) = (group.clone(), committer(commits.clone()));
            tokio::spawn(async move { group.submit(key, 0, commit).await })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        // Queued in this order (join_all first polls them in order).
        let rest = futures::future::join_all(
            (1..=20).map(|item| group.submit(key, item, committer(commits.clone()))),
        )
        .await;
        assert_eq!(first.await.expect("join").expect("committed"), 0);
        for (item, answer) in (1..=20).zip(rest) {
            assert_eq!(answer.expect("committed"), item * 10);
        }
        let commits = commits.lock().expect("lock").clone();
        assert_eq!(commits[0], vec![0], "the first write commits alone");
        assert!(
            commits[1..].iter().all(|batch| batch.len() <= 8),
            "batches are bounded: {commits:?}"
        );
        assert!(
            commits.len() <= 1 + 3,
            "the 20 queued writes share commits: {commits:?}"
        );
        let all: Vec<u32> = commits.into_iter().flatten().collect();
        assert_eq!(
            all,
            (0..=20).collect::<Vec<_>>(),
            "in submission order, once each"
        );
        // It answers before it finds the queue empty.
        for _ in 0..100 {
            if group.busy_keys() == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the drainer kept the key");
    }

    #[tokio::test]
    async fn a_drainer_that_panics_releases_its_key() {
        let group = GroupCommit::<u32, u32>::new(4);
        let key = Uuid::new_v4();
        let panicking = |_: Vec<u32>| async move {
            panic!("commit failed");
            #[allow(unreachable_code)]
            Vec::new()
        };
        assert!(group.submit(key, 1, panicking).await.is_err());
        assert_eq!(group.busy_keys(), 0);
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = {
            let calls = calls.clone();
            move |items: Vec<u32>| {
                calls.fetch_add(1, Ordering::SeqCst);
                async move { items }
            }
        };
        assert_eq!(group.submit(key, 2, counted).await.expect("committed"), 2);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
