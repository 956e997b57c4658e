//! Sequence parameter set parsing (ITU-T H.264 7.3.2.1.1), enough for the
//! picture size and the decoder configuration record.

use super::{H264Error, nal_type};
use crate::bits::{BitReader, unescape_rbsp};

/// The fields of an SPS that ingest needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sps {
    /// profile_idc (66 Baseline, 77 Main, 100 High, ...).
    pub profile_idc: u8,
    /// The constraint_set flags byte.
    pub constraint_flags: u8,
    /// level_idc (31 for level 3.1).
    pub level_idc: u8,
    /// 0 monochrome, 1 4:2:0, 2 4:2:2, 3 4:4:4.
    pub chroma_format_idc: u32,
    /// Luma bit depth minus 8.
    pub bit_depth_luma_minus8: u32,
    /// Chroma bit depth minus 8.
    pub bit_depth_chroma_minus8: u32,
    /// Display width in pixels, after cropping.
    pub width: u32,
    /// Display height in pixels, after cropping.
    pub height: u32,
}

/// Profiles whose SPS carries chroma format, bit depths and scaling lists.
const HIGH_PROFILES: [u8; 12] = [100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134];

/// Parses an SPS NAL unit (including its one-byte NAL header).
pub fn parse_sps(nal: &[u8]) -> Result<Sps, H264Error> {
    let (&header, payload) = nal.split_first().ok_or(H264Error::NotSps)?;
    if header & 0x1f != nal_type::SPS {
        return Err(H264Error::NotSps);
    }
    let rbsp = unescape_rbsp(payload);
    let mut r = BitReader::new(&rbsp);

    let profile_idc = r.read_bits(8)? as u8;
    let constraint_flags = r.read_bits(8)? as u8;
    let level_idc = r.read_bits(8)? as u8;
    let _seq_parameter_set_id = r.read_ue()?;

    let mut chroma_format_idc = 1;
    let mut separate_colour_plane = false;
    let mut bit_depth_luma_minus8 = 0;
    let mut bit_depth_chroma_minus8 = 0;
    if HIGH_PROFILES.contains(&profile_idc) || profile_idc == 135 {
        chroma_format_idc = r.read_ue()?;
        if chroma_format_idc > 3 {
            return Err(H264Error::SpsRange("chroma_format_idc"));
        }
        if chroma_format_idc == 3 {
            separate_colour_plane = r.read_flag()?;
        }
        bit_depth_luma_minus8 = r.read_ue()?;
        bit_depth_chroma_minus8 = r.read_ue()?;
        let _qpprime_y_zero_transform_bypass = r.read_flag()?;
        if r.read_flag()? {
            let lists = if chroma_format_idc == 3 { 12 } else { 8 };
            for i in 0..lists {
                if r.read_flag()? {
                    skip_scaling_list(&mut r, if i < 6 { 16 } else { 64 })?;
                }
            }
        }
    }

    let _log2_max_frame_num_minus4 = r.read_ue()?;
    match r.read_ue()? {
        0 => {
            let _log2_max_pic_order_cnt_lsb_minus4 = r.read_ue()?;
        }
        1 => {
            let _delta_pic_order_always_zero = r.read_flag()?;
            let _offset_for_non_ref_pic = r.read_se()?;
            let _offset_for_top_to_bottom_field = r.read_se()?;
            let cycle = r.read_ue()?;
            if cycle > 255 {
                return Err(H264Error::SpsRange("num_ref_frames_in_pic_order_cnt_cycle"));
            }
            for _ in 0..cycle {
                let _offset_for_ref_frame = r.read_se()?;
            }
        }
        2 => {}
        _ => return Err(H264Error::SpsRange("pic_order_cnt_type")),
    }
    let _max_num_ref_frames = r.read_ue()?;
    let _gaps_in_frame_num_allowed = r.read_flag()?;
    let width_in_mbs = u64::from(r.read_ue()?) + 1;
    let height_in_map_units = u64::from(r.read_ue()?) + 1;
    let frame_mbs_only = r.read_flag()?;
    if !frame_mbs_only {
        let _mb_adaptive_frame_field = r.read_flag()?;
    }
    let _direct_8x8_inference = r.read_flag()?;

    let field_factor: u64 = if frame_mbs_only { 1 } else { 2 };
    let mut width = width_in_mbs * 16;
    let mut height = field_factor * height_in_map_units * 16;

    if r.read_flag()? {
        let left = u64::from(r.read_ue()?);
        let right = u64::from(r.read_ue()?);
        let top = u64::from(r.read_ue()?);
        let bottom = u64::from(r.read_ue()?);
        let chroma_array_type = if separate_colour_plane {
            0
        } else {
            chroma_format_idc
        };
        let (unit_x, unit_y) = match chroma_array_type {
            0 => (1, field_factor),
            1 => (2, 2 * field_factor),
            2 => (2, field_factor),
            _ => (1, field_factor),
        };
        width = width
            .checked_sub((left + right) * unit_x)
            .ok_or(H264Error::SpsRange("horizontal cropping"))?;
        height = height
            .checked_sub((top + bottom) * unit_y)
            .ok_or(H264Error::SpsRange("vertical cropping"))?;
    }

    Ok(Sps {
        profile_idc,
        constraint_flags,
        level_idc,
        chroma_format_idc,
        bit_depth_luma_minus8,
        bit_depth_chroma_minus8,
        width: u32::try_from(width).map_err(|_| H264Error::SpsRange("width"))?,
        height: u32::try_from(height).map_err(|_| H264Error::SpsRange("height"))?,
    })
}

/// Skips a scaling_list() (7.3.2.1.1.1); only the bit position matters here.
fn skip_scaling_list(r: &mut BitReader<'_>, size: usize) -> Result<(), H264Error> {
    let mut last_scale: i32 = 8;
    let mut next_scale: i32 = 8;
    for _ in 0..size {
        if next_scale != 0 {
            let delta = r.read_se()?;
            next_scale = (last_scale + delta).rem_euclid(256);
        }
        if next_scale != 0 {
            last_scale = next_scale;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::testdata::SPS_320X240_HIGH;

    /// Baseline 1280x720 (no cropping).
    const SPS_1280X720_BASELINE: [u8; 25] = [
        0x67, 0x42, 0xc0, 0x1f, 0xd9, 0x00, 0x50, 0x05, 0xbb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00,
        0x10, 0x00, 0x00, 0x03, 0x03, 0xc0, 0xf1, 0x83, 0x24, 0x80,
    ];

    /// High 1920x1080 (1088 coded lines, 8 cropped).
    const SPS_1920X1080_HIGH: [u8; 27] = [
        0x67, 0x64, 0x00, 0x28, 0xac, 0xd9, 0x40, 0x78, 0x02, 0x27, 0xe5, 0xc0, 0x44, 0x00, 0x00,
        0x03, 0x00, 0x04, 0x00, 0x00, 0x03, 0x00, 0xf0, 0x3c, 0x60, 0xc6, 0x58,
    ];

    /// High 4:4:4 Predictive 640x360 with scaling matrices (x264 `cqm=jvt`).
    const SPS_640X360_HIGH444_CQM: [u8; 27] = [
        0x67, 0xf4, 0x00, 0x1e, 0x91, 0x9b, 0x28, 0x14, 0x05, 0xff, 0x13, 0x80, 0x88, 0x00, 0x00,
        0x03, 0x00, 0x08, 0x00, 0x00, 0x03, 0x01, 0xe0, 0x78, 0xb1, 0x6c, 0xb0,
    ];

    #[test]
    fn parses_dimensions() {
        let sps = parse_sps(&SPS_320X240_HIGH).unwrap();
        assert_eq!((sps.width, sps.height), (320, 240));
        assert_eq!(
            (sps.profile_idc, sps.level_idc, sps.chroma_format_idc),
            (100, 13, 1)
        );
        assert_eq!(super::super::codec_string(&sps), "avc1.64000d");

        let sps = parse_sps(&SPS_1280X720_BASELINE).unwrap();
        assert_eq!((sps.width, sps.height), (1280, 720));

        let sps = parse_sps(&SPS_1920X1080_HIGH).unwrap();
        assert_eq!((sps.width, sps.height), (1920, 1080));

        let sps = parse_sps(&SPS_640X360_HIGH444_CQM).unwrap();
        assert_eq!(
            (sps.width, sps.height, sps.chroma_format_idc),
            (640, 360, 3)
        );
    }

    #[test]
    fn every_prefix_is_handled() {
        for input in [
            &SPS_320X240_HIGH[..],
            &SPS_1280X720_BASELINE,
            &SPS_1920X1080_HIGH,
            &SPS_640X360_HIGH444_CQM,
        ] {
            for len in 0..input.len() {
                let _ = parse_sps(&input[..len]);
            }
        }
    }

    #[test]
    fn rejects_other_nal_types() {
        assert_eq!(parse_sps(&[0x68, 0xeb]), Err(H264Error::NotSps));
        assert_eq!(parse_sps(&[]), Err(H264Error::NotSps));
    }
}
