//! Where segments and keyframes go: pure functions of presentation times, so
//! that every rendition of an asset, made in this job or in another, cuts
//! at the same times.

/// Ticks per second of video times (90 kHz).
pub const VIDEO_TIMESCALE: u64 = packager::TIMESCALE as u64;

/// Half a frame at 60 fps, in 90 kHz ticks: a keyframe this much before a
/// segment's nominal end still ends it (timestamps rounded to ticks, or a
/// source whose keyframes wobble by a fraction of a frame).
pub const CUT_TOLERANCE_TICKS: u64 = VIDEO_TIMESCALE / 120;

/// Decides where a video rendition's segments start: at its first
/// keyframe, then at the first keyframe at least `segment` ticks (less
/// [`CUT_TOLERANCE_TICKS`]) after the current segment's start, or at the
/// first keyframe at or after each of a list of start times. Fed the same
/// keyframe times, every rendition cuts at the same times.
#[derive(Debug, Clone)]
pub struct SegmentCutter {
    rule: CutRule,
    start: Option<u64>,
}

#[derive(Debug, Clone)]
enum CutRule {
    /// Segments of this many ticks.
    Every(u64),
    /// Segments that start at these times (increasing); `next` is the
    /// first one not yet passed.
    At { starts: Vec<u64>, next: usize },
}

impl SegmentCutter {
    /// Segments of `segment_secs` (at least one tick).
    pub fn new(segment_secs: f64) -> Self {
        Self {
            rule: CutRule::Every(secs_to_ticks(segment_secs).max(1)),
            start: None,
        }
    }

    /// Segments starting at `starts` (ticks, increasing): another
    /// rendition's, so that these line up with its.
    pub fn at(starts: Vec<u64>) -> Self {
        Self {
            rule: CutRule::At { starts, next: 0 },
            start: None,
        }
    }

    /// Whether a new segment starts at the keyframe presented at `pts`
    /// (ticks). The first keyframe starts the first segment.
    pub fn keyframe(&mut self, pts: u64) -> bool {
        let reached = pts + CUT_TOLERANCE_TICKS;
        let cut = match (self.start, &mut self.rule) {
            (None, _) => true,
            (Some(start), CutRule::Every(segment)) => {
                reached >= start.saturating_add(*segment) && pts > start
            }
            (Some(start), CutRule::At { starts, next }) => {
                starts.get(*next).is_some_and(|at| reached >= *at) && pts > start
            }
        };
        if cut {
            self.start = Some(pts);
            if let CutRule::At { starts, next } = &mut self.rule {
                while starts.get(*next).is_some_and(|at| *at <= reached) {
                    *next += 1;
                }
            }
        }
        cut
    }
}

/// `secs` in 90 kHz ticks, rounded; negative or not finite is 0.
pub fn secs_to_ticks(secs: f64) -> u64 {
    if secs.is_finite() && secs > 0.0 {
        (secs * VIDEO_TIMESCALE as f64).round() as u64
    } else {
        0
    }
}

/// Where the encoder of [`Keyframes::Every`](crate::vod::transcode_spec::Keyframes::Every)
/// forces keyframes: at the first frame, then at the first frame at or after
/// each multiple of the period from it (less a tolerance of a millisecond,
/// for times rounded to another clock). Times in nanoseconds.
#[derive(Debug, Clone)]
pub struct KeyframeClock {
    period: i64,
    first: Option<i64>,
    /// The next keyframe's nominal time.
    next: i64,
}

/// A millisecond, in nanoseconds.
const KEY_TOLERANCE_NS: i64 = 1_000_000;

impl KeyframeClock {
    pub fn new(period_secs: f64) -> Self {
        let period = if period_secs.is_finite() && period_secs > 0.0 {
            (period_secs * 1e9).round() as i64
        } else {
            i64::MAX
        };
        Self {
            period: period.max(1),
            first: None,
            next: 0,
        }
    }

    /// Whether the frame presented at `pts` (ns) is a keyframe.
    pub fn is_keyframe(&mut self, pts: i64) -> bool {
        let first = *self.first.get_or_insert(pts);
        if pts.saturating_add(KEY_TOLERANCE_NS) < self.next && pts != first {
            return false;
        }
        // The next multiple of the period strictly after this frame.
        let since = (pts - first).saturating_add(KEY_TOLERANCE_NS).max(0);
        let periods = since / self.period + 1;
        self.next = first.saturating_add(periods.saturating_mul(self.period));
        true
    }
}

/// Where an audio rendition's segments end: at the frame boundary nearest
/// each cut time (the video's segment starts, or multiples of its own
/// segment length when the job has no video).
#[derive(Debug, Clone, Default)]
pub struct AudioCuts {
    pending: std::collections::VecDeque<u64>,
}

impl AudioCuts {
    /// A cut wanted near `time` (in the audio timescale). Times must come
    /// in increasing order.
    pub fn add(&mut self, time: u64) {
        if self.pending.back().is_none_or(|last| time > *last) {
            self.pending.push_back(time);
        }
    }

    /// The next cut time, if any.
    pub fn next(&self) -> Option<u64> {
        self.pending.front().copied()
    }

    /// Given the start times of the frames buffered for the current segment
    /// (increasing), where to end the segment: `Some(index)` of the first
    /// frame of the next segment once a frame at or after the next cut
    /// time has arrived, so that the boundary nearest the cut is known.
    /// Cuts that fall at or before the first frame are dropped.
    pub fn cut(&mut self, starts: &[u64]) -> Option<usize> {
        loop {
            let time = self.next()?;
            let after = starts.iter().position(|start| *start >= time)?;
            self.pending.pop_front();
            let index = match after {
                0 => continue,
                i if time - starts[i - 1] < starts[i] - time => i - 1,
                i => i,
            };
            if index == 0 {
                continue;
            }
            return Some(index);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keyframe pts at `fps` every `gop` frames for `frames` frames.
    fn keyframes(fps: f64, gop: usize, frames: usize) -> Vec<u64> {
        (0..frames)
            .step_by(gop)
            .map(|n| (n as f64 * VIDEO_TIMESCALE as f64 / fps).round() as u64)
            .collect()
    }

    fn cuts(cutter: &mut SegmentCutter, keys: &[u64]) -> Vec<u64> {
        keys.iter()
            .copied()
            .filter(|pts| cutter.keyframe(*pts))
            .collect()
    }

    #[test]
    fn cuts_at_the_first_keyframe_after_each_segment_length() {
        // 29.97 fps, a keyframe every 60 frames (2.002 s), 6 s segments.
        let keys = keyframes(30_000.0 / 1001.0, 60, 600);
        let got = cuts(&mut SegmentCutter::new(6.0), &keys);
        let expected: Vec<u64> = keys.iter().copied().step_by(3).collect();
        assert_eq!(got, expected);
        // Keyframes every 2.5 s and 4 s segments: cut at 0, 5, 10...
        let keys = keyframes(30.0, 75, 900);
        let got = cuts(&mut SegmentCutter::new(4.0), &keys);
        assert_eq!(got, [0, 450_000, 900_000, 1_350_000, 1_800_000, 2_250_000]);
    }

    #[test]
    fn a_keyframe_a_hair_early_still_cuts() {
        let mut cutter = SegmentCutter::new(2.0);
        assert!(cutter.keyframe(1000));
        assert!(!cutter.keyframe(1000 + 180_000 - CUT_TOLERANCE_TICKS - 1));
        assert!(cutter.keyframe(1000 + 180_000 - CUT_TOLERANCE_TICKS));
        // A repeated time never makes an empty segment.
        let mut cutter = SegmentCutter::new(0.0);
        assert!(cutter.keyframe(5));
        assert!(!cutter.keyframe(5));
    }

    /// The Copy rendition sees every source keyframe; a rung encoded with
    /// keyframes at the source's has the same ones (in another job, maybe
    /// with a later start): the cuts are the same.
    #[test]
    fn renditions_with_the_same_keyframes_cut_the_same() {
        let keys = [
            0, 40_000, 99_000, 180_000, 260_000, 275_000, 540_000, 600_000,
        ];
        let copy = cuts(&mut SegmentCutter::new(2.0), &keys);
        let rung = cuts(&mut SegmentCutter::new(2.0), &keys);
        assert_eq!(copy, rung);
        assert_eq!(copy, [0, 180_000, 540_000]);
    }

    /// Cut at a recording's segment starts: keyframes between them (every
    /// 1 s in 2 s segments) start nothing; one a hair early still cuts; a
    /// start with no keyframe near it is passed at the next keyframe.
    #[test]
    fn cuts_at_given_starts_only() {
        let starts = vec![1000, 181_000, 361_000, 721_000];
        let keys = [
            1000,
            91_000,
            181_000 - CUT_TOLERANCE_TICKS,
            271_000,
            361_000,
            451_000,
            811_000,
            901_000,
        ];
        let got = cuts(&mut SegmentCutter::at(starts), &keys);
        assert_eq!(got, [1000, 181_000 - CUT_TOLERANCE_TICKS, 361_000, 811_000]);
    }

    #[test]
    fn keyframe_clock_every_two_seconds() {
        // 30 fps from 0.5 s: keyframes at frames 0, 60, 120...
        let mut clock = KeyframeClock::new(2.0);
        let frame = |n: i64| 500_000_000 + n * 1_000_000_000 / 30;
        let keys: Vec<i64> = (0..200).filter(|n| clock.is_keyframe(frame(*n))).collect();
        assert_eq!(keys, [0, 60, 120, 180]);
        // 29.97 fps: the first frame at or after each 2 s.
        let mut clock = KeyframeClock::new(2.0);
        let frame = |n: i64| n * 1_001_000_000_000 / 30_000;
        let keys: Vec<i64> = (0..200).filter(|n| clock.is_keyframe(frame(*n))).collect();
        assert_eq!(keys, [0, 60, 120, 180]);
        // 24 fps and 1.5 s: 36 frames exactly.
        let mut clock = KeyframeClock::new(1.5);
        let frame = |n: i64| n * 1_000_000_000 / 24;
        let keys: Vec<i64> = (0..100).filter(|n| clock.is_keyframe(frame(*n))).collect();
        assert_eq!(keys, [0, 36, 72]);
        // A gap of several periods: one keyframe after it, then on the grid.
        let mut clock = KeyframeClock::new(1.0);
        assert!(clock.is_keyframe(0));
        assert!(!clock.is_keyframe(500_000_000));
        assert!(clock.is_keyframe(3_200_000_000));
        assert!(!clock.is_keyframe(3_900_000_000));
        assert!(clock.is_keyframe(4_000_000_000));
    }

    /// AAC frames of 1024 samples at 48 kHz against video cuts at 2.002 s
    /// steps: each audio cut is the frame boundary nearest the video cut.
    #[test]
    fn audio_cuts_at_the_nearest_frame_boundary() {
        let starts: Vec<u64> = (0..400).map(|n| n * 1024).collect();
        let mut cuts = AudioCuts::default();
        let video_cuts: Vec<u64> = (1..4).map(|n| n * 96_096).collect();
        for &cut in &video_cuts {
            cuts.add(cut);
        }
        let mut segment_start = 0;
        let mut boundaries = Vec::new();
        let mut end = 1;
        while end <= starts.len() {
            if let Some(index) = cuts.cut(&starts[segment_start..end]) {
                segment_start += index;
                boundaries.push(starts[segment_start]);
            } else {
                end += 1;
            }
        }
        assert_eq!(boundaries.len(), video_cuts.len());
        for (boundary, cut) in boundaries.iter().zip(&video_cuts) {
            let nearest = (cut + 512) / 1024 * 1024;
            assert_eq!(*boundary, nearest, "cut at {cut}");
            assert!(boundary.abs_diff(*cut) <= 512);
        }
        // 96_096 / 1024 = 93.84: frame 94 (96_256) is nearer than 93.
        assert_eq!(boundaries[0], 96_256);
    }

    #[test]
    fn audio_cuts_wait_for_a_frame_past_the_cut_and_skip_early_ones() {
        let mut cuts = AudioCuts::default();
        cuts.add(500);
        cuts.add(5000);
        // The audio starts at 1000: the cut at 500 is before it.
        assert_eq!(cuts.cut(&[1000, 2024, 3048, 4072]), None);
        assert_eq!(cuts.next(), Some(5000));
        // 5000 is nearer 5096 than 4072.
        assert_eq!(cuts.cut(&[1000, 2024, 3048, 4072, 5096]), Some(4));
        assert_eq!(cuts.next(), None);
        // Times out of order are ignored.
        cuts.add(9000);
        cuts.add(8000);
        assert_eq!(cuts.next(), Some(9000));
    }
}
