//! Writing the log inside the caller's transaction, and reading it back.

use std::future::Future;

use serde_json::Value;
use sqlx::{PgConnection, SqliteConnection};
use uuid::Uuid;

use super::{Event, EventKind, MAX_PAGE, NOTIFY_CHANNEL, StoredEvent};
use crate::db::on_db;
use crate::db::{Db, now};
use charter_runtime::Problem;

/// `data` as an event's payload: what a domain module records of a change.
pub fn payload(data: &impl serde::Serialize) -> Result<Value, sqlx::Error> {
    serde_json::to_value(data).map_err(|e| sqlx::Error::Encode(Box::new(e)))
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
    db: &Db,
    channel: Uuid,
    after_seq: i64,
    limit: usize,
) -> Result<Vec<Event>, Problem> {
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

/// The highest seq stored for the channel; 0 when it has no events.
pub async fn latest_seq(db: &Db, channel: Uuid) -> Result<i64, Problem> {
    Ok(stored_latest(db, channel).await?)
}

pub(super) async fn stored_latest(db: &Db, channel: Uuid) -> Result<i64, sqlx::Error> {
    let latest: Option<i64> = on_db!(db, pool => sqlx::query_scalar(
        "SELECT MAX(seq) FROM channel_events WHERE channel_id = $1")
        .bind(channel)
        .fetch_one(pool)
        .await)?;
    Ok(latest.unwrap_or(0))
}
