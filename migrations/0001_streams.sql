-- Portable SQL: runs on SQLite and PostgreSQL alike.
CREATE TABLE streams (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    stream_key TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);

CREATE TABLE broadcasts (
    id TEXT PRIMARY KEY,
    stream_id TEXT NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
    started_at TEXT NOT NULL,
    ended_at TEXT
);

CREATE INDEX broadcasts_stream_id ON broadcasts (stream_id);
