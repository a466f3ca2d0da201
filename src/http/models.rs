//! The v2 models of what the domain returns: one conversion per shape,
//! shared by REST answers, SSE streams and WebSocket messages.

use crate::api::v2::*;
use crate::api_keys::ApiKeyRow;
use crate::auth::Role;
use crate::channels::{ChannelKey, ChannelRow, MemberKey, MemberRow};
use crate::events::{Event, EventKind};
use crate::messages::{MessageKey, MessageRow};
use crate::users::UserRow;
use charter_runtime::Problem;

pub(super) fn me(row: &UserRow) -> Me {
    Me {
        id: row.id,
        full_name: row.full_name.clone(),
        email: row.email.clone(),
        role: match row.role {
            Role::User => MeRole::User,
            Role::Admin => MeRole::Admin,
        },
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

pub(super) fn user(row: &UserRow) -> User {
    User {
        id: row.id,
        full_name: row.full_name.clone(),
        created_at: row.created_at,
    }
}

pub(super) fn channel(row: &ChannelRow) -> Result<Channel, Problem> {
    Ok(Channel {
        id: row.id,
        name: row.name.clone(),
        topic: row.topic.clone(),
        visibility: row
            .visibility
            .parse()
            .map_err(|e| crate::error::internal("stored channel visibility", e))?,
        owner_id: row.owner_id,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

pub(super) fn member(row: &MemberRow) -> Result<ChannelMember, Problem> {
    Ok(ChannelMember {
        channel_id: row.channel_id,
        user_id: row.user_id,
        role: row
            .role
            .parse()
            .map_err(|e| crate::error::internal("stored member role", e))?,
        joined_at: row.joined_at,
    })
}

pub(super) fn message(row: &MessageRow) -> Message {
    Message {
        id: row.id,
        channel_id: row.channel_id,
        author_id: row.author_id,
        body: row.body.clone(),
        created_at: row.created_at,
        edited_at: row.edited_at,
    }
}

pub(super) fn api_key(row: &ApiKeyRow) -> Result<ApiKey, Problem> {
    let scopes = row
        .scope_list()
        .iter()
        .map(|s| s.parse::<ApiKeyScope>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| crate::error::internal("stored API key scope", e))?;
    Ok(ApiKey {
        id: row.id,
        name: row.name.clone(),
        scopes,
        prefix: row.prefix.clone(),
        created_at: row.created_at,
        last_used_at: row.last_used_at,
    })
}

/// What an event's payload holds, read back as the domain recorded it.
fn recorded<T: serde::de::DeserializeOwned>(event: &Event) -> Result<T, Problem> {
    T::deserialize(&*event.data).map_err(|e| crate::error::internal("stored event payload", e))
}

/// An event as the contract's `ChannelEvent`.
pub(super) fn channel_event(event: &Event) -> Result<ChannelEvent, Problem> {
    let (channel_id, seq, created_at) = (event.channel_id, event.seq, event.created_at);
    Ok(match event.kind {
        EventKind::MessageCreated => ChannelEvent::MessageCreatedEvent(MessageCreatedEvent {
            channel_id,
            seq,
            created_at,
            r#type: MessageCreatedEventType::MessageCreated,
            data: message(&recorded::<MessageRow>(event)?),
        }),
        EventKind::MessageUpdated => ChannelEvent::MessageUpdatedEvent(MessageUpdatedEvent {
            channel_id,
            seq,
            created_at,
            r#type: MessageUpdatedEventType::MessageUpdated,
            data: message(&recorded::<MessageRow>(event)?),
        }),
        EventKind::MessageDeleted => {
            let key: MessageKey = recorded(event)?;
            ChannelEvent::MessageDeletedEvent(MessageDeletedEvent {
                channel_id,
                seq,
                created_at,
                r#type: MessageDeletedEventType::MessageDeleted,
                data: MessageRef {
                    id: key.id,
                    channel_id: key.channel_id,
                },
            })
        }
        EventKind::ChannelUpdated => ChannelEvent::ChannelUpdatedEvent(ChannelUpdatedEvent {
            channel_id,
            seq,
            created_at,
            r#type: ChannelUpdatedEventType::ChannelUpdated,
            data: channel(&recorded::<ChannelRow>(event)?)?,
        }),
        EventKind::ChannelDeleted => {
            let key: ChannelKey = recorded(event)?;
            ChannelEvent::ChannelDeletedEvent(ChannelDeletedEvent {
                channel_id,
                seq,
                created_at,
                r#type: ChannelDeletedEventType::ChannelDeleted,
                data: ChannelRef { id: key.id },
            })
        }
        EventKind::MemberAdded => ChannelEvent::MemberAddedEvent(MemberAddedEvent {
            channel_id,
            seq,
            created_at,
            r#type: MemberAddedEventType::MemberAdded,
            data: member(&recorded::<MemberRow>(event)?)?,
        }),
        EventKind::MemberRemoved => {
            let key: MemberKey = recorded(event)?;
            ChannelEvent::MemberRemovedEvent(MemberRemovedEvent {
                channel_id,
                seq,
                created_at,
                r#type: MemberRemovedEventType::MemberRemoved,
                data: MemberRef {
                    channel_id: key.channel_id,
                    user_id: key.user_id,
                },
            })
        }
    })
}

/// The event's rendering slots (see `Event::document`).
const SSE_DATA: usize = 0;
const WEBSOCKET_MESSAGE: usize = 1;

fn render(value: &impl serde::Serialize) -> Result<String, Problem> {
    serde_json::to_string(value).map_err(|e| crate::error::internal("rendering an event", e))
}

/// The event's `ChannelEvent` document (JSON text, an SSE event's data),
/// rendered once however many subscribers send it.
pub(super) fn event_document(event: &Event) -> Result<std::sync::Arc<str>, Problem> {
    event.document(SSE_DATA, |event| render(&channel_event(event)?))
}

/// The event as a WebSocket `event` message (a `WsServerMessage`),
/// rendered once however many sessions send it.
pub(super) fn event_message(event: &Event) -> Result<std::sync::Arc<str>, Problem> {
    event.document(WEBSOCKET_MESSAGE, |event| {
        render(&WsServerMessage::WsEvent(WsEvent {
            r#type: WsEventType::Event,
            event: channel_event(event)?,
        }))
    })
}
