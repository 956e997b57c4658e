//! The one frame type every source is turned into. After ingest nothing knows
//! whether a stream came over RTMP or SRT.

use bytes::Bytes;

/// Every timestamp after ingest is in ticks of this clock (the MPEG-TS clock).
pub const TIMESCALE: u32 = 90_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrackKind {
    Video,
    Audio,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoCodec {
    H264,
    Hevc,
    Av1,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioCodec {
    Aac,
    Opus,
    Mp3,
}

/// Decoder configuration of a video track.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoConfig {
    pub codec: VideoCodec,
    /// For H.264 the AVCDecoderConfigurationRecord (the `avcC` box payload);
    /// for HEVC the `hvcC` payload, for AV1 the `av1C` payload.
    pub record: Bytes,
    /// From the SPS; 0 when unknown.
    pub width: u32,
    pub height: u32,
    /// RFC 6381 codec string, e.g. `avc1.64001f`.
    pub codec_string: String,
}

/// Decoder configuration of an audio track.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioConfig {
    pub codec: AudioCodec,
    /// For AAC the AudioSpecificConfig; for Opus the OpusHead; empty for MP3.
    pub record: Bytes,
    pub sample_rate: u32,
    pub channels: u8,
    /// RFC 6381 codec string, e.g. `mp4a.40.2`.
    pub codec_string: String,
}

/// One access unit.
///
/// Video data is length-prefixed (4-byte big-endian NAL unit lengths, as in
/// MP4), never Annex B. AAC data is one raw access unit, no ADTS header.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    pub kind: TrackKind,
    /// Decode timestamp in [`TIMESCALE`] ticks, monotonic within a publish.
    pub dts: i64,
    /// Presentation timestamp in [`TIMESCALE`] ticks.
    pub pts: i64,
    /// A random access point (IDR for video; every audio frame is one).
    pub keyframe: bool,
    pub data: Bytes,
}

/// What a publisher sends, in order. A config always precedes the frames of
/// its track; a later config for the same track replaces the earlier one.
#[derive(Debug, Clone, PartialEq)]
pub enum MediaEvent {
    Video(VideoConfig),
    Audio(AudioConfig),
    Frame(Frame),
}
