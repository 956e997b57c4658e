//! How far apart an H.264 source's keyframes are. A source repackaged as it
//! is has its segments cut at its own keyframes, so one whose keyframes are
//! far apart (a screen recording with one keyframe a minute) is encoded
//! instead.

use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use super::job_error;
use super::source::{self, Msg, VideoPlan};
use crate::jobs::JobError;

/// The longest gap between keyframes, in seconds, in the first `window` of
/// the source's H.264 video (read without decoding); a gap still open where
/// the reading stops counts up to there. `None` without video frames.
pub fn longest_keyframe_gap(
    uri: &str,
    window: Duration,
    timeout: Duration,
) -> Result<Option<f64>, JobError> {
    // Dropped on every return, which closes its channel before it stops.
    let source = source::start(uri, VideoPlan::Demux, Vec::new())?;
    let window = i64::try_from(window.as_nanos()).unwrap_or(i64::MAX);
    let deadline = Instant::now() + timeout;
    let mut gaps = Gaps::default();
    loop {
        match source
            .messages()
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
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

    /// Reading stops at the window while the demuxer still has minutes to
    /// push: its streaming thread is then blocked on the full channel, and
    /// stopping the pipeline used to wait for it forever (a probe of a
    /// 10-minute upload hung one time in five).
    #[test]
    fn stopping_before_the_end_of_a_long_source_returns() {
        let file = tempfile::Builder::new()
            .suffix(".mp4")
            .tempfile()
            .expect("temp file");
        let path = file.path().to_string_lossy().into_owned();
        // Three minutes, keyframes every second, audio beside.
        let mut args: Vec<&str> = "-f lavfi -i testsrc2=size=160x90:rate=30 \
             -f lavfi -i sine=frequency=440:sample_rate=48000 -t 180 \
             -c:v libx264 -preset ultrafast -g 30 -sc_threshold 0 -pix_fmt yuv420p -c:a aac"
            .split_whitespace()
            .collect();
        args.push(&path);
        crate::test_media::ffmpeg(&args);
        let uri = format!("file://{path}");
        for _ in 0..20 {
            let (done, finished) = std::sync::mpsc::channel();
            let uri = uri.clone();
            std::thread::spawn(move || {
                let gap =
                    longest_keyframe_gap(&uri, Duration::from_secs(5), Duration::from_secs(20));
                let _ = done.send(gap.map_err(|e| e.message));
            });
            let gap = finished
                .recv_timeout(Duration::from_secs(30))
                .expect("the keyframe reader returns once it has its window");
            let gap = gap.expect("the keyframes read").expect("video frames");
            assert!((gap - 1.0).abs() < 0.01, "longest gap {gap} s");
        }
    }

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
