//! Annex B H.264 (as ffmpeg writes it with `-f h264`) to length-prefixed access units,
//! with picture order counts for presentation times.

/// NAL units of an Annex B byte stream (start codes removed).
fn nal_units(stream: &[u8]) -> Vec<&[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= stream.len() {
        if stream[i] == 0 && stream[i + 1] == 0 && stream[i + 2] == 1 {
            starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    starts
        .iter()
        .enumerate()
        .map(|(k, &start)| {
            let mut end = starts.get(k + 1).map_or(stream.len(), |next| next - 3);
            // A four-byte start code leaves a zero byte at the end of the previous unit.
            while end > start && stream[end - 1] == 0 {
                end -= 1;
            }
            &stream[start..end]
        })
        .collect()
}

/// Exp-Golomb reader over an RBSP (emulation prevention bytes removed).
struct Bits {
    data: Vec<u8>,
    at: usize,
}

impl Bits {
    fn new(nal: &[u8]) -> Bits {
        let mut data = Vec::with_capacity(nal.len());
        let mut zeros = 0;
        for &b in &nal[1..] {
            if zeros >= 2 && b == 3 {
                zeros = 0;
                continue;
            }
            zeros = if b == 0 { zeros + 1 } else { 0 };
            data.push(b);
        }
        Bits { data, at: 0 }
    }

    fn bit(&mut self) -> u32 {
        let bit = (self.data[self.at / 8] >> (7 - self.at % 8)) & 1;
        self.at += 1;
        u32::from(bit)
    }

    fn bits(&mut self, n: u32) -> u32 {
        (0..n).fold(0, |v, _| (v << 1) | self.bit())
    }

    fn ue(&mut self) -> u32 {
        let mut zeros = 0;
        while self.bit() == 0 {
            zeros += 1;
        }
        (1 << zeros) - 1 + self.bits(zeros)
    }
}

/// What slice headers need from the SPS.
struct SpsInfo {
    log2_max_frame_num: u32,
    poc_type: u32,
    log2_max_poc_lsb: u32,
    frame_mbs_only: bool,
}

fn parse_sps(nal: &[u8]) -> SpsInfo {
    let mut b = Bits::new(nal);
    let profile = b.bits(8);
    b.bits(16); // constraint flags, level
    b.ue(); // sps id
    if [100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135].contains(&profile) {
        let chroma_format = b.ue();
        assert_ne!(chroma_format, 3);
        b.ue(); // bit depth luma
        b.ue(); // bit depth chroma
        b.bit(); // qpprime bypass
        assert_eq!(b.bit(), 0, "no scaling matrices from x264 defaults");
    }
    let log2_max_frame_num = b.ue() + 4;
    let poc_type = b.ue();
    let log2_max_poc_lsb = if poc_type == 0 { b.ue() + 4 } else { 0 };
    assert_ne!(poc_type, 1);
    b.ue(); // max ref frames
    b.bit(); // gaps allowed
    b.ue(); // width in macroblocks
    b.ue(); // height in map units
    let frame_mbs_only = b.bit() == 1;
    SpsInfo {
        log2_max_frame_num,
        poc_type,
        log2_max_poc_lsb,
        frame_mbs_only,
    }
}

/// One access unit in decode order.
pub struct AccessUnit {
    pub data: Vec<u8>,
    pub keyframe: bool,
    pub poc: i64,
}

/// Splits the stream into access units of length-prefixed NAL units (parameter sets and
/// delimiters left out: they travel in the avcC record) and computes picture order counts.
pub fn access_units(stream: &[u8]) -> (Vec<AccessUnit>, Vec<u8>, Vec<u8>) {
    let nals = nal_units(stream);
    let sps = nals
        .iter()
        .find(|n| n[0] & 0x1f == 7)
        .expect("SPS")
        .to_vec();
    let pps = nals
        .iter()
        .find(|n| n[0] & 0x1f == 8)
        .expect("PPS")
        .to_vec();
    let info = parse_sps(&sps);
    let max_lsb = 1i64 << info.log2_max_poc_lsb;
    let (mut prev_msb, mut prev_lsb) = (0i64, 0i64);
    let mut units: Vec<AccessUnit> = Vec::new();
    let mut has_slice = false;
    for nal in nals {
        let kind = nal[0] & 0x1f;
        let slice = kind == 1 || kind == 5;
        let mut header = Bits::new(nal);
        let first_slice = slice && header.ue() == 0;
        if units.is_empty() || (has_slice && (first_slice || matches!(kind, 6..=9))) {
            units.push(AccessUnit {
                data: Vec::new(),
                keyframe: false,
                poc: 0,
            });
            has_slice = false;
        }
        let decode_index = units.len() as i64;
        let unit = units.last_mut().unwrap();
        if first_slice {
            header.ue(); // slice type
            header.ue(); // pps id
            header.bits(info.log2_max_frame_num);
            if !info.frame_mbs_only && header.bit() == 1 {
                header.bit();
            }
            if kind == 5 {
                header.ue(); // idr_pic_id
                (prev_msb, prev_lsb) = (0, 0);
            }
            unit.poc = if info.poc_type == 0 {
                let lsb = i64::from(header.bits(info.log2_max_poc_lsb));
                let msb = if lsb < prev_lsb && prev_lsb - lsb >= max_lsb / 2 {
                    prev_msb + max_lsb
                } else if lsb > prev_lsb && lsb - prev_lsb > max_lsb / 2 {
                    prev_msb - max_lsb
                } else {
                    prev_msb
                };
                if nal[0] & 0x60 != 0 {
                    (prev_msb, prev_lsb) = (msb, lsb);
                }
                msb + lsb
            } else {
                // POC type 2: output order is decode order.
                decode_index * 2
            };
        }
        has_slice |= slice;
        unit.keyframe |= kind == 5;
        if !matches!(kind, 7..=9) {
            unit.data
                .extend_from_slice(&(nal.len() as u32).to_be_bytes());
            unit.data.extend_from_slice(nal);
        }
    }
    (units, sps, pps)
}

/// 90 kHz timestamps at 30 fps: decode order as given, presentation order by POC within
/// each IDR period, presentation delayed by the deepest reordering.
pub fn timestamps(units: &[AccessUnit]) -> Vec<(i64, i64)> {
    let mut display = vec![0i64; units.len()];
    let mut start = 0;
    while start < units.len() {
        let end = (start + 1..units.len())
            .find(|&i| units[i].keyframe)
            .unwrap_or(units.len());
        let mut order: Vec<usize> = (start..end).collect();
        order.sort_by_key(|&i| units[i].poc);
        for (rank, i) in order.into_iter().enumerate() {
            display[i] = (start + rank) as i64;
        }
        start = end;
    }
    let delay = (0..units.len())
        .map(|n| n as i64 - display[n])
        .max()
        .unwrap_or(0);
    (0..units.len())
        .map(|n| (n as i64 * 3000, (display[n] + delay) * 3000))
        .collect()
}
