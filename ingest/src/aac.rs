//! AAC headers: the AudioSpecificConfig (ISO/IEC 14496-3 1.6.2.1) and the
//! ADTS frame header (ISO/IEC 14496-3 1.A.2.2).

use bytes::Bytes;

use crate::bits::{BitError, BitReader};

/// Sampling frequencies by index.
const SAMPLE_RATES: [u32; 13] = [
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];

/// Why AAC headers could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AacError {
    #[error("AudioSpecificConfig: {0}")]
    Bits(#[from] BitError),
    #[error("reserved sampling frequency index {0}")]
    FrequencyIndex(u8),
    #[error("AudioSpecificConfig has no audio object type")]
    NoObjectType,
    #[error("ADTS header truncated")]
    AdtsTruncated,
    #[error("no ADTS syncword")]
    AdtsSync,
    #[error("ADTS frame length {0} is shorter than its header")]
    AdtsLength(usize),
    #[error("ADTS frames with {0} raw data blocks are not supported")]
    AdtsBlocks(u8),
}

/// The fields of an AudioSpecificConfig that ingest needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioSpecificConfig {
    /// Audio object type (2 = AAC-LC, 5 = SBR, 29 = PS).
    pub object_type: u8,
    /// The core sampling rate.
    pub sample_rate: u32,
    /// The channel configuration (0 = defined in the bitstream).
    pub channels: u8,
}

impl AudioSpecificConfig {
    /// RFC 6381 codec string, e.g. `mp4a.40.2`.
    pub fn codec_string(&self) -> String {
        format!("mp4a.40.{}", self.object_type)
    }
}

/// Parses an AudioSpecificConfig.
pub fn parse_asc(data: &[u8]) -> Result<AudioSpecificConfig, AacError> {
    let mut r = BitReader::new(data);
    let object_type = read_object_type(&mut r)?;
    if object_type == 0 {
        return Err(AacError::NoObjectType);
    }
    let sample_rate = read_sample_rate(&mut r)?;
    let channels = r.read_bits(4)? as u8;
    Ok(AudioSpecificConfig {
        object_type,
        sample_rate,
        channels,
    })
}

fn read_object_type(r: &mut BitReader<'_>) -> Result<u8, AacError> {
    let object_type = r.read_bits(5)? as u8;
    Ok(if object_type == 31 {
        32 + r.read_bits(6)? as u8
    } else {
        object_type
    })
}

fn read_sample_rate(r: &mut BitReader<'_>) -> Result<u32, AacError> {
    let index = r.read_bits(4)? as u8;
    if index == 15 {
        return Ok(r.read_bits(24)?);
    }
    SAMPLE_RATES
        .get(usize::from(index))
        .copied()
        .ok_or(AacError::FrequencyIndex(index))
}

/// The AudioSpecificConfig frequency index of a standard sampling rate.
pub fn frequency_index(sample_rate: u32) -> Option<u8> {
    SAMPLE_RATES
        .iter()
        .position(|&rate| rate == sample_rate)
        .map(|i| i as u8)
}

/// Builds a two-byte AudioSpecificConfig (object types below 31, indexed
/// sampling frequencies).
pub fn build_asc(object_type: u8, frequency_index: u8, channels: u8) -> Bytes {
    let value = (u16::from(object_type & 0x1f) << 11)
        | (u16::from(frequency_index & 0x0f) << 7)
        | (u16::from(channels & 0x0f) << 3);
    Bytes::copy_from_slice(&value.to_be_bytes())
}

/// The fields of an ADTS header that ingest needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdtsHeader {
    /// Audio object type (the ADTS profile plus one).
    pub object_type: u8,
    /// Index into the standard sampling frequency table.
    pub frequency_index: u8,
    /// Sampling rate in Hz.
    pub sample_rate: u32,
    /// Channel configuration (0 = defined in the bitstream).
    pub channels: u8,
    /// 7, or 9 with a CRC.
    pub header_len: usize,
    /// Length of the whole frame, header included.
    pub frame_len: usize,
}

impl AdtsHeader {
    /// The AudioSpecificConfig describing this stream.
    pub fn asc(&self) -> Bytes {
        build_asc(self.object_type, self.frequency_index, self.channels)
    }
}

/// Parses the ADTS header at the start of `data`.
pub fn parse_adts(data: &[u8]) -> Result<AdtsHeader, AacError> {
    let h = data.get(..7).ok_or(AacError::AdtsTruncated)?;
    if h[0] != 0xff || h[1] & 0xf6 != 0xf0 {
        return Err(AacError::AdtsSync);
    }
    let protection_absent = h[1] & 0x01 != 0;
    let object_type = (h[2] >> 6) + 1;
    let frequency_index = (h[2] >> 2) & 0x0f;
    let sample_rate = SAMPLE_RATES
        .get(usize::from(frequency_index))
        .copied()
        .ok_or(AacError::FrequencyIndex(frequency_index))?;
    let channels = ((h[2] & 0x01) << 2) | (h[3] >> 6);
    let frame_len =
        (usize::from(h[3] & 0x03) << 11) | (usize::from(h[4]) << 3) | usize::from(h[5] >> 5);
    let blocks = (h[6] & 0x03) + 1;
    let header_len = if protection_absent { 7 } else { 9 };
    if frame_len < header_len {
        return Err(AacError::AdtsLength(frame_len));
    }
    if blocks != 1 {
        return Err(AacError::AdtsBlocks(blocks));
    }
    Ok(AdtsHeader {
        object_type,
        frequency_index,
        sample_rate,
        channels,
        header_len,
        frame_len,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::ASC_AAC_LC_44100_STEREO;

    #[test]
    fn parses_and_builds_asc() {
        let asc = parse_asc(&ASC_AAC_LC_44100_STEREO).unwrap();
        assert_eq!(
            asc,
            AudioSpecificConfig {
                object_type: 2,
                sample_rate: 44100,
                channels: 2
            }
        );
        assert_eq!(asc.codec_string(), "mp4a.40.2");
        assert_eq!(&build_asc(2, 4, 2)[..], &ASC_AAC_LC_44100_STEREO);
        // HE-AAC signalled explicitly, 24 kHz core, mono.
        let he = parse_asc(&[0x2b, 0x08, 0x80]).unwrap();
        assert_eq!((he.object_type, he.sample_rate, he.channels), (5, 24000, 1));
        // Escaped sampling frequency.
        let explicit = parse_asc(&[0x17, 0x80, 0x5d, 0xc0, 0x08]).unwrap();
        assert_eq!((explicit.sample_rate, explicit.channels), (48000, 1));
    }

    #[test]
    fn every_asc_prefix_is_handled() {
        for input in [
            &ASC_AAC_LC_44100_STEREO[..],
            &[0x17, 0x80, 0x5d, 0xc0, 0x08],
        ] {
            for len in 0..input.len() {
                assert!(parse_asc(&input[..len]).is_err());
            }
        }
        assert_eq!(parse_asc(&[0x07, 0x80]), Err(AacError::NoObjectType));
        assert_eq!(parse_asc(&[0x16, 0x80]), Err(AacError::FrequencyIndex(13)));
    }

    /// ADTS header of a 371-byte AAC-LC frame, 44.1 kHz stereo, no CRC.
    const ADTS: [u8; 7] = [0xff, 0xf1, 0x50, 0x80, 0x2e, 0x7f, 0xfc];

    #[test]
    fn parses_adts() {
        let h = parse_adts(&ADTS).unwrap();
        assert_eq!((h.object_type, h.sample_rate, h.channels), (2, 44100, 2));
        assert_eq!((h.header_len, h.frame_len), (7, 371));
        assert_eq!(&h.asc()[..], &ASC_AAC_LC_44100_STEREO);
    }

    #[test]
    fn every_adts_prefix_is_handled() {
        for len in 0..ADTS.len() {
            assert_eq!(parse_adts(&ADTS[..len]), Err(AacError::AdtsTruncated));
        }
        assert_eq!(
            parse_adts(&[0xff, 0x01, 0, 0, 0, 0, 0]),
            Err(AacError::AdtsSync)
        );
        assert_eq!(
            parse_adts(&[0xff, 0xf1, 0x50, 0x80, 0, 0x1f, 0xfc]),
            Err(AacError::AdtsLength(0))
        );
        assert_eq!(
            parse_adts(&[0xff, 0xf1, 0x50, 0x80, 0x2e, 0x7f, 0xfd]),
            Err(AacError::AdtsBlocks(2))
        );
    }
}
