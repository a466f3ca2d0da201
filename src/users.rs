//! Accounts: registration, login, sessions (refresh tokens), profiles.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::auth::{Passwords, Principal, Role, Tokens, needs_rehash, random_secret, secret_digest};
use crate::channels::{ChannelKey, MemberKey};
use crate::db::on_db;
use crate::db::{FromInlineRow, InlineRow, now};
use crate::error::ResultExt;
use crate::events::{self, EventKind};
use crate::messages::MessageKey;
use crate::pagination::split_page;
use crate::principal_cache::PrincipalCache;
use crate::store::Store;
use charter_runtime::Problem;

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct UserRow {
    pub seq: i64,
    pub id: Uuid,
    pub email: String,
    pub full_name: String,
    #[sqlx(try_from = "String")]
    pub role: Role,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl FromInlineRow for UserRow {
    fn from_inline_row(row: &InlineRow<'_>) -> rusqlite::Result<Self> {
        Ok(UserRow {
            seq: row.int("seq")?,
            id: row.uuid("id")?,
            email: row.text("email")?,
            full_name: row.text("full_name")?,
            role: row.text_as("role")?,
            version: row.int("version")?,
            created_at: row.timestamp("created_at")?,
            updated_at: row.timestamp("updated_at")?,
        })
    }
}

macro_rules! user_columns {
    () => {
        "seq, id, email, full_name, role, version, created_at, updated_at"
    };
}

/// Emails are compared case-insensitively: they are stored lower-cased.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// A freshly issued session: an access token and the refresh token that
/// renews it, both tied to the session's id (the refresh-token family).
pub struct Session {
    pub session_id: Uuid,
    pub access_token: String,
    pub refresh_token: String,
}

/// Creates an account with the `user` role.
pub async fn register(
    store: &Store,
    passwords: &Passwords,
    email: &str,
    full_name: &str,
    password: &str,
) -> Result<UserRow, Problem> {
    insert(store, passwords, email, full_name, password, Role::User).await
}

async fn insert(
    store: &Store,
    passwords: &Passwords,
    email: &str,
    full_name: &str,
    password: &str,
    role: Role,
) -> Result<UserRow, Problem> {
    let hash = passwords.hash(password).await?;
    let now = now();
    let sql = concat!(
        "INSERT INTO users (id, email, full_name, password_hash, role, version, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, 1, $6, $6) RETURNING ",
        user_columns!()
    );
    on_db!(&store.db, pool => sqlx::query_as::<_, UserRow>(sql)
        .bind(Uuid::new_v4())
        .bind(normalize_email(email))
        .bind(full_name)
        .bind(hash)
        .bind(role.as_str())
        .bind(now)
        .fetch_one(pool)
        .await)
    .on_unique_violation(
        "EMAIL_TAKEN",
        "An account with this email address already exists.",
    )
}

/// Checks credentials. Unknown email and wrong password fail identically,
/// and both verify one password hash. A correct password whose stored hash
/// was made with other than the current algorithm or parameters is hashed
/// again and stored, so hashes follow the configured cost over time.
pub async fn authenticate_password(
    store: &Store,
    passwords: &Passwords,
    email: &str,
    password: &str,
) -> Result<UserRow, Problem> {
    #[derive(sqlx::FromRow)]
    struct Credentials {
        #[sqlx(flatten)]
        user: UserRow,
        password_hash: String,
    }
    let sql = concat!(
        "SELECT ",
        user_columns!(),
        ", password_hash FROM users WHERE email = $1"
    );
    let email = normalize_email(email);
    let found: Option<Credentials> = on_db!(&store.db, pool => sqlx::query_as(sql)
        .bind(&email)
        .fetch_optional(pool)
        .await)?;
    let hash = found.as_ref().map(|c| c.password_hash.as_str());
    let valid = passwords.verify(password, hash).await?;
    match found {
        Some(credentials) if valid => {
            if needs_rehash(&credentials.password_hash) {
                upgrade_hash(
                    store,
                    passwords,
                    credentials.user.id,
                    &credentials.password_hash,
                    password,
                )
                .await;
            }
            Ok(credentials.user)
        }
        _ => Err(
            Problem::unauthorized("The email address or password is incorrect.")
                .with_title("Invalid credentials"),
        ),
    }
}

/// Replaces an outdated password hash with one made with the current
/// parameters, unless the password changed meanwhile. Best effort: a failure
/// is logged and the login goes on with the old hash in place.
async fn upgrade_hash(
    store: &Store,
    passwords: &Passwords,
    id: Uuid,
    old_hash: &str,
    password: &str,
) {
    let new_hash = match passwords.hash(password).await {
        Ok(hash) => hash,
        Err(problem) => {
            tracing::warn!(user = %id, %problem, "could not rehash an outdated password hash");
            return;
        }
    };
    let updated = on_db!(&store.db, pool => sqlx::query(
        "UPDATE users SET password_hash = $1 WHERE id = $2 AND password_hash = $3")
        .bind(&new_hash)
        .bind(id)
        .bind(old_hash)
        .execute(pool)
        .await
        .map(|_| ()));
    match updated {
        Ok(()) => tracing::info!(user = %id, "password hash upgraded to the current parameters"),
        Err(error) => {
            tracing::warn!(user = %id, %error, "could not store an upgraded password hash")
        }
    }
}

pub async fn find(store: &Store, id: Uuid) -> Result<Option<UserRow>, Problem> {
    let sql = concat!("SELECT ", user_columns!(), " FROM users WHERE id = $1");
    Ok(store.db.fetch_optional(sql, &[id.into()]).await?)
}

pub async fn find_by_seq(store: &Store, seq: i64) -> Result<Option<UserRow>, Problem> {
    let sql = concat!("SELECT ", user_columns!(), " FROM users WHERE seq = $1");
    Ok(on_db!(&store.db, pool => sqlx::query_as(sql).bind(seq).fetch_optional(pool).await)?)
}

/// The user an access token names, if the token's session is still live:
/// the session (refresh-token family) exists, belongs to that user and none
/// of its tokens was ever revoked (logout, reuse of a rotated refresh token,
/// password change). One query, so authenticating a request costs one round
/// trip.
pub async fn find_in_session(
    store: &Store,
    id: Uuid,
    session_id: Uuid,
) -> Result<Option<UserRow>, Problem> {
    let sql = concat!(
        "SELECT ",
        user_columns!(),
        " FROM users WHERE id = $1 \
         AND EXISTS (SELECT 1 FROM refresh_tokens r WHERE r.family_id = $2 AND r.user_id = users.id) \
         AND NOT EXISTS (SELECT 1 FROM refresh_tokens r WHERE r.family_id = $2 AND r.revoked_at IS NOT NULL)"
    );
    Ok(store
        .db
        .fetch_optional(sql, &[id.into(), session_id.into()])
        .await?)
}

pub async fn get(store: &Store, id: Uuid) -> Result<UserRow, Problem> {
    find(store, id).await?.ok_or_else(no_such_user)
}

/// The profile to show: as [`get`], or as read a moment ago (see
/// `principal_cache`: this instance's own changes show at once, another
/// instance's within its trust bound). Not for checking a precondition.
pub async fn get_recent<A: Clone>(
    store: &Store,
    principals: &PrincipalCache<A, UserRow>,
    id: Uuid,
) -> Result<UserRow, Problem> {
    if let Some(row) = principals.user(id) {
        return Ok(row);
    }
    let check = principals.start_check();
    let row = get(store, id).await?;
    principals.store_user(check, id, row.clone());
    Ok(row)
}

fn no_such_user() -> Problem {
    Problem::not_found("No user has this id.")
}

/// Users in id order after `after_seq`; returns the page and whether more follow.
pub async fn list_after(
    store: &Store,
    after_seq: i64,
    limit: usize,
) -> Result<(Vec<UserRow>, bool), Problem> {
    let sql = concat!(
        "SELECT ",
        user_columns!(),
        " FROM users WHERE seq > $1 ORDER BY seq LIMIT $2"
    );
    let rows = on_db!(&store.db, pool => sqlx::query_as(sql)
        .bind(after_seq)
        .bind(limit as i64 + 1)
        .fetch_all(pool)
        .await)?;
    Ok(split_page(rows, limit))
}

/// Users in id order, skipping `offset` (the legacy v1 listing).
pub async fn list_offset(store: &Store, offset: i64, limit: i64) -> Result<Vec<UserRow>, Problem> {
    let sql = concat!(
        "SELECT ",
        user_columns!(),
        " FROM users ORDER BY seq LIMIT $1 OFFSET $2"
    );
    Ok(on_db!(&store.db, pool => sqlx::query_as(sql)
        .bind(limit)
        .bind(offset)
        .fetch_all(pool)
        .await)?)
}

/// Changes the full name (`None` keeps it). With `expected_version` (a
/// conditional update, `If-Match`) only while the account is still at that
/// version: `None` when it changed meanwhile. Without it the update is
/// unconditional and always applies (one statement, so concurrent updates
/// queue on the row instead of failing); 404 when the account is gone.
pub async fn update_full_name<A: Clone>(
    store: &Store,
    principals: &PrincipalCache<A, UserRow>,
    id: Uuid,
    expected_version: Option<i64>,
    full_name: Option<&str>,
) -> Result<Option<UserRow>, Problem> {
    let sql = concat!(
        "UPDATE users SET full_name = COALESCE($1, full_name), version = version + 1, updated_at = $2 \
         WHERE id = $3 AND ($4 IS NULL OR version = $4) RETURNING ",
        user_columns!()
    );
    let row: Option<UserRow> = on_db!(&store.db, pool => sqlx::query_as(sql)
        .bind(full_name)
        .bind(now())
        .bind(id)
        .bind(expected_version)
        .fetch_optional(pool)
        .await)?;
    if row.is_some() {
        // Cached profiles show the new name from the next request on.
        store.forget_principals(principals).await;
    }
    match row {
        None if expected_version.is_none() => Err(no_such_user()),
        row => Ok(row),
    }
}

/// Replaces the password after checking the current one, and ends every
/// session of the user.
pub async fn change_password<A: Clone>(
    store: &Store,
    passwords: &Passwords,
    principals: &PrincipalCache<A, UserRow>,
    id: Uuid,
    current: &str,
    new: &str,
) -> Result<(), Problem> {
    let stored: Option<(String,)> = on_db!(&store.db, pool =>
        sqlx::query_as("SELECT password_hash FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(pool)
            .await)?;
    let stored = stored.ok_or_else(|| Problem::unauthorized("The account no longer exists."))?;
    if !passwords.verify(current, Some(&stored.0)).await? {
        return Err(
            Problem::forbidden("The current password is incorrect.").with_title("Wrong password")
        );
    }
    let hash = passwords.hash(new).await?;
    let now = now();
    on_db!(&store.db, pool => async {
        let mut tx = pool.begin().await?;
        sqlx::query("UPDATE users SET password_hash = $1, version = version + 1, updated_at = $2 WHERE id = $3")
            .bind(&hash)
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE refresh_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL")
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    }.await)?;
    // The sessions just ended are not trusted from cache any more.
    store.forget_principals(principals).await;
    Ok(())
}

/// Starts a session (a new refresh-token family) for `user`.
pub async fn start_session(store: &Store, tokens: &Tokens, user: Uuid) -> Result<Session, Problem> {
    let refresh_token = random_secret(32);
    let session_id = Uuid::new_v4();
    let now = now();
    let expires = now + tokens.refresh_ttl;
    on_db!(&store.db, pool => sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, family_id, user_id, expires_at, created_at) \
         VALUES ($1, $2, $3, $4, $5)")
        .bind(secret_digest(&refresh_token))
        .bind(session_id)
        .bind(user)
        .bind(expires)
        .bind(now)
        .execute(pool)
        .await
        .map(|_| ()))?;
    Ok(Session {
        session_id,
        access_token: tokens.issue_access(user, session_id)?,
        refresh_token,
    })
}

#[derive(sqlx::FromRow)]
struct RefreshRow {
    seq: i64,
    family_id: Uuid,
    user_id: Uuid,
    expires_at: DateTime<Utc>,
    used_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

/// Exchanges a refresh token for a new session in the same family. A token
/// that was already exchanged revokes its whole family (it has leaked).
pub async fn refresh<A: Clone>(
    store: &Store,
    tokens: &Tokens,
    principals: &PrincipalCache<A, UserRow>,
    refresh_token: &str,
) -> Result<Session, Problem> {
    let rejected = || Problem::unauthorized("The refresh token is invalid, expired or revoked.");
    let digest = secret_digest(refresh_token);
    let now = now();
    let new_token = random_secret(32);
    let expires = now + tokens.refresh_ttl;
    // The transaction reads the token, then writes. SQLite cannot upgrade a
    // read transaction to a write one while another connection writes (it
    // fails with SQLITE_BUSY at once, ignoring the busy timeout), so there it
    // takes the write lock up front and concurrent refreshes queue instead.
    let begin = match &store.db {
        crate::db::Db::Sqlite { .. } => "BEGIN IMMEDIATE",
        crate::db::Db::Postgres(_) => "BEGIN",
    };
    let outcome: Result<(Uuid, Uuid), bool> = on_db!(&store.db, pool => async {
        let mut tx = pool.begin_with(begin).await?;
        let row: Option<RefreshRow> = sqlx::query_as(
            "SELECT seq, family_id, user_id, expires_at, used_at, revoked_at \
             FROM refresh_tokens WHERE token_hash = $1")
            .bind(&digest)
            .fetch_optional(&mut *tx)
            .await?;
        let outcome = match row {
            None => Err(false),
            Some(row) if row.revoked_at.is_some() || row.expires_at <= now => Err(false),
            Some(row) if row.used_at.is_some() => {
                sqlx::query("UPDATE refresh_tokens SET revoked_at = $1 WHERE family_id = $2 AND revoked_at IS NULL")
                    .bind(now)
                    .bind(row.family_id)
                    .execute(&mut *tx)
                    .await?;
                Err(true)
            }
            Some(row) => {
                // Mark it used only if nobody else used or revoked it
                // meanwhile (PostgreSQL re-checks these after a concurrent
                // logout's lock is released).
                let claimed = sqlx::query(
                    "UPDATE refresh_tokens SET used_at = $1 \
                     WHERE seq = $2 AND used_at IS NULL AND revoked_at IS NULL")
                    .bind(now)
                    .bind(row.seq)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if claimed == 1 {
                    sqlx::query(
                        "INSERT INTO refresh_tokens (token_hash, family_id, user_id, expires_at, created_at) \
                         VALUES ($1, $2, $3, $4, $5)")
                        .bind(secret_digest(&new_token))
                        .bind(row.family_id)
                        .bind(row.user_id)
                        .bind(expires)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    Ok((row.user_id, row.family_id))
                } else {
                    Err(false)
                }
            }
        };
        tx.commit().await?;
        Ok::<_, sqlx::Error>(outcome)
    }.await)?;
    if outcome == Err(true) {
        // A reused token revoked its whole family.
        store.forget_principals(principals).await;
    }
    match outcome {
        Ok((user, session_id)) => Ok(Session {
            session_id,
            access_token: tokens.issue_access(user, session_id)?,
            refresh_token: new_token,
        }),
        Err(reused) => {
            if reused {
                tracing::warn!(
                    "a rotated refresh token was presented again; its family is revoked"
                );
            }
            Err(rejected())
        }
    }
}

/// Ends the session a refresh token belongs to, if it is the caller's: its
/// refresh tokens and the access tokens issued in it stop working. Like
/// RFC 7009 revocation it is idempotent: an unknown or already revoked token
/// is not an error, and another user's token is left alone.
pub async fn logout<A: Clone>(
    store: &Store,
    principals: &PrincipalCache<A, UserRow>,
    user: Uuid,
    refresh_token: &str,
) -> Result<(), Problem> {
    let digest = secret_digest(refresh_token);
    on_db!(&store.db, pool => sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = $1 WHERE revoked_at IS NULL AND user_id = $2 \
         AND family_id = (SELECT family_id FROM refresh_tokens WHERE token_hash = $3)")
        .bind(now())
        .bind(user)
        .bind(&digest)
        .execute(pool)
        .await
        .map(|_| ()))?;
    store.forget_principals(principals).await;
    Ok(())
}

/// What [`bootstrap_admin`] did.
#[derive(Debug)]
pub enum AdminBootstrap {
    /// A new account was created with the `admin` role.
    Created(UserRow),
    /// An existing account was given the `admin` role; its password is unchanged.
    Promoted(UserRow),
    /// The account already was an administrator; nothing changed.
    AlreadyAdmin(UserRow),
}

/// Makes the account with `email` an administrator, creating it (with
/// `full_name` and the password `password` yields) when there is none. Only
/// the `charter create-admin` command calls this: no API operation grants the
/// role. `password` is asked for only when an account is created.
pub async fn bootstrap_admin<A: Clone, F>(
    store: &Store,
    passwords: &Passwords,
    principals: &PrincipalCache<A, UserRow>,
    email: &str,
    full_name: &str,
    password: F,
) -> anyhow::Result<AdminBootstrap>
where
    F: FnOnce() -> anyhow::Result<String>,
{
    let email = normalize_email(email);
    let sql = concat!(
        "UPDATE users SET role = $1, version = version + 1, updated_at = $2 \
         WHERE email = $3 AND role <> $1 RETURNING ",
        user_columns!()
    );
    let promoted: Option<UserRow> = on_db!(&store.db, pool => sqlx::query_as(sql)
        .bind(Role::Admin.as_str())
        .bind(now())
        .bind(&email)
        .fetch_optional(pool)
        .await)?;
    if let Some(row) = promoted {
        store.forget_principals(principals).await;
        return Ok(AdminBootstrap::Promoted(row));
    }
    let sql = concat!("SELECT ", user_columns!(), " FROM users WHERE email = $1");
    let existing: Option<UserRow> = on_db!(&store.db, pool => sqlx::query_as(sql)
        .bind(&email)
        .fetch_optional(pool)
        .await)?;
    if let Some(row) = existing {
        return Ok(AdminBootstrap::AlreadyAdmin(row));
    }
    let password = password()?;
    let row = insert(store, passwords, &email, full_name, &password, Role::Admin)
        .await
        .map_err(|problem| anyhow::anyhow!("{problem}"))?;
    Ok(AdminBootstrap::Created(row))
}

/// An administrator deletes another person's account (403 for anyone else
/// and for their own account; 404 when there is none).
pub async fn delete_as<A: Clone>(
    store: &Store,
    principals: &PrincipalCache<A, UserRow>,
    actor: &Principal,
    id: Uuid,
) -> Result<(), Problem> {
    if !actor.is_admin() {
        return Err(Problem::forbidden(
            "Only administrators may delete accounts.",
        ));
    }
    if id == actor.user_id {
        return Err(Problem::forbidden(
            "Administrators cannot delete their own account.",
        ));
    }
    if !delete(store, principals, id).await? {
        return Err(no_such_user());
    }
    tracing::info!(admin = %actor.user_id, user = %id, "account deleted");
    Ok(())
}

/// Deletes an account and everything it owns (sessions, API keys, channels
/// with their messages, messages, memberships); `false` when there is none.
///
/// Channels see it as events in the same transaction: in other people's
/// channels `message.deleted` for each of the user's messages, then
/// `member.removed`; the user's own channels end with `channel.deleted`.
pub async fn delete<A: Clone>(
    store: &Store,
    principals: &PrincipalCache<A, UserRow>,
    id: Uuid,
) -> Result<bool, Problem> {
    let publisher = store.events.publisher_for_any();
    let recorded = on_db!(&store.db, pool => async {
        let mut tx = pool.begin().await?;
        // A write first (SQLite takes its write lock here), and a cheap exit
        // when there is no such user.
        let found = sqlx::query("UPDATE users SET version = version + 1 WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if found == 0 {
            tx.rollback().await?;
            return Ok(None);
        }
        // Lock every channel concerned, in id order, before changing
        // anything in them (see the lock order in `events`).
        let mut touched: Vec<Uuid> = sqlx::query_scalar(
            "SELECT id FROM channels WHERE owner_id = $1 \
             OR id IN (SELECT channel_id FROM messages WHERE author_id = $1) \
             OR id IN (SELECT channel_id FROM channel_members WHERE user_id = $1)")
            .bind(id)
            .fetch_all(&mut *tx)
            .await?;
        touched.sort();
        for channel in touched {
            events::lock_channel(&mut *tx, channel).await?;
        }
        let messages: Vec<(Uuid, Uuid)> = sqlx::query_as(
            "DELETE FROM messages WHERE author_id = $1 \
             AND channel_id NOT IN (SELECT id FROM channels WHERE owner_id = $1) \
             RETURNING channel_id, id")
            .bind(id)
            .fetch_all(&mut *tx)
            .await?;
        let memberships: Vec<Uuid> = sqlx::query_scalar(
            "DELETE FROM channel_members WHERE user_id = $1 \
             AND channel_id NOT IN (SELECT id FROM channels WHERE owner_id = $1) \
             RETURNING channel_id")
            .bind(id)
            .fetch_all(&mut *tx)
            .await?;
        let owned: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM channels WHERE owner_id = $1")
            .bind(id)
            .fetch_all(&mut *tx)
            .await?;
        let mut pending: Vec<(Uuid, EventKind, serde_json::Value)> = Vec::new();
        for (channel, message) in messages {
            let key = MessageKey { id: message, channel_id: channel };
            pending.push((channel, EventKind::MessageDeleted, events::payload(&key)?));
        }
        for channel in memberships {
            let key = MemberKey { channel_id: channel, user_id: id };
            pending.push((channel, EventKind::MemberRemoved, events::payload(&key)?));
        }
        for channel in owned {
            let key = ChannelKey { id: channel };
            pending.push((channel, EventKind::ChannelDeleted, events::payload(&key)?));
        }
        // By channel; the sort is stable, so a channel's message events stay
        // before its member event.
        pending.sort_by_key(|(channel, _, _)| *channel);
        let mut recorded = Vec::with_capacity(pending.len());
        for (channel, kind, data) in pending {
            recorded.push(events::append(&mut *tx, channel, kind, data).await?);
        }
        // Cascades to everything else the user had, their channels included.
        sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok::<_, sqlx::Error>(Some(recorded))
    }.await)?;
    // The account's sessions and keys are gone with it.
    store.forget_principals(principals).await;
    let found = recorded.is_some();
    publisher.publish(recorded.into_iter().flatten());
    Ok(found)
}
