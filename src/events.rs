//! Channel events: what changed in a channel, stored in order and delivered
//! live.
//!
//! # The log
//! Every change to a channel is recorded in `channel_events` **in the same
//! transaction** as the change, so an event exists exactly when its change
//! was committed. Events are numbered per channel by `seq`: 1, 2, 3, ...
//! without gaps, committed in that order (the writer increments
//! `channels.last_event_seq`, which holds the channel row until commit). A
//! reader that has seen event `n` gets everything later from [`since`]; the
//! seq is what a live stream sends as its event id.
//!
//! # Kinds and payloads
//! `data` is the v2 JSON representation of what changed: ids are UUID
//! strings, times RFC 3339 (as in the HTTP API).
//!
//! | kind              | data                                                                       |
//! |-------------------|----------------------------------------------------------------------------|
//! | `message.created` | a `Message`: `{id, channel_id, author_id, body, created_at}`               |
//! | `message.deleted` | `{id, channel_id}`                                                         |
//! | `channel.updated` | a `Channel`: `{id, name, topic, visibility, owner_id, created_at, updated_at}` |
//! | `channel.deleted` | `{id}`                                                                     |
//! | `member.added`    | a `ChannelMember`: `{channel_id, user_id, role, joined_at}`                |
//! | `member.removed`  | `{channel_id, user_id}`                                                    |
//!
//! `channel.deleted` is the last event of a channel; its messages and
//! memberships go with it without events of their own. The events of a
//! deleted channel stay in the table (there is no foreign key to `channels`),
//! so other instances and clients resuming later still read the deletion.
//! Deleting an account records, in other people's channels, `message.deleted`
//! for each of its messages and then `member.removed`, and `channel.deleted`
//! for each channel it owned. An idempotent replay of a message creation, a
//! repeated member addition and a failed change record nothing. Nothing
//! prunes the log yet.
//!
//! # Live delivery
//! [`Hub`] (`app.events`) fans events out to subscribers of a channel in
//! this process through a bounded `tokio::sync::broadcast` per channel.
//! After a writer commits it hands its events to the hub (through a
//! [`Publisher`] made before the write, so that a write dropped after its
//! commit still gets its events delivered). With PostgreSQL the
//! transaction also sends `NOTIFY charter_events, '<channel_id>:<seq>'`,
//! delivered on commit to every instance; each instance runs a listener that
//! loads the announced events from the table and broadcasts them locally.
//! After losing its connection the listener reconnects (with backoff),
//! listens again, and then reads every subscribed channel's events after the
//! last seq it delivered, so nothing committed meanwhile is lost. Delivery
//! per channel is in seq order and deduplicated by seq: an event reaches the
//! hub's subscribers at most once, and every event committed after
//! [`Hub::subscribe`] returned reaches them.
//!
//! # Lag
//! Each channel's broadcast holds `Config::event_buffer` events. A receiver
//! that falls further behind gets `RecvError::Lagged` — it is never buffered
//! without bound. A consumer that lags (or sees a seq jump) must resume from
//! the database: [`since`] its last delivered seq, then continue live,
//! skipping seqs it has delivered. [`Follower`] does exactly this and is what
//! an SSE or WebSocket endpoint should use: `follow(app, channel, last_id)`
//! then `next()` yields every later event once, in order, first from the
//! database, then live.
//!
//! # Not here
//! Nothing in this module checks who may see a channel: an endpoint checks
//! visibility before following, and decides what to do when its user is
//! removed (`member.removed`) or the channel goes (`channel.deleted`, after
//! which the channel is no longer visible to anyone).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::future::Future;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sqlx::postgres::{PgListener, PgPoolOptions};
use sqlx::{PgConnection, PgPool, SqliteConnection};
use tokio::sync::{Notify, broadcast, mpsc, watch};
use uuid::Uuid;

use crate::app::App;
use crate::channels::{ChannelRow, MemberRow};
use crate::db::{Db, now};
use crate::messages::MessageRow;
use crate::on_db;
use crate::runtime::Problem;

/// The PostgreSQL notification channel events are announced on.
pub const NOTIFY_CHANNEL: &str = "charter_events";

/// The `application_name` of the listener's connection (visible in
/// `pg_stat_activity`).
pub const LISTENER_APPLICATION_NAME: &str = "charter-events-listener";

/// Events per channel a receiver may fall behind before it lags.
pub const DEFAULT_BUFFER: usize = 256;

/// Most events [`since`] returns at once.
pub const MAX_PAGE: usize = 1000;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum EventKind {
    #[serde(rename = "message.created")]
    MessageCreated,
    #[serde(rename = "message.deleted")]
    MessageDeleted,
    #[serde(rename = "channel.updated")]
    ChannelUpdated,
    #[serde(rename = "channel.deleted")]
    ChannelDeleted,
    #[serde(rename = "member.added")]
    MemberAdded,
    #[serde(rename = "member.removed")]
    MemberRemoved,
}

impl EventKind {
    pub const ALL: [EventKind; 6] = [
        EventKind::MessageCreated,
        EventKind::MessageDeleted,
        EventKind::ChannelUpdated,
        EventKind::ChannelDeleted,
        EventKind::MemberAdded,
        EventKind::MemberRemoved,
    ];

    /// The name on the wire and in the database, e.g. `message.created`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::MessageCreated => "message.created",
            EventKind::MessageDeleted => "message.deleted",
            EventKind::ChannelUpdated => "channel.updated",
            EventKind::ChannelDeleted => "channel.deleted",
            EventKind::MemberAdded => "member.added",
            EventKind::MemberRemoved => "member.removed",
        }
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        EventKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or_else(|| format!("unknown event kind `{s}`"))
    }
}

/// One recorded change of a channel. Cheap to clone: every live subscriber
/// gets a clone, sharing the payload and the rendered document.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub channel_id: Uuid,
    /// Position in the channel's log: 1, 2, 3, ... without gaps.
    pub seq: i64,
    pub kind: EventKind,
    /// The payload; its shape per kind is in the module documentation.
    pub data: Arc<Value>,
    pub created_at: DateTime<Utc>,
    document: Document,
}

/// An event's client document, rendered on first use and shared by clones.
#[derive(Clone, Default)]
struct Document(Arc<OnceLock<Arc<str>>>);

/// A cache of what the other fields say: not part of an event's identity.
impl PartialEq for Document {
    fn eq(&self, _: &Document) -> bool {
        true
    }
}

impl std::fmt::Debug for Document {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Document")
    }
}

/// An event row as stored.
type StoredEvent = (Uuid, i64, String, String, DateTime<Utc>);

impl Event {
    fn new(
        channel_id: Uuid,
        seq: i64,
        kind: EventKind,
        data: Value,
        created_at: DateTime<Utc>,
    ) -> Event {
        Event {
            channel_id,
            seq,
            kind,
            data: Arc::new(data),
            created_at,
            document: Document::default(),
        }
    }

    /// The event as clients see it, a `ChannelEvent` document (JSON text),
    /// rendered once however many subscribers send it.
    pub fn document(&self) -> Arc<str> {
        self.document
            .0
            .get_or_init(|| {
                json!({
                    "type": self.kind.as_str(),
                    "channel_id": self.channel_id,
                    "seq": self.seq,
                    "created_at": self.created_at,
                    "data": &*self.data,
                })
                .to_string()
                .into()
            })
            .clone()
    }

    fn from_stored(
        (channel_id, seq, kind, payload, created_at): StoredEvent,
    ) -> Result<Event, Problem> {
        let kind = kind
            .parse()
            .map_err(|e| crate::error::internal("stored event kind", e))?;
        let data = serde_json::from_str(&payload)
            .map_err(|e| crate::error::internal("stored event payload", e))?;
        Ok(Event::new(channel_id, seq, kind, data, created_at))
    }
}

// ---------------------------------------------------------------------------
// Payloads

/// `message.created`: the message as the v2 API shows it.
pub fn message_created(row: &MessageRow) -> Value {
    json!({
        "id": row.id,
        "channel_id": row.channel_id,
        "author_id": row.author_id,
        "body": row.body,
        "created_at": row.created_at,
    })
}

/// `message.deleted`.
pub fn message_deleted(channel: Uuid, message: Uuid) -> Value {
    json!({ "id": message, "channel_id": channel })
}

/// `channel.updated`: the channel as the v2 API shows it.
pub fn channel_updated(row: &ChannelRow) -> Value {
    json!({
        "id": row.id,
        "name": row.name,
        "topic": row.topic,
        "visibility": row.visibility,
        "owner_id": row.owner_id,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    })
}

/// `channel.deleted`.
pub fn channel_deleted(channel: Uuid) -> Value {
    json!({ "id": channel })
}

/// `member.added`: the membership as the v2 API shows it.
pub fn member_added(row: &MemberRow) -> Value {
    json!({
        "channel_id": row.channel_id,
        "user_id": row.user_id,
        "role": row.role,
        "joined_at": row.joined_at,
    })
}

/// `member.removed`.
pub fn member_removed(channel: Uuid, user: Uuid) -> Value {
    json!({ "channel_id": channel, "user_id": user })
}

// ---------------------------------------------------------------------------
// Recording

// Lock order: a transaction that records events locks the rows of the
// channels concerned (by reserving a seq or with `lock_channel`) before it
// touches anything else, in channel-id order when there are several. Writers
// of a channel then queue on its row instead of deadlocking with one another
// or with the channel's deletion (which locks the row first too).

const RESERVE_SEQS: &str = "UPDATE channels SET last_event_seq = last_event_seq + $2 \
     WHERE id = $1 RETURNING last_event_seq";
const LOCK_CHANNEL: &str = "UPDATE channels SET last_event_seq = last_event_seq WHERE id = $1";
const INSERT_EVENT: &str = "INSERT INTO channel_events (channel_id, seq, kind, payload, created_at) \
     VALUES ($1, $2, $3, $4, $5)";

/// A connection that can write the event log inside the caller's
/// transaction. Implemented for both backends; use the functions below.
pub(crate) trait EventLog {
    /// Takes `count` seqs; the last of them.
    fn reserve_seqs(
        &mut self,
        channel: Uuid,
        count: i64,
    ) -> impl Future<Output = Result<Option<i64>, sqlx::Error>> + Send;

    fn lock_channel_row(
        &mut self,
        channel: Uuid,
    ) -> impl Future<Output = Result<bool, sqlx::Error>> + Send;

    fn record_event(
        &mut self,
        event: &Event,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send;

    /// Stores `events`, all of one channel and kind, in seq order.
    fn record_events(
        &mut self,
        events: &[Event],
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send;
}

/// The parts both backends share.
macro_rules! event_log_common {
    () => {
        async fn reserve_seqs(
            &mut self,
            channel: Uuid,
            count: i64,
        ) -> Result<Option<i64>, sqlx::Error> {
            sqlx::query_scalar(RESERVE_SEQS)
                .bind(channel)
                .bind(count)
                .fetch_optional(&mut *self)
                .await
        }

        async fn lock_channel_row(&mut self, channel: Uuid) -> Result<bool, sqlx::Error> {
            let locked = sqlx::query(LOCK_CHANNEL)
                .bind(channel)
                .execute(&mut *self)
                .await?;
            Ok(locked.rows_affected() == 1)
        }
    };
}

/// The statement `$sql` with the event's columns bound as its first five
/// parameters.
macro_rules! insert_event {
    ($sql:expr, $event:expr) => {
        sqlx::query($sql)
            .bind($event.channel_id)
            .bind($event.seq)
            .bind($event.kind.as_str())
            .bind($event.data.to_string())
            .bind($event.created_at)
    };
}

/// With PostgreSQL the same statement queues the notification, which is
/// sent when the transaction commits (one round trip for both).
const INSERT_EVENT_AND_NOTIFY: &str = "WITH stored AS (\
     INSERT INTO channel_events (channel_id, seq, kind, payload, created_at) \
     VALUES ($1, $2, $3, $4, $5) RETURNING channel_id) \
     SELECT pg_notify($6, $7) FROM stored";

/// Several events of one channel and kind in one statement (PostgreSQL),
/// and one notification for them all: the listener reads every event up to
/// the seq it names.
const INSERT_EVENTS_AND_NOTIFY: &str = "WITH stored AS (\
     INSERT INTO channel_events (channel_id, seq, kind, payload, created_at) \
     SELECT $1, e.seq, $2, e.payload, $3 FROM UNNEST($4::bigint[], $5::text[]) AS e(seq, payload) \
     RETURNING seq) \
     SELECT pg_notify($6, $7) FROM (SELECT count(*) FROM stored) AS counted";

impl EventLog for SqliteConnection {
    event_log_common!();

    async fn record_event(&mut self, event: &Event) -> Result<(), sqlx::Error> {
        insert_event!(INSERT_EVENT, event)
            .execute(&mut *self)
            .await
            .map(|_| ())
    }

    /// One statement per event: SQLite has no round trip to save.
    async fn record_events(&mut self, events: &[Event]) -> Result<(), sqlx::Error> {
        for event in events {
            self.record_event(event).await?;
        }
        Ok(())
    }
}

impl EventLog for PgConnection {
    event_log_common!();

    /// Also queues the notification, which PostgreSQL sends on commit.
    async fn record_event(&mut self, event: &Event) -> Result<(), sqlx::Error> {
        insert_event!(INSERT_EVENT_AND_NOTIFY, event)
            .bind(NOTIFY_CHANNEL)
            .bind(format!("{}:{}", event.channel_id, event.seq))
            .execute(&mut *self)
            .await
            .map(|_| ())
    }

    async fn record_events(&mut self, events: &[Event]) -> Result<(), sqlx::Error> {
        let (Some(first), Some(last)) = (events.first(), events.last()) else {
            return Ok(());
        };
        let seqs: Vec<i64> = events.iter().map(|event| event.seq).collect();
        let payloads: Vec<String> = events.iter().map(|event| event.data.to_string()).collect();
        sqlx::query(INSERT_EVENTS_AND_NOTIFY)
            .bind(first.channel_id)
            .bind(first.kind.as_str())
            .bind(first.created_at)
            .bind(seqs)
            .bind(payloads)
            .bind(NOTIFY_CHANNEL)
            .bind(format!("{}:{}", last.channel_id, last.seq))
            .execute(&mut *self)
            .await
            .map(|_| ())
    }
}

/// Locks the channel's row and takes its next seq, for an event recorded
/// later in the same transaction with [`record`]; `None` when the channel is
/// gone. Rolled back with the transaction if no event follows. Pass
/// `&mut *tx`.
pub(crate) async fn reserve<C: EventLog>(
    conn: &mut C,
    channel: Uuid,
) -> Result<Option<i64>, sqlx::Error> {
    conn.reserve_seqs(channel, 1).await
}

/// As [`reserve`] for `count` events: the first of their seqs.
pub(crate) async fn reserve_many<C: EventLog>(
    conn: &mut C,
    channel: Uuid,
    count: usize,
) -> Result<Option<i64>, sqlx::Error> {
    let count = i64::try_from(count).unwrap_or(i64::MAX);
    let last = conn.reserve_seqs(channel, count).await?;
    Ok(last.map(|last| last - count + 1))
}

/// Locks the channel's row without taking a seq (for a transaction that
/// learns only later how many events it records there); `false` when the
/// channel is gone.
pub(crate) async fn lock_channel<C: EventLog>(
    conn: &mut C,
    channel: Uuid,
) -> Result<bool, sqlx::Error> {
    conn.lock_channel_row(channel).await
}

/// Stores the event with the seq [`reserve`] returned. Hand the result to a
/// [`Publisher`] once the transaction has committed.
pub(crate) async fn record<C: EventLog>(
    conn: &mut C,
    channel: Uuid,
    seq: i64,
    kind: EventKind,
    data: Value,
) -> Result<Event, sqlx::Error> {
    let event = Event::new(channel, seq, kind, data, now());
    conn.record_event(&event).await?;
    Ok(event)
}

/// Stores one event of `kind` per payload, with the seqs from `first_seq`
/// on that [`reserve_many`] returned.
pub(crate) async fn record_many<C: EventLog>(
    conn: &mut C,
    channel: Uuid,
    first_seq: i64,
    kind: EventKind,
    payloads: impl IntoIterator<Item = Value>,
) -> Result<Vec<Event>, sqlx::Error> {
    let now = now();
    let events: Vec<Event> = (first_seq..)
        .zip(payloads)
        .map(|(seq, data)| Event::new(channel, seq, kind, data, now))
        .collect();
    conn.record_events(&events).await?;
    Ok(events)
}

/// Starts a write to one channel: waits for its turn among the channel's
/// writers (taken before a database connection; see [`crate::write_gate`]),
/// held until the returned turn is dropped, and makes the [`Publisher`] of
/// its events.
pub(crate) async fn start_write(
    app: &App,
    channel: Uuid,
) -> Result<(crate::write_gate::WriteTurn<'_>, Publisher), Problem> {
    let turn = app.write_gates.enter(channel).await?;
    Ok((turn, app.events.publisher(channel)))
}

/// Deletes one row of `channel` (`delete` binds `first` then `second`) and
/// records `kind` with `data` in the same transaction, then publishes the
/// event. `false`, recording nothing, when the channel is gone or the
/// statement deleted no row (deleted meanwhile: that deletion recorded the
/// event).
pub(crate) async fn delete_recorded(
    app: &App,
    channel: Uuid,
    delete: &'static str,
    (first, second): (Uuid, Uuid),
    kind: EventKind,
    data: Value,
) -> Result<bool, Problem> {
    let (_turn, publisher) = start_write(app, channel).await?;
    let event = on_db!(&app.db, pool => async {
        let mut tx = pool.begin().await?;
        // The channel's row first (see the lock order above).
        let Some(seq) = reserve(&mut *tx, channel).await? else {
            tx.rollback().await?;
            return Ok(None);
        };
        let deleted = sqlx::query(delete)
            .bind(first)
            .bind(second)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if deleted != 1 {
            tx.rollback().await?;
            return Ok(None);
        }
        let event = record(&mut *tx, channel, seq, kind, data).await?;
        tx.commit().await?;
        Ok::<_, sqlx::Error>(Some(event))
    }.await)?;
    let deleted = event.is_some();
    publisher.publish(event);
    Ok(deleted)
}

/// [`reserve`] then [`record`], for a channel whose row the transaction
/// already holds (the channel must still exist).
pub(crate) async fn append<C: EventLog>(
    conn: &mut C,
    channel: Uuid,
    kind: EventKind,
    data: Value,
) -> Result<Event, sqlx::Error> {
    let seq = reserve(conn, channel)
        .await?
        .ok_or(sqlx::Error::RowNotFound)?;
    record(conn, channel, seq, kind, data).await
}

// ---------------------------------------------------------------------------
// Reading

/// The channel's stored events after `after_seq`, oldest first, at most
/// `limit` (1 to [`MAX_PAGE`]). Also works for a deleted channel, whose last
/// event is `channel.deleted`.
pub async fn since(
    app: &App,
    channel: Uuid,
    after_seq: i64,
    limit: usize,
) -> Result<Vec<Event>, Problem> {
    load(&app.db, channel, after_seq, limit).await
}

/// The highest seq stored for the channel; 0 when it has no events.
pub async fn latest_seq(app: &App, channel: Uuid) -> Result<i64, Problem> {
    Ok(stored_latest(&app.db, channel).await?)
}

async fn load(db: &Db, channel: Uuid, after_seq: i64, limit: usize) -> Result<Vec<Event>, Problem> {
    let limit = limit.clamp(1, MAX_PAGE) as i64;
    let rows: Vec<StoredEvent> = on_db!(db, pool => sqlx::query_as(
        "SELECT channel_id, seq, kind, payload, created_at FROM channel_events \
         WHERE channel_id = $1 AND seq > $2 ORDER BY seq LIMIT $3")
        .bind(channel)
        .bind(after_seq)
        .bind(limit)
        .fetch_all(pool)
        .await)?;
    rows.into_iter().map(Event::from_stored).collect()
}

async fn stored_latest(db: &Db, channel: Uuid) -> Result<i64, sqlx::Error> {
    let latest: Option<i64> = on_db!(db, pool => sqlx::query_scalar(
        "SELECT MAX(seq) FROM channel_events WHERE channel_id = $1")
        .bind(channel)
        .fetch_one(pool)
        .await)?;
    Ok(latest.unwrap_or(0))
}

// ---------------------------------------------------------------------------
// Following one channel: stored events, then live ones

/// Events of one channel after a given seq, each once and in order: first
/// those stored, then live ones, going back to the database whenever the
/// live stream lagged or skipped a seq. Made by [`follow`].
pub struct Follower {
    app: App,
    channel: Uuid,
    cursor: i64,
    backlog: VecDeque<Event>,
    behind: bool,
    ended: bool,
    live: broadcast::Receiver<Event>,
}

/// Follows `channel` from just after `after_seq` (a client's `Last-Event-ID`;
/// 0 for the whole log). An `after_seq` beyond the channel's last event
/// counts as its last event. The caller checks that the follower may see
/// the channel.
pub async fn follow(app: &App, channel: Uuid, after_seq: i64) -> Result<Follower, Problem> {
    // Subscribe before reading: every event committed from now on is
    // either in the database reads or arrives live.
    let live = app.events.subscribe(channel).await?;
    let latest = latest_seq(app, channel).await?;
    Ok(Follower {
        app: app.clone(),
        channel,
        cursor: after_seq.clamp(0, latest),
        backlog: VecDeque::new(),
        behind: true,
        ended: false,
        live,
    })
}

impl Follower {
    /// The seq of the last event returned (or the starting point).
    pub fn cursor(&self) -> i64 {
        self.cursor
    }

    /// The next event; `None` after `channel.deleted` or when the hub shuts
    /// down. Cancel-safe: dropping the future loses no event.
    pub async fn next(&mut self) -> Result<Option<Event>, Problem> {
        const PAGE: usize = 256;
        loop {
            if self.ended {
                return Ok(None);
            }
            if let Some(event) = self.backlog.pop_front() {
                if event.seq <= self.cursor {
                    continue;
                }
                self.cursor = event.seq;
                self.ended = event.kind == EventKind::ChannelDeleted;
                return Ok(Some(event));
            }
            if self.behind {
                let page = since(&self.app, self.channel, self.cursor, PAGE).await?;
                self.behind = page.len() == PAGE;
                self.backlog.extend(page);
                continue;
            }
            match self.live.recv().await {
                Ok(event) if event.seq <= self.cursor => {}
                Ok(event) if event.seq == self.cursor + 1 => self.backlog.push_back(event),
                // A seq was skipped or the receiver lagged: the database has them.
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => self.behind = true,
                Err(broadcast::error::RecvError::Closed) => return Ok(None),
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The hub

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

impl Hub {
    /// Starts the hub over `db`: a dispatcher task, and with PostgreSQL a
    /// listener task. `capacity` is the broadcast buffer per channel.
    pub fn new(db: Db, capacity: usize) -> Hub {
        let shared = Arc::new(Shared {
            db,
            capacity: capacity.max(1),
            channels: Mutex::new(HashMap::new()),
            resync: AtomicBool::new(false),
            wake: Notify::new(),
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
            let page = load(&self.db, channel, after, LOAD_PAGE).await?;
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
/// while it was not listening are delivered too.
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
        if let Err(error) = listener.listen(NOTIFY_CHANNEL).await {
            tracing::warn!(%error, "event listener cannot LISTEN; retrying");
            continue;
        }
        backoff = MIN_BACKOFF;
        tracing::debug!("event listener connected");
        shared.request_resync();
        loop {
            let received = tokio::select! {
                _ = stopped.changed() => return,
                received = listener.try_recv() => received,
            };
            match received {
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
    fn kinds_round_trip_through_their_names() {
        for kind in EventKind::ALL {
            assert_eq!(kind.as_str().parse::<EventKind>(), Ok(kind));
            assert_eq!(
                serde_json::to_value(kind).expect("serialise"),
                Value::from(kind.as_str())
            );
        }
        assert!("message.edited".parse::<EventKind>().is_err());
    }

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
