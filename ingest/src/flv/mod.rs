//! FLV demuxing (sans-IO): RTMP audio and video message payloads, which are
//! FLV tag bodies, become [`MediaEvent`]s.
//!
//! Legacy FLV carries H.264 (codec id 7), AAC (sound format 10) and MP3
//! (sound format 2); Enhanced RTMP adds HEVC (`hvc1`), AV1 (`av01`) and
//! H.264 (`avc1`) video, and Opus (`Opus`), AAC (`mp4a`) and MP3 (`.mp3`)
//! audio. Anything else is a typed [`FlvError`].

mod audio;
#[cfg(test)]
mod tests;
mod video;

use bytes::Bytes;

use crate::aac::{self, AacError};
use crate::av1::{self, Av1Error};
use crate::clock::{RtmpClock, ms_to_ticks};
use crate::h264::{self, H264Error};
use crate::hevc::{self, HevcError};
use crate::media::{
    AudioCodec, AudioConfig, Frame, MediaEvent, TrackKind, VideoCodec, VideoConfig,
};
use crate::mp3::{self, Mp3Error};
use crate::nalu::{NalLengthError, with_four_byte_lengths};
use crate::opus::{self, OpusError};
use audio::{AudioTag, parse_audio_tag};
use video::{VideoTag, parse_video_tag};

/// Why an RTMP audio or video message was not turned into media.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlvError {
    #[error("{0} truncated")]
    Truncated(&'static str),
    #[error(
        "unsupported video codec id {0} (legacy FLV supports H.264 = 7; use Enhanced RTMP for HEVC/AV1)"
    )]
    UnsupportedVideoCodec(u8),
    #[error("unsupported Enhanced RTMP video codec {0:?} (supported: avc1, hvc1, av01)")]
    UnsupportedVideoFourCc(String),
    #[error("unsupported video packet type {0}")]
    UnsupportedVideoPacketType(u8),
    #[error("unsupported audio format {0} (supported: AAC = 10, MP3 = 2, Enhanced RTMP)")]
    UnsupportedAudioFormat(u8),
    #[error("unsupported Enhanced RTMP audio codec {0:?} (supported: mp4a, Opus, .mp3)")]
    UnsupportedAudioFourCc(String),
    #[error("unsupported Enhanced RTMP audio packet type {0}")]
    UnsupportedAudioPacketType(u8),
    #[error("{0:?} frame without a matching sequence header")]
    FrameBeforeConfig(TrackKind),
    #[error("H.264: {0}")]
    H264(#[from] H264Error),
    #[error("HEVC: {0}")]
    Hevc(#[from] HevcError),
    #[error("AV1: {0}")]
    Av1(#[from] Av1Error),
    #[error("AAC: {0}")]
    Aac(#[from] AacError),
    #[error("MP3: {0}")]
    Mp3(#[from] Mp3Error),
    #[error("Opus: {0}")]
    Opus(#[from] OpusError),
    #[error("video frame: {0}")]
    NalLengths(#[from] NalLengthError),
}

/// The current video track: its announced config and NAL length size.
#[derive(Debug)]
struct VideoTrack {
    config: VideoConfig,
    /// Bytes per NAL unit length in frames (0 for AV1, whose frames are OBUs).
    nal_length_size: u8,
}

/// Turns one publisher's RTMP audio and video messages into media events.
///
/// A config event is emitted on each sequence header that differs from the
/// previous one; frames without a config for their codec are refused.
#[derive(Debug, Default)]
pub struct FlvDemuxer {
    clock: RtmpClock,
    video: Option<VideoTrack>,
    audio: Option<AudioConfig>,
}

impl FlvDemuxer {
    /// A demuxer for one publisher.
    pub fn new() -> Self {
        Self::default()
    }

    /// Handles one video message: `timestamp_ms` is the RTMP timestamp,
    /// `data` the FLV VIDEODATA body. Events are appended to `out`.
    pub fn push_video(
        &mut self,
        timestamp_ms: u32,
        data: Bytes,
        out: &mut Vec<MediaEvent>,
    ) -> Result<(), FlvError> {
        let dts = self.clock.ticks(timestamp_ms);
        let config = match parse_video_tag(&data)? {
            VideoTag::Ignored => return Ok(()),
            VideoTag::Config { codec, record } => video_config(codec, &record)?,
            VideoTag::Av1Descriptor(descriptor) => {
                av1_video_config(av1::av1c_from_descriptor(&descriptor)?)
            }
            VideoTag::Frame {
                codec,
                keyframe,
                composition_ms,
                data,
            } => {
                let track = self
                    .video
                    .as_ref()
                    .filter(|track| track.config.codec == codec)
                    .ok_or(FlvError::FrameBeforeConfig(TrackKind::Video))?;
                let data = if track.nal_length_size == 0 {
                    data
                } else {
                    with_four_byte_lengths(data, track.nal_length_size)?
                };
                out.push(MediaEvent::Frame(Frame {
                    kind: TrackKind::Video,
                    dts,
                    pts: dts + ms_to_ticks(composition_ms),
                    keyframe,
                    data,
                }));
                return Ok(());
            }
        };
        let (config, nal_length_size) = config;
        if self
            .video
            .as_ref()
            .is_none_or(|track| track.config != config)
        {
            out.push(MediaEvent::Video(config.clone()));
            self.video = Some(VideoTrack {
                config,
                nal_length_size,
            });
        }
        Ok(())
    }

    /// Handles one audio message: `timestamp_ms` is the RTMP timestamp,
    /// `data` the FLV AUDIODATA body. Events are appended to `out`.
    pub fn push_audio(
        &mut self,
        timestamp_ms: u32,
        data: Bytes,
        out: &mut Vec<MediaEvent>,
    ) -> Result<(), FlvError> {
        let pts = self.clock.ticks(timestamp_ms);
        match parse_audio_tag(&data)? {
            AudioTag::Ignored => {}
            AudioTag::AacConfig(record) => {
                let asc = aac::parse_asc(&record)?;
                self.set_audio(
                    AudioConfig {
                        codec: AudioCodec::Aac,
                        record,
                        sample_rate: asc.sample_rate,
                        channels: asc.channels,
                        codec_string: asc.codec_string(),
                    },
                    out,
                );
            }
            AudioTag::OpusConfig(record) => {
                let channels = opus::parse_channels(&record)?;
                self.set_audio(
                    AudioConfig {
                        codec: AudioCodec::Opus,
                        record,
                        sample_rate: opus::OPUS_SAMPLE_RATE,
                        channels,
                        codec_string: "opus".to_owned(),
                    },
                    out,
                );
            }
            AudioTag::Frame { codec, data } => {
                if codec == AudioCodec::Mp3 {
                    // MP3 frames describe themselves; there is no sequence header.
                    let header = mp3::parse_header(&data)?;
                    self.set_audio(
                        AudioConfig {
                            codec: AudioCodec::Mp3,
                            record: Bytes::new(),
                            sample_rate: header.sample_rate,
                            channels: header.channels,
                            codec_string: "mp4a.40.34".to_owned(),
                        },
                        out,
                    );
                }
                if self
                    .audio
                    .as_ref()
                    .is_none_or(|config| config.codec != codec)
                {
                    return Err(FlvError::FrameBeforeConfig(TrackKind::Audio));
                }
                out.push(MediaEvent::Frame(Frame {
                    kind: TrackKind::Audio,
                    dts: pts,
                    pts,
                    keyframe: true,
                    data,
                }));
            }
        }
        Ok(())
    }

    fn set_audio(&mut self, config: AudioConfig, out: &mut Vec<MediaEvent>) {
        if self.audio.as_ref() != Some(&config) {
            out.push(MediaEvent::Audio(config.clone()));
            self.audio = Some(config);
        }
    }
}

/// A [`VideoConfig`] and the NAL length size of the frames that follow it.
fn video_config(codec: VideoCodec, record: &Bytes) -> Result<(VideoConfig, u8), FlvError> {
    Ok(match codec {
        VideoCodec::H264 => {
            let avc = h264::parse_avcc(record)?;
            let config = VideoConfig {
                codec,
                record: avc.record,
                width: avc.sps.width,
                height: avc.sps.height,
                codec_string: h264::codec_string(&avc.sps),
            };
            (config, avc.nal_length_size)
        }
        VideoCodec::Hevc => {
            let hevc = hevc::parse_hvcc(record)?;
            let config = VideoConfig {
                codec,
                record: hevc.record,
                width: hevc.width,
                height: hevc.height,
                codec_string: hevc.codec_string,
            };
            (config, hevc.nal_length_size)
        }
        VideoCodec::Av1 => av1_video_config(av1::parse_av1c(record)?),
    })
}

/// AV1 frames are OBUs, not NAL units: their "NAL length size" is 0.
fn av1_video_config(av1: av1::Av1Config) -> (VideoConfig, u8) {
    let config = VideoConfig {
        codec: VideoCodec::Av1,
        record: av1.record,
        width: av1.width,
        height: av1.height,
        codec_string: av1.codec_string,
    };
    (config, 0)
}
