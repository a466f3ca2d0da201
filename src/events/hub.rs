//! The hub: live fan-out in this process, and with PostgreSQL the listener
//! that brings other instances' events.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::{PgListener, PgPoolOptions};
use tokio::sync::{Notify, broadcast, mpsc, watch};
use uuid::Uuid;

use super::log::stored_latest;
use super::{
    Event, INVALIDATE_ACK_CHANNEL, INVALIDATE_CHANNEL, LISTENER_APPLICATION_NAME, NOTIFY_CHANNEL,
};
use crate::db::Db;
use charter_runtime::Problem;

/// Live fan-out of committed events to subscribers in this process. Cheap
/// to clone; its background tasks stop when the last clone is dropped.
#[derive(Clone)]
pub struct Hub {
    handle: Arc<Handle>,
}

struct Handle {
    shared: Arc<Shared>,
    pokes: mpsc::Sender<Poke>,
    /// Dropped with the hub, which tells the listener to stop.
    _shutdown: watch::Sender<()>,
}

struct Shared {
    db: Db,
    capacity: usize,
    channels: Mutex<HashMap<Uuid, Entry>>,
    /// Set when pokes were lost (queue full) or the listener reconnected:
    /// every subscribed channel must be read from the database.
    resync: AtomicBool,
    wake: Notify,
    /// The announcements acknowledged by a listener (this one included),
    /// by the announcement's id.
    acknowledgements: broadcast::Sender<Uuid>,
    /// Run by the listener itself on each invalidation, before it reads on.
    on_invalidation: std::sync::OnceLock<Box<dyn Fn() + Send + Sync>>,
}

/// A channel with subscribers in this process.
struct Entry {
    sender: broadcast::Sender<Event>,
    /// The highest seq broadcast (or known to precede the first subscriber).
    last_seq: i64,
}

/// "Channel `channel` has events up to `seq`", with the events themselves
/// when the writer is in this process.
struct Poke {
    channel: Uuid,
    seq: i64,
    event: Option<Event>,
}

/// Pokes waiting for the dispatcher; beyond this a resync replaces them.
const POKE_QUEUE: usize = 4096;
/// Pokes handled together (one database read per channel).
const POKE_BATCH: usize = 512;
/// Events read from the database at a time while catching up.
const LOAD_PAGE: usize = 500;
/// Longest an announcing instance waits for every listener to acknowledge
/// its invalidation: the bound within which a revocation reaches every
/// instance anyway (cached principals expire sooner).
const ACKNOWLEDGE_WAIT: Duration = Duration::from_secs(1);
/// Acknowledgements buffered for announcers; one that falls behind waits
/// out [`ACKNOWLEDGE_WAIT`].
const ACKNOWLEDGE_QUEUE: usize = 256;

impl Hub {
    /// The database the hub reads missed events from.
    pub fn db(&self) -> &Db {
        &self.handle.shared.db
    }

    /// Starts the hub over `db`: a dispatcher task, and with PostgreSQL a
    /// listener task. `capacity` is the broadcast buffer per channel.
    pub fn new(db: Db, capacity: usize) -> Hub {
        let shared = Arc::new(Shared {
            db,
            capacity: capacity.max(1),
            channels: Mutex::new(HashMap::new()),
            resync: AtomicBool::new(false),
            wake: Notify::new(),
            acknowledgements: broadcast::channel(ACKNOWLEDGE_QUEUE).0,
            on_invalidation: std::sync::OnceLock::new(),
        });
        let (pokes, queue) = mpsc::channel(POKE_QUEUE);
        let (shutdown, stopped) = watch::channel(());
        tokio::spawn(dispatch(shared.clone(), queue));
        if let Db::Postgres(pool) = &shared.db {
            let options = (*pool.connect_options())
                .clone()
                .application_name(LISTENER_APPLICATION_NAME);
            let listen_pool = PgPoolOptions::new()
                .max_connections(1)
                .min_connections(0)
                .acquire_timeout(Duration::from_secs(5))
                .connect_lazy_with(options);
            tokio::spawn(listen(
                shared.clone(),
                pokes.downgrade(),
                stopped,
                listen_pool,
            ));
        }
        Hub {
            handle: Arc::new(Handle {
                shared,
                pokes,
                _shutdown: shutdown,
            }),
        }
    }

    /// Sets what to do when an instance sharing the database (this one
    /// included) announces that cached principals and profiles may be
    /// stale, and when the listener reconnects (it may have missed such
    /// an announcement). Run on the listener's task as the notification
    /// arrives; set once.
    pub fn on_invalidation(&self, handler: impl Fn() + Send + Sync + 'static) {
        let _ = self.handle.shared.on_invalidation.set(Box::new(handler));
    }

    /// Tells every instance sharing the database (this one included) that
    /// cached principals and profiles may be stale, and waits (up to
    /// [`ACKNOWLEDGE_WAIT`]) until every listener on the database has
    /// handled it: a PostgreSQL `NOTIFY` carrying an id, which each
    /// listener acknowledges on [`INVALIDATE_ACK_CHANNEL`] after clearing
    /// its caches. So when the revoking request answers, the next request
    /// on any instance sees the revocation. The listeners are counted in
    /// `pg_stat_activity` (by [`LISTENER_APPLICATION_NAME`]) in the same
    /// statement that sends. Nothing with SQLite, which one process serves.
    /// A failure is logged, not returned: what it announces has committed,
    /// and caches expire soon anyway.
    pub async fn announce_invalidation(&self) {
        let Db::Postgres(pool) = &self.handle.shared.db else {
            return;
        };
        let id = Uuid::new_v4();
        let mut acknowledged = self.handle.shared.acknowledgements.subscribe();
        let sent: Result<i64, sqlx::Error> = sqlx::query_scalar(
            "SELECT (SELECT count(*) FROM pg_stat_activity \
                      WHERE application_name = $1 AND datname = current_database()) \
                    FROM (SELECT pg_notify($2, $3)) AS sent",
        )
        .bind(LISTENER_APPLICATION_NAME)
        .bind(INVALIDATE_CHANNEL)
        .bind(id.to_string())
        .fetch_one(pool)
        .await;
        let listeners = match sent {
            Ok(listeners) => listeners,
            Err(error) => {
                tracing::warn!(%error, "could not announce an invalidation to other instances");
                return;
            }
        };
        let all_acknowledged = async {
            let mut count = 0;
            while count < listeners {
                match acknowledged.recv().await {
                    Ok(ack) if ack == id => count += 1,
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        };
        if tokio::time::timeout(ACKNOWLEDGE_WAIT, all_acknowledged)
            .await
            .is_err()
        {
            tracing::warn!(
                listeners,
                "an invalidation was not acknowledged by every instance in time"
            );
        }
    }

    /// A receiver of the channel's events committed from now on, in seq
    /// order, each at most once. Events committed shortly before may be
    /// included. On `Lagged`, resume from the database (see [`Follower`]).
    pub async fn subscribe(&self, channel: Uuid) -> Result<broadcast::Receiver<Event>, Problem> {
        let shared = &self.handle.shared;
        if let Some(entry) = shared.lock().get(&channel) {
            return Ok(entry.sender.subscribe());
        }
        // Read before registering: events after this seq are delivered.
        let baseline = stored_latest(&shared.db, channel).await?;
        let mut channels = shared.lock();
        // Forget channels nobody here follows any more.
        channels.retain(|_, entry| entry.sender.receiver_count() > 0);
        let entry = channels.entry(channel).or_insert_with(|| Entry {
            sender: broadcast::channel(shared.capacity).0,
            last_seq: baseline,
        });
        Ok(entry.sender.subscribe())
    }

    /// Hands events committed by this process to their subscribers. Never
    /// blocks; call it after the transaction that recorded them committed
    /// (or use a [`Publisher`], which also covers a write that is dropped
    /// half-way).
    pub fn publish(&self, events: impl IntoIterator<Item = Event>) {
        for event in events {
            self.poke(Poke {
                channel: event.channel_id,
                seq: event.seq,
                event: Some(event),
            });
        }
    }

    /// A [`Publisher`] for a write to `channel`.
    pub fn publisher(&self, channel: Uuid) -> Publisher {
        Publisher {
            hub: self.clone(),
            scope: Some(channel),
            done: false,
        }
    }

    /// A [`Publisher`] for a write that may touch any channel.
    pub fn publisher_for_any(&self) -> Publisher {
        Publisher {
            hub: self.clone(),
            scope: None,
            done: false,
        }
    }

    fn poke(&self, poke: Poke) {
        if self.handle.pokes.try_send(poke).is_err() {
            self.handle.shared.request_resync();
        }
    }

    /// How many channels have subscribers in this process.
    pub fn subscribed_channels(&self) -> usize {
        self.handle.shared.lock().len()
    }
}

/// Publishes the events of one write once its transaction committed. Made
/// before the write starts: if the write is dropped half-way (its client
/// went away, it timed out) its transaction may still have committed, so
/// dropping an unused publisher makes the hub read the log instead — a
/// committed event never waits for the channel's next one.
#[must_use = "publish the events once the transaction committed"]
pub struct Publisher {
    hub: Hub,
    scope: Option<Uuid>,
    done: bool,
}

impl Publisher {
    pub fn publish(mut self, events: impl IntoIterator<Item = Event>) {
        self.done = true;
        self.hub.publish(events);
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        match self.scope {
            Some(channel) => self.hub.poke(Poke {
                channel,
                seq: i64::MAX,
                event: None,
            }),
            None => self.hub.handle.shared.request_resync(),
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, HashMap<Uuid, Entry>> {
        self.channels.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// An invalidation arrived (or may have been missed): handle it here
    /// and now.
    fn invalidated(&self) {
        if let Some(handler) = self.on_invalidation.get() {
            handler();
        }
    }

    fn request_resync(&self) {
        self.resync.store(true, Ordering::SeqCst);
        self.wake.notify_one();
    }

    /// The last seq delivered for `channel`; `None` when nobody here
    /// subscribes to it any more (the entry is then dropped).
    fn delivered(&self, channel: Uuid) -> Option<i64> {
        let mut channels = self.lock();
        let entry = channels.get(&channel)?;
        if entry.sender.receiver_count() == 0 {
            channels.remove(&channel);
            return None;
        }
        Some(entry.last_seq)
    }

    /// Brings `channel`'s subscribers up to `upto` (or to whatever is stored,
    /// if more): from `carried` when that continues the stream, else from
    /// the database.
    async fn deliver(
        &self,
        channel: Uuid,
        upto: i64,
        mut carried: Vec<Event>,
    ) -> Result<(), Problem> {
        let Some(last) = self.delivered(channel) else {
            return Ok(());
        };
        if upto <= last {
            return Ok(());
        }
        carried.retain(|event| event.seq > last);
        carried.sort_by_key(|event| event.seq);
        carried.dedup_by_key(|event| event.seq);
        let continues = carried
            .iter()
            .zip(last + 1..)
            .all(|(event, expected)| event.seq == expected)
            && carried.last().is_some_and(|event| event.seq >= upto);
        if continues {
            self.broadcast(channel, carried);
            return Ok(());
        }
        let mut after = last;
        loop {
            let page = super::since(&self.db, channel, after, LOAD_PAGE).await?;
            let full = page.len() == LOAD_PAGE;
            if let Some(event) = page.last() {
                after = event.seq;
            }
            self.broadcast(channel, page);
            if !full {
                return Ok(());
            }
        }
    }

    fn broadcast(&self, channel: Uuid, events: Vec<Event>) {
        let mut channels = self.lock();
        let Some(entry) = channels.get_mut(&channel) else {
            return;
        };
        for event in events {
            if event.seq > entry.last_seq {
                entry.last_seq = event.seq;
                // No receiver left is not an error: the entry goes later.
                let _ = entry.sender.send(event);
            }
        }
    }

    async fn deliver_pokes(&self, pokes: Vec<Poke>) -> Result<(), Problem> {
        let mut by_channel: BTreeMap<Uuid, (i64, Vec<Event>)> = BTreeMap::new();
        for poke in pokes {
            let (upto, carried) = by_channel.entry(poke.channel).or_default();
            *upto = (*upto).max(poke.seq);
            carried.extend(poke.event);
        }
        for (channel, (upto, carried)) in by_channel {
            self.deliver(channel, upto, carried).await?;
        }
        Ok(())
    }

    /// Reads every subscribed channel's new events from the database.
    async fn resync_all(&self) -> Result<(), Problem> {
        let channels: Vec<Uuid> = self.lock().keys().copied().collect();
        for channel in channels {
            self.deliver(channel, i64::MAX, Vec::new()).await?;
        }
        Ok(())
    }
}

/// The dispatcher: turns pokes (and resync requests) into broadcasts, one
/// at a time, so each channel's stream stays in order.
async fn dispatch(shared: Arc<Shared>, mut queue: mpsc::Receiver<Poke>) {
    const MIN_BACKOFF: Duration = Duration::from_millis(100);
    const MAX_BACKOFF: Duration = Duration::from_secs(5);
    let mut backoff = MIN_BACKOFF;
    let mut batch = Vec::new();
    loop {
        tokio::select! {
            poke = queue.recv() => match poke {
                Some(poke) => batch.push(poke),
                None => return,
            },
            () = shared.wake.notified() => {}
        }
        while batch.len() < POKE_BATCH {
            match queue.try_recv() {
                Ok(poke) => batch.push(poke),
                Err(_) => break,
            }
        }
        let outcome = if shared.resync.swap(false, Ordering::SeqCst) {
            batch.clear();
            shared.resync_all().await
        } else {
            shared.deliver_pokes(std::mem::take(&mut batch)).await
        };
        if outcome.is_ok() {
            backoff = MIN_BACKOFF;
        } else {
            // The cause is logged; read everything again once the database
            // answers.
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
            shared.request_resync();
        }
    }
}

/// The PostgreSQL listener: `LISTEN charter_events`, turning notifications
/// into pokes; after (re)connecting, asks for a resync so events committed
/// while it was not listening are delivered too. It also handles
/// invalidations (`charter_invalidate`), acknowledging each on its own
/// connection once handled, and passes acknowledgements on to announcers.
async fn listen(
    shared: Arc<Shared>,
    pokes: mpsc::WeakSender<Poke>,
    mut stopped: watch::Receiver<()>,
    pool: PgPool,
) {
    const MIN_BACKOFF: Duration = Duration::from_millis(100);
    const MAX_BACKOFF: Duration = Duration::from_secs(5);
    let mut backoff = MIN_BACKOFF;
    let mut first = true;
    loop {
        if !first {
            if matches!(&shared.db, Db::Postgres(main) if main.is_closed()) {
                return;
            }
            tokio::select! {
                _ = stopped.changed() => return,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
        first = false;
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(listener) => listener,
            Err(error) => {
                tracing::warn!(%error, "event listener cannot connect; retrying");
                continue;
            }
        };
        listener.eager_reconnect(false);
        if let Err(error) = listener
            .listen_all([NOTIFY_CHANNEL, INVALIDATE_CHANNEL, INVALIDATE_ACK_CHANNEL])
            .await
        {
            tracing::warn!(%error, "event listener cannot LISTEN; retrying");
            continue;
        }
        backoff = MIN_BACKOFF;
        tracing::debug!("event listener connected");
        shared.request_resync();
        // Announcements made while it was not listening are lost.
        shared.invalidated();
        loop {
            let received = tokio::select! {
                _ = stopped.changed() => return,
                received = listener.try_recv() => received,
            };
            match received {
                Ok(Some(notification)) if notification.channel() == INVALIDATE_CHANNEL => {
                    shared.invalidated();
                    // Announcements from instances that send no id are not
                    // waited for.
                    if notification.payload().parse::<Uuid>().is_ok() {
                        let acknowledged = sqlx::query("SELECT pg_notify($1, $2)")
                            .bind(INVALIDATE_ACK_CHANNEL)
                            .bind(notification.payload())
                            .execute(&mut listener)
                            .await;
                        if let Err(error) = acknowledged {
                            tracing::warn!(%error, "event listener cannot acknowledge; reconnecting");
                            break;
                        }
                    }
                }
                Ok(Some(notification)) if notification.channel() == INVALIDATE_ACK_CHANNEL => {
                    if let Ok(id) = notification.payload().parse::<Uuid>() {
                        // Nobody waiting is no error.
                        let _ = shared.acknowledgements.send(id);
                    }
                }
                Ok(Some(notification)) => {
                    let Some(poke) = parse_notification(notification.payload()) else {
                        tracing::warn!(
                            payload = notification.payload(),
                            "unreadable event notification"
                        );
                        continue;
                    };
                    let Some(pokes) = pokes.upgrade() else {
                        return;
                    };
                    if pokes.try_send(poke).is_err() {
                        shared.request_resync();
                    }
                }
                Ok(None) => {
                    tracing::warn!("event listener lost its connection; reconnecting");
                    break;
                }
                Err(error) => {
                    tracing::warn!(%error, "event listener failed; reconnecting");
                    break;
                }
            }
        }
    }
}

/// `<channel_id>:<seq>`.
fn parse_notification(payload: &str) -> Option<Poke> {
    let (channel, seq) = payload.split_once(':')?;
    Some(Poke {
        channel: channel.parse().ok()?,
        seq: seq.parse().ok()?,
        event: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifications_name_a_channel_and_a_seq() {
        let channel = Uuid::new_v4();
        let poke = parse_notification(&format!("{channel}:42")).expect("valid");
        assert_eq!((poke.channel, poke.seq), (channel, 42));
        assert!(poke.event.is_none());
        assert!(parse_notification("nonsense").is_none());
        assert!(parse_notification(&format!("{channel}:x")).is_none());
    }
}
