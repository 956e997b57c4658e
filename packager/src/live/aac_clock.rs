//! Decode times of AAC frames.
//!
//! Input timestamps are 90 kHz (and often rounded to milliseconds by RTMP), which cannot
//! express 1024-sample frames exactly. Frames are therefore stamped in the sample-rate
//! timescale as a continuous run of 1024-sample durations, anchored at the first frame and
//! re-anchored when the input jumps (a gap, or a clock that drifted).

use crate::timescale::rescale;
use crate::track::{AAC_FRAME_SAMPLES, TIMESCALE};

/// Frame clock of one AAC track.
#[derive(Debug, Clone)]
pub(crate) struct AacClock {
    sample_rate: u32,
    next: Option<i64>,
}

impl AacClock {
    pub(crate) fn new(sample_rate: u32) -> Self {
        AacClock {
            sample_rate,
            next: None,
        }
    }

    /// The decode time, in sample-rate ticks, for a frame whose input decode time is
    /// `dts_90k`. Call [`AacClock::accept`] once the frame is taken.
    pub(crate) fn stamp(&self, dts_90k: i64) -> i64 {
        let input = rescale(dts_90k, TIMESCALE, self.sample_rate);
        let half_frame = i64::from(AAC_FRAME_SAMPLES / 2);
        match self.next {
            Some(expected) if (input - expected).abs() <= half_frame => expected,
            _ => input,
        }
    }

    /// Advances the clock past a frame stamped `time`.
    pub(crate) fn accept(&mut self, time: i64) {
        self.next = Some(time + i64::from(AAC_FRAME_SAMPLES));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(clock: &mut AacClock, dts_90k: i64) -> i64 {
        let t = clock.stamp(dts_90k);
        clock.accept(t);
        t
    }

    #[test]
    fn millisecond_timestamps_become_exact_frames() {
        let mut clock = AacClock::new(48_000);
        // 21.333 ms frames, rounded to whole milliseconds as RTMP does.
        for k in 0..500i64 {
            let ms = (k * 1024 * 1000 + 24_000) / 48_000;
            assert_eq!(run(&mut clock, 1000 * 90 + ms * 90), 48_000 + k * 1024);
        }
    }

    #[test]
    fn re_anchors_on_a_gap() {
        let mut clock = AacClock::new(44_100);
        assert_eq!(run(&mut clock, 0), 0);
        assert_eq!(run(&mut clock, 2090), 1024);
        // One second of silence missing.
        assert_eq!(run(&mut clock, 90_000 + 4180), 44_100 + 2048);
        assert_eq!(run(&mut clock, 90_000 + 6270), 44_100 + 3072);
    }
}
