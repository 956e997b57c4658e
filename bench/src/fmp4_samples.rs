//! Reads the decode times of the samples in one fMP4 fragment (moof/traf:
//! tfdt and trun durations), enough to know which frames a part holds.

use anyhow::Context;

/// Decode times of every sample in the fragment, in the track's timescale.
pub fn sample_decode_times(fragment: &[u8]) -> anyhow::Result<Vec<u64>> {
    let moof = find_box(fragment, b"moof").context("no moof")?;
    let traf = find_box(moof, b"traf").context("no traf")?;
    let tfhd = find_box(traf, b"tfhd").context("no tfhd")?;
    let tfdt = find_box(traf, b"tfdt").context("no tfdt")?;
    let trun = find_box(traf, b"trun").context("no trun")?;
    let tfhd_flags = u32::from_be_bytes([0, tfhd[1], tfhd[2], tfhd[3]]);
    let mut default_duration = None;
    if tfhd_flags & 0x08 != 0 {
        // Skip track id, then the optional fields before default-sample-duration.
        let mut at = 8;
        if tfhd_flags & 0x01 != 0 {
            at += 8;
        }
        if tfhd_flags & 0x02 != 0 {
            at += 4;
        }
        default_duration = Some(read_u32(tfhd, at)?);
    }
    let mut time = match tfdt[0] {
        1 => u64::from_be_bytes(tfdt.get(4..12).context("short tfdt")?.try_into()?),
        _ => read_u32(tfdt, 4)? as u64,
    };
    let flags = u32::from_be_bytes([0, trun[1], trun[2], trun[3]]);
    let count = read_u32(trun, 4)? as usize;
    let mut at = 8;
    if flags & 0x01 != 0 {
        at += 4;
    }
    if flags & 0x04 != 0 {
        at += 4;
    }
    let mut times = Vec::with_capacity(count);
    for _ in 0..count {
        times.push(time);
        let duration = if flags & 0x100 != 0 {
            let d = read_u32(trun, at)?;
            at += 4;
            d
        } else {
            default_duration.context("no sample durations")?
        };
        at += 4 * [0x200, 0x400, 0x800]
            .iter()
            .filter(|&&bit| flags & bit != 0)
            .count();
        time += duration as u64;
    }
    Ok(times)
}

fn read_u32(data: &[u8], at: usize) -> anyhow::Result<u32> {
    Ok(u32::from_be_bytes(
        data.get(at..at + 4).context("short box")?.try_into()?,
    ))
}

/// The payload of the first child box of `kind`.
fn find_box<'a>(mut data: &'a [u8], kind: &[u8; 4]) -> Option<&'a [u8]> {
    while data.len() >= 8 {
        let size = u32::from_be_bytes(data[..4].try_into().ok()?) as usize;
        if size < 8 || size > data.len() {
            return None;
        }
        if &data[4..8] == kind {
            return Some(&data[8..size]);
        }
        data = &data[size..];
    }
    None
}
