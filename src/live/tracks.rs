//! Turns ingest's track configs into the packager's, refusing what the
//! packager cannot carry yet.

use ingest::{AudioCodec, AudioConfig, VideoCodec, VideoConfig};
use packager::{Codec, TrackConfig};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UnsupportedTrack {
    #[error("video codec {0:?} is not supported yet; publish H.264")]
    Video(VideoCodec),
    #[error("audio codec {0:?} is not supported yet; publish AAC")]
    Audio(AudioCodec),
}

pub fn video(config: &VideoConfig) -> Result<TrackConfig, UnsupportedTrack> {
    match config.codec {
        VideoCodec::H264 => Ok(TrackConfig {
            codec: Codec::H264,
            record: config.record.clone(),
            width: config.width,
            height: config.height,
            sample_rate: 0,
            channels: 0,
            codec_string: config.codec_string.clone(),
        }),
        other => Err(UnsupportedTrack::Video(other)),
    }
}

pub fn audio(config: &AudioConfig) -> Result<TrackConfig, UnsupportedTrack> {
    match config.codec {
        AudioCodec::Aac => Ok(TrackConfig {
            codec: Codec::Aac,
            record: config.record.clone(),
            width: 0,
            height: 0,
            sample_rate: config.sample_rate,
            channels: config.channels,
            codec_string: config.codec_string.clone(),
        }),
        other => Err(UnsupportedTrack::Audio(other)),
    }
}
