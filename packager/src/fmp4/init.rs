//! The CMAF header (init segment): ftyp + moov for one track with id 1.

use bytes::{BufMut, Bytes, BytesMut};

use super::TRACK_ID;
use super::bx::{put_unity_matrix, write_box, write_full_box};
use crate::track::{Codec, TrackConfig};

/// Builds the init segment for one track.
///
/// The config is expected to have passed [`TrackConfig::validate`]; the record bytes are
/// embedded as given (avcC payload, or the AudioSpecificConfig inside an esds descriptor).
pub fn init_segment(config: &TrackConfig) -> Bytes {
    let mut buf = BytesMut::with_capacity(1024 + config.record.len());
    write_box(&mut buf, b"ftyp", |buf| {
        buf.put_slice(b"iso6");
        buf.put_u32(0);
        for brand in [b"iso6", b"cmfc", b"mp41"] {
            buf.put_slice(brand);
        }
    });
    write_box(&mut buf, b"moov", |buf| {
        write_mvhd(buf, config.timescale());
        write_trak(buf, config);
        write_box(buf, b"mvex", |buf| {
            write_full_box(buf, b"trex", 0, 0, |buf| {
                buf.put_u32(TRACK_ID);
                buf.put_u32(1); // default sample description index
                buf.put_u32(0); // default duration
                buf.put_u32(0); // default size
                buf.put_u32(0); // default flags
            });
        });
    });
    buf.freeze()
}

fn write_mvhd(buf: &mut BytesMut, timescale: u32) {
    write_full_box(buf, b"mvhd", 0, 0, |buf| {
        buf.put_u32(0); // creation time
        buf.put_u32(0); // modification time
        buf.put_u32(timescale);
        buf.put_u32(0); // duration: unknown, fragmented
        buf.put_u32(0x0001_0000); // rate 1.0
        buf.put_u16(0x0100); // volume 1.0
        buf.put_bytes(0, 10); // reserved
        put_unity_matrix(buf);
        buf.put_bytes(0, 24); // pre_defined
        buf.put_u32(TRACK_ID + 1); // next track id
    });
}

fn write_trak(buf: &mut BytesMut, config: &TrackConfig) {
    let video = config.codec.is_video();
    write_box(buf, b"trak", |buf| {
        // flags: track enabled | in movie
        write_full_box(buf, b"tkhd", 0, 0x3, |buf| {
            buf.put_u32(0); // creation time
            buf.put_u32(0); // modification time
            buf.put_u32(TRACK_ID);
            buf.put_u32(0); // reserved
            buf.put_u32(0); // duration
            buf.put_bytes(0, 8); // reserved
            buf.put_u16(0); // layer
            buf.put_u16(0); // alternate group
            buf.put_u16(if video { 0 } else { 0x0100 }); // volume
            buf.put_u16(0); // reserved
            put_unity_matrix(buf);
            buf.put_u32(config.width << 16);
            buf.put_u32(config.height << 16);
        });
        write_box(buf, b"mdia", |buf| {
            write_full_box(buf, b"mdhd", 0, 0, |buf| {
                buf.put_u32(0); // creation time
                buf.put_u32(0); // modification time
                buf.put_u32(config.timescale());
                buf.put_u32(0); // duration
                buf.put_u16(0x55C4); // language "und", packed ISO-639-2/T
                buf.put_u16(0); // pre_defined
            });
            write_full_box(buf, b"hdlr", 0, 0, |buf| {
                buf.put_u32(0); // pre_defined
                buf.put_slice(if video { b"vide" } else { b"soun" });
                buf.put_bytes(0, 12); // reserved
                buf.put_slice(if video {
                    b"VideoHandler\0"
                } else {
                    b"SoundHandler\0"
                });
            });
            write_box(buf, b"minf", |buf| {
                if video {
                    write_full_box(buf, b"vmhd", 0, 1, |buf| buf.put_bytes(0, 8));
                } else {
                    write_full_box(buf, b"smhd", 0, 0, |buf| buf.put_u32(0));
                }
                write_box(buf, b"dinf", |buf| {
                    write_full_box(buf, b"dref", 0, 0, |buf| {
                        buf.put_u32(1); // entry count
                        write_full_box(buf, b"url ", 0, 1, |_| {}); // media is in this file
                    });
                });
                write_stbl(buf, config);
            });
        });
    });
}

fn write_stbl(buf: &mut BytesMut, config: &TrackConfig) {
    write_box(buf, b"stbl", |buf| {
        write_full_box(buf, b"stsd", 0, 0, |buf| {
            buf.put_u32(1); // entry count
            match config.codec {
                Codec::H264 => write_avc1(buf, config),
                Codec::Aac => write_mp4a(buf, config),
            }
        });
        // Samples live in the fragments: empty tables.
        write_full_box(buf, b"stts", 0, 0, |buf| buf.put_u32(0));
        write_full_box(buf, b"stsc", 0, 0, |buf| buf.put_u32(0));
        write_full_box(buf, b"stsz", 0, 0, |buf| {
            buf.put_u32(0); // sample size
            buf.put_u32(0); // sample count
        });
        write_full_box(buf, b"stco", 0, 0, |buf| buf.put_u32(0));
    });
}

fn write_avc1(buf: &mut BytesMut, config: &TrackConfig) {
    write_box(buf, b"avc1", |buf| {
        buf.put_bytes(0, 6); // reserved
        buf.put_u16(1); // data reference index
        buf.put_bytes(0, 16); // pre_defined, reserved
        buf.put_u16(dimension(config.width));
        buf.put_u16(dimension(config.height));
        buf.put_u32(0x0048_0000); // 72 dpi
        buf.put_u32(0x0048_0000);
        buf.put_u32(0); // reserved
        buf.put_u16(1); // frame count
        buf.put_bytes(0, 32); // compressor name
        buf.put_u16(0x0018); // depth
        buf.put_i16(-1); // pre_defined
        write_box(buf, b"avcC", |buf| buf.put_slice(&config.record));
    });
}

fn dimension(value: u32) -> u16 {
    u16::try_from(value).unwrap_or(u16::MAX)
}

fn write_mp4a(buf: &mut BytesMut, config: &TrackConfig) {
    write_box(buf, b"mp4a", |buf| {
        buf.put_bytes(0, 6); // reserved
        buf.put_u16(1); // data reference index
        buf.put_bytes(0, 8); // reserved
        buf.put_u16(u16::from(config.channels));
        buf.put_u16(16); // sample size
        buf.put_u32(0); // pre_defined, reserved
        // 16.16 fixed point; rates above 65535 Hz do not fit and are signalled by mdhd alone.
        buf.put_u32(u16::try_from(config.sample_rate).map_or(0, |rate| u32::from(rate) << 16));
        write_esds(buf, &config.record);
    });
}

/// MPEG-4 descriptor tags used in esds.
const ES_DESCRIPTOR: u8 = 0x03;
const DECODER_CONFIG: u8 = 0x04;
const DECODER_SPECIFIC_INFO: u8 = 0x05;
const SL_CONFIG: u8 = 0x06;
/// objectTypeIndication for MPEG-4 audio (AAC).
const OBJECT_TYPE_AAC: u8 = 0x40;
/// streamType 5 (audio) << 2 | reserved bit 1.
const STREAM_TYPE_AUDIO: u8 = 0x15;

fn write_esds(buf: &mut BytesMut, audio_specific_config: &[u8]) {
    // Payload sizes, innermost first.
    let dsi_len = audio_specific_config.len();
    let dcd_len = 13 + descriptor_size(dsi_len);
    let es_len = 3 + descriptor_size(dcd_len) + descriptor_size(1);
    write_full_box(buf, b"esds", 0, 0, |buf| {
        buf.put_u8(ES_DESCRIPTOR);
        put_descriptor_len(buf, es_len);
        buf.put_u16(0); // ES_ID
        buf.put_u8(0); // no dependency, URL or OCR stream
        buf.put_u8(DECODER_CONFIG);
        put_descriptor_len(buf, dcd_len);
        buf.put_u8(OBJECT_TYPE_AAC);
        buf.put_u8(STREAM_TYPE_AUDIO);
        buf.put_uint(0, 3); // buffer size
        buf.put_u32(0); // max bitrate
        buf.put_u32(0); // average bitrate
        buf.put_u8(DECODER_SPECIFIC_INFO);
        put_descriptor_len(buf, dsi_len);
        buf.put_slice(audio_specific_config);
        buf.put_u8(SL_CONFIG);
        put_descriptor_len(buf, 1);
        buf.put_u8(2); // predefined: reserved for MP4
    });
}

/// Size of a whole descriptor: tag, length field, payload.
fn descriptor_size(payload_len: usize) -> usize {
    let mut len_bytes = 1;
    while len_bytes < 4 && payload_len >> (7 * len_bytes) != 0 {
        len_bytes += 1;
    }
    1 + len_bytes + payload_len
}

/// Descriptor lengths use 7 bits per byte with a continuation bit.
fn put_descriptor_len(buf: &mut BytesMut, len: usize) {
    let mut shift = 21;
    while shift > 0 && len >> shift == 0 {
        shift -= 7;
    }
    while shift > 0 {
        buf.put_u8(0x80 | ((len >> shift) & 0x7F) as u8);
        shift -= 7;
    }
    buf.put_u8((len & 0x7F) as u8);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptor_lengths() {
        let mut buf = BytesMut::new();
        put_descriptor_len(&mut buf, 5);
        put_descriptor_len(&mut buf, 127);
        put_descriptor_len(&mut buf, 128);
        put_descriptor_len(&mut buf, 300);
        assert_eq!(&buf[..], &[5, 127, 0x81, 0x00, 0x82, 0x2C]);
        assert_eq!(descriptor_size(5), 7);
        assert_eq!(descriptor_size(128), 131);
    }

    #[test]
    fn init_starts_with_ftyp_and_moov() {
        let config = crate::track::fixtures::audio();
        let init = init_segment(&config);
        assert_eq!(&init[4..12], b"ftypiso6");
        let ftyp_len = u32::from_be_bytes([init[0], init[1], init[2], init[3]]) as usize;
        assert_eq!(&init[ftyp_len + 4..ftyp_len + 8], b"moov");
        let moov_len = u32::from_be_bytes([
            init[ftyp_len],
            init[ftyp_len + 1],
            init[ftyp_len + 2],
            init[ftyp_len + 3],
        ]);
        assert_eq!(ftyp_len + moov_len as usize, init.len());
    }
}
