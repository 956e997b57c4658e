//! FLV VIDEODATA tag bodies: legacy AVC (codec id 7) and the Enhanced RTMP
//! extended header (`IsExHeader`, a FourCC, a packet type).

use bytes::Bytes;

use super::FlvError;
use crate::media::VideoCodec;

/// Legacy codec id of AVC (H.264).
const CODEC_AVC: u8 = 7;
/// Frame types.
const FRAME_KEY: u8 = 1;
const FRAME_COMMAND: u8 = 5;

/// Enhanced RTMP video packet types.
mod packet {
    pub const SEQUENCE_START: u8 = 0;
    pub const CODED_FRAMES: u8 = 1;
    pub const SEQUENCE_END: u8 = 2;
    pub const CODED_FRAMES_X: u8 = 3;
    pub const METADATA: u8 = 4;
    pub const MPEG2TS_SEQUENCE_START: u8 = 5;
}

/// What a video message carries.
#[derive(Debug, PartialEq)]
pub(super) enum VideoTag {
    /// A decoder configuration record (`avcC`, `hvcC` or `av1C`).
    Config { codec: VideoCodec, record: Bytes },
    /// An AV1 video descriptor (Enhanced RTMP `MPEG2TSSequenceStart`).
    Av1Descriptor(Bytes),
    /// One access unit.
    Frame {
        codec: VideoCodec,
        keyframe: bool,
        composition_ms: i32,
        data: Bytes,
    },
    /// Nothing to emit: end of sequence, metadata, command frames, empty frames.
    Ignored,
}

/// Parses a VIDEODATA tag body.
pub(super) fn parse_video_tag(data: &Bytes) -> Result<VideoTag, FlvError> {
    let &first = data
        .first()
        .ok_or(FlvError::Truncated("video tag header"))?;
    if first & 0x80 != 0 {
        parse_extended(first, data)
    } else {
        parse_legacy(first, data)
    }
}

fn parse_legacy(first: u8, data: &Bytes) -> Result<VideoTag, FlvError> {
    let frame_type = first >> 4;
    let codec_id = first & 0x0f;
    if frame_type == FRAME_COMMAND {
        return Ok(VideoTag::Ignored);
    }
    if codec_id != CODEC_AVC {
        return Err(FlvError::UnsupportedVideoCodec(codec_id));
    }
    let header = data
        .get(1..5)
        .ok_or(FlvError::Truncated("AVC packet header"))?;
    let payload = data.slice(5..);
    match header[0] {
        0 => Ok(VideoTag::Config {
            codec: VideoCodec::H264,
            record: payload,
        }),
        1 if payload.is_empty() => Ok(VideoTag::Ignored),
        1 => Ok(VideoTag::Frame {
            codec: VideoCodec::H264,
            keyframe: frame_type == FRAME_KEY,
            composition_ms: si24(&header[1..4]),
            data: payload,
        }),
        2 => Ok(VideoTag::Ignored),
        other => Err(FlvError::UnsupportedVideoPacketType(other)),
    }
}

fn parse_extended(first: u8, data: &Bytes) -> Result<VideoTag, FlvError> {
    let frame_type = (first >> 4) & 0x07;
    let packet_type = first & 0x0f;
    if frame_type == FRAME_COMMAND && packet_type != packet::METADATA {
        // A video command (e.g. seek start/end) rather than media.
        return Ok(VideoTag::Ignored);
    }
    if packet_type > packet::MPEG2TS_SEQUENCE_START {
        // Multitrack, ModEx and later additions.
        return Err(FlvError::UnsupportedVideoPacketType(packet_type));
    }
    let fourcc = data
        .get(1..5)
        .ok_or(FlvError::Truncated("Enhanced RTMP FourCC"))?;
    let codec = match fourcc {
        b"avc1" => VideoCodec::H264,
        b"hvc1" => VideoCodec::Hevc,
        b"av01" => VideoCodec::Av1,
        other => {
            return Err(FlvError::UnsupportedVideoFourCc(
                String::from_utf8_lossy(other).into_owned(),
            ));
        }
    };
    let body = data.slice(5..);
    let keyframe = frame_type == FRAME_KEY;
    match packet_type {
        packet::SEQUENCE_START => Ok(VideoTag::Config {
            codec,
            record: body,
        }),
        packet::CODED_FRAMES if codec != VideoCodec::Av1 => {
            let cts = body
                .get(..3)
                .ok_or(FlvError::Truncated("composition time"))?;
            let composition_ms = si24(cts);
            frame(codec, keyframe, composition_ms, body.slice(3..))
        }
        packet::CODED_FRAMES | packet::CODED_FRAMES_X => frame(codec, keyframe, 0, body),
        packet::SEQUENCE_END | packet::METADATA => Ok(VideoTag::Ignored),
        packet::MPEG2TS_SEQUENCE_START if codec == VideoCodec::Av1 => {
            Ok(VideoTag::Av1Descriptor(body))
        }
        other => Err(FlvError::UnsupportedVideoPacketType(other)),
    }
}

fn frame(
    codec: VideoCodec,
    keyframe: bool,
    composition_ms: i32,
    data: Bytes,
) -> Result<VideoTag, FlvError> {
    if data.is_empty() {
        return Ok(VideoTag::Ignored);
    }
    Ok(VideoTag::Frame {
        codec,
        keyframe,
        composition_ms,
        data,
    })
}

/// A signed 24-bit big-endian integer (the FLV composition time).
fn si24(bytes: &[u8]) -> i32 {
    let raw = bytes
        .iter()
        .take(3)
        .fold(0i32, |acc, &b| (acc << 8) | i32::from(b));
    (raw << 8) >> 8
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(bytes: &[u8]) -> Result<VideoTag, FlvError> {
        parse_video_tag(&Bytes::copy_from_slice(bytes))
    }

    #[test]
    fn legacy_avc() {
        assert_eq!(
            tag(&[0x17, 0, 0, 0, 0, 1, 2]).unwrap(),
            VideoTag::Config {
                codec: VideoCodec::H264,
                record: Bytes::from_static(&[1, 2])
            }
        );
        assert_eq!(
            tag(&[0x27, 1, 0xff, 0xff, 0xd8, 0, 0, 0, 1, 0x41]).unwrap(),
            VideoTag::Frame {
                codec: VideoCodec::H264,
                keyframe: false,
                composition_ms: -40,
                data: Bytes::from_static(&[0, 0, 0, 1, 0x41])
            }
        );
        assert_eq!(tag(&[0x17, 2, 0, 0, 0]).unwrap(), VideoTag::Ignored);
        assert_eq!(tag(&[0x52, 0]).unwrap(), VideoTag::Ignored);
        assert!(matches!(
            tag(&[0x12, 0]),
            Err(FlvError::UnsupportedVideoCodec(2))
        ));
        assert!(matches!(
            tag(&[0x1c, 0, 0, 0, 0]),
            Err(FlvError::UnsupportedVideoCodec(12))
        ));
    }

    #[test]
    fn enhanced_hevc_is_never_h264() {
        assert_eq!(
            tag(b"\x90hvc1\x01\x02").unwrap(),
            VideoTag::Config {
                codec: VideoCodec::Hevc,
                record: Bytes::from_static(&[1, 2])
            }
        );
        assert_eq!(
            tag(b"\x91hvc1\x00\x00\x21\x00\x00\x00\x01\x26").unwrap(),
            VideoTag::Frame {
                codec: VideoCodec::Hevc,
                keyframe: true,
                composition_ms: 33,
                data: Bytes::from_static(&[0, 0, 0, 1, 0x26])
            }
        );
        assert_eq!(
            tag(b"\xa3hvc1\x00\x00\x00\x01\x02").unwrap(),
            VideoTag::Frame {
                codec: VideoCodec::Hevc,
                keyframe: false,
                composition_ms: 0,
                data: Bytes::from_static(&[0, 0, 0, 1, 0x02])
            }
        );
    }

    #[test]
    fn enhanced_av1_and_avc() {
        assert_eq!(
            tag(b"\x91av01\x12\x00").unwrap(),
            VideoTag::Frame {
                codec: VideoCodec::Av1,
                keyframe: true,
                composition_ms: 0,
                data: Bytes::from_static(&[0x12, 0])
            }
        );
        assert_eq!(
            tag(b"\x95av01\x80\x04").unwrap(),
            VideoTag::Av1Descriptor(Bytes::from_static(&[0x80, 4]))
        );
        assert_eq!(
            tag(b"\x90avc1\x01").unwrap(),
            VideoTag::Config {
                codec: VideoCodec::H264,
                record: Bytes::from_static(&[1])
            }
        );
        assert_eq!(tag(b"\x92av01").unwrap(), VideoTag::Ignored);
        assert_eq!(
            tag(b"\xd0\x01").unwrap(),
            VideoTag::Ignored,
            "command frame"
        );
    }

    #[test]
    fn unsupported_enhanced_input() {
        assert!(
            matches!(tag(b"\x90vp09\x01"), Err(FlvError::UnsupportedVideoFourCc(f)) if f == "vp09")
        );
        assert!(matches!(
            tag(b"\x96hvc1"),
            Err(FlvError::UnsupportedVideoPacketType(6))
        ));
        assert!(matches!(
            tag(b"\x97\x00\x00\x00\x00"),
            Err(FlvError::UnsupportedVideoPacketType(7))
        ));
        assert!(matches!(
            tag(b"\x95hvc1\x01"),
            Err(FlvError::UnsupportedVideoPacketType(5))
        ));
    }

    #[test]
    fn every_prefix_is_handled() {
        let inputs: [&[u8]; 4] = [
            &[0x17, 1, 0, 0, 0x21, 0, 0, 0, 1, 0x65],
            b"\x91hvc1\x00\x00\x21\x00\x00\x00\x01\x26",
            b"\x95av01\x80\x04\x81\x00\x0c\x00",
            b"\x90avc1\x01\x64",
        ];
        for input in inputs {
            for len in 0..input.len() {
                let _ = tag(&input[..len]);
            }
        }
    }
}
