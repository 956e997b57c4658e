//! Tuning of the live window.

use std::time::Duration;

/// How parts, segments and the DVR window of a [`super::LivePackager`] are sized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveOptions {
    /// Longest part (EXT-X-PART-INF:PART-TARGET). Default 200 ms.
    pub part_target: Duration,
    /// Shortest segment: a segment is cut at the first leader keyframe at or after this.
    /// Default 1 s.
    pub segment_target: Duration,
    /// How much media stays listed (and in memory) behind the live edge. Default 300 s.
    pub dvr_window: Duration,
}

impl Default for LiveOptions {
    fn default() -> Self {
        LiveOptions {
            part_target: Duration::from_millis(200),
            segment_target: Duration::from_secs(1),
            dvr_window: Duration::from_secs(300),
        }
    }
}

/// Allowed overshoot of a part and undershoot of a segment: RTMP timestamps are rounded to
/// whole milliseconds, so a "200 ms" part of 30 fps video can measure 201 ms.
pub(crate) const TIMESTAMP_TOLERANCE: Duration = Duration::from_millis(2);

impl LiveOptions {
    /// Options with the invariants the segmenter relies on: a part of at least 10 ms, a
    /// segment at least one part long, a window at least one segment long.
    pub(crate) fn sanitized(self) -> LiveOptions {
        let part_target = self.part_target.max(Duration::from_millis(10));
        let segment_target = self.segment_target.max(part_target);
        let dvr_window = self.dvr_window.max(segment_target);
        LiveOptions {
            part_target,
            segment_target,
            dvr_window,
        }
    }
}

/// A duration in ticks of `timescale` Hz, rounded to the nearest tick.
pub(crate) fn ticks(duration: Duration, timescale: u32) -> u64 {
    let ticks = (duration.as_nanos() * u128::from(timescale) + 500_000_000) / 1_000_000_000;
    u64::try_from(ticks).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_to_ticks() {
        assert_eq!(ticks(Duration::from_millis(200), 90_000), 18_000);
        assert_eq!(ticks(TIMESTAMP_TOLERANCE, 48_000), 96);
    }

    #[test]
    fn sanitizes_nonsense() {
        let options = LiveOptions {
            part_target: Duration::ZERO,
            segment_target: Duration::ZERO,
            dvr_window: Duration::ZERO,
        }
        .sanitized();
        assert_eq!(options.part_target, Duration::from_millis(10));
        assert_eq!(options.segment_target, Duration::from_millis(10));
        assert_eq!(options.dvr_window, Duration::from_millis(10));
        assert_eq!(LiveOptions::default().sanitized(), LiveOptions::default());
    }
}
