-- A rendition published while its job still writes it (the first rung of a
-- source that must be encoded, so the asset plays after its first
-- segments): complete = 0 and its playlist grows, never shrinks (segments
-- counts them), until the job ends and publishes it complete.
ALTER TABLE video_renditions ADD COLUMN complete BIGINT NOT NULL DEFAULT 1;
ALTER TABLE video_renditions ADD COLUMN segments BIGINT NOT NULL DEFAULT 0;
