//! Annex B byte streams (start-code delimited NAL units, as in MPEG-TS) and
//! their conversion to 4-byte length-prefixed NAL units (as in MP4 and FLV).

use bytes::{BufMut, Bytes, BytesMut};

/// Iterator over the NAL units of an Annex B byte stream; see [`nal_units`].
#[derive(Debug, Clone)]
pub struct AnnexBNalUnits<'a> {
    rest: &'a [u8],
}

/// Splits an Annex B byte stream on `00 00 01` start codes (a preceding
/// zero byte of a 4-byte start code and trailing zeros are dropped). Bytes
/// before the first start code and empty NAL units are skipped.
pub fn nal_units(data: &[u8]) -> AnnexBNalUnits<'_> {
    let rest = match find_start_code(data) {
        Some(pos) => &data[pos + 3..],
        None => &[],
    };
    AnnexBNalUnits { rest }
}

impl<'a> Iterator for AnnexBNalUnits<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        while !self.rest.is_empty() {
            let (nal, rest) = match find_start_code(self.rest) {
                Some(pos) => (&self.rest[..pos], &self.rest[pos + 3..]),
                None => (self.rest, &[][..]),
            };
            self.rest = rest;
            let end = nal.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
            if end > 0 {
                return Some(&nal[..end]);
            }
        }
        None
    }
}

/// Position of the first `00 00 01` in `data`.
fn find_start_code(data: &[u8]) -> Option<usize> {
    let mut i = 0;
    while i + 2 < data.len() {
        // Skip ahead quickly: a start code's third byte is 1, its second 0.
        match data[i + 2] {
            1 if data[i + 1] == 0 && data[i] == 0 => return Some(i),
            0 => i += 1,
            _ => i += 3,
        }
    }
    None
}

/// Writes NAL units with 4-byte big-endian length prefixes.
pub fn to_length_prefixed<'a>(nals: impl IntoIterator<Item = &'a [u8]> + Clone) -> Bytes {
    let size: usize = nals.clone().into_iter().map(|nal| nal.len() + 4).sum();
    let mut out = BytesMut::with_capacity(size);
    for nal in nals {
        // NAL units come from buffers far smaller than 4 GiB (PES payloads are capped).
        out.put_u32(nal.len() as u32);
        out.put_slice(nal);
    }
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_on_three_and_four_byte_start_codes() {
        let data = [
            0xff, 0, 0, 0, 1, 9, 0xf0, 0, 0, 1, 0x67, 1, 2, 0, 0, 0, 0, 1, 0x65, 0, 0, 3, 1, 0, 0,
        ];
        let nals: Vec<&[u8]> = nal_units(&data).collect();
        assert_eq!(
            nals,
            vec![&[9, 0xf0][..], &[0x67, 1, 2], &[0x65, 0, 0, 3, 1]]
        );
    }

    #[test]
    fn no_start_code_means_no_nal_units() {
        assert_eq!(nal_units(&[1, 2, 3, 0, 0]).count(), 0);
        assert_eq!(nal_units(&[]).count(), 0);
        assert_eq!(nal_units(&[0, 0, 1]).count(), 0);
        assert_eq!(nal_units(&[0, 0, 1, 0, 0, 1, 0, 0, 0, 1]).count(), 0);
    }

    #[test]
    fn every_prefix_is_handled() {
        let data = [0, 0, 0, 1, 9, 0xf0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x65, 7];
        for len in 0..=data.len() {
            let count = nal_units(&data[..len]).count();
            assert!(count <= 3);
        }
    }

    #[test]
    fn converts_to_length_prefixed() {
        let data = [0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x65, 7];
        let out = to_length_prefixed(nal_units(&data));
        assert_eq!(&out[..], &[0, 0, 0, 3, 0x67, 1, 2, 0, 0, 0, 2, 0x65, 7]);
    }
}
