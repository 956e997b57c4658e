//! Program specific information: reassembling sections and parsing the
//! program association and program map tables (ISO/IEC 13818-1 2.4.4).

use super::TsError;

/// Sections are at most 1024 bytes (section_length is at most 1021).
const MAX_SECTION: usize = 1024;
const TABLE_PAT: u8 = 0x00;
const TABLE_PMT: u8 = 0x02;

/// Reassembles the sections of one PID from packet payloads.
#[derive(Debug, Default)]
pub(super) struct SectionBuffer {
    buf: Vec<u8>,
    /// Whether a section start has been seen and not yet completed.
    active: bool,
}

impl SectionBuffer {
    /// Feeds one packet payload; returns a complete section (CRC checked).
    pub(super) fn push(
        &mut self,
        unit_start: bool,
        payload: &[u8],
    ) -> Result<Option<Vec<u8>>, TsError> {
        if unit_start {
            let (&pointer, rest) = payload
                .split_first()
                .ok_or(TsError::Section("empty payload"))?;
            let start = rest
                .get(usize::from(pointer)..)
                .ok_or(TsError::Section("pointer field"))?;
            self.buf.clear();
            self.buf.extend_from_slice(start);
            self.active = true;
        } else if self.active {
            self.buf.extend_from_slice(payload);
        } else {
            return Ok(None);
        }
        let Some(header) = self.buf.get(..3) else {
            return Ok(None);
        };
        let total = 3 + ((usize::from(header[1] & 0x0f) << 8) | usize::from(header[2]));
        if !(3 + 9..=MAX_SECTION).contains(&total) {
            self.active = false;
            return Err(TsError::Section("section length"));
        }
        if self.buf.len() < total {
            return Ok(None);
        }
        self.active = false;
        let section = self.buf[..total].to_vec();
        if crc32_mpeg2(&section) != 0 {
            return Err(TsError::Crc);
        }
        Ok(Some(section))
    }
}

/// CRC-32/MPEG-2 (the remainder over a section including its CRC is 0).
fn crc32_mpeg2(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &byte in data {
        crc ^= u32::from(byte) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ 0x04c1_1db7
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// The entries of a long-form section (between its 8-byte header and CRC).
fn section_body(section: &[u8], table_id: u8) -> Result<&[u8], TsError> {
    if section.first() != Some(&table_id) {
        return Err(TsError::Section("unexpected table id"));
    }
    section
        .get(8..section.len().saturating_sub(4))
        .ok_or(TsError::Section("too short"))
}

/// The PMT PID of the first program in a PAT.
pub(super) fn parse_pat(section: &[u8]) -> Result<Option<u16>, TsError> {
    let body = section_body(section, TABLE_PAT)?;
    Ok(body
        .chunks_exact(4)
        .find(|entry| u16::from_be_bytes([entry[0], entry[1]]) != 0)
        .map(|entry| u16::from_be_bytes([entry[2] & 0x1f, entry[3]])))
}

/// The (stream_type, elementary PID) pairs of a PMT.
pub(super) fn parse_pmt(section: &[u8]) -> Result<Vec<(u8, u16)>, TsError> {
    let body = section_body(section, TABLE_PMT)?;
    let info_len = body
        .get(2..4)
        .map(|b| usize::from(u16::from_be_bytes([b[0] & 0x0f, b[1]])));
    let mut rest = body
        .get(4 + info_len.ok_or(TsError::Section("PMT header"))?..)
        .ok_or(TsError::Section("program info length"))?;
    let mut streams = Vec::new();
    while !rest.is_empty() {
        let entry = rest.get(..5).ok_or(TsError::Section("PMT stream entry"))?;
        let pid = u16::from_be_bytes([entry[1] & 0x1f, entry[2]]);
        let es_info_len = usize::from(u16::from_be_bytes([entry[3] & 0x0f, entry[4]]));
        streams.push((entry[0], pid));
        rest = rest
            .get(5 + es_info_len..)
            .ok_or(TsError::Section("ES info length"))?;
    }
    Ok(streams)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// Wraps a long-form section body (after the 8-byte header) with its header and CRC.
    pub(crate) fn section(table_id: u8, body: &[u8]) -> Vec<u8> {
        let len = 5 + body.len() + 4;
        let mut s = vec![
            table_id,
            0xb0 | (len >> 8) as u8,
            len as u8,
            0,
            1,
            0xc1,
            0,
            0,
        ];
        s.extend_from_slice(body);
        let crc = crc32_mpeg2(&s);
        s.extend_from_slice(&crc.to_be_bytes());
        s
    }

    pub(crate) fn pat(pmt_pid: u16) -> Vec<u8> {
        section(
            TABLE_PAT,
            &[0, 1, 0xe0 | (pmt_pid >> 8) as u8, pmt_pid as u8],
        )
    }

    pub(crate) fn pmt(streams: &[(u8, u16)]) -> Vec<u8> {
        let mut body = vec![0xe1, 0x00, 0xf0, 0x00];
        for &(stream_type, pid) in streams {
            body.extend_from_slice(&[stream_type, 0xe0 | (pid >> 8) as u8, pid as u8, 0xf0, 0x00]);
        }
        section(TABLE_PMT, &body)
    }

    #[test]
    fn crc_of_known_pat() {
        // PAT from ffmpeg's mpegts muxer.
        let pat = [
            0x00, 0xb0, 0x0d, 0x00, 0x01, 0xc1, 0x00, 0x00, 0x00, 0x01, 0xf0, 0x00, 0x2a, 0xb1,
            0x04, 0xb2,
        ];
        assert_eq!(crc32_mpeg2(&pat), 0);
        assert_eq!(parse_pat(&pat), Ok(Some(0x1000)));
    }

    #[test]
    fn sections_reassemble_and_parse() {
        let pmt = pmt(&[(0x1b, 0x100), (0x0f, 0x101)]);
        let mut payload = vec![0];
        payload.extend_from_slice(&pmt);
        let mut buffer = SectionBuffer::default();
        let (first, second) = payload.split_at(10);
        assert_eq!(buffer.push(true, first), Ok(None));
        let section = buffer.push(false, second).unwrap().unwrap();
        assert_eq!(parse_pmt(&section), Ok(vec![(0x1b, 0x100), (0x0f, 0x101)]));
    }

    #[test]
    fn bad_sections_are_errors() {
        let mut pmt = pmt(&[(0x1b, 0x100)]);
        let mut buffer = SectionBuffer::default();
        let last = pmt.len() - 1;
        pmt[last] ^= 1;
        let mut payload = vec![0];
        payload.extend_from_slice(&pmt);
        assert_eq!(buffer.push(true, &payload), Err(TsError::Crc));
        assert_eq!(
            buffer.push(true, &[5, 0]),
            Err(TsError::Section("pointer field"))
        );
        assert_eq!(
            buffer.push(true, &[]),
            Err(TsError::Section("empty payload"))
        );
        assert_eq!(
            buffer.push(true, &[0, 2, 0xbf, 0xff]),
            Err(TsError::Section("section length"))
        );
        assert!(parse_pat(&[0x02, 0, 0]).is_err());
        let good = super::tests::pmt(&[(0x1b, 0x100), (0x0f, 0x101)]);
        for len in 0..good.len() {
            let _ = parse_pmt(&good[..len]);
            let _ = buffer.push(true, &good[..len]);
        }
    }
}
