//! Bitrates of encoded media, as playlists and manifests advertise them.

/// Peak and average bitrate of a rendition, in bits per second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Bandwidth {
    /// The highest bitrate of any one segment (HLS `BANDWIDTH`, DASH `@bandwidth`).
    pub peak_bps: u64,
    /// Total bits over total duration (HLS `AVERAGE-BANDWIDTH`).
    pub average_bps: u64,
}

/// `bytes` delivered over `ticks` of a `timescale` Hz clock, in bits per second rounded up
/// (an advertised bitrate is a bound a client may rely on); 0 for an empty duration.
pub(crate) fn bits_per_second(bytes: u64, ticks: u64, timescale: u32) -> u64 {
    if ticks == 0 {
        return 0;
    }
    let bits = u128::from(bytes) * 8 * u128::from(timescale);
    u64::try_from(bits.div_ceil(u128::from(ticks))).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_up() {
        assert_eq!(bits_per_second(500, 1000, 1000), 4000);
        assert_eq!(bits_per_second(1, 3, 1), 3);
        assert_eq!(bits_per_second(1, 90_000 * 3, 90_000), 3);
        assert_eq!(bits_per_second(1, 7, 90_000), 102_858);
        assert_eq!(bits_per_second(1, 0, 90_000), 0);
        assert_eq!(bits_per_second(u64::MAX, 1, u32::MAX), u64::MAX);
    }
}
