//! The AVCDecoderConfigurationRecord (ISO/IEC 14496-15 5.3.3.1), carried in
//! the RTMP AVC sequence header and in MP4's `avcC` box.

use bytes::{BufMut, Bytes, BytesMut};

use super::{H264Error, Sps, parse_sps};

/// A parsed decoder configuration record.
#[derive(Debug, Clone, PartialEq)]
pub struct AvcConfig {
    /// Bytes used for each NAL unit length in frames (1, 2 or 4).
    pub nal_length_size: u8,
    /// The first SPS, parsed.
    pub sps: Sps,
    /// The record, rewritten if needed so that `nal_length_size` reads 4
    /// (ingest always emits 4-byte NAL lengths).
    pub record: Bytes,
}

/// Parses a record and parses its first SPS.
pub fn parse_avcc(record: &Bytes) -> Result<AvcConfig, H264Error> {
    let header = record.get(..6).ok_or(H264Error::AvccTruncated)?;
    if header[0] != 1 {
        return Err(H264Error::AvccVersion(header[0]));
    }
    let nal_length_size = (header[4] & 0x03) + 1;
    if header[5] & 0x1f == 0 {
        return Err(H264Error::AvccNoSps);
    }
    let sps_len = usize::from(u16::from_be_bytes([
        *record.get(6).ok_or(H264Error::AvccTruncated)?,
        *record.get(7).ok_or(H264Error::AvccTruncated)?,
    ]));
    let sps = record.get(8..8 + sps_len).ok_or(H264Error::AvccTruncated)?;
    let sps = parse_sps(sps)?;

    let record = if nal_length_size == 4 {
        record.clone()
    } else {
        let mut rewritten = BytesMut::from(&record[..]);
        rewritten[4] |= 0x03;
        rewritten.freeze()
    };
    Ok(AvcConfig {
        nal_length_size,
        sps,
        record,
    })
}

/// Builds a record (with 4-byte NAL lengths) from one SPS and its PPSs.
pub fn build_avcc(sps_nal: &[u8], pps_nals: &[&[u8]]) -> Result<Bytes, H264Error> {
    let sps = parse_sps(sps_nal)?;
    let sps_len = u16::try_from(sps_nal.len()).map_err(|_| H264Error::ParameterSetTooLong)?;
    let pps_count = u8::try_from(pps_nals.len()).map_err(|_| H264Error::ParameterSetTooLong)?;

    let mut out = BytesMut::with_capacity(
        16 + sps_nal.len() + pps_nals.iter().map(|p| p.len() + 2).sum::<usize>(),
    );
    out.put_u8(1);
    out.put_u8(sps.profile_idc);
    out.put_u8(sps.constraint_flags);
    out.put_u8(sps.level_idc);
    out.put_u8(0xff); // 6 reserved bits, lengthSizeMinusOne = 3
    out.put_u8(0xe1); // 3 reserved bits, one SPS
    out.put_u16(sps_len);
    out.put_slice(sps_nal);
    out.put_u8(pps_count);
    for pps in pps_nals {
        out.put_u16(u16::try_from(pps.len()).map_err(|_| H264Error::ParameterSetTooLong)?);
        out.put_slice(pps);
    }
    if matches!(sps.profile_idc, 100 | 110 | 122 | 244) {
        // The extension these profiles require (chroma format, bit depths, no SPS ext).
        out.put_u8(0xfc | (sps.chroma_format_idc & 0x03) as u8);
        out.put_u8(0xf8 | (sps.bit_depth_luma_minus8 & 0x07) as u8);
        out.put_u8(0xf8 | (sps.bit_depth_chroma_minus8 & 0x07) as u8);
        out.put_u8(0);
    }
    Ok(out.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::{PPS_320X240_HIGH, SPS_320X240_HIGH};

    #[test]
    fn build_then_parse_round_trips() {
        let record = build_avcc(&SPS_320X240_HIGH, &[&PPS_320X240_HIGH]).unwrap();
        assert_eq!(&record[..8], &[1, 0x64, 0x00, 0x0d, 0xff, 0xe1, 0, 25]);
        assert_eq!(record.len(), 8 + 25 + 1 + 2 + 6 + 4);
        let parsed = parse_avcc(&record).unwrap();
        assert_eq!(parsed.nal_length_size, 4);
        assert_eq!((parsed.sps.width, parsed.sps.height), (320, 240));
        assert_eq!(parsed.record, record);
    }

    #[test]
    fn rewrites_short_nal_length_size() {
        let mut record =
            BytesMut::from(&build_avcc(&SPS_320X240_HIGH, &[&PPS_320X240_HIGH]).unwrap()[..]);
        record[4] = 0xfd; // 2-byte lengths
        let parsed = parse_avcc(&record.freeze()).unwrap();
        assert_eq!(parsed.nal_length_size, 2);
        assert_eq!(parsed.record[4], 0xff);
    }

    #[test]
    fn every_prefix_is_handled() {
        let record = build_avcc(&SPS_320X240_HIGH, &[&PPS_320X240_HIGH]).unwrap();
        for len in 0..record.len() {
            let _ = parse_avcc(&record.slice(..len));
        }
        assert_eq!(
            parse_avcc(&Bytes::from_static(&[0, 0, 0, 0, 0, 0])),
            Err(H264Error::AvccVersion(0))
        );
        assert_eq!(
            parse_avcc(&Bytes::from_static(&[1, 0, 0, 0, 0xff, 0xe0])),
            Err(H264Error::AvccNoSps)
        );
    }
}
