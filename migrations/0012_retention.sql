-- When an asset last became ready. The retention sweep (src/vod/retention.rs)
-- counts from it: an upload's source and a temporary rendition are deleted a
-- configured time after the ladder is complete.
-- Portable SQL: runs on SQLite and PostgreSQL alike.
ALTER TABLE videos ADD COLUMN ready_at TEXT;

-- Assets ready before this column: their last change is the closest instant known.
UPDATE videos SET ready_at = updated_at WHERE status = 'ready';

CREATE INDEX videos_ready ON videos (status, ready_at);
