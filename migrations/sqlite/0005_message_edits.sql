-- Message edits (SQLite). Keep in step with migrations/postgres.
--
-- `version` numbers a message's representations (its ETag), starting at 1;
-- `edited_at` is set by the first edit. `message.updated` joins the kinds
-- of channel events: SQLite cannot alter a CHECK constraint, so the event
-- log is rebuilt with the new one and its rows copied over.

ALTER TABLE messages ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE messages ADD COLUMN edited_at TEXT;

CREATE TABLE channel_events_new (
    channel_id BLOB NOT NULL,
    seq        INTEGER NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('message.created', 'message.updated',
                   'message.deleted', 'channel.updated', 'channel.deleted',
                   'member.added', 'member.removed')),
    payload    TEXT NOT NULL,                       -- JSON
    created_at TEXT NOT NULL,
    PRIMARY KEY (channel_id, seq)
);
INSERT INTO channel_events_new (channel_id, seq, kind, payload, created_at)
    SELECT channel_id, seq, kind, payload, created_at FROM channel_events;
DROP TABLE channel_events;
ALTER TABLE channel_events_new RENAME TO channel_events;
