//! HEVC decoder configuration (`hvcC`, ISO/IEC 14496-15 8.3.3.1): the RFC
//! 6381 codec string and the picture size from its SPS.

use bytes::{Bytes, BytesMut};

use crate::bits::{BitError, BitReader, unescape_rbsp};

/// Why an `hvcC` record could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HevcError {
    #[error("HEVCDecoderConfigurationRecord truncated")]
    Truncated,
    #[error("HEVCDecoderConfigurationRecord version {0} (expected 1)")]
    Version(u8),
    #[error("HEVC SPS: {0}")]
    SpsBits(#[from] BitError),
    #[error("HEVC SPS value out of range: {0}")]
    SpsRange(&'static str),
}

/// What ingest needs from an `hvcC` record.
#[derive(Debug, Clone, PartialEq)]
pub struct HevcConfig {
    /// Bytes used for each NAL unit length in frames (1, 2 or 4).
    pub nal_length_size: u8,
    /// Picture size from the first SPS; 0 when the record has none.
    pub width: u32,
    /// See `width`.
    pub height: u32,
    /// e.g. `hvc1.1.6.L93.B0`.
    pub codec_string: String,
    /// The record, rewritten if needed so that it declares 4-byte NAL lengths.
    pub record: Bytes,
}

const HEADER_LEN: usize = 23;
const NAL_SPS: u8 = 33;

/// Parses an `hvcC` record.
pub fn parse_hvcc(record: &Bytes) -> Result<HevcConfig, HevcError> {
    let header = record.get(..HEADER_LEN).ok_or(HevcError::Truncated)?;
    if header[0] != 1 {
        return Err(HevcError::Version(header[0]));
    }
    let codec_string = codec_string(header);
    let nal_length_size = (header[21] & 0x03) + 1;

    let mut width = 0;
    let mut height = 0;
    let mut pos = HEADER_LEN;
    let arrays = header[22];
    'arrays: for _ in 0..arrays {
        let nal_type = *record.get(pos).ok_or(HevcError::Truncated)? & 0x3f;
        let count = read_u16(record, pos + 1)?;
        pos += 3;
        for _ in 0..count {
            let len = usize::from(read_u16(record, pos)?);
            let nal = record
                .get(pos + 2..pos + 2 + len)
                .ok_or(HevcError::Truncated)?;
            pos += 2 + len;
            if nal_type == NAL_SPS {
                (width, height) = sps_dimensions(nal)?;
                break 'arrays;
            }
        }
    }

    let record = if nal_length_size == 4 {
        record.clone()
    } else {
        let mut rewritten = BytesMut::from(&record[..]);
        rewritten[21] |= 0x03;
        rewritten.freeze()
    };
    Ok(HevcConfig {
        nal_length_size,
        width,
        height,
        codec_string,
        record,
    })
}

fn read_u16(data: &[u8], pos: usize) -> Result<u16, HevcError> {
    let bytes = data.get(pos..pos + 2).ok_or(HevcError::Truncated)?;
    Ok(u16::from_be_bytes([bytes[0], bytes[1]]))
}

/// ISO/IEC 14496-15 E.3: `hvc1.[A-C]?profile.compat.(L|H)level(.constraint)*`.
fn codec_string(header: &[u8]) -> String {
    let profile_space = header[1] >> 6;
    let tier_high = header[1] & 0x20 != 0;
    let profile_idc = header[1] & 0x1f;
    let compat = u32::from_be_bytes([header[2], header[3], header[4], header[5]]).reverse_bits();
    let constraints = &header[6..12];
    let level = header[12];

    let space = match profile_space {
        1 => "A",
        2 => "B",
        3 => "C",
        _ => "",
    };
    let mut out = format!(
        "hvc1.{space}{profile_idc}.{compat:X}.{}{level}",
        if tier_high { 'H' } else { 'L' }
    );
    let used = constraints
        .iter()
        .rposition(|&b| b != 0)
        .map_or(0, |i| i + 1);
    for byte in &constraints[..used] {
        out.push_str(&format!(".{byte:X}"));
    }
    out
}

/// Picture size from an HEVC SPS NAL unit (H.265 7.3.2.2), after the
/// conformance window.
fn sps_dimensions(nal: &[u8]) -> Result<(u32, u32), HevcError> {
    let rbsp = unescape_rbsp(nal.get(2..).ok_or(HevcError::Truncated)?);
    let mut r = BitReader::new(&rbsp);
    let _vps_id = r.read_bits(4)?;
    let max_sub_layers_minus1 = r.read_bits(3)? as usize;
    let _temporal_id_nesting = r.read_flag()?;

    // profile_tier_level(1, max_sub_layers_minus1)
    r.skip_bits(96)?; // general profile (88 bits) and level (8 bits)
    let mut sub_layers = [(false, false); 7];
    for layer in sub_layers.iter_mut().take(max_sub_layers_minus1) {
        *layer = (r.read_flag()?, r.read_flag()?);
    }
    if max_sub_layers_minus1 > 0 {
        r.skip_bits(2 * (8 - max_sub_layers_minus1))?;
    }
    for &(profile_present, level_present) in sub_layers.iter().take(max_sub_layers_minus1) {
        if profile_present {
            r.skip_bits(88)?;
        }
        if level_present {
            r.skip_bits(8)?;
        }
    }

    let _sps_id = r.read_ue()?;
    let chroma_format_idc = r.read_ue()?;
    let separate_colour_plane = chroma_format_idc == 3 && r.read_flag()?;
    let mut width = u64::from(r.read_ue()?);
    let mut height = u64::from(r.read_ue()?);
    if r.read_flag()? {
        let (left, right, top, bottom) = (r.read_ue()?, r.read_ue()?, r.read_ue()?, r.read_ue()?);
        let chroma_array_type = if separate_colour_plane {
            0
        } else {
            chroma_format_idc
        };
        let (unit_x, unit_y) = match chroma_array_type {
            1 => (2, 2),
            2 => (2, 1),
            _ => (1, 1),
        };
        width = width
            .checked_sub((u64::from(left) + u64::from(right)) * unit_x)
            .ok_or(HevcError::SpsRange("horizontal conformance window"))?;
        height = height
            .checked_sub((u64::from(top) + u64::from(bottom)) * unit_y)
            .ok_or(HevcError::SpsRange("vertical conformance window"))?;
    }
    Ok((
        u32::try_from(width).map_err(|_| HevcError::SpsRange("width"))?,
        u32::try_from(height).map_err(|_| HevcError::SpsRange("height"))?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::HVCC_320X240_MAIN;

    #[test]
    fn parses_x265_record() {
        let config = parse_hvcc(&Bytes::from_static(&HVCC_320X240_MAIN)).unwrap();
        assert_eq!((config.width, config.height), (320, 240));
        assert_eq!(config.codec_string, "hvc1.1.6.L60.90");
        assert_eq!(config.nal_length_size, 4);
        assert_eq!(&config.record[..], &HVCC_320X240_MAIN[..]);
    }

    #[test]
    fn rewrites_short_nal_length_size() {
        let mut record = HVCC_320X240_MAIN;
        record[21] = 0x0d;
        let config = parse_hvcc(&Bytes::copy_from_slice(&record)).unwrap();
        assert_eq!(config.nal_length_size, 2);
        assert_eq!(config.record[21], 0x0f);
    }

    #[test]
    fn every_prefix_is_handled() {
        let record = Bytes::from_static(&HVCC_320X240_MAIN);
        for len in 0..record.len() {
            // Prefixes that end after the SPS array are complete enough.
            assert_eq!(
                parse_hvcc(&record.slice(..len)).is_ok(),
                len >= 99,
                "prefix {len}"
            );
        }
        let mut bad = HVCC_320X240_MAIN;
        bad[0] = 0;
        assert_eq!(
            parse_hvcc(&Bytes::copy_from_slice(&bad)),
            Err(HevcError::Version(0))
        );
    }
}
