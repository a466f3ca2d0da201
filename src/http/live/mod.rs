//! Live sessions over the channel event log ([`crate::events`]): the SSE
//! stream of one channel, and WebSocket sessions that subscribe to channels,
//! post messages and receive events.
//!
//! Both follow channels with [`events::follow`], so a client resuming after
//! the `seq` it saw last gets every later event once, in order. Access is
//! checked when a stream opens and again when the follower is removed from
//! the channel; a WebSocket also re-checks its credentials on every message
//! and every ping.

use std::sync::atomic::Ordering;

use uuid::Uuid;

use crate::app::App;
use crate::channels;
use crate::events;
use charter_runtime::Problem;

mod sse;
mod ws;

pub use crate::app::LiveCounters as Counters;
pub use crate::config::LiveSettings as Settings;

pub use sse::{SSE_RETRY, channel_stream};
pub use ws::{BEARER_PROTOCOL_PREFIX, PROTOCOL, accept};

/// Counts one open connection while alive.
pub(super) struct Open {
    app: App,
    websocket: bool,
}

impl Open {
    pub(super) fn new(app: &App, websocket: bool) -> Open {
        app.live.counter(websocket).fetch_add(1, Ordering::Relaxed);
        Open {
            app: app.clone(),
            websocket,
        }
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.app
            .live
            .counter(self.websocket)
            .fetch_sub(1, Ordering::Relaxed);
    }
}

/// Whether a follower receives `event`. Event types added after 2.0 go
/// only to followers that ask for them, so a client written against 2.0
/// never meets a shape it cannot decode.
pub(super) fn wanted(event: &events::Event, edits: bool) -> bool {
    edits || event.kind != events::EventKind::MessageUpdated
}

/// Follows `channel` for `viewer` (404 when it may not see it) from just
/// after `last_event_id`, or from now on without one.
pub(super) async fn follow_visible(
    app: &App,
    viewer: Uuid,
    channel: Uuid,
    last_event_id: Option<i64>,
) -> Result<events::Follower, Problem> {
    channels::visible(&app.store, viewer, channel).await?;
    let after = match last_event_id {
        Some(seq) => seq,
        None => events::latest_seq(&app.store.db, channel).await?,
    };
    events::follow(&app.store.events, channel, after).await
}
