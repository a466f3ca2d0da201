-- Channel events (PostgreSQL). Keep in step with migrations/sqlite.
--
-- Every change to a channel (messages posted or deleted, the channel updated
-- or deleted, members added or removed) is recorded here in the transaction
-- that makes it, numbered per channel: 1, 2, 3, ... without gaps. Live
-- streams resume from this table ("everything after seq N").
--
-- `channels.last_event_seq` allocates the numbers: a writer increments it in
-- its transaction, which also serialises concurrent writers of one channel
-- (the row lock is held until commit), so seqs commit in order.
--
-- `channel_events.channel_id` deliberately has no foreign key: the last
-- event of a deleted channel is `channel.deleted`, and it must outlive the
-- channel row so that other instances and resuming clients can read it.

ALTER TABLE channels ADD COLUMN last_event_seq BIGINT NOT NULL DEFAULT 0;

CREATE TABLE channel_events (
    channel_id UUID NOT NULL,
    seq        BIGINT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('message.created', 'message.deleted',
                   'channel.updated', 'channel.deleted', 'member.added', 'member.removed')),
    payload    TEXT NOT NULL,                       -- JSON
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (channel_id, seq)
);
