-- The VOD ladder: each job carries what it makes (a JSON TranscodeSpec) and
-- when its current claim began (for the ETA); each rendition is published
-- as a row once every file of it is in storage. The manifests are written
-- from these rows, so they never name a rendition whose files are missing.
ALTER TABLE jobs ADD COLUMN spec TEXT;
ALTER TABLE jobs ADD COLUMN started_at BIGINT;

CREATE TABLE video_renditions (
    video_id TEXT NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
    -- Its folder under the asset's media prefix, and its DASH id.
    name TEXT NOT NULL,
    -- video or audio
    kind TEXT NOT NULL,
    width BIGINT NOT NULL,
    height BIGINT NOT NULL,
    -- Measured average, bits per second.
    bitrate BIGINT NOT NULL,
    -- 1 for a repackaged source withdrawn once the ladder is done.
    temporary BIGINT NOT NULL,
    -- The RenditionRecord (JSON): codec, segments.
    record TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (video_id, name)
);

-- The poster and seek-bar thumbnails, once made (JSON: sizes, tile count).
ALTER TABLE videos ADD COLUMN thumbnails TEXT;
