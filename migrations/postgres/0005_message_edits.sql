-- Message edits (PostgreSQL). Keep in step with migrations/sqlite.
--
-- `version` numbers a message's representations (its ETag), starting at 1;
-- `edited_at` is set by the first edit. `message.updated` joins the kinds
-- of channel events.

ALTER TABLE messages
    ADD COLUMN version BIGINT NOT NULL DEFAULT 1,
    ADD COLUMN edited_at TIMESTAMPTZ;

ALTER TABLE channel_events DROP CONSTRAINT channel_events_kind_check;
ALTER TABLE channel_events ADD CONSTRAINT channel_events_kind_check
    CHECK (kind IN ('message.created', 'message.updated', 'message.deleted',
                    'channel.updated', 'channel.deleted', 'member.added', 'member.removed'));
