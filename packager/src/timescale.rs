//! Conversions between timescales, in integer arithmetic.

/// `value` ticks of `from` Hz expressed in `to` Hz, rounded to the nearest tick.
pub(crate) fn rescale(value: i64, from: u32, to: u32) -> i64 {
    let scaled = i128::from(value) * i128::from(to);
    let from = i128::from(from);
    saturate((scaled + from / 2).div_euclid(from))
}

/// `value` ticks of `from` Hz expressed in `to` Hz, rounded down.
pub(crate) fn rescale_floor(value: i64, from: u32, to: u32) -> i64 {
    saturate((i128::from(value) * i128::from(to)).div_euclid(i128::from(from)))
}

/// `value` ticks of `from` Hz expressed in `to` Hz, rounded up.
pub(crate) fn rescale_ceil(value: i64, from: u32, to: u32) -> i64 {
    let scaled = i128::from(value) * i128::from(to);
    let from = i128::from(from);
    saturate(-((-scaled).div_euclid(from)))
}

/// A duration in ticks of `timescale` Hz, as seconds.
pub(crate) fn seconds(ticks: u64, timescale: u32) -> f64 {
    ticks as f64 / f64::from(timescale)
}

fn saturate(value: i128) -> i64 {
    i64::try_from(value).unwrap_or(if value < 0 { i64::MIN } else { i64::MAX })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds() {
        assert_eq!(rescale(90_000, 90_000, 48_000), 48_000);
        assert_eq!(rescale(1920, 90_000, 48_000), 1024);
        assert_eq!(rescale(1, 90_000, 48_000), 1);
        assert_eq!(rescale(-1920, 90_000, 48_000), -1024);
        assert_eq!(rescale_ceil(1, 90_000, 48_000), 1);
        assert_eq!(rescale_ceil(1920, 90_000, 48_000), 1024);
        assert_eq!(rescale_ceil(-1, 90_000, 48_000), 0);
        assert_eq!(rescale_floor(2, 90_000, 48_000), 1);
        assert_eq!(rescale_floor(-1, 90_000, 48_000), -1);
        assert_eq!(rescale(i64::MAX, 1, 90_000), i64::MAX);
        assert_eq!(seconds(45_000, 90_000), 0.5);
    }
}
