//! AV1 decoder configuration (`av1C`, AV1-ISOBMFF 2.3): the RFC 6381 codec
//! string and the maximum frame size from the sequence header OBU.

use bytes::{BufMut, Bytes, BytesMut};

use crate::bits::{BitError, BitReader};

/// Why an `av1C` record or AV1 descriptor could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Av1Error {
    #[error("AV1 configuration truncated")]
    Truncated,
    #[error("AV1 configuration has a bad marker or version")]
    Marker,
    #[error("AV1 sequence header: {0}")]
    SequenceHeader(#[from] BitError),
}

/// What ingest needs from an `av1C` record.
#[derive(Debug, Clone, PartialEq)]
pub struct Av1Config {
    /// Maximum frame size from the sequence header; 0 when the record has none.
    pub width: u32,
    /// See `width`.
    pub height: u32,
    /// e.g. `av01.0.04M.08`.
    pub codec_string: String,
    /// The `av1C` record.
    pub record: Bytes,
}

const OBU_SEQUENCE_HEADER: u8 = 1;

/// Parses an `av1C` record.
pub fn parse_av1c(record: &Bytes) -> Result<Av1Config, Av1Error> {
    let header = record.get(..4).ok_or(Av1Error::Truncated)?;
    if header[0] != 0x81 {
        return Err(Av1Error::Marker);
    }
    let (width, height) = match find_sequence_header(&record[4..])? {
        Some(obu) => max_frame_size(obu)?,
        None => (0, 0),
    };
    Ok(Av1Config {
        width,
        height,
        codec_string: codec_string(header),
        record: record.clone(),
    })
}

/// Turns an AV1 video descriptor (the E-RTMP `MPEG2TSSequenceStart` body, from
/// the AV1-in-MPEG-2-TS spec) into an `av1C` record without config OBUs.
pub fn av1c_from_descriptor(descriptor: &[u8]) -> Result<Av1Config, Av1Error> {
    // descriptor_tag (0x80), descriptor_length, then four bytes laid out as av1C's.
    let body = descriptor.get(2..6).ok_or(Av1Error::Truncated)?;
    let mut record = BytesMut::with_capacity(4);
    // The descriptor's hdr_wcg_idc bits sit where av1C has reserved zeros.
    record.put_slice(&[body[0], body[1], body[2], body[3] & 0x1f]);
    parse_av1c(&record.freeze())
}

/// `av01.P.LLT.DD` (AV1-ISOBMFF "Codecs Parameter String").
fn codec_string(header: &[u8]) -> String {
    let profile = header[1] >> 5;
    let level = header[1] & 0x1f;
    let tier = if header[2] & 0x80 != 0 { 'H' } else { 'M' };
    let bit_depth = match (header[2] & 0x40 != 0, header[2] & 0x20 != 0) {
        (false, _) => 8,
        (true, false) => 10,
        (true, true) => 12,
    };
    format!("av01.{profile}.{level:02}{tier}.{bit_depth:02}")
}

/// The payload of the first sequence header OBU in `obus`.
fn find_sequence_header(mut obus: &[u8]) -> Result<Option<&[u8]>, Av1Error> {
    while let Some((&header, rest)) = obus.split_first() {
        let obu_type = (header >> 3) & 0x0f;
        let rest = if header & 0x04 != 0 {
            rest.get(1..).ok_or(Av1Error::Truncated)?
        } else {
            rest
        };
        let (size, rest) = if header & 0x02 != 0 {
            read_leb128(rest)?
        } else {
            (rest.len(), rest)
        };
        let payload = rest.get(..size).ok_or(Av1Error::Truncated)?;
        if obu_type == OBU_SEQUENCE_HEADER {
            return Ok(Some(payload));
        }
        obus = &rest[size..];
    }
    Ok(None)
}

fn read_leb128(data: &[u8]) -> Result<(usize, &[u8]), Av1Error> {
    let mut value: u64 = 0;
    for (i, &byte) in data.iter().take(8).enumerate() {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            let size = usize::try_from(value).map_err(|_| Av1Error::Truncated)?;
            return Ok((size, &data[i + 1..]));
        }
    }
    Err(Av1Error::Truncated)
}

/// max_frame_{width,height}_minus_1 + 1 from a sequence header OBU (AV1 5.5).
fn max_frame_size(obu: &[u8]) -> Result<(u32, u32), Av1Error> {
    let mut r = BitReader::new(obu);
    let _seq_profile = r.read_bits(3)?;
    let _still_picture = r.read_flag()?;
    if r.read_flag()? {
        // reduced_still_picture_header: only seq_level_idx[0].
        r.skip_bits(5)?;
    } else {
        let mut decoder_model_info = None;
        if r.read_flag()? {
            // timing_info()
            r.skip_bits(64)?;
            if r.read_flag()? {
                r.read_ue()?; // num_ticks_per_picture_minus_1, uvlc()
            }
            if r.read_flag()? {
                let buffer_delay_length = r.read_bits(5)? + 1;
                r.skip_bits(32 + 5 + 5)?;
                decoder_model_info = Some(buffer_delay_length);
            }
        }
        let initial_display_delay_present = r.read_flag()?;
        let operating_points = r.read_bits(5)? + 1;
        for _ in 0..operating_points {
            r.skip_bits(12)?; // operating_point_idc
            if r.read_bits(5)? > 7 {
                r.skip_bits(1)?; // seq_tier
            }
            if let Some(delay_length) = decoder_model_info
                && r.read_flag()?
            {
                r.skip_bits(2 * delay_length as usize + 1)?;
            }
            if initial_display_delay_present && r.read_flag()? {
                r.skip_bits(4)?;
            }
        }
    }
    let width_bits = r.read_bits(4)? + 1;
    let height_bits = r.read_bits(4)? + 1;
    let width = u64::from(r.read_bits(width_bits)?) + 1;
    let height = u64::from(r.read_bits(height_bits)?) + 1;
    // At most 16 bits each, so they fit.
    Ok((width as u32, height as u32))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::AV1C_320X240;

    #[test]
    fn parses_svt_av1_record() {
        let config = parse_av1c(&Bytes::from_static(&AV1C_320X240)).unwrap();
        assert_eq!((config.width, config.height), (320, 240));
        assert_eq!(config.codec_string, "av01.0.00M.08");
    }

    #[test]
    fn descriptor_becomes_record_without_obus() {
        let config = av1c_from_descriptor(&[0x80, 4, 0x81, 0x28, 0x4c, 0xc0]).unwrap();
        assert_eq!(&config.record[..], &[0x81, 0x28, 0x4c, 0x00]);
        assert_eq!(config.codec_string, "av01.1.08M.10");
        assert_eq!((config.width, config.height), (0, 0));
    }

    #[test]
    fn every_prefix_is_handled() {
        let record = Bytes::from_static(&AV1C_320X240);
        for len in 0..record.len() {
            let _ = parse_av1c(&record.slice(..len));
            let _ = av1c_from_descriptor(&record[..len]);
        }
        assert_eq!(
            parse_av1c(&Bytes::from_static(&[0, 0, 0, 0])),
            Err(Av1Error::Marker)
        );
    }
}
