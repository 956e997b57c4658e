//! CMAF fragments: one moof (one traf) followed by its mdat.

use bytes::{BufMut, Bytes, BytesMut};

use super::TRACK_ID;
use super::bx::{patch_u32, write_box, write_full_box};

/// sample_depends_on = 2: a sync sample that depends on no other.
const SYNC_SAMPLE_FLAGS: u32 = 0x0200_0000;
/// sample_depends_on = 1 and sample_is_non_sync_sample = 1.
const NON_SYNC_SAMPLE_FLAGS: u32 = 0x0101_0000;
/// tfhd flag: offsets are relative to the start of the moof.
const DEFAULT_BASE_IS_MOOF: u32 = 0x02_0000;
/// trun flags: data offset, then per sample duration, size, flags and composition offset.
const TRUN_FLAGS: u32 = 0x0001 | 0x0100 | 0x0200 | 0x0400 | 0x0800;
/// moof bytes that do not depend on the sample count: moof, mfhd, traf, tfhd, tfdt (v1) and
/// the fixed part of trun.
const MOOF_FIXED_LEN: usize = 8 + 16 + 8 + 16 + 20 + 20;
/// trun bytes per sample: duration, size, flags, composition offset.
const TRUN_ENTRY_LEN: usize = 16;

/// A sample too large for the 32-bit size field of a trun entry.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("sample of {0} bytes does not fit a 32-bit trun size")]
pub struct SampleTooLarge(pub usize);

/// One sample as it is described in a trun and stored in an mdat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FragmentSample {
    duration: u32,
    composition_offset: i32,
    keyframe: bool,
    data: Bytes,
}

impl FragmentSample {
    /// A sample; its size is checked here so that writing a fragment cannot fail.
    pub fn new(
        data: Bytes,
        duration: u32,
        composition_offset: i32,
        keyframe: bool,
    ) -> Result<Self, SampleTooLarge> {
        if u32::try_from(data.len()).is_err() {
            return Err(SampleTooLarge(data.len()));
        }
        Ok(FragmentSample {
            duration,
            composition_offset,
            keyframe,
            data,
        })
    }

    /// Duration in the track timescale.
    pub fn duration(&self) -> u32 {
        self.duration
    }

    /// Presentation time minus decode time, in the track timescale.
    pub fn composition_offset(&self) -> i32 {
        self.composition_offset
    }

    /// True for a sync sample.
    pub fn keyframe(&self) -> bool {
        self.keyframe
    }

    /// The sample bytes.
    pub fn data(&self) -> &Bytes {
        &self.data
    }

    /// Durations are known only once the next sample arrives.
    pub(crate) fn set_duration(&mut self, duration: u32) {
        self.duration = duration;
    }

    fn size(&self) -> u32 {
        // Checked in `new`.
        self.data.len() as u32
    }

    fn flags(&self) -> u32 {
        if self.keyframe {
            SYNC_SAMPLE_FLAGS
        } else {
            NON_SYNC_SAMPLE_FLAGS
        }
    }
}

/// Writes moof + mdat for `samples` of track 1, copying the sample data once into the result.
///
/// `sequence_number` goes into mfhd (it should increase by one per fragment of a track) and
/// `base_decode_time` into tfdt, in the track timescale.
pub fn fragment(sequence_number: u32, base_decode_time: u64, samples: &[FragmentSample]) -> Bytes {
    let payload: usize = samples.iter().map(|s| s.data.len()).sum();
    let moof_len = MOOF_FIXED_LEN + TRUN_ENTRY_LEN * samples.len();
    let large = payload + 8 > u32::MAX as usize;
    let mdat_header = if large { 16 } else { 8 };
    let mut buf = BytesMut::with_capacity(moof_len + mdat_header + payload);

    let mut data_offset_at = 0;
    write_box(&mut buf, b"moof", |buf| {
        write_full_box(buf, b"mfhd", 0, 0, |buf| buf.put_u32(sequence_number));
        write_box(buf, b"traf", |buf| {
            write_full_box(buf, b"tfhd", 0, DEFAULT_BASE_IS_MOOF, |buf| {
                buf.put_u32(TRACK_ID)
            });
            write_full_box(buf, b"tfdt", 1, 0, |buf| buf.put_u64(base_decode_time));
            // Version 1: signed composition offsets (B-frames may present before decode time).
            write_full_box(buf, b"trun", 1, TRUN_FLAGS, |buf| {
                buf.put_u32(samples.len() as u32);
                data_offset_at = buf.len();
                buf.put_i32(0);
                for sample in samples {
                    buf.put_u32(sample.duration);
                    buf.put_u32(sample.size());
                    buf.put_u32(sample.flags());
                    buf.put_i32(sample.composition_offset);
                }
            });
        });
    });
    let moof_written = buf.len();
    patch_u32(
        &mut buf,
        data_offset_at,
        (moof_written + mdat_header) as u32,
    );

    if large {
        buf.put_u32(1);
        buf.put_slice(b"mdat");
        buf.put_u64((payload + mdat_header) as u64);
    } else {
        buf.put_u32((payload + mdat_header) as u32);
        buf.put_slice(b"mdat");
    }
    for sample in samples {
        buf.put_slice(&sample.data);
    }
    buf.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn be32(b: &[u8], at: usize) -> u32 {
        u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
    }

    #[test]
    fn layout_matches_precomputed_sizes() {
        let samples = [
            FragmentSample::new(Bytes::from_static(b"key"), 3000, 3000, true).unwrap(),
            FragmentSample::new(Bytes::from_static(b"delta!"), 3000, -3000, false).unwrap(),
        ];
        let frag = fragment(7, 123_456_789_000, &samples);
        let moof_len = be32(&frag, 0) as usize;
        assert_eq!(moof_len, MOOF_FIXED_LEN + 2 * TRUN_ENTRY_LEN);
        assert_eq!(&frag[moof_len + 4..moof_len + 8], b"mdat");
        assert_eq!(be32(&frag, moof_len) as usize, 8 + 9);
        assert_eq!(&frag[moof_len + 8..], b"keydelta!");
        assert_eq!(frag.len(), moof_len + 17);
        // mfhd sequence number right after moof header + mfhd full box header.
        assert_eq!(be32(&frag, 8 + 12), 7);
    }

    #[test]
    fn sample_flags() {
        let key = FragmentSample::new(Bytes::new(), 1, 0, true).unwrap();
        let delta = FragmentSample::new(Bytes::new(), 1, 0, false).unwrap();
        assert_eq!(key.flags() >> 24 & 3, 2);
        assert_eq!(key.flags() & 0x0001_0000, 0);
        assert_eq!(delta.flags() >> 24 & 3, 1);
        assert_eq!(delta.flags() & 0x0001_0000, 0x0001_0000);
    }
}
