//! Non-AAC live audio (Opus, MP3) transcoded once to AAC with GStreamer.
