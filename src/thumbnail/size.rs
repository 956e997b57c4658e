//! The size of a poster: the source scaled down to a maximum width.

/// `width` x `height` scaled to at most `max_width` wide, keeping the aspect
/// ratio, with both sides rounded to even numbers (4:2:0 chroma); `None` when
/// a side would be empty.
pub(super) fn scaled(width: u32, height: u32, max_width: u32) -> Option<(u32, u32)> {
    let out_width = width.min(max_width) & !1;
    if out_width == 0 || height == 0 {
        return None;
    }
    let (width, height_times_width) = (u64::from(width), u64::from(height) * u64::from(out_width));
    // The exact height, rounded to the nearest even number.
    let even_height = (height_times_width + width) / (2 * width) * 2;
    let out_height = u32::try_from(even_height.max(2)).ok()?;
    Some((out_width, out_height))
}

#[cfg(test)]
mod tests {
    use super::scaled;

    #[test]
    fn keeps_aspect_and_even_sides() {
        assert_eq!(scaled(1920, 1080, 640), Some((640, 360)));
        assert_eq!(scaled(1280, 720, 320), Some((320, 180)));
        assert_eq!(scaled(640, 360, 1280), Some((640, 360)));
        assert_eq!(scaled(1280, 720, 333), Some((332, 186)));
        assert_eq!(scaled(720, 1280, 360), Some((360, 640)));
        assert_eq!(scaled(1000, 3, 100), Some((100, 2)));
        assert_eq!(scaled(1921, 1081, 4000), Some((1920, 1080)));
        assert_eq!(scaled(1280, 720, 1), None);
        assert_eq!(scaled(1280, 0, 640), None);
        assert_eq!(scaled(0, 720, 640), None);
    }
}
