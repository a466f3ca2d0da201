//! Channels and their members. A private channel exists only for its
//! members: to anyone else it is "not found", never "forbidden". Updates,
//! deletion and membership changes record [`events`] in the
//! same transaction.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::db::on_db;
use crate::db::{FromInlineRow, InlineRow, now};
use crate::error::ResultExt;
use crate::events::{self, Event, EventKind};
use crate::pagination::split_page;
use crate::store::Store;
use charter_runtime::Problem;

/// A channel as stored. Serialised (without its listing position and
/// version) it is the payload of `channel.updated`.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow, serde::Serialize, serde::Deserialize)]
pub struct ChannelRow {
    #[serde(skip)]
    pub seq: i64,
    pub id: Uuid,
    pub name: String,
    pub topic: Option<String>,
    pub visibility: String,
    pub owner_id: Uuid,
    #[serde(skip)]
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl FromInlineRow for ChannelRow {
    fn from_inline_row(row: &InlineRow<'_>) -> rusqlite::Result<Self> {
        Ok(ChannelRow {
            seq: row.int("seq")?,
            id: row.uuid("id")?,
            name: row.text("name")?,
            topic: row.optional_text("topic")?,
            visibility: row.text("visibility")?,
            owner_id: row.uuid("owner_id")?,
            version: row.int("version")?,
            created_at: row.timestamp("created_at")?,
            updated_at: row.timestamp("updated_at")?,
        })
    }
}

/// A membership; serialised, the payload of `member.added`.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize, serde::Deserialize)]
pub struct MemberRow {
    pub channel_id: Uuid,
    pub user_id: Uuid,
    pub role: String,
    pub joined_at: DateTime<Utc>,
}

/// The payload of `channel.deleted`.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct ChannelKey {
    pub id: Uuid,
}

/// The payload of `member.removed`.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct MemberKey {
    pub channel_id: Uuid,
    pub user_id: Uuid,
}

/// The columns of a channel, unqualified (for `RETURNING`).
macro_rules! channel_returning {
    () => {
        "seq, id, name, topic, visibility, owner_id, version, created_at, updated_at"
    };
}

macro_rules! channel_columns {
    () => {
        "c.seq, c.id, c.name, c.topic, c.visibility, c.owner_id, c.version, c.created_at, c.updated_at"
    };
}

/// Who may see a channel: everyone for public ones, members for private ones.
macro_rules! visible_to {
    () => {
        "(c.visibility = 'public' OR EXISTS \
     (SELECT 1 FROM channel_members m WHERE m.channel_id = c.id AND m.user_id = $1))"
    };
}
pub(crate) use visible_to;

fn not_found() -> Problem {
    Problem::not_found("No channel with this id is visible to you.")
}

impl ChannelRow {
    pub fn is_owner(&self, user: Uuid) -> bool {
        self.owner_id == user
    }
}

pub async fn create(
    store: &Store,
    owner: Uuid,
    name: &str,
    topic: Option<&str>,
    visibility: &str,
) -> Result<ChannelRow, Problem> {
    let now = now();
    let id = Uuid::new_v4();
    let result = on_db!(&store.db, pool => async {
        let mut tx = pool.begin().await?;
        let row: ChannelRow = sqlx::query_as(concat!("INSERT INTO channels (id, name, topic, visibility, owner_id, version, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, 1, $6, $6) \
             RETURNING ", channel_returning!()))
            .bind(id)
            .bind(name)
            .bind(topic)
            .bind(visibility)
            .bind(owner)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO channel_members (channel_id, user_id, role, joined_at) VALUES ($1, $2, 'owner', $3)")
            .bind(id)
            .bind(owner)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok::<_, sqlx::Error>(row)
    }.await);
    result.on_unique_violation(
        "CHANNEL_NAME_TAKEN",
        "A channel with this name already exists.",
    )
}

/// The channel if `viewer` may see it; 404 otherwise.
pub async fn visible(store: &Store, viewer: Uuid, id: Uuid) -> Result<ChannelRow, Problem> {
    let sql = concat!(
        "SELECT ",
        channel_columns!(),
        " FROM channels c WHERE c.id = $2 AND ",
        visible_to!()
    );
    let row: Option<ChannelRow> = store
        .db
        .fetch_optional(sql, &[viewer.into(), id.into()])
        .await?;
    row.ok_or_else(not_found)
}

/// The channel if `viewer` owns it: 404 when invisible, 403 when visible but not theirs.
pub async fn owned(store: &Store, viewer: Uuid, id: Uuid) -> Result<ChannelRow, Problem> {
    let channel = visible(store, viewer, id).await?;
    if !channel.is_owner(viewer) {
        return Err(Problem::forbidden("Only the channel's owner may do this."));
    }
    Ok(channel)
}

/// Channels visible to `viewer`, in creation order after `after_seq`.
pub async fn list_visible(
    store: &Store,
    viewer: Uuid,
    after_seq: i64,
    limit: usize,
) -> Result<(Vec<ChannelRow>, bool), Problem> {
    let sql = concat!(
        "SELECT ",
        channel_columns!(),
        " FROM channels c WHERE c.seq > $2 AND ",
        visible_to!(),
        " ORDER BY c.seq LIMIT $3"
    );
    let rows = on_db!(&store.db, pool => sqlx::query_as(sql)
        .bind(viewer)
        .bind(after_seq)
        .bind(limit as i64 + 1)
        .fetch_all(pool)
        .await)?;
    Ok(split_page(rows, limit))
}

/// What an update changes; `None` leaves a field as it is.
pub struct ChannelChanges<'a> {
    pub name: Option<&'a str>,
    pub topic: Option<Option<&'a str>>,
}

/// Applies `changes` to the channel. With `expected_version` (a conditional
/// update, `If-Match`) only while the channel is still at that version:
/// `None` when it changed meanwhile. Without it the update is unconditional:
/// the fields it does not change keep the values they have when it applies
/// (read under the row's lock, never an earlier copy), so concurrent updates
/// all succeed, one after the other, each recording its own event; 404 when
/// the channel was deleted meanwhile.
pub async fn update(
    store: &Store,
    id: Uuid,
    expected_version: Option<i64>,
    changes: ChannelChanges<'_>,
) -> Result<Option<ChannelRow>, Problem> {
    // The merge happens in the statement, which locks the row (and so
    // orders the event it records after those of earlier writers).
    let sql = concat!(
        "UPDATE channels SET name = COALESCE($1, name), \
         topic = CASE WHEN $2 THEN $3 ELSE topic END, \
         version = version + 1, updated_at = $4 \
         WHERE id = $5 AND ($6 IS NULL OR version = $6) RETURNING ",
        channel_returning!()
    );
    let (set_topic, topic) = match changes.topic {
        Some(topic) => (true, topic),
        None => (false, None),
    };
    let (_turn, publisher) = store.start_write(id).await?;
    let updated = on_db!(&store.db, pool => async {
        let mut tx = pool.begin().await?;
        let row: Option<ChannelRow> = sqlx::query_as(sql)
            .bind(changes.name)
            .bind(set_topic)
            .bind(topic)
            .bind(now())
            .bind(id)
            .bind(expected_version)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else {
            tx.rollback().await?;
            return Ok(None);
        };
        let event = events::append(&mut *tx, row.id, EventKind::ChannelUpdated, events::payload(&row)?).await?;
        tx.commit().await?;
        Ok::<_, sqlx::Error>(Some((row, event)))
    }.await)
    .on_unique_violation(
        "CHANNEL_NAME_TAKEN",
        "A channel with this name already exists.",
    )?;
    let (row, event) = updated.unzip();
    publisher.publish(event);
    match row {
        None if expected_version.is_none() => Err(not_found()),
        row => Ok(row),
    }
}

/// Deletes the channel (with its members and messages). With
/// `expected_version` only while the channel is still at that version:
/// `false` when it changed meanwhile; without it unconditionally (404 when
/// it is already gone). Its last event, `channel.deleted`, is recorded first
/// and outlives it; its messages and members go without events of their own.
pub async fn delete(
    store: &Store,
    id: Uuid,
    expected_version: Option<i64>,
) -> Result<bool, Problem> {
    let (_turn, publisher) = store.start_write(id).await?;
    let event = on_db!(&store.db, pool => async {
        let mut tx = pool.begin().await?;
        // Claims the row (at the expected version, if any) and locks it
        // until commit.
        let claimed = sqlx::query(
            "UPDATE channels SET version = version + 1 WHERE id = $1 AND ($2 IS NULL OR version = $2)")
            .bind(id)
            .bind(expected_version)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if claimed != 1 {
            tx.rollback().await?;
            return Ok(None);
        }
        let event = events::append(&mut *tx, id, EventKind::ChannelDeleted, events::payload(&ChannelKey { id })?).await?;
        sqlx::query("DELETE FROM channels WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok::<_, sqlx::Error>(Some(event))
    }.await)?;
    let deleted = event.is_some();
    publisher.publish(event);
    if !deleted && expected_version.is_none() {
        return Err(not_found());
    }
    Ok(deleted)
}

/// Adds `user` to the channel; `false` when they already were a member.
pub async fn add_member(
    store: &Store,
    channel: Uuid,
    user: Uuid,
) -> Result<(MemberRow, bool), Problem> {
    let now = now();
    let (_turn, publisher) = store.start_write(channel).await?;
    let outcome = on_db!(&store.db, pool => async {
        let mut tx = pool.begin().await?;
        // The channel's row first (see the lock order in `events`).
        let Some(seq) = events::reserve(&mut *tx, channel).await? else {
            tx.rollback().await?;
            return Ok((None, None));
        };
        let inserted = sqlx::query(
            "INSERT INTO channel_members (channel_id, user_id, role, joined_at) VALUES ($1, $2, 'member', $3) \
             ON CONFLICT (channel_id, user_id) DO NOTHING")
            .bind(channel)
            .bind(user)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let member: Option<MemberRow> = sqlx::query_as(
            "SELECT channel_id, user_id, role, joined_at FROM channel_members WHERE channel_id = $1 AND user_id = $2")
            .bind(channel)
            .bind(user)
            .fetch_optional(&mut *tx)
            .await?;
        let event = match &member {
            // Only a new membership is an event.
            Some(member) if inserted == 1 => {
                let event = events::record(&mut *tx, channel, seq, EventKind::MemberAdded, events::payload(member)?).await?;
                tx.commit().await?;
                Some(event)
            }
            _ => {
                tx.rollback().await?;
                None
            }
        };
        Ok::<_, sqlx::Error>((member, event))
    }.await)
    .on_foreign_key_violation("USER_NOT_FOUND", "No user has this id.")?;
    let (member, event) = outcome;
    let added = event.is_some();
    publisher.publish(event);
    let member = member.ok_or_else(|| Problem::not_found("The membership vanished; retry."))?;
    Ok((member, added))
}

pub async fn member(
    store: &Store,
    channel: Uuid,
    user: Uuid,
) -> Result<Option<MemberRow>, Problem> {
    Ok(on_db!(&store.db, pool => sqlx::query_as(
        "SELECT channel_id, user_id, role, joined_at FROM channel_members WHERE channel_id = $1 AND user_id = $2")
        .bind(channel)
        .bind(user)
        .fetch_optional(pool)
        .await)?)
}

/// Adds `user` to a channel `actor` owns (404 when the channel is not
/// visible or the user does not exist, 403 when it is not theirs); `false`
/// when they already were a member.
pub async fn add_member_as(
    store: &Store,
    actor: Uuid,
    channel: Uuid,
    user: Uuid,
) -> Result<(MemberRow, bool), Problem> {
    let channel = owned(store, actor, channel).await?;
    let exists: Option<Uuid> = on_db!(&store.db, pool => sqlx::query_scalar(
        "SELECT id FROM users WHERE id = $1")
        .bind(user)
        .fetch_optional(pool)
        .await)?;
    if exists.is_none() {
        return Err(Problem::not_found("No user has this id."));
    }
    add_member(store, channel.id, user).await
}

/// `actor` leaves a channel, or (as its owner) removes `user` from it: the
/// owner cannot leave, and only the owner removes others (403); 404 when
/// the channel is not visible to `actor` or `user` is not a member.
pub async fn remove_member_as(
    store: &Store,
    actor: Uuid,
    channel: Uuid,
    user: Uuid,
) -> Result<(), Problem> {
    let channel = visible(store, actor, channel).await?;
    let is_owner = channel.is_owner(actor);
    let removing_self = user == actor;
    if is_owner && removing_self {
        return Err(Problem::forbidden(
            "The owner cannot leave their channel; delete it instead.",
        ));
    }
    if !is_owner && !removing_self {
        return Err(Problem::forbidden(
            "Only the channel's owner may remove other members.",
        ));
    }
    if !remove_member(store, channel.id, user).await? {
        return Err(Problem::not_found(
            "This user is not a member of the channel.",
        ));
    }
    Ok(())
}

/// Whether `event` removes `user` from its channel: after it, a follower
/// that was that user must check again whether it may still see it.
pub fn removes_member(event: &Event, user: Uuid) -> bool {
    event.kind == EventKind::MemberRemoved
        && <MemberKey as serde::Deserialize>::deserialize(&*event.data)
            .is_ok_and(|key| key.user_id == user)
}

/// After `event`, whether `viewer` may still follow its channel. Only a
/// removal of the viewer can change that; the channel's deletion ends a
/// follower by itself.
pub async fn still_visible_after(store: &Store, viewer: Uuid, event: &Event) -> bool {
    !removes_member(event, viewer) || visible(store, viewer, event.channel_id).await.is_ok()
}

/// Removes a member (never the owner), recording `member.removed`; `false`
/// when `user` was not a (removable) member.
pub async fn remove_member(store: &Store, channel: Uuid, user: Uuid) -> Result<bool, Problem> {
    store.delete_recorded(
        channel,
        "DELETE FROM channel_members WHERE channel_id = $1 AND user_id = $2 AND role <> 'owner'",
        (channel, user),
        EventKind::MemberRemoved,
        events::payload(&MemberKey {
            channel_id: channel,
            user_id: user,
        })?,
    )
    .await
}
