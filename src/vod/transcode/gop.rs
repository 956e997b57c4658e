//! How far apart an H.264 source's keyframes are. A source repackaged as it
//! is has its segments cut at its own keyframes, so one whose keyframes are
//! far apart (a screen recording with one keyframe a minute) is encoded
//! instead.

use std::sync::mpsc::{RecvTimeoutError, sync_channel};
use std::time::{Duration, Instant};

use super::source::{self, Msg, VideoPlan};
use super::{CHANNEL_DEPTH, job_error};
use crate::jobs::JobError;

/// The longest gap between keyframes, in seconds, in the first `window` of
/// the source's H.264 video (read without decoding); a gap still open where
/// the reading stops counts up to there. `None` without video frames.
pub fn longest_keyframe_gap(
    uri: &str,
    window: Duration,
    timeout: Duration,
) -> Result<Option<f64>, JobError> {
    let (tx, rx) = sync_channel(CHANNEL_DEPTH);
    let pipeline = source::start(uri, VideoPlan::Demux, Vec::new(), tx)?;
    let window = i64::try_from(window.as_nanos()).unwrap_or(i64::MAX);
    let deadline = Instant::now() + timeout;
    let mut gaps = Gaps::default();
    loop {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(Msg::Video { pts, keyframe, .. }) => {
                if gaps.frame(pts, keyframe) >= window {
                    break;
                }
            }
            Ok(Msg::Failed(failure)) => return Err(failure.into()),
            Ok(Msg::Eos) | Err(RecvTimeoutError::Disconnected) => break,
            Ok(_) => {}
            Err(RecvTimeoutError::Timeout) => {
                return Err(job_error(
                    "timeout",
                    "reading the source's keyframes took too long",
                ));
            }
        }
    }
    drop(pipeline);
    Ok(gaps.longest_secs())
}

/// Keyframe gaps of a stream of frames (ns), in decode order.
#[derive(Debug, Default)]
struct Gaps {
    first: Option<i64>,
    last_keyframe: Option<i64>,
    /// The latest presentation time seen.
    end: Option<i64>,
    longest: i64,
}

impl Gaps {
    /// Takes a frame; returns how far into the stream it is.
    fn frame(&mut self, pts: i64, keyframe: bool) -> i64 {
        let first = *self.first.get_or_insert(pts);
        if keyframe {
            // Frames before the first keyframe cannot be shown: a gap too.
            let since = self.last_keyframe.unwrap_or(first);
            self.longest = self.longest.max(pts - since);
            self.last_keyframe = Some(pts);
        }
        self.end = Some(self.end.map_or(pts, |end| end.max(pts)));
        pts - first
    }

    fn longest_secs(&self) -> Option<f64> {
        let open = self.end? - self.last_keyframe.or(self.first)?;
        Some(self.longest.max(open) as f64 / 1e9)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    fn longest(frames: &[(i64, bool)]) -> Option<f64> {
        let mut gaps = Gaps::default();
        for &(pts, keyframe) in frames {
            gaps.frame(pts, keyframe);
        }
        gaps.longest_secs()
    }

    #[test]
    fn the_longest_gap_counts_the_start_and_the_open_end() {
        assert_eq!(longest(&[]), None);
        let every_two: Vec<(i64, bool)> = (0..30).map(|i| (i * S / 5, i % 10 == 0)).collect();
        assert_eq!(longest(&every_two), Some(2.0));
        // One keyframe, then 20 s without.
        assert_eq!(
            longest(&[(0, true), (10 * S, false), (20 * S, false)]),
            Some(20.0)
        );
        // The first keyframe 7 s in.
        assert_eq!(
            longest(&[(0, false), (7 * S, true), (8 * S, true)]),
            Some(7.0)
        );
        let mut gaps = Gaps::default();
        assert_eq!(gaps.frame(5 * S, true), 0);
        assert_eq!(gaps.frame(8 * S, false), 3 * S);
    }
}
