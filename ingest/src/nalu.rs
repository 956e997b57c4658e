//! Length-prefixed NAL units (MP4/FLV framing): validation, and conversion
//! to the 4-byte lengths every [`Frame`](crate::Frame) uses.

use bytes::{BufMut, Bytes, BytesMut};

/// A NAL unit length runs past the end of the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("NAL unit lengths overrun the frame")]
pub struct NalLengthError;

/// Checks that `data` is a sequence of `length_size`-byte length-prefixed NAL
/// units and returns it with 4-byte lengths (without copying when it already
/// has them).
pub(crate) fn with_four_byte_lengths(
    data: Bytes,
    length_size: u8,
) -> Result<Bytes, NalLengthError> {
    let size = usize::from(length_size);
    let mut units = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        let prefix = data.get(pos..pos + size).ok_or(NalLengthError)?;
        let len = prefix
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        let start = pos + size;
        let end = start
            .checked_add(len)
            .filter(|&end| end <= data.len())
            .ok_or(NalLengthError)?;
        if size != 4 {
            units.push(start..end);
        }
        pos = end;
    }
    if size == 4 {
        return Ok(data);
    }
    let mut out = BytesMut::with_capacity(data.len() + units.len() * 3);
    for range in units {
        // Each unit is shorter than the frame, itself far below 4 GiB.
        out.put_u32(range.len() as u32);
        out.put_slice(&data[range]);
    }
    Ok(out.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn four_byte_lengths_pass_through_without_copy() {
        let data = Bytes::from_static(&[0, 0, 0, 2, 0x65, 1, 0, 0, 0, 1, 0x06]);
        let out = with_four_byte_lengths(data.clone(), 4).unwrap();
        assert_eq!(out.as_ptr(), data.as_ptr());
    }

    #[test]
    fn short_lengths_are_widened() {
        let data = Bytes::from_static(&[0, 2, 0x65, 1, 0, 1, 0x06]);
        let out = with_four_byte_lengths(data, 2).unwrap();
        assert_eq!(&out[..], &[0, 0, 0, 2, 0x65, 1, 0, 0, 0, 1, 0x06]);
        let out = with_four_byte_lengths(Bytes::from_static(&[1, 0x41]), 1).unwrap();
        assert_eq!(&out[..], &[0, 0, 0, 1, 0x41]);
    }

    #[test]
    fn every_truncation_is_an_error() {
        let data = Bytes::from_static(&[0, 0, 0, 2, 0x65, 1, 0, 0, 0, 1, 0x06]);
        for len in 1..data.len() {
            let expect_ok = len == 6;
            assert_eq!(
                with_four_byte_lengths(data.slice(..len), 4).is_ok(),
                expect_ok,
                "len {len}"
            );
        }
        assert!(with_four_byte_lengths(Bytes::from_static(&[0xff, 0xff, 0xff, 0xff]), 4).is_err());
    }
}
