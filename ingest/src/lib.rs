//! RTMP and SRT ingest: listeners, FLV and MPEG-TS demux into one frame type,
//! and publisher authorisation through [`PublishAuthorizer`].

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
