//! The SSE stream of one channel.

use std::time::Duration;

use uuid::Uuid;

use super::{Open, follow_visible, wanted};
use crate::app::App;
use crate::channels;
use crate::events;
use crate::http::models::event_document;
use charter_runtime::{EventStream, Problem, SseEvent};

/// The reconnection delay advertised to SSE clients (`retry:`).
pub const SSE_RETRY: Duration = Duration::from_secs(2);

/// The SSE stream of `channel` for `viewer`: stored events after
/// `last_event_id`, then live ones; without `last_event_id`, only events
/// from now on; message edits only with `edits`. 404 when the viewer may
/// not see the channel.
pub async fn channel_stream(
    app: &App,
    viewer: Uuid,
    channel: Uuid,
    last_event_id: Option<i64>,
    edits: bool,
) -> Result<EventStream, Problem> {
    let follower = follow_visible(app, viewer, channel, last_event_id).await?;
    struct State {
        app: App,
        follower: events::Follower,
        viewer: Uuid,
        ended: bool,
        _open: Open,
    }
    let state = State {
        app: app.clone(),
        follower,
        viewer,
        ended: false,
        _open: Open::new(app, false),
    };
    let stream = futures::stream::unfold(state, move |mut state| async move {
        if state.ended {
            return None;
        }
        let event = loop {
            let event = tokio::select! {
                _ = state.app.shutdown.cancelled() => return None,
                next = state.follower.next() => match next {
                    Ok(Some(event)) => event,
                    // The end of the channel, or a database error: the client
                    // reconnects with Last-Event-ID and is checked again.
                    Ok(None) | Err(_) => return None,
                },
            };
            if wanted(&event, edits) {
                break event;
            }
        };
        state.ended = !channels::still_visible_after(&state.app.store, state.viewer, &event).await;
        // An event that cannot be shown ends the stream; the client
        // reconnects and is checked again.
        let data = event_document(&event).ok()?.to_string();
        let sse = SseEvent {
            id: Some(event.seq.to_string()),
            event: Some(event.kind.as_str().to_owned()),
            data,
        };
        Some((sse, state))
    });
    Ok(EventStream::new(stream)
        .keep_alive(app.config.live.sse_keep_alive)
        .retry(SSE_RETRY))
}
