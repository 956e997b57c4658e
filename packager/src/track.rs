//! Input types: what a track is and what one sample of it looks like.

use bytes::Bytes;

use crate::error::ConfigError;

/// Every input timestamp is in ticks of this clock (90 kHz, as in MPEG-TS and RTP video).
pub const TIMESCALE: u32 = 90_000;

/// Samples per AAC frame (AAC-LC; HE-AAC is signalled at the core rate with the same count).
pub const AAC_FRAME_SAMPLES: u32 = 1024;

/// The codecs the packager can put into CMAF fragments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// H.264 / AVC video.
    H264,
    /// AAC audio.
    Aac,
}

impl Codec {
    /// True for video codecs.
    pub fn is_video(self) -> bool {
        matches!(self, Codec::H264)
    }
}

/// Everything needed to describe one track in an init segment and a master playlist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackConfig {
    /// The codec of the samples.
    pub codec: Codec,
    /// H.264: the AVCDecoderConfigurationRecord (avcC payload). AAC: the AudioSpecificConfig.
    pub record: Bytes,
    /// Video width in pixels (0 for audio).
    pub width: u32,
    /// Video height in pixels (0 for audio).
    pub height: u32,
    /// Audio sample rate in Hz (0 for video).
    pub sample_rate: u32,
    /// Audio channel count (0 for video).
    pub channels: u8,
    /// RFC 6381 codec string for playlists, e.g. `avc1.64001f` or `mp4a.40.2`.
    pub codec_string: String,
}

impl TrackConfig {
    /// The media timescale of this track: 90 kHz for video, the sample rate for audio.
    pub fn timescale(&self) -> u32 {
        match self.codec {
            Codec::H264 => TIMESCALE,
            Codec::Aac => self.sample_rate,
        }
    }

    /// Checks what the box writer relies on, so a bad publisher config is refused up front
    /// instead of producing an unplayable init segment.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.codec_string.is_empty() || !self.codec_string.bytes().all(is_codec_char) {
            return Err(ConfigError::CodecString(self.codec_string.clone()));
        }
        match self.codec {
            Codec::H264 => {
                // version(1) profile compat level lengthSize numSps: at least 6 bytes, version 1.
                if self.record.len() < 7 || self.record[0] != 1 {
                    return Err(ConfigError::AvcRecord);
                }
                if self.width == 0
                    || self.height == 0
                    || self.width > 0xFFFF
                    || self.height > 0xFFFF
                {
                    return Err(ConfigError::Dimensions {
                        width: self.width,
                        height: self.height,
                    });
                }
            }
            Codec::Aac => {
                if self.record.len() < 2 || self.record.len() > 127 {
                    return Err(ConfigError::AudioSpecificConfig(self.record.len()));
                }
                if self.sample_rate == 0 || self.channels == 0 {
                    return Err(ConfigError::AudioFormat {
                        sample_rate: self.sample_rate,
                        channels: self.channels,
                    });
                }
            }
        }
        Ok(())
    }
}

/// Checks a rendition name: it is a URI path segment (the rendition's folder) and a DASH
/// Representation id, so 1 to 64 ASCII letters, digits, `-` or `_`.
pub(crate) fn check_rendition_name(name: &str) -> Result<(), ConfigError> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if valid {
        Ok(())
    } else {
        Err(ConfigError::RenditionName(name.to_owned()))
    }
}

fn is_codec_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'.'
}

/// One access unit as it comes from ingest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// Decode timestamp in [`TIMESCALE`] ticks.
    pub dts: i64,
    /// Presentation timestamp in [`TIMESCALE`] ticks.
    pub pts: i64,
    /// True for a sync sample (an IDR picture). Ignored for audio, where every frame is one.
    pub keyframe: bool,
    /// Video: 4-byte length-prefixed NAL units. Audio: one raw AAC frame.
    pub data: Bytes,
}

/// Handle of a rendition inside one [`crate::LivePackager`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RenditionId(pub usize);

/// Configs for unit tests elsewhere in the crate.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;

    pub(crate) fn video() -> TrackConfig {
        TrackConfig {
            codec: Codec::H264,
            record: Bytes::from_static(&[1, 0x64, 0, 0x1f, 0xff, 0xe0, 0]),
            width: 1280,
            height: 720,
            sample_rate: 0,
            channels: 0,
            codec_string: "avc1.64001f".into(),
        }
    }

    pub(crate) fn audio() -> TrackConfig {
        TrackConfig {
            codec: Codec::Aac,
            record: Bytes::from_static(&[0x11, 0x90]),
            width: 0,
            height: 0,
            sample_rate: 48_000,
            channels: 2,
            codec_string: "mp4a.40.2".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::{audio, video};
    use super::*;

    #[test]
    fn valid_configs_pass() {
        assert!(video().validate().is_ok());
        assert!(audio().validate().is_ok());
        assert_eq!(video().timescale(), 90_000);
        assert_eq!(audio().timescale(), 48_000);
    }

    #[test]
    fn broken_configs_are_refused() {
        let mut v = video();
        v.record = Bytes::from_static(&[0, 1, 2, 3, 4, 5, 6]);
        assert!(matches!(v.validate(), Err(ConfigError::AvcRecord)));
        let mut v = video();
        v.height = 0;
        assert!(matches!(v.validate(), Err(ConfigError::Dimensions { .. })));
        let mut v = video();
        v.codec_string = "avc1\",x".into();
        assert!(matches!(v.validate(), Err(ConfigError::CodecString(_))));
        let mut a = audio();
        a.record = Bytes::from_static(&[0x11]);
        assert!(matches!(
            a.validate(),
            Err(ConfigError::AudioSpecificConfig(1))
        ));
        let mut a = audio();
        a.sample_rate = 0;
        assert!(matches!(a.validate(), Err(ConfigError::AudioFormat { .. })));
    }

    #[test]
    fn rendition_names_are_plain_path_segments() {
        for name in ["720p", "audio", "a-b_C9", &"x".repeat(64)] {
            assert_eq!(check_rendition_name(name), Ok(()), "{name}");
        }
        for name in ["", "..", "a/b", "a b", "é", "a\"", &"x".repeat(65)] {
            assert_eq!(
                check_rendition_name(name),
                Err(ConfigError::RenditionName(name.to_owned()))
            );
        }
    }
}
