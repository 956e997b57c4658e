//! Source timestamps (90 kHz ticks, any origin) to GStreamer buffer times
//! (nanoseconds from zero) and back, exactly.

use gstreamer::ClockTime;
use ingest::TIMESCALE;

/// Nanoseconds per second.
const NANOS: u64 = 1_000_000_000;

/// Maps ticks to buffer times: `origin` ticks are time zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimeBase {
    origin: i64,
}

impl TimeBase {
    /// A time base for a stream whose first frame has these timestamps,
    /// leaving a second of room for frames presented before it.
    pub(crate) fn starting_at(dts: i64, pts: i64) -> Self {
        Self {
            origin: dts.min(pts).saturating_sub(i64::from(TIMESCALE)),
        }
    }

    /// The buffer time of a timestamp; `None` before the origin.
    pub(crate) fn to_clock(self, ticks: i64) -> Option<ClockTime> {
        let since = u64::try_from(ticks.checked_sub(self.origin)?).ok()?;
        let nanos = u128::from(since) * u128::from(NANOS) / u128::from(TIMESCALE);
        u64::try_from(nanos).ok().map(ClockTime::from_nseconds)
    }

    /// The timestamp of a buffer time (rounded to the nearest tick, which
    /// undoes [`to_clock`](Self::to_clock) exactly).
    pub(crate) fn to_ticks(self, time: ClockTime) -> i64 {
        let ticks = (u128::from(time.nseconds()) * u128::from(TIMESCALE) + u128::from(NANOS / 2))
            / u128::from(NANOS);
        self.origin
            .saturating_add(i64::try_from(ticks).unwrap_or(i64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_tick() {
        let base = TimeBase::starting_at(1_000_000, 1_003_003);
        for ticks in (1_000_000 - 90_000..1_000_000 + 200_000).chain([i64::MAX / 100_000]) {
            let time = base.to_clock(ticks).expect("after origin");
            assert_eq!(base.to_ticks(time), ticks);
        }
        assert_eq!(base.to_clock(1_000_000 - 90_000), Some(ClockTime::ZERO));
        assert_eq!(base.to_clock(1_000_000 - 90_001), None);
    }

    #[test]
    fn negative_timestamps() {
        let base = TimeBase::starting_at(-3000, -6000);
        assert_eq!(base.to_clock(-96_000), Some(ClockTime::ZERO));
        assert_eq!(base.to_ticks(ClockTime::from_seconds(1)), -6000);
    }
}
