//! The baseline server: bare axum + sqlx and nothing else (no layers, no
//! authentication, no validation), run as a process of its own by
//! re-executing the benchmark binary with `--bare-server PG_URL SQLITE_PATH`.
//!
//! Routes: `GET /json` (a small JSON document), `GET /pg/users/{id}` (a
//! primary-key select on PostgreSQL), `POST /pg/messages` and
//! `POST /sqlite/messages` (an insert on each backend). The pools are sized
//! and the SQLite file is set up as Charter's `src/db.rs` does (PostgreSQL 16
//! connections; SQLite WAL, `synchronous = FULL`, 8 connections), so the
//! difference to Charter is Charter's own work.
//!
//! When ready it prints one JSON line on standard output:
//! `{"address": "127.0.0.1:PORT", "user_id": "UUID"}`.

use std::str::FromStr;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};
use uuid::Uuid;

#[derive(Clone)]
struct Pools {
    pg: PgPool,
    sqlite: SqlitePool,
}

#[derive(Serialize, sqlx::FromRow)]
struct User {
    id: Uuid,
    email: String,
    full_name: String,
    created_at: DateTime<Utc>,
}

#[derive(Deserialize)]
struct NewMessage {
    body: String,
}

#[derive(Serialize)]
struct Message {
    id: Uuid,
    body: String,
    created_at: DateTime<Utc>,
}

type Answer<T> = Result<T, StatusCode>;

/// 201 with the stored message.
fn created(id: Uuid, new: NewMessage, created_at: DateTime<Utc>) -> (StatusCode, Json<Message>) {
    let body = new.body;
    (
        StatusCode::CREATED,
        Json(Message {
            id,
            body,
            created_at,
        }),
    )
}

fn unavailable(_: sqlx::Error) -> StatusCode {
    StatusCode::SERVICE_UNAVAILABLE
}

async fn json() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok", "service": "bare"}))
}

async fn pg_user(State(pools): State<Pools>, Path(id): Path<Uuid>) -> Answer<Json<User>> {
    sqlx::query_as::<_, User>(
        "SELECT id, email, full_name, created_at FROM bench_users WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&pools.pg)
    .await
    .map_err(unavailable)?
    .map(Json)
    .ok_or(StatusCode::NOT_FOUND)
}

async fn pg_insert(
    State(pools): State<Pools>,
    Json(new): Json<NewMessage>,
) -> Answer<(StatusCode, Json<Message>)> {
    let id = Uuid::now_v7();
    let created_at = sqlx::query_scalar(
        "INSERT INTO bench_messages (id, body) VALUES ($1, $2) RETURNING created_at",
    )
    .bind(id)
    .bind(&new.body)
    .fetch_one(&pools.pg)
    .await
    .map_err(unavailable)?;
    Ok(created(id, new, created_at))
}

async fn sqlite_insert(
    State(pools): State<Pools>,
    Json(new): Json<NewMessage>,
) -> Answer<(StatusCode, Json<Message>)> {
    let (id, created_at) = (Uuid::now_v7(), Utc::now());
    sqlx::query("INSERT INTO bench_messages (id, body, created_at) VALUES ($1, $2, $3)")
        .bind(id)
        .bind(&new.body)
        .bind(created_at)
        .execute(&pools.sqlite)
        .await
        .map_err(unavailable)?;
    Ok(created(id, new, created_at))
}

/// Creates the tables and 1 000 users; the id of one of them.
async fn prepare(pools: &Pools) -> anyhow::Result<Uuid> {
    sqlx::raw_sql(
        "CREATE TABLE bench_users (id uuid PRIMARY KEY, email text NOT NULL UNIQUE, \
             full_name text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
         CREATE TABLE bench_messages (id uuid PRIMARY KEY, body text NOT NULL, \
             created_at timestamptz NOT NULL DEFAULT now());
         INSERT INTO bench_users (id, email, full_name) \
             SELECT gen_random_uuid(), 'user' || n || '@example.com', 'User ' || n \
             FROM generate_series(1, 999) AS n;",
    )
    .execute(&pools.pg)
    .await?;
    let id = Uuid::new_v4();
    sqlx::query("INSERT INTO bench_users (id, email, full_name) VALUES ($1, $2, $3)")
        .bind(id)
        .bind("bench@example.com")
        .bind("Bench User")
        .execute(&pools.pg)
        .await?;
    sqlx::raw_sql(
        "CREATE TABLE bench_messages (id BLOB PRIMARY KEY, body TEXT NOT NULL, \
             created_at TEXT NOT NULL)",
    )
    .execute(&pools.sqlite)
    .await?;
    Ok(id)
}

async fn serve(pg_url: &str, sqlite_path: &str) -> anyhow::Result<()> {
    let pg = PgPoolOptions::new()
        .max_connections(16)
        .acquire_timeout(Duration::from_secs(5))
        .connect(pg_url)
        .await?;
    let options = SqliteConnectOptions::from_str(&format!("sqlite:{sqlite_path}"))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_secs(5));
    let sqlite = SqlitePoolOptions::new()
        .max_connections(8)
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options)
        .await?;
    let pools = Pools { pg, sqlite };
    let user_id = prepare(&pools).await?;
    let router = Router::new()
        .route("/json", get(json))
        .route("/pg/users/{id}", get(pg_user))
        .route("/pg/messages", post(pg_insert))
        .route("/sqlite/messages", post(sqlite_insert))
        .with_state(pools);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let ready =
        serde_json::json!({"address": listener.local_addr()?.to_string(), "user_id": user_id});
    println!("{ready}");
    axum::serve(listener, router).await?;
    Ok(())
}

/// The `--bare-server PG_URL SQLITE_PATH` entry point; serves until killed.
pub fn main(args: &[String]) -> anyhow::Result<()> {
    let [pg_url, sqlite_path] = args else {
        anyhow::bail!("usage: --bare-server PG_URL SQLITE_PATH");
    };
    // The same runtime as `#[tokio::main]` in Charter: one worker per core.
    tokio::runtime::Runtime::new()?.block_on(serve(pg_url, sqlite_path))
}
