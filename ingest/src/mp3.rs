//! MPEG audio (MP3) frame headers: sampling rate and channel count.

/// Why an MPEG audio header could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Mp3Error {
    #[error("MPEG audio header truncated")]
    Truncated,
    #[error("no MPEG audio syncword")]
    Sync,
    #[error("reserved MPEG audio version, layer or sampling rate")]
    Reserved,
}

/// The stream parameters in an MPEG audio frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mp3Header {
    /// Sampling rate in Hz.
    pub sample_rate: u32,
    /// 1 (mono) or 2.
    pub channels: u8,
}

/// Parses the MPEG audio frame header at the start of `frame`.
pub fn parse_header(frame: &[u8]) -> Result<Mp3Header, Mp3Error> {
    let h = frame.get(..4).ok_or(Mp3Error::Truncated)?;
    if h[0] != 0xff || h[1] & 0xe0 != 0xe0 {
        return Err(Mp3Error::Sync);
    }
    let version = (h[1] >> 3) & 0x03;
    let layer = (h[1] >> 1) & 0x03;
    let rate_index = (h[2] >> 2) & 0x03;
    if version == 1 || layer == 0 || rate_index == 3 {
        return Err(Mp3Error::Reserved);
    }
    let base = [44100, 48000, 32000][usize::from(rate_index)];
    let sample_rate = match version {
        3 => base,     // MPEG-1
        2 => base / 2, // MPEG-2
        _ => base / 4, // MPEG-2.5
    };
    let channels = if h[3] >> 6 == 3 { 1 } else { 2 };
    Ok(Mp3Header {
        sample_rate,
        channels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_headers() {
        // MPEG-1 Layer III, 128 kb/s, 44.1 kHz, joint stereo.
        assert_eq!(
            parse_header(&[0xff, 0xfb, 0x90, 0x64]),
            Ok(Mp3Header {
                sample_rate: 44100,
                channels: 2
            })
        );
        // MPEG-2 Layer III, 24 kHz, mono.
        assert_eq!(
            parse_header(&[0xff, 0xf3, 0x64, 0xc4]),
            Ok(Mp3Header {
                sample_rate: 24000,
                channels: 1
            })
        );
    }

    #[test]
    fn every_prefix_and_bad_header_is_an_error() {
        let header = [0xff, 0xfb, 0x90, 0x64];
        for len in 0..header.len() {
            assert_eq!(parse_header(&header[..len]), Err(Mp3Error::Truncated));
        }
        assert_eq!(parse_header(&[0xff, 0x1b, 0x90, 0x64]), Err(Mp3Error::Sync));
        assert_eq!(
            parse_header(&[0xff, 0xeb, 0x90, 0x64]),
            Err(Mp3Error::Reserved)
        );
        assert_eq!(
            parse_header(&[0xff, 0xfb, 0x9c, 0x64]),
            Err(Mp3Error::Reserved)
        );
    }
}
