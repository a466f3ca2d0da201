-- Account roles (PostgreSQL). Keep in step with migrations/sqlite.
-- `admin` may manage other accounts; it is granted only by the
-- `charter create-admin` command, never through the API.

ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'user'
    CHECK (role IN ('user', 'admin'));
