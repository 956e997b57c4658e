-- Chat: messages, moderation, per-room settings and moderator tokens.
-- Portable SQL: runs on SQLite and PostgreSQL alike.
CREATE TABLE chat_messages (
    id TEXT PRIMARY KEY,
    stream_id TEXT NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
    -- NULL when said while the stream was offline.
    broadcast_id TEXT,
    -- The room's sequence number (`offset` on the wire; a reserved word in SQL).
    room_offset BIGINT NOT NULL,
    user_name TEXT NOT NULL,
    user_role TEXT NOT NULL,
    body TEXT NOT NULL,
    sent_at TEXT NOT NULL,
    media_time TEXT,
    ip TEXT NOT NULL,
    deleted_at TEXT
);

CREATE INDEX chat_messages_room ON chat_messages (stream_id, room_offset);
CREATE INDEX chat_messages_broadcast ON chat_messages (broadcast_id, room_offset);

-- Every moderation action, as it was taken.
CREATE TABLE chat_actions (
    id TEXT PRIMARY KEY,
    stream_id TEXT NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
    actor_name TEXT NOT NULL,
    actor_role TEXT NOT NULL,
    action TEXT NOT NULL,
    -- A message id or a user name.
    target TEXT,
    -- The action's parameters as JSON.
    detail TEXT,
    created_at TEXT NOT NULL
);

CREATE INDEX chat_actions_stream ON chat_actions (stream_id, created_at);

-- Bans (until_at NULL) and time-outs in force.
CREATE TABLE chat_bans (
    stream_id TEXT NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
    name_key TEXT NOT NULL,
    name TEXT NOT NULL,
    ip TEXT,
    until_at TEXT,
    created_at TEXT NOT NULL,
    PRIMARY KEY (stream_id, name_key)
);

CREATE TABLE chat_rooms (
    stream_id TEXT PRIMARY KEY REFERENCES streams (id) ON DELETE CASCADE,
    -- JSON; NULL for the defaults.
    settings TEXT,
    pinned_message_id TEXT
);

CREATE TABLE moderators (
    id TEXT PRIMARY KEY,
    stream_id TEXT NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    -- SHA-256 of the token, hex.
    token_hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);

CREATE INDEX moderators_stream ON moderators (stream_id);
