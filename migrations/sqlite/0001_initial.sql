-- Charter schema (SQLite). Keep in step with migrations/postgres: both
-- backends must behave identically.

CREATE TABLE users (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,  -- the v1 integer id
    id            BLOB NOT NULL UNIQUE,                -- the v2 UUID
    email         TEXT NOT NULL UNIQUE,                -- stored lower-cased
    full_name     TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    version       INTEGER NOT NULL DEFAULT 1,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);

CREATE TABLE refresh_tokens (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash  BLOB NOT NULL UNIQUE,
    family_id   BLOB NOT NULL,
    user_id     BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at  TEXT NOT NULL,
    used_at     TEXT,
    revoked_at  TEXT,
    created_at  TEXT NOT NULL
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);

CREATE TABLE api_keys (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           BLOB NOT NULL UNIQUE,
    user_id      BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    prefix       TEXT NOT NULL,
    key_hash     BLOB NOT NULL UNIQUE,
    scopes       TEXT NOT NULL,                       -- comma-separated
    created_at   TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at   TEXT
);
CREATE INDEX api_keys_user ON api_keys (user_id);

CREATE TABLE channels (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    id         BLOB NOT NULL UNIQUE,
    name       TEXT NOT NULL UNIQUE,
    topic      TEXT,
    visibility TEXT NOT NULL CHECK (visibility IN ('public', 'private')),
    owner_id   BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    version    INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE channel_members (
    channel_id BLOB NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    user_id    BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       TEXT NOT NULL CHECK (role IN ('owner', 'member')),
    joined_at  TEXT NOT NULL,
    PRIMARY KEY (channel_id, user_id)
);
CREATE INDEX channel_members_user ON channel_members (user_id);

CREATE TABLE messages (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    id         BLOB NOT NULL UNIQUE,
    channel_id BLOB NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    author_id  BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    body       TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX messages_channel_seq ON messages (channel_id, seq);

CREATE TABLE idempotency_keys (
    user_id       BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key           TEXT NOT NULL,
    request_hash  BLOB NOT NULL,
    response_body TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    PRIMARY KEY (user_id, key)
);
