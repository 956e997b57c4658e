//! When each source frame entered the pipeline, and whether it was a
//! keyframe: looked up by pts where the frame comes out decoded or encoded.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

/// Frames remembered; far more than a pipeline holds (about a minute at
/// 60 fps), so only frames long gone are forgotten.
const CAPACITY: usize = 4096;

/// A source frame pushed into the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pushed {
    pub(crate) dts: i64,
    pub(crate) pts: i64,
    pub(crate) at: Instant,
    pub(crate) keyframe: bool,
}

/// The most recently pushed frames, in push (decode) order.
#[derive(Debug, Default)]
pub(crate) struct PushLog {
    order: VecDeque<Pushed>,
    by_pts: HashMap<i64, Pushed>,
}

impl PushLog {
    /// Remembers a pushed frame, forgetting the oldest beyond the capacity.
    pub(crate) fn record(&mut self, pushed: Pushed) {
        if self.order.len() == CAPACITY
            && let Some(old) = self.order.pop_front()
            && self.by_pts.get(&old.pts) == Some(&old)
        {
            self.by_pts.remove(&old.pts);
        }
        self.order.push_back(pushed);
        self.by_pts.insert(pushed.pts, pushed);
    }

    /// The frame pushed with this pts, if still remembered.
    pub(crate) fn get(&self, pts: i64) -> Option<Pushed> {
        self.by_pts.get(&pts).copied()
    }

    /// The dts of the last frame pushed.
    pub(crate) fn last_dts(&self) -> Option<i64> {
        self.order.back().map(|p| p.dts)
    }

    /// When the oldest frame with a dts after `dts` was pushed: the age of
    /// the backlog in front of a stage that has taken frames up to `dts`.
    pub(crate) fn first_after(&self, dts: i64) -> Option<Instant> {
        let index = self.order.partition_point(|p| p.dts <= dts);
        self.order.get(index).map(|p| p.at)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn pushed(start: Instant, n: i64, pts: i64) -> Pushed {
        Pushed {
            dts: n * 3000,
            pts,
            at: start + Duration::from_millis(n as u64),
            keyframe: n % 30 == 0,
        }
    }

    /// Presentation order differs from push order, as with B-frames.
    fn reordered_pts(n: i64) -> i64 {
        (n + [2, 0, 1][(n % 3) as usize]) * 3000
    }

    #[test]
    fn finds_frames_by_pts_and_forgets_the_oldest() {
        let start = Instant::now();
        let mut log = PushLog::default();
        for n in 0..5000 {
            log.record(pushed(start, n, reordered_pts(n)));
        }
        assert_eq!(
            log.get(reordered_pts(4999)),
            Some(pushed(start, 4999, reordered_pts(4999)))
        );
        assert_eq!(
            log.get(reordered_pts(4000)),
            Some(pushed(start, 4000, reordered_pts(4000)))
        );
        assert!(log.get(reordered_pts(5)).is_none(), "forgotten");
    }

    #[test]
    fn backlog_starts_after_the_last_frame_taken() {
        let start = Instant::now();
        let mut log = PushLog::default();
        for n in 0..10 {
            log.record(pushed(start, n, n * 3000));
        }
        assert_eq!(log.first_after(-1), Some(start));
        assert_eq!(
            log.first_after(4 * 3000),
            Some(start + Duration::from_millis(5))
        );
        assert_eq!(log.first_after(9 * 3000), None);
        assert_eq!(log.last_dts(), Some(9 * 3000));
    }
}
