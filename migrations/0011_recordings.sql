-- Broadcasts are archived while they go on: each completed segment of each
-- rendition is written to object storage under the asset that will replay
-- the broadcast, then recorded here. A replay is made from these rows.
-- Portable SQL: runs on SQLite and PostgreSQL alike.

-- The asset id the broadcast's recording is stored under (its replay's id
-- once the replay exists).
ALTER TABLE broadcasts ADD COLUMN recording_id TEXT;
-- The server running it and when it last said so: a broadcast left open by
-- a server that died is ended (and replayed) by the next one to notice.
ALTER TABLE broadcasts ADD COLUMN node_id TEXT;
ALTER TABLE broadcasts ADD COLUMN alive_at TEXT;

-- Where an asset comes from: upload, live (a broadcast's replay) or clip.
ALTER TABLE videos ADD COLUMN origin TEXT NOT NULL DEFAULT 'upload';
-- For a replay: the broadcast it replays.
ALTER TABLE videos ADD COLUMN broadcast_id TEXT;
CREATE INDEX videos_broadcast ON videos (broadcast_id);

-- One init segment of a recorded rendition, once written.
CREATE TABLE recording_inits (
    broadcast_id TEXT NOT NULL REFERENCES broadcasts (id) ON DELETE CASCADE,
    rendition TEXT NOT NULL,
    -- The live init number (its file: init.mp4 for 0, else init-N.mp4).
    init BIGINT NOT NULL,
    -- The track it was written from (JSON: codec, decoder record, size...).
    config TEXT NOT NULL,
    PRIMARY KEY (broadcast_id, rendition, init)
);

-- One media segment of a recorded rendition, once written (gaps are not).
CREATE TABLE recording_segments (
    broadcast_id TEXT NOT NULL REFERENCES broadcasts (id) ON DELETE CASCADE,
    rendition TEXT NOT NULL,
    -- The live media sequence number; its file is seg-<msn + 1>.m4s.
    msn BIGINT NOT NULL,
    -- The publish it belongs to: 0, then one more per reconnect.
    discontinuity BIGINT NOT NULL,
    init BIGINT NOT NULL,
    timescale BIGINT NOT NULL,
    -- Presentation time of its first sample and its duration, in timescale ticks.
    start_ticks BIGINT NOT NULL,
    duration BIGINT NOT NULL,
    -- Its EXT-X-PROGRAM-DATE-TIME, unix milliseconds.
    pdt_ms BIGINT NOT NULL,
    size BIGINT NOT NULL,
    samples BIGINT NOT NULL,
    PRIMARY KEY (broadcast_id, rendition, msn)
);
