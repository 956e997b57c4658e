//! Conversions between the source's 90 kHz ticks and GStreamer nanoseconds.
//!
//! The pipeline runs on a timeline that starts at zero at the first pushed
//! frame (the origin); outputs are mapped back by adding the origin again,
//! so they land on the source's timeline.

use ingest::TIMESCALE;

const NANOS_PER_SECOND: u128 = 1_000_000_000;

/// Ticks (non-negative) to nanoseconds, rounded to nearest.
pub(super) fn ticks_to_nanos(ticks: u64) -> u64 {
    let ticks = u128::from(ticks);
    let scale = u128::from(TIMESCALE);
    let nanos = (ticks * NANOS_PER_SECOND + scale / 2) / scale;
    u64::try_from(nanos).unwrap_or(u64::MAX)
}

/// Nanoseconds to ticks, rounded to nearest.
pub(super) fn nanos_to_ticks(nanos: u64) -> i64 {
    let ticks =
        (u128::from(nanos) * u128::from(TIMESCALE) + NANOS_PER_SECOND / 2) / NANOS_PER_SECOND;
    i64::try_from(ticks).unwrap_or(i64::MAX)
}

/// The duration of `samples` at `rate` Hz, in nanoseconds.
pub(super) fn samples_to_nanos(samples: u64, rate: u32) -> u64 {
    let nanos = u128::from(samples) * NANOS_PER_SECOND / u128::from(rate.max(1));
    u64::try_from(nanos).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_round_trip_through_nanos() {
        for ticks in [0, 1, 2, 1800, 1920, 90_000, 123_456_789, 1 << 40] {
            assert_eq!(nanos_to_ticks(ticks_to_nanos(ticks)), ticks as i64);
        }
        assert_eq!(ticks_to_nanos(90_000), 1_000_000_000);
        assert_eq!(samples_to_nanos(1024, 48_000), 21_333_333);
    }
}
