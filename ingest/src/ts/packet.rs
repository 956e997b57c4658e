//! 188-byte transport stream packets: finding them in arbitrary chunks and
//! parsing their headers (ISO/IEC 13818-1 2.4.3.2).

use super::TsError;

pub(super) const PACKET_LEN: usize = 188;
const SYNC: u8 = 0x47;

/// The parts of a transport packet the demuxer uses.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct TsPacket<'a> {
    pub pid: u16,
    /// payload_unit_start_indicator: a PES packet or PSI section starts here.
    pub unit_start: bool,
    pub continuity_counter: u8,
    /// The adaptation field's discontinuity_indicator.
    pub discontinuity: bool,
    pub has_payload: bool,
    pub payload: &'a [u8],
}

/// Parses one 188-byte packet.
pub(super) fn parse_packet(data: &[u8]) -> Result<TsPacket<'_>, TsError> {
    let header = data
        .get(..4)
        .filter(|h| h[0] == SYNC)
        .ok_or(TsError::Sync { skipped: 0 })?;
    if header[1] & 0x80 != 0 {
        return Err(TsError::TransportError);
    }
    let unit_start = header[1] & 0x40 != 0;
    let pid = (u16::from(header[1] & 0x1f) << 8) | u16::from(header[2]);
    let adaptation = header[3] & 0x20 != 0;
    let has_payload = header[3] & 0x10 != 0;
    let continuity_counter = header[3] & 0x0f;

    let mut start = 4;
    let mut discontinuity = false;
    if adaptation {
        let len = usize::from(*data.get(4).ok_or(TsError::AdaptationField)?);
        discontinuity = len > 0 && data.get(5).is_some_and(|flags| flags & 0x80 != 0);
        start = 5 + len;
        if start > data.len() {
            return Err(TsError::AdaptationField);
        }
    }
    let payload = if has_payload { &data[start..] } else { &[] };
    Ok(TsPacket {
        pid,
        unit_start,
        continuity_counter,
        discontinuity,
        has_payload,
        payload,
    })
}

/// Cuts a byte stream that arrives in chunks of any size into aligned
/// 188-byte packets, skipping garbage until two sync bytes 188 apart (or a
/// sync byte at the end of the data) line up again.
#[derive(Debug, Default)]
pub(super) struct PacketSync {
    /// The start of a packet cut by the end of the previous chunk (begins with a sync byte).
    partial: Vec<u8>,
}

impl PacketSync {
    /// Calls `on_packet` for each complete packet in `data`; returns the number
    /// of bytes skipped as garbage.
    pub(super) fn push(&mut self, mut data: &[u8], mut on_packet: impl FnMut(&[u8])) -> usize {
        let mut skipped = 0;
        if !self.partial.is_empty() {
            let take = (PACKET_LEN - self.partial.len()).min(data.len());
            self.partial.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.partial.len() < PACKET_LEN {
                return 0;
            }
            let packet = std::mem::take(&mut self.partial);
            if data.first().is_none_or(|&b| b == SYNC) {
                on_packet(&packet);
            } else {
                // The rest of the stream does not line up: the pieces did not belong together.
                skipped += PACKET_LEN;
            }
        }
        while !data.is_empty() {
            if !aligned(data, 0) {
                let next = (1..data.len())
                    .find(|&pos| aligned(data, pos))
                    .unwrap_or(data.len());
                skipped += next;
                data = &data[next..];
                continue;
            }
            if data.len() < PACKET_LEN {
                self.partial.extend_from_slice(data);
                break;
            }
            on_packet(&data[..PACKET_LEN]);
            data = &data[PACKET_LEN..];
        }
        skipped
    }
}

/// Whether a packet plausibly starts at `pos`.
fn aligned(data: &[u8], pos: usize) -> bool {
    data[pos] == SYNC && data.get(pos + PACKET_LEN).is_none_or(|&b| b == SYNC)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(pid: u16, cc: u8, fill: u8) -> Vec<u8> {
        let mut p = vec![SYNC, 0x40 | (pid >> 8) as u8, pid as u8, 0x10 | cc];
        p.resize(PACKET_LEN, fill);
        p
    }

    #[test]
    fn parses_header_and_adaptation_field() {
        let p = packet(0x100, 5, 0xaa);
        let parsed = parse_packet(&p).unwrap();
        assert_eq!(
            (parsed.pid, parsed.unit_start, parsed.continuity_counter),
            (0x100, true, 5)
        );
        assert_eq!(parsed.payload.len(), 184);

        let mut p = packet(0x101, 0, 0);
        p[3] = 0x30;
        p[4] = 7;
        p[5] = 0x80;
        let parsed = parse_packet(&p).unwrap();
        assert!(parsed.discontinuity);
        assert_eq!(parsed.payload.len(), 188 - 12);

        p[4] = 200;
        assert_eq!(parse_packet(&p), Err(TsError::AdaptationField));
        p[1] |= 0x80;
        assert_eq!(parse_packet(&p), Err(TsError::TransportError));
        for len in 0..PACKET_LEN {
            let _ = parse_packet(&packet(1, 0, 0)[..len]);
        }
    }

    #[test]
    fn reassembles_packets_across_any_chunking() {
        let stream: Vec<u8> = (0..20u8).flat_map(|i| packet(0x100, i & 0x0f, i)).collect();
        for chunk in [1, 7, 100, 187, 188, 189, 1316, 1456, 5000] {
            let mut sync = PacketSync::default();
            let mut seen = Vec::new();
            let mut skipped = 0;
            for piece in stream.chunks(chunk) {
                skipped += sync.push(piece, |p| seen.push(p[PACKET_LEN - 1]));
            }
            assert_eq!(skipped, 0, "chunk {chunk}");
            assert_eq!(seen, (0..20).collect::<Vec<u8>>(), "chunk {chunk}");
        }
    }

    #[test]
    fn resyncs_after_garbage() {
        let mut stream = vec![0x47, 1, 2, 3, 0x47, 9];
        stream.extend(packet(0x100, 0, 1));
        stream.extend(packet(0x100, 1, 2));
        stream.extend([0x12; 50]);
        stream.extend(packet(0x100, 2, 3));
        let mut sync = PacketSync::default();
        let mut seen = Vec::new();
        let skipped = sync.push(&stream, |p| seen.push(p[PACKET_LEN - 1]));
        // The packet followed by garbage cannot be trusted either.
        assert_eq!(seen, vec![1, 3]);
        assert_eq!(skipped, 6 + PACKET_LEN + 50);
    }
}
