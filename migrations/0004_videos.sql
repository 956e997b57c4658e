-- VOD assets and their resumable (tus) uploads.
-- Portable SQL: runs on SQLite and PostgreSQL alike.
CREATE TABLE videos (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    -- awaiting_upload, uploaded, queued, processing, ready, partially_ready, failed
    status TEXT NOT NULL,
    -- What is known of the source, as JSON (size and sha256 once uploaded).
    source TEXT,
    error_code TEXT,
    error_message TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE INDEX videos_listing ON videos (status, created_at);
CREATE INDEX videos_created ON videos (created_at);

CREATE TABLE uploads (
    id TEXT PRIMARY KEY,
    video_id TEXT NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
    -- NULL while the client defers it (creation-defer-length).
    upload_length BIGINT,
    -- Upload-Metadata as the client sent it (normalized).
    metadata TEXT NOT NULL,
    storage_key TEXT NOT NULL,
    -- The object store's multipart upload id.
    store_upload_id TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    completed_at TEXT,
    created_at TEXT NOT NULL
);

CREATE INDEX uploads_video ON uploads (video_id);
CREATE INDEX uploads_expiry ON uploads (expires_at);
