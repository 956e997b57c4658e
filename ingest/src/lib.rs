//! RTMP and SRT ingest: listeners, FLV and MPEG-TS demux into one frame type,
//! and publisher authorisation through [`PublishAuthorizer`].
//!
//! - [`rtmp::serve`] and [`srt::serve`] run the listeners; the server passes
//!   its [`PublishAuthorizer`], which hands accepted publishers a
//!   [`MediaSink`] for their [`MediaEvent`]s.
//! - [`flv::FlvDemuxer`] and [`ts::TsDemuxer`] are the sans-IO demuxers
//!   behind them (bytes in, events out), usable on their own.
//! - [`h264`], [`hevc`], [`av1`], [`aac`], [`mp3`] and [`opus`] parse the
//!   codec headers the demuxers need.
//!
//! Video frames are 4-byte length-prefixed NAL units for H.264 and HEVC;
//! AV1 frames are the OBUs as carried (low-overhead format, as in MP4).

pub mod aac;
pub mod av1;
mod bits;
mod clock;
pub mod flv;
pub mod h264;
pub mod hevc;
pub mod media;
pub mod mp3;
mod nalu;
pub mod opus;
pub mod publish;
pub mod rtmp;
pub mod srt;
mod tally;
#[cfg(test)]
mod testdata;
pub mod ts;

pub use bits::BitError;
pub use media::{
    AudioCodec, AudioConfig, Frame, MediaEvent, TIMESCALE, TrackKind, VideoCodec, VideoConfig,
};
pub use nalu::NalLengthError;
pub use publish::{MediaSink, Protocol, PublishAuthorizer, PublishRejection, PublishRequest};
