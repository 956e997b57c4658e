-- The VOD asset that replays a broadcast, once there is one.
ALTER TABLE broadcasts ADD COLUMN replay_video_id TEXT;
