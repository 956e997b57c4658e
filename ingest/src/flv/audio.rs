//! FLV AUDIODATA tag bodies: legacy AAC (sound format 10) and MP3 (2, 14),
//! and the Enhanced RTMP extended header (sound format 9, a FourCC).

use bytes::Bytes;

use super::FlvError;
use crate::media::AudioCodec;

/// Legacy sound formats.
const FORMAT_MP3: u8 = 2;
const FORMAT_EX_HEADER: u8 = 9;
const FORMAT_AAC: u8 = 10;
const FORMAT_MP3_8KHZ: u8 = 14;

/// Enhanced RTMP audio packet types.
mod packet {
    pub const SEQUENCE_START: u8 = 0;
    pub const CODED_FRAMES: u8 = 1;
    pub const SEQUENCE_END: u8 = 2;
    pub const MULTICHANNEL_CONFIG: u8 = 4;
}

/// What an audio message carries.
#[derive(Debug, PartialEq)]
pub(super) enum AudioTag {
    /// An AAC AudioSpecificConfig.
    AacConfig(Bytes),
    /// An Opus identification header.
    OpusConfig(Bytes),
    /// One audio frame (raw AAC, an Opus packet, or an MP3 frame).
    Frame { codec: AudioCodec, data: Bytes },
    /// Nothing to emit: end of sequence, channel layouts, empty frames.
    Ignored,
}

/// Parses an AUDIODATA tag body.
pub(super) fn parse_audio_tag(data: &Bytes) -> Result<AudioTag, FlvError> {
    let &first = data
        .first()
        .ok_or(FlvError::Truncated("audio tag header"))?;
    match first >> 4 {
        FORMAT_AAC => {
            let &packet_type = data.get(1).ok_or(FlvError::Truncated("AAC packet type"))?;
            let payload = data.slice(2..);
            match packet_type {
                0 => Ok(AudioTag::AacConfig(payload)),
                _ => Ok(frame(AudioCodec::Aac, payload)),
            }
        }
        FORMAT_MP3 | FORMAT_MP3_8KHZ => Ok(frame(AudioCodec::Mp3, data.slice(1..))),
        FORMAT_EX_HEADER => parse_extended(first & 0x0f, data),
        format => Err(FlvError::UnsupportedAudioFormat(format)),
    }
}

fn parse_extended(packet_type: u8, data: &Bytes) -> Result<AudioTag, FlvError> {
    if packet_type > packet::MULTICHANNEL_CONFIG {
        // Multitrack, ModEx and later additions.
        return Err(FlvError::UnsupportedAudioPacketType(packet_type));
    }
    let fourcc = data
        .get(1..5)
        .ok_or(FlvError::Truncated("Enhanced RTMP FourCC"))?;
    let codec = match fourcc {
        b"mp4a" => AudioCodec::Aac,
        b"Opus" => AudioCodec::Opus,
        b".mp3" => AudioCodec::Mp3,
        other => {
            return Err(FlvError::UnsupportedAudioFourCc(
                String::from_utf8_lossy(other).into_owned(),
            ));
        }
    };
    let body = data.slice(5..);
    match (packet_type, codec) {
        (packet::SEQUENCE_START, AudioCodec::Aac) => Ok(AudioTag::AacConfig(body)),
        (packet::SEQUENCE_START, AudioCodec::Opus) => Ok(AudioTag::OpusConfig(body)),
        // MP3 needs no configuration record: its frames describe themselves.
        (packet::SEQUENCE_START, AudioCodec::Mp3) => Ok(AudioTag::Ignored),
        (packet::CODED_FRAMES, codec) => Ok(frame(codec, body)),
        (packet::SEQUENCE_END | packet::MULTICHANNEL_CONFIG, _) => Ok(AudioTag::Ignored),
        (other, _) => Err(FlvError::UnsupportedAudioPacketType(other)),
    }
}

fn frame(codec: AudioCodec, data: Bytes) -> AudioTag {
    if data.is_empty() {
        AudioTag::Ignored
    } else {
        AudioTag::Frame { codec, data }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(bytes: &[u8]) -> Result<AudioTag, FlvError> {
        parse_audio_tag(&Bytes::copy_from_slice(bytes))
    }

    #[test]
    fn legacy_formats() {
        assert_eq!(
            tag(&[0xaf, 0, 0x12, 0x10]).unwrap(),
            AudioTag::AacConfig(Bytes::from_static(&[0x12, 0x10]))
        );
        assert_eq!(
            tag(&[0xaf, 1, 0x21]).unwrap(),
            AudioTag::Frame {
                codec: AudioCodec::Aac,
                data: Bytes::from_static(&[0x21])
            }
        );
        assert_eq!(
            tag(&[0x2f, 0xff, 0xfb]).unwrap(),
            AudioTag::Frame {
                codec: AudioCodec::Mp3,
                data: Bytes::from_static(&[0xff, 0xfb])
            }
        );
        assert_eq!(tag(&[0xaf, 1]).unwrap(), AudioTag::Ignored);
        assert!(matches!(
            tag(&[0x6f, 0]),
            Err(FlvError::UnsupportedAudioFormat(6))
        ));
    }

    #[test]
    fn enhanced_formats() {
        assert_eq!(
            tag(b"\x90Opus\x01\x02").unwrap(),
            AudioTag::OpusConfig(Bytes::from_static(&[1, 2]))
        );
        assert_eq!(
            tag(b"\x91Opus\xfc").unwrap(),
            AudioTag::Frame {
                codec: AudioCodec::Opus,
                data: Bytes::from_static(&[0xfc])
            }
        );
        assert_eq!(
            tag(b"\x90mp4a\x12\x10").unwrap(),
            AudioTag::AacConfig(Bytes::from_static(&[0x12, 0x10]))
        );
        assert_eq!(
            tag(b"\x91.mp3\xff\xfb").unwrap(),
            AudioTag::Frame {
                codec: AudioCodec::Mp3,
                data: Bytes::from_static(&[0xff, 0xfb])
            }
        );
        assert_eq!(tag(b"\x90.mp3").unwrap(), AudioTag::Ignored);
        assert!(
            matches!(tag(b"\x91fLaC\x00"), Err(FlvError::UnsupportedAudioFourCc(f)) if f == "fLaC")
        );
        assert!(matches!(
            tag(b"\x95Opus"),
            Err(FlvError::UnsupportedAudioPacketType(5))
        ));
        assert!(matches!(
            tag(b"\x93Opus"),
            Err(FlvError::UnsupportedAudioPacketType(3))
        ));
    }

    #[test]
    fn every_prefix_is_handled() {
        for input in [
            &b"\xaf\x00\x12\x10"[..],
            b"\x91Opus\xfc",
            b"\x2f\xff\xfb\x90\x64",
        ] {
            for len in 0..input.len() {
                let _ = tag(&input[..len]);
            }
        }
        assert!(matches!(tag(&[]), Err(FlvError::Truncated(_))));
    }
}
