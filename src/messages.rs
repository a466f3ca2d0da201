//! Messages in channels, with idempotent creation. Posting, editing and
//! deleting record `message.created` / `message.updated` /
//! `message.deleted` [`events`] in the same transaction.

use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::auth::Principal;
use crate::channels;
use crate::db::on_db;
use crate::db::{FromInlineRow, InlineRow, now};
use crate::events::{self, Event, EventKind};
use crate::group_commit::GroupCommit;
use crate::pagination::split_page;
use crate::store::Store;
use charter_runtime::Problem;

/// A message as stored. Serialised, it is the payload of `message.created`
/// and the stored answer of an idempotent post.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow, serde::Serialize, serde::Deserialize)]
pub struct MessageRow {
    /// Absent from payloads recorded before it was included.
    #[serde(default)]
    pub seq: i64,
    pub id: Uuid,
    pub channel_id: Uuid,
    pub author_id: Uuid,
    pub body: String,
    pub created_at: DateTime<Utc>,
    /// Numbers the message's representations (its ETag); 1 until edited.
    /// Absent from payloads recorded before edits existed.
    #[serde(default = "first_version")]
    pub version: i64,
    #[serde(default)]
    pub edited_at: Option<DateTime<Utc>>,
}

fn first_version() -> i64 {
    1
}

impl FromInlineRow for MessageRow {
    fn from_inline_row(row: &InlineRow<'_>) -> rusqlite::Result<Self> {
        Ok(MessageRow {
            seq: row.int("seq")?,
            id: row.uuid("id")?,
            channel_id: row.uuid("channel_id")?,
            author_id: row.uuid("author_id")?,
            body: row.text("body")?,
            created_at: row.timestamp("created_at")?,
            version: row.int("version")?,
            edited_at: row.optional_timestamp("edited_at")?,
        })
    }
}

macro_rules! message_columns {
    () => {
        "seq, id, channel_id, author_id, body, created_at, version, edited_at"
    };
}

/// How one attempt to post ended.
#[allow(
    clippy::large_enum_variant,
    reason = "a value that lives for one call, never stored"
)]
enum Posted {
    Done(MessageRow, Event),
    /// A concurrent request with the same idempotency key won.
    KeyTaken,
    /// The channel was deleted meanwhile.
    ChannelGone,
}

fn channel_gone() -> Problem {
    Problem::not_found("No channel with this id is visible to you.")
}

/// The payload of `message.deleted`.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct MessageKey {
    pub id: Uuid,
    pub channel_id: Uuid,
}

/// Posts to one channel that arrive while its previous commit runs are
/// committed together (see [`crate::group_commit`]).
pub struct PostQueue {
    commits: GroupCommit<NewPost, Result<MessageRow, Problem>>,
    /// Observes how many posts each commit carried.
    per_commit: prometheus::Histogram,
}

impl PostQueue {
    pub fn new(per_commit: prometheus::Histogram) -> PostQueue {
        PostQueue {
            commits: GroupCommit::new(MAX_POSTS_PER_COMMIT),
            per_commit,
        }
    }
}

/// Posts `body` as `author` in `channel`, which the author must be able to
/// see (404 otherwise): the one rule for REST and WebSocket posts.
pub async fn post(
    store: &Store,
    queue: &PostQueue,
    author: Uuid,
    channel: Uuid,
    body: &str,
    idempotency_key: Option<&str>,
) -> Result<MessageRow, Problem> {
    let channel = channels::visible(store, author, channel).await?;
    create(store, queue, channel.id, author, body, idempotency_key).await
}

/// Deletes a message of a channel `actor` can see: its author or the
/// channel's owner may; 404 when either is not there.
pub async fn delete_as(
    store: &Store,
    actor: &Principal,
    channel: Uuid,
    message: Uuid,
) -> Result<(), Problem> {
    let channel = channels::visible(store, actor.user_id, channel).await?;
    let row = find(store, channel.id, message)
        .await?
        .ok_or_else(no_message)?;
    if row.author_id != actor.user_id && !channel.is_owner(actor.user_id) {
        return Err(Problem::forbidden(
            "Only the message's author or the channel's owner may delete it.",
        ));
    }
    delete(store, channel.id, row.id).await
}

/// The message `id` of `channel`, which `viewer` must be able to see; 404
/// when either is not there.
pub async fn find_visible(
    store: &Store,
    viewer: Uuid,
    channel: Uuid,
    id: Uuid,
) -> Result<MessageRow, Problem> {
    let channel = channels::visible(store, viewer, channel).await?;
    find(store, channel.id, id).await?.ok_or_else(no_message)
}

fn no_message() -> Problem {
    Problem::not_found("No message with this id in this channel.")
}

/// Edits the body of `current`, a message the caller has read with
/// [`find_visible`]. Only its author may: the channel's owner moderates by
/// deleting, not by putting words in someone's mouth. With `expected`, the
/// message must still be at that version; `None` when it is not (or is
/// gone), as for every conditional write.
pub async fn edit_as(
    store: &Store,
    actor: &Principal,
    current: &MessageRow,
    expected: Option<i64>,
    body: &str,
) -> Result<Option<MessageRow>, Problem> {
    if current.author_id != actor.user_id {
        return Err(Problem::forbidden("Only the message's author may edit it."));
    }
    edit(store, current.channel_id, current.id, expected, body).await
}

/// What one edit found.
enum Edited {
    Done(MessageRow, Event),
    /// Not at the expected version, or gone.
    Stale,
    ChannelGone,
}

/// Sets the message's body, bumps its version and stamps `edited_at`,
/// recording `message.updated` in the same transaction.
async fn edit(
    store: &Store,
    channel: Uuid,
    id: Uuid,
    expected: Option<i64>,
    body: &str,
) -> Result<Option<MessageRow>, Problem> {
    let sql = concat!(
        "UPDATE messages SET body = $1, edited_at = $2, version = version + 1 \
         WHERE id = $3 AND channel_id = $4 AND ($5 IS NULL OR version = $5) RETURNING ",
        message_columns!()
    );
    let (_turn, publisher) = store.start_write(channel).await?;
    let outcome = on_db!(&store.db, pool => async {
        let mut tx = pool.begin().await?;
        // The channel's row first (see the lock order in `events`).
        let Some(seq) = events::reserve(&mut *tx, channel).await? else {
            tx.rollback().await?;
            return Ok(Edited::ChannelGone);
        };
        let row: Option<MessageRow> = sqlx::query_as(sql)
            .bind(body)
            .bind(now())
            .bind(id)
            .bind(channel)
            .bind(expected)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else {
            tx.rollback().await?;
            return Ok(Edited::Stale);
        };
        let event = events::record(&mut *tx, channel, seq, EventKind::MessageUpdated, events::payload(&row)?).await?;
        tx.commit().await?;
        Ok::<_, sqlx::Error>(Edited::Done(row, event))
    }.await)?;
    match outcome {
        Edited::Done(row, event) => {
            publisher.publish([event]);
            Ok(Some(row))
        }
        Edited::Stale => {
            publisher.publish(None);
            Ok(None)
        }
        Edited::ChannelGone => {
            publisher.publish(None);
            Err(channel_gone())
        }
    }
}

/// How long an `Idempotency-Key` is remembered.
pub fn idempotency_window() -> Duration {
    Duration::hours(24)
}

/// Posts a message. With an idempotency key, a retry with the same key and
/// the same request replays the first result; the same key with a different
/// request is rejected.
async fn create(
    store: &Store,
    queue: &PostQueue,
    channel: Uuid,
    author: Uuid,
    body: &str,
    idempotency_key: Option<&str>,
) -> Result<MessageRow, Problem> {
    let Some(key) = idempotency_key else {
        return insert(store, queue, channel, author, body).await;
    };
    let request_hash = {
        let mut hasher = Sha256::new();
        hasher.update(channel.as_bytes());
        hasher.update(body.as_bytes());
        hasher.finalize().to_vec()
    };
    // Two attempts: a concurrent request with the same key may win the insert,
    // in which case its stored result is replayed.
    for _ in 0..2 {
        if let Some(replayed) = replay(store, author, key, &request_hash).await? {
            return Ok(replayed);
        }
        let now = now();
        let id = Uuid::new_v4();
        let (_turn, publisher) = store.start_write(channel).await?;
        let outcome = on_db!(&store.db, pool => async {
            let mut tx = pool.begin().await?;
            // The channel's row first (see the lock order in `events`).
            let Some(seq) = events::reserve(&mut *tx, channel).await? else {
                tx.rollback().await?;
                return Ok(Posted::ChannelGone);
            };
            let row: MessageRow = sqlx::query_as(INSERT_MESSAGE)
                .bind(id)
                .bind(channel)
                .bind(author)
                .bind(body)
                .bind(now)
                .fetch_one(&mut *tx)
                .await?;
            let stored = serde_json::to_string(&row).unwrap_or_default();
            let claimed = sqlx::query(
                "INSERT INTO idempotency_keys (user_id, key, request_hash, response_body, created_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id, key) DO NOTHING")
                .bind(author)
                .bind(key)
                .bind(&request_hash)
                .bind(stored)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if claimed != 1 {
                // Another request holds the key: nothing of this one stays,
                // and only the request that claimed the key records an event.
                tx.rollback().await?;
                return Ok(Posted::KeyTaken);
            }
            let event = events::record(&mut *tx, channel, seq, EventKind::MessageCreated, events::payload(&row)?).await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(Posted::Done(row, event))
        }.await)?;
        match outcome {
            Posted::Done(row, event) => {
                publisher.publish([event]);
                return Ok(row);
            }
            Posted::KeyTaken => publisher.publish(None),
            Posted::ChannelGone => {
                publisher.publish(None);
                return Err(channel_gone());
            }
        }
    }
    Err(Problem::conflict(
        "IDEMPOTENCY_CONFLICT",
        "A concurrent request with this Idempotency-Key is in progress; retry.",
    ))
}

async fn replay(
    store: &Store,
    user: Uuid,
    key: &str,
    request_hash: &[u8],
) -> Result<Option<MessageRow>, Problem> {
    let stored: Option<(Vec<u8>, String, DateTime<Utc>)> = on_db!(&store.db, pool => sqlx::query_as(
        "SELECT request_hash, response_body, created_at FROM idempotency_keys WHERE user_id = $1 AND key = $2")
        .bind(user)
        .bind(key)
        .fetch_optional(pool)
        .await)?;
    let Some((hash, response, created_at)) = stored else {
        return Ok(None);
    };
    if created_at + idempotency_window() < now() {
        // Expired: forget it and treat the request as new.
        on_db!(&store.db, pool => sqlx::query("DELETE FROM idempotency_keys WHERE user_id = $1 AND key = $2")
            .bind(user)
            .bind(key)
            .execute(pool)
            .await
            .map(|_| ()))?;
        return Ok(None);
    }
    if hash != request_hash {
        return Err(Problem::unprocessable(
            "IDEMPOTENCY_KEY_REUSED",
            "This Idempotency-Key was used with a different request.",
        ));
    }
    serde_json::from_str(&response)
        .map(Some)
        .map_err(|e| crate::error::internal("stored idempotent response is unreadable", e))
}

/// Posts without an idempotency key go through the channel's group commit
/// (see [`crate::group_commit`]): what queues while the channel's previous
/// commit runs is committed in one transaction.
async fn insert(
    store: &Store,
    queue: &PostQueue,
    channel: Uuid,
    author: Uuid,
    body: &str,
) -> Result<MessageRow, Problem> {
    let post = NewPost {
        id: Uuid::new_v4(),
        author,
        body: body.to_owned(),
    };
    let committer = {
        let store = store.clone();
        let per_commit = queue.per_commit.clone();
        move |posts: Vec<NewPost>| {
            let store = store.clone();
            let per_commit = per_commit.clone();
            async move { commit_posts(&store, &per_commit, channel, posts).await }
        }
    };
    queue
        .commits
        .submit(channel, post, committer)
        .await
        .unwrap_or_else(|_| Err(crate::error::internal("a message commit", "abandoned")))
}

/// A message to post in a channel.
pub struct NewPost {
    id: Uuid,
    author: Uuid,
    body: String,
}

/// The batch size of a channel's group commit.
pub const MAX_POSTS_PER_COMMIT: usize = 64;

/// Commits `posts` in one transaction, each with its `message.created`
/// event, and answers each. When the batch breaks a constraint (an author
/// deleted meanwhile, say) the posts are committed one by one, so that one
/// post's failure is not the others'.
async fn commit_posts(
    store: &Store,
    per_commit: &prometheus::Histogram,
    channel: Uuid,
    posts: Vec<NewPost>,
) -> Vec<Result<MessageRow, Problem>> {
    let count = posts.len();
    match commit_batch(store, channel, &posts).await {
        Ok(Some(rows)) => {
            per_commit.observe(count as f64);
            rows.into_iter().map(Ok).collect()
        }
        Ok(None) => vec![Err(channel_gone()); count],
        Err(Failed::Database(error)) if count > 1 && breaks_constraint(&error) => {
            let mut answers = Vec::with_capacity(count);
            for post in posts {
                answers.push(
                    match commit_batch(store, channel, std::slice::from_ref(&post)).await {
                        Ok(Some(mut rows)) => rows.pop().ok_or_else(Problem::internal),
                        Ok(None) => Err(channel_gone()),
                        Err(failed) => Err(failed.into()),
                    },
                );
            }
            answers
        }
        Err(failed) => vec![Err(failed.into()); count],
    }
}

enum Failed {
    Turn(Problem),
    Database(sqlx::Error),
}

impl From<Failed> for Problem {
    fn from(failed: Failed) -> Problem {
        match failed {
            Failed::Turn(problem) => problem,
            Failed::Database(error) => error.into(),
        }
    }
}

fn breaks_constraint(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if !matches!(db.kind(), sqlx::error::ErrorKind::Other))
}

/// One transaction: the channel's seqs, the messages, their events. `None`
/// when the channel is gone.
async fn commit_batch(
    store: &Store,
    channel: Uuid,
    posts: &[NewPost],
) -> Result<Option<Vec<MessageRow>>, Failed> {
    let (_turn, publisher) = store.start_write(channel).await.map_err(Failed::Turn)?;
    let now = now();
    let committed = on_db!(&store.db, pool => async {
        let mut tx = pool.begin().await?;
        // The channel's row first (see the lock order in `events`).
        let Some(first_seq) = events::reserve_many(&mut *tx, channel, posts.len()).await? else {
            tx.rollback().await?;
            return Ok(None);
        };
        let rows = tx.insert_messages(channel, now, posts).await?;
        let payloads = rows.iter().map(events::payload).collect::<Result<Vec<_>, _>>()?;
        let events = events::record_many(
            &mut *tx,
            channel,
            first_seq,
            EventKind::MessageCreated,
            payloads,
        )
        .await?;
        tx.commit().await?;
        Ok::<_, sqlx::Error>(Some((rows, events)))
    }.await)
    .map_err(Failed::Database)?;
    Ok(committed.map(|(rows, events)| {
        publisher.publish(events);
        rows
    }))
}

const INSERT_MESSAGE: &str = concat!(
    "INSERT INTO messages (id, channel_id, author_id, body, created_at) \
     VALUES ($1, $2, $3, $4, $5) RETURNING ",
    message_columns!()
);

/// Many rows in one statement, in the posts' order (so their seqs follow it).
const INSERT_MESSAGES_PG: &str = concat!(
    "INSERT INTO messages (id, channel_id, author_id, body, created_at) \
     SELECT p.id, $1, p.author_id, p.body, $2 \
     FROM UNNEST($3::uuid[], $4::uuid[], $5::text[]) WITH ORDINALITY AS p(id, author_id, body, n) \
     ORDER BY p.n RETURNING ",
    message_columns!()
);

/// Stores posted messages inside the caller's transaction.
trait MessageStore {
    /// The stored rows, in the order of `posts`.
    fn insert_messages(
        &mut self,
        channel: Uuid,
        now: DateTime<Utc>,
        posts: &[NewPost],
    ) -> impl std::future::Future<Output = Result<Vec<MessageRow>, sqlx::Error>> + Send;
}

impl MessageStore for sqlx::SqliteConnection {
    /// One statement per row: SQLite has no round trip to save.
    async fn insert_messages(
        &mut self,
        channel: Uuid,
        now: DateTime<Utc>,
        posts: &[NewPost],
    ) -> Result<Vec<MessageRow>, sqlx::Error> {
        let mut rows = Vec::with_capacity(posts.len());
        for post in posts {
            let row = sqlx::query_as(INSERT_MESSAGE)
                .bind(post.id)
                .bind(channel)
                .bind(post.author)
                .bind(&post.body)
                .bind(now)
                .fetch_one(&mut *self)
                .await?;
            rows.push(row);
        }
        Ok(rows)
    }
}

impl MessageStore for sqlx::PgConnection {
    async fn insert_messages(
        &mut self,
        channel: Uuid,
        now: DateTime<Utc>,
        posts: &[NewPost],
    ) -> Result<Vec<MessageRow>, sqlx::Error> {
        let ids: Vec<Uuid> = posts.iter().map(|post| post.id).collect();
        let authors: Vec<Uuid> = posts.iter().map(|post| post.author).collect();
        let bodies: Vec<&str> = posts.iter().map(|post| post.body.as_str()).collect();
        let mut rows: Vec<MessageRow> = sqlx::query_as(INSERT_MESSAGES_PG)
            .bind(channel)
            .bind(now)
            .bind(ids)
            .bind(authors)
            .bind(bodies)
            .fetch_all(&mut *self)
            .await?;
        // RETURNING promises no order; the seqs follow the posts'.
        rows.sort_by_key(|row| row.seq);
        Ok(rows)
    }
}

/// A page of the channel's messages (newest first, before `before_seq`)
/// if `viewer` may see the channel; 404 otherwise. One query when the page
/// has messages (visibility is checked in it); an empty page takes a
/// second one to tell an empty channel from one the viewer may not see.
pub async fn list_visible_before(
    store: &Store,
    viewer: Uuid,
    channel: Uuid,
    before_seq: i64,
    limit: usize,
) -> Result<(Vec<MessageRow>, bool), Problem> {
    let sql = concat!(
        "SELECT ",
        message_columns!(),
        " FROM messages WHERE channel_id = $2 AND seq < $3 \
         AND EXISTS (SELECT 1 FROM channels c WHERE c.id = $2 AND ",
        crate::channels::visible_to!(),
        ") ORDER BY seq DESC LIMIT $4"
    );
    let params = [
        viewer.into(),
        channel.into(),
        before_seq.into(),
        (limit as i64 + 1).into(),
    ];
    let rows: Vec<MessageRow> = store.db.fetch_all(sql, &params).await?;
    if rows.is_empty() {
        channels::visible(store, viewer, channel).await?;
    }
    Ok(split_page(rows, limit))
}

pub async fn find(store: &Store, channel: Uuid, id: Uuid) -> Result<Option<MessageRow>, Problem> {
    let sql = concat!(
        "SELECT ",
        message_columns!(),
        " FROM messages WHERE channel_id = $1 AND id = $2"
    );
    Ok(on_db!(&store.db, pool => sqlx::query_as(sql)
        .bind(channel)
        .bind(id)
        .fetch_optional(pool)
        .await)?)
}

/// Deletes the message from the channel, recording `message.deleted` when
/// it was still there.
pub async fn delete(store: &Store, channel: Uuid, id: Uuid) -> Result<(), Problem> {
    store
        .delete_recorded(
            channel,
            "DELETE FROM messages WHERE id = $1 AND channel_id = $2",
            (id, channel),
            EventKind::MessageDeleted,
            events::payload(&MessageKey {
                id,
                channel_id: channel,
            })?,
        )
        .await?;
    Ok(())
}
