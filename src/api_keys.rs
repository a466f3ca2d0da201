//! API keys: long-lived, scoped credentials for programs, shown once and
//! stored only as a digest.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::auth::{Role, api_key_display_prefix, api_key_well_formed, new_api_key, secret_digest};
use crate::db::now;
use crate::db::on_db;
use crate::principal_cache::PrincipalCache;
use crate::store::Store;
use charter_runtime::Problem;

/// What a live API key stands for (cached in a `PrincipalCache`).
#[derive(Clone, Debug)]
pub struct ApiKeyPrincipal {
    pub key: ApiKeyRow,
    pub user_seq: i64,
    pub role: Role,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ApiKeyRow {
    pub id: Uuid,
    pub user_id: Uuid,
    pub name: String,
    pub prefix: String,
    /// Comma-separated scope names.
    pub scopes: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

impl ApiKeyRow {
    pub fn scope_list(&self) -> Vec<String> {
        self.scopes
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

macro_rules! api_key_columns {
    () => {
        "id, user_id, name, prefix, scopes, created_at, last_used_at"
    };
}

/// Creates a key; the secret is returned here and never again.
pub async fn create(
    store: &Store,
    user: Uuid,
    name: &str,
    scopes: &[&str],
) -> Result<(ApiKeyRow, String), Problem> {
    let secret = new_api_key();
    let sql = concat!(
        "INSERT INTO api_keys (id, user_id, name, prefix, key_hash, scopes, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ",
        api_key_columns!()
    );
    let row = on_db!(&store.db, pool => sqlx::query_as(sql)
        .bind(Uuid::new_v4())
        .bind(user)
        .bind(name)
        .bind(api_key_display_prefix(&secret))
        .bind(secret_digest(&secret))
        .bind(scopes.join(","))
        .bind(now())
        .fetch_one(pool)
        .await)?;
    Ok((row, secret))
}

pub async fn list(store: &Store, user: Uuid) -> Result<Vec<ApiKeyRow>, Problem> {
    let sql = concat!(
        "SELECT ",
        api_key_columns!(),
        " FROM api_keys WHERE user_id = $1 AND revoked_at IS NULL ORDER BY seq"
    );
    Ok(on_db!(&store.db, pool => sqlx::query_as(sql).bind(user).fetch_all(pool).await)?)
}

/// Revokes one of `user`'s keys; 404 for keys that are not theirs.
pub async fn revoke<U: Clone>(
    store: &Store,
    principals: &PrincipalCache<ApiKeyPrincipal, U>,
    user: Uuid,
    id: Uuid,
) -> Result<(), Problem> {
    let revoked = on_db!(&store.db, pool => sqlx::query(
        "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL")
        .bind(now())
        .bind(id)
        .bind(user)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
    store.forget_principals(principals).await;
    if revoked == 0 {
        return Err(Problem::not_found(
            "You have no active API key with this id.",
        ));
    }
    Ok(())
}

/// The active key a presented secret belongs to, recording its use, with its
/// owner's v1 id and role.
pub async fn authenticate<U: Clone>(
    store: &Store,
    principals: &PrincipalCache<ApiKeyPrincipal, U>,
    secret: &str,
) -> Result<ApiKeyPrincipal, Problem> {
    let rejected = || Problem::unauthorized("The API key is invalid or revoked.");
    if !api_key_well_formed(secret) {
        return Err(rejected());
    }
    let digest = secret_digest(secret);
    if let Some(found) = principals.api_key(&digest) {
        return Ok(found);
    }
    #[derive(sqlx::FromRow)]
    struct Found {
        #[sqlx(flatten)]
        key: ApiKeyRow,
        user_seq: i64,
        #[sqlx(try_from = "String")]
        user_role: Role,
    }
    let check = principals.start_check();
    // `last_used_at` is written when the key is checked against the
    // database: at most about once per principal-cache period per instance.
    let found: Option<Found> = on_db!(&store.db, pool => sqlx::query_as(
        "UPDATE api_keys SET last_used_at = $1 WHERE key_hash = $2 AND revoked_at IS NULL \
         RETURNING id, user_id, name, prefix, scopes, created_at, last_used_at, \
         (SELECT seq FROM users WHERE users.id = api_keys.user_id) AS user_seq, \
         (SELECT role FROM users WHERE users.id = api_keys.user_id) AS user_role")
        .bind(now())
        .bind(&digest)
        .fetch_optional(pool)
        .await)?;
    let found = found
        .map(|f| ApiKeyPrincipal {
            key: f.key,
            user_seq: f.user_seq,
            role: f.user_role,
        })
        .ok_or_else(rejected)?;
    principals.store_api_key(check, digest, found.clone());
    Ok(found)
}
