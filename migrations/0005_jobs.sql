-- The durable job queue: work on an asset (probe, and later the ladder's
-- renditions), claimed by workers under a lease.
-- Portable SQL: runs on SQLite and PostgreSQL alike.
CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    video_id TEXT NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
    -- probe, ...
    kind TEXT NOT NULL,
    -- Which variant of the work (a rendition's name); '' when there is one.
    profile TEXT NOT NULL,
    -- Higher runs first.
    priority BIGINT NOT NULL,
    -- queued, running, done, failed
    state TEXT NOT NULL,
    -- Claims so far; also the fencing token of the current claim.
    attempt BIGINT NOT NULL,
    max_attempts BIGINT NOT NULL,
    -- Unix milliseconds: not claimed before this (backoff after a failure).
    run_after BIGINT NOT NULL,
    locked_by TEXT,
    -- Unix milliseconds: the claim's lease ends here unless renewed.
    locked_until BIGINT,
    -- 0 to 100.
    progress DOUBLE PRECISION NOT NULL,
    error_code TEXT,
    error_message TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    -- The same work is never queued twice.
    UNIQUE (video_id, kind, profile)
);

CREATE INDEX jobs_runnable ON jobs (state, priority, run_after);
