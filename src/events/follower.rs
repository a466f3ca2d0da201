//! Following one channel: stored events, then live ones.

use std::collections::VecDeque;

use tokio::sync::broadcast;
use uuid::Uuid;

use super::{Event, EventKind, Hub, latest_seq, since};
use crate::db::Db;
use charter_runtime::Problem;

/// Events of one channel after a given seq, each once and in order: first
/// those stored, then live ones, going back to the database whenever the
/// live stream lagged or skipped a seq. Made by [`follow`].
pub struct Follower {
    db: Db,
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
pub async fn follow(hub: &Hub, channel: Uuid, after_seq: i64) -> Result<Follower, Problem> {
    // Subscribe before reading: every event committed from now on is
    // either in the database reads or arrives live.
    let live = hub.subscribe(channel).await?;
    let db = hub.db().clone();
    let latest = latest_seq(&db, channel).await?;
    Ok(Follower {
        db,
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
                let page = since(&self.db, self.channel, self.cursor, PAGE).await?;
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
