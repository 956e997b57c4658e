//! Primitives for writing ISO BMFF boxes into one growing buffer.

use bytes::{BufMut, BytesMut};

/// Writes a box: header, then whatever `body` writes, then patches the 32-bit size.
pub(crate) fn write_box(buf: &mut BytesMut, kind: &[u8; 4], body: impl FnOnce(&mut BytesMut)) {
    let start = buf.len();
    buf.put_u32(0);
    buf.put_slice(kind);
    body(buf);
    patch_u32(buf, start, box_size(buf.len() - start));
}

/// Writes a full box (a box with a version byte and 24 bits of flags).
pub(crate) fn write_full_box(
    buf: &mut BytesMut,
    kind: &[u8; 4],
    version: u8,
    flags: u32,
    body: impl FnOnce(&mut BytesMut),
) {
    write_box(buf, kind, |buf| {
        buf.put_u32((u32::from(version) << 24) | (flags & 0x00FF_FFFF));
        body(buf);
    });
}

/// Overwrites four bytes at `at` with a big-endian value.
pub(crate) fn patch_u32(buf: &mut BytesMut, at: usize, value: u32) {
    buf[at..at + 4].copy_from_slice(&value.to_be_bytes());
}

/// Box sizes are 32-bit; everything this crate writes through `write_box` is metadata of a
/// few kilobytes at most, so saturating marks an impossible case instead of wrapping.
fn box_size(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

/// The identity transformation matrix of mvhd and tkhd.
pub(crate) fn put_unity_matrix(buf: &mut BytesMut) {
    for value in [0x0001_0000u32, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000] {
        buf.put_u32(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_boxes_get_their_sizes() {
        let mut buf = BytesMut::new();
        write_box(&mut buf, b"outr", |buf| {
            write_full_box(buf, b"innr", 1, 0x020000, |buf| buf.put_u8(7));
        });
        assert_eq!(
            &buf[..],
            &[
                0, 0, 0, 21, b'o', b'u', b't', b'r', //
                0, 0, 0, 13, b'i', b'n', b'n', b'r', 1, 2, 0, 0, 7
            ]
        );
    }
}
