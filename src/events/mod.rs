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
//! `data` is what the domain recorded of the change, as JSON (ids are UUID
//! strings, times RFC 3339); this module stores and delivers it without
//! reading it. The domain modules own its shape per kind (each serialises
//! its own row type, see `channels`, `messages` and `users`), and the
//! transport turns an event into the contract's `ChannelEvent`.
//!
//! | kind              | data (recorded by)                                                   |
//! |-------------------|----------------------------------------------------------------------|
//! | `message.created` | a `MessageRow`: `{id, channel_id, author_id, body, created_at, version, edited_at}` |
//! | `message.updated` | a `MessageRow`, as edited                                            |
//! | `message.deleted` | a `MessageKey`: `{id, channel_id}`                                   |
//! | `channel.updated` | a `ChannelRow`: `{id, name, topic, visibility, owner_id, created_at, updated_at}` |
//! | `channel.deleted` | a `ChannelKey`: `{id}`                                               |
//! | `member.added`    | a `MemberRow`: `{channel_id, user_id, role, joined_at}`              |
//! | `member.removed`  | a `MemberKey`: `{channel_id, user_id}`                               |
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
//! [`Hub`] (`Store::events`) fans events out to subscribers of a channel in
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
//! an SSE or WebSocket endpoint should use: `follow(hub, channel, last_id)`
//! then `next()` yields every later event once, in order, first from the
//! database, then live.
//!
//! # Not here
//! Nothing in this module checks who may see a channel: an endpoint checks
//! visibility before following, and decides what to do when its user is
//! removed (`member.removed`) or the channel goes (`channel.deleted`, after
//! which the channel is no longer visible to anyone).

use std::str::FromStr;
use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use charter_runtime::Problem;

mod follower;
mod hub;
mod log;

pub use follower::{Follower, follow};
pub use hub::{Hub, Publisher};
pub(crate) use log::{append, lock_channel, record, record_many, reserve, reserve_many};
pub use log::{latest_seq, payload, since};

/// The PostgreSQL notification channel events are announced on.
pub const NOTIFY_CHANNEL: &str = "charter_events";

/// The PostgreSQL notification channel of invalidations: cached principals
/// and profiles may be stale on every instance.
pub const INVALIDATE_CHANNEL: &str = "charter_invalidate";

/// The PostgreSQL notification channel on which each listener acknowledges
/// an invalidation it has handled (the payload is the announcement's id).
pub const INVALIDATE_ACK_CHANNEL: &str = "charter_invalidate_ack";

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
    #[serde(rename = "message.updated")]
    MessageUpdated,
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
    pub const ALL: [EventKind; 7] = [
        EventKind::MessageCreated,
        EventKind::MessageUpdated,
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
            EventKind::MessageUpdated => "message.updated",
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

/// How many renderings an event keeps for its transports.
pub const RENDERINGS: usize = 2;

/// An event's client documents (one per rendering slot), each rendered on
/// first use and shared by clones.
#[derive(Clone, Default)]
struct Document(Arc<[OnceLock<Arc<str>>; RENDERINGS]>);

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

    /// The event as clients see it in rendering `slot` (below
    /// [`RENDERINGS`]; the transport chooses what each slot holds), rendered
    /// by `render` on first use and shared by every clone, however many
    /// subscribers send it. This module does not know the wire format.
    pub fn document<E>(
        &self,
        slot: usize,
        render: impl FnOnce(&Event) -> Result<String, E>,
    ) -> Result<Arc<str>, E> {
        let Some(cached) = self.document.0.get(slot) else {
            return Ok(render(self)?.into());
        };
        if let Some(document) = cached.get() {
            return Ok(document.clone());
        }
        let rendered: Arc<str> = render(self)?.into();
        // A racing render of the same event made the same text.
        Ok(cached.get_or_init(|| rendered).clone())
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
}
