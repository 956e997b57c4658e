//! Measures a live publish as it arrives: bitrate, frame rate and keyframe
//! interval over a sliding window.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use ingest::{Frame, TIMESCALE, TrackKind};
use serde::Serialize;

const WINDOW: Duration = Duration::from_secs(5);

#[derive(Debug, Default)]
pub struct StatsMeter {
    /// (arrival, bytes) of every frame in the window.
    arrivals: VecDeque<(Instant, usize)>,
    window_bytes: usize,
    /// dts of the video frames in the window.
    video_dts: VecDeque<(Instant, i64)>,
    last_keyframe_dts: Option<i64>,
    keyframe_interval: Option<i64>,
}

/// What the API shows of a live publish.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Measured {
    pub bitrate_kbps: u64,
    pub frame_rate: Option<f64>,
    pub keyframe_interval_secs: Option<f64>,
}

impl StatsMeter {
    pub fn record(&mut self, frame: &Frame, now: Instant) {
        self.arrivals.push_back((now, frame.data.len()));
        self.window_bytes += frame.data.len();
        if frame.kind == TrackKind::Video {
            self.video_dts.push_back((now, frame.dts));
            if frame.keyframe {
                if let Some(last) = self.last_keyframe_dts.filter(|&last| frame.dts > last) {
                    self.keyframe_interval = Some(frame.dts - last);
                }
                self.last_keyframe_dts = Some(frame.dts);
            }
        }
        let horizon = now.checked_sub(WINDOW).unwrap_or(now);
        while let Some(&(at, bytes)) = self.arrivals.front() {
            if at >= horizon {
                break;
            }
            self.window_bytes -= bytes;
            self.arrivals.pop_front();
        }
        while self.video_dts.front().is_some_and(|&(at, _)| at < horizon) {
            self.video_dts.pop_front();
        }
    }

    pub fn measured(&self) -> Measured {
        let span = match (self.arrivals.front(), self.arrivals.back()) {
            (Some(first), Some(last)) => last.0.duration_since(first.0),
            _ => Duration::ZERO,
        };
        let bitrate_kbps = if span >= Duration::from_millis(500) {
            (self.window_bytes as f64 * 8.0 / span.as_secs_f64() / 1000.0) as u64
        } else {
            0
        };
        let frame_rate = match (self.video_dts.front(), self.video_dts.back()) {
            (Some(first), Some(last)) if last.1 > first.1 && self.video_dts.len() > 2 => {
                let secs = (last.1 - first.1) as f64 / TIMESCALE as f64;
                Some(((self.video_dts.len() - 1) as f64 / secs * 100.0).round() / 100.0)
            }
            _ => None,
        };
        Measured {
            bitrate_kbps,
            frame_rate,
            keyframe_interval_secs: self
                .keyframe_interval
                .map(|ticks| ticks as f64 / TIMESCALE as f64),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn measures_a_steady_stream() {
        let mut meter = StatsMeter::default();
        let start = Instant::now();
        // 3 s of 30 fps video, 12 500 bytes a frame = 3 Mbit/s, a keyframe every second.
        for n in 0..90i64 {
            let frame = Frame {
                kind: TrackKind::Video,
                dts: n * 3000,
                pts: n * 3000,
                keyframe: n % 30 == 0,
                data: Bytes::from(vec![0; 12_500]),
            };
            meter.record(&frame, start + Duration::from_millis(n as u64 * 1000 / 30));
        }
        let measured = meter.measured();
        assert_eq!(measured.frame_rate, Some(30.0));
        assert_eq!(measured.keyframe_interval_secs, Some(1.0));
        assert!(
            (2_900..=3_100).contains(&measured.bitrate_kbps),
            "{measured:?}"
        );
    }
}
