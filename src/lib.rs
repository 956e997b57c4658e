//! Tributary: a live-plus-VOD streaming server. The binary in `main.rs` is a
//! thin shell over these modules.

pub mod admin_token;
pub mod api;
pub mod audio_transcode;
pub mod chat;
pub mod chunks_body;
pub mod cli;
pub mod config;
pub mod db;
pub mod gst_init;
pub mod hls_query;
pub mod ids;
pub mod jobs;
pub mod ladder;
pub mod ladder_settings;
pub mod live;
pub mod media;
pub mod media_probe;
pub mod recording;
pub mod server;
#[cfg(test)]
mod test_db;
#[cfg(test)]
mod test_media;
#[cfg(test)]
mod test_store;
pub mod thumbnail;
pub mod vod;
pub mod watch;
pub mod webhooks;
