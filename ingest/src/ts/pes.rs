//! PES packets (ISO/IEC 13818-1 2.4.3.6): reassembly from transport packet
//! payloads, and the header fields that matter (PTS, DTS).

use bytes::{Bytes, BytesMut};

use super::TsError;

/// A complete PES packet.
#[derive(Debug, PartialEq)]
pub(super) struct Pes {
    /// Raw 33-bit timestamps.
    pub pts: Option<u64>,
    pub dts: Option<u64>,
    pub payload: Bytes,
}

/// Reassembles the PES packets of one elementary stream, with a size cap.
#[derive(Debug)]
pub(super) struct PesAssembler {
    buf: BytesMut,
    /// Whether `buf` holds the start of a PES packet that may still complete.
    active: bool,
    last_cc: Option<u8>,
    max_len: usize,
}

impl PesAssembler {
    pub(super) fn new(max_len: usize) -> Self {
        Self {
            buf: BytesMut::new(),
            active: false,
            last_cc: None,
            max_len,
        }
    }

    /// Feeds one transport packet of this stream. Completed PES packets (the
    /// previous one when a new one starts, or this one when its declared
    /// length is reached) go to `on_pes`.
    pub(super) fn push(
        &mut self,
        unit_start: bool,
        cc: u8,
        discontinuity: bool,
        payload: &[u8],
        mut on_pes: impl FnMut(Result<Pes, TsError>),
    ) {
        if let Some(last) = self.last_cc {
            if cc == last && !discontinuity {
                return; // A duplicate packet, allowed once.
            }
            let expected = (last + 1) & 0x0f;
            if cc != expected && !discontinuity && self.active {
                self.active = false;
                on_pes(Err(TsError::Continuity {
                    expected,
                    found: cc,
                }));
            }
        }
        self.last_cc = Some(cc);

        if unit_start {
            if self.active {
                on_pes(parse_pes(self.buf.split().freeze()));
            }
            self.buf.clear();
            self.active = true;
        } else if !self.active {
            return; // Wait for the start of the next PES packet.
        }
        if self.buf.len() + payload.len() > self.max_len {
            self.active = false;
            self.buf.clear();
            on_pes(Err(TsError::PesTooLarge));
            return;
        }
        self.buf.extend_from_slice(payload);
        if self.declared_len().is_some_and(|len| self.buf.len() >= len) {
            self.active = false;
            on_pes(parse_pes(self.buf.split().freeze()));
        }
    }

    /// Completes the PES packet in progress (at the end of the stream).
    pub(super) fn flush(&mut self) -> Option<Result<Pes, TsError>> {
        if !self.active {
            return None;
        }
        self.active = false;
        Some(parse_pes(self.buf.split().freeze()))
    }

    /// Total length from PES_packet_length, when the header declares one.
    fn declared_len(&self) -> Option<usize> {
        let len = usize::from(u16::from_be_bytes([*self.buf.get(4)?, *self.buf.get(5)?]));
        (len != 0).then_some(6 + len)
    }
}

/// Parses a PES packet's header and slices out its payload.
pub(super) fn parse_pes(data: Bytes) -> Result<Pes, TsError> {
    let header = data.get(..9).ok_or(TsError::Pes("truncated header"))?;
    if header[..3] != [0, 0, 1] {
        return Err(TsError::Pes("no start code"));
    }
    if header[6] & 0xc0 != 0x80 {
        return Err(TsError::Pes("no optional header"));
    }
    let flags = header[7] >> 6;
    let payload_start = 9 + usize::from(header[8]);
    let pts = if flags & 0x02 != 0 {
        Some(timestamp(data.get(9..14))?)
    } else {
        None
    };
    let dts = if flags == 0x03 {
        Some(timestamp(data.get(14..19))?)
    } else {
        None
    };
    if payload_start > data.len() {
        return Err(TsError::Pes("header longer than packet"));
    }
    let declared = usize::from(u16::from_be_bytes([header[4], header[5]]));
    let end = if declared == 0 {
        data.len()
    } else {
        (6 + declared).clamp(payload_start, data.len())
    };
    Ok(Pes {
        pts,
        dts,
        payload: data.slice(payload_start..end),
    })
}

/// A 33-bit PTS/DTS from its 5-byte encoding.
fn timestamp(bytes: Option<&[u8]>) -> Result<u64, TsError> {
    let b = bytes.ok_or(TsError::Pes("truncated timestamp"))?;
    Ok((u64::from((b[0] >> 1) & 0x07) << 30)
        | (u64::from(b[1]) << 22)
        | (u64::from(b[2] >> 1) << 15)
        | (u64::from(b[3]) << 7)
        | u64::from(b[4] >> 1))
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// Encodes a 33-bit timestamp with the given 4-bit prefix.
    fn encode_ts(prefix: u8, ts: u64) -> [u8; 5] {
        [
            (prefix << 4) | (((ts >> 30) as u8 & 0x07) << 1) | 1,
            (ts >> 22) as u8,
            (((ts >> 15) as u8) << 1) | 1,
            (ts >> 7) as u8,
            ((ts as u8) << 1) | 1,
        ]
    }

    /// A PES packet with PTS (and DTS if given); `bounded` sets PES_packet_length.
    pub(crate) fn pes(
        stream_id: u8,
        pts: u64,
        dts: Option<u64>,
        payload: &[u8],
        bounded: bool,
    ) -> Vec<u8> {
        let header_len = if dts.is_some() { 10 } else { 5 };
        let len = if bounded {
            3 + header_len + payload.len()
        } else {
            0
        };
        let mut p = vec![0, 0, 1, stream_id, (len >> 8) as u8, len as u8, 0x80];
        p.push(if dts.is_some() { 0xc0 } else { 0x80 });
        p.push(header_len as u8);
        p.extend_from_slice(&encode_ts(if dts.is_some() { 3 } else { 2 }, pts));
        if let Some(dts) = dts {
            p.extend_from_slice(&encode_ts(1, dts));
        }
        p.extend_from_slice(payload);
        p
    }

    #[test]
    fn parses_timestamps_and_payload() {
        let data = Bytes::from(pes(0xe0, (1 << 32) + 12345, Some(9000), &[1, 2, 3], false));
        let parsed = parse_pes(data).unwrap();
        assert_eq!(
            (parsed.pts, parsed.dts),
            (Some((1 << 32) + 12345), Some(9000))
        );
        assert_eq!(&parsed.payload[..], &[1, 2, 3]);
        for len in 0..19 {
            let data = Bytes::from(pes(0xe0, 1, Some(2), &[], false));
            assert!(parse_pes(data.slice(..len)).is_err());
        }
    }

    #[test]
    fn reassembles_bounded_and_unbounded_packets() {
        let mut done = Vec::new();
        let mut assembler = PesAssembler::new(1000);
        let bounded = pes(0xc0, 100, None, &[7; 30], true);
        assembler.push(true, 0, false, &bounded[..20], |r| done.push(r));
        assert!(done.is_empty());
        assembler.push(false, 1, false, &bounded[20..], |r| done.push(r));
        assert_eq!(
            done.pop().unwrap().unwrap().payload.len(),
            30,
            "completes at its declared length"
        );

        let unbounded = pes(0xe0, 200, None, &[8; 30], false);
        assembler.push(true, 2, false, &unbounded, |r| done.push(r));
        assert!(done.is_empty());
        assembler.push(true, 3, false, &unbounded, |r| done.push(r));
        assert_eq!(
            done.pop().unwrap().unwrap().pts,
            Some(200),
            "completes when the next one starts"
        );
        assert_eq!(assembler.flush().unwrap().unwrap().payload.len(), 30);
        assert!(assembler.flush().is_none());
    }

    #[test]
    fn continuity_errors_and_caps_drop_the_packet() {
        let mut done = Vec::new();
        let mut assembler = PesAssembler::new(100);
        let unbounded = pes(0xe0, 200, None, &[8; 30], false);
        assembler.push(true, 0, false, &unbounded, |r| done.push(r));
        assembler.push(false, 0, false, &[1; 10], |r| done.push(r)); // duplicate, ignored
        assembler.push(false, 2, false, &[1; 10], |r| done.push(r));
        assert_eq!(
            done.pop(),
            Some(Err(TsError::Continuity {
                expected: 1,
                found: 2
            }))
        );
        assert!(assembler.flush().is_none());

        assembler.push(true, 3, false, &unbounded, |r| done.push(r));
        assembler.push(false, 4, false, &[0; 80], |r| done.push(r));
        assert_eq!(done.pop(), Some(Err(TsError::PesTooLarge)));
        assert!(assembler.flush().is_none());
    }
}
