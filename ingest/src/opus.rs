//! The Opus identification header ("OpusHead", RFC 7845 5.1).

/// Why an OpusHead could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpusError {
    #[error("OpusHead truncated")]
    Truncated,
    #[error("not an OpusHead")]
    Magic,
}

/// Opus always decodes at 48 kHz, whatever the input rate was.
pub const OPUS_SAMPLE_RATE: u32 = 48_000;

/// The channel count of an OpusHead.
pub fn parse_channels(head: &[u8]) -> Result<u8, OpusError> {
    let head = head.get(..19).ok_or(OpusError::Truncated)?;
    if &head[..8] != b"OpusHead" {
        return Err(OpusError::Magic);
    }
    Ok(head[9])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::OPUS_HEAD_STEREO;

    #[test]
    fn parses_channels_and_rejects_prefixes() {
        assert_eq!(parse_channels(&OPUS_HEAD_STEREO), Ok(2));
        for len in 0..OPUS_HEAD_STEREO.len() {
            assert_eq!(
                parse_channels(&OPUS_HEAD_STEREO[..len]),
                Err(OpusError::Truncated)
            );
        }
        let mut bad = OPUS_HEAD_STEREO;
        bad[0] = b'o';
        assert_eq!(parse_channels(&bad), Err(OpusError::Magic));
    }
}
