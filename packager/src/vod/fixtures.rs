//! Renditions for the unit tests of this module.

use super::rendition::{FrameRate, Rendition, Segment};
use crate::track::TrackConfig;
use crate::track::fixtures::{audio, video};

/// A 30 fps H.264 rendition without segments.
pub(crate) fn avc(name: &str, width: u32, height: u32) -> Rendition {
    let mut config = video();
    config.width = width;
    config.height = height;
    Rendition::video(name, config, FrameRate::new(30, 1).unwrap()).unwrap()
}

/// A 48 kHz stereo AAC rendition without segments.
pub(crate) fn aac(name: &str, language: Option<&str>) -> Rendition {
    Rendition::audio(name, audio(), language).unwrap()
}

/// Contiguous segments from time zero with the given durations, all of `size` bytes.
pub(crate) fn segments(durations: &[u64], size: u64) -> Vec<Segment> {
    let sized: Vec<(u64, u64)> = durations.iter().map(|d| (*d, size)).collect();
    sized_segments(&sized)
}

/// Contiguous segments from time zero of the given (duration, size).
pub(crate) fn sized_segments(segments: &[(u64, u64)]) -> Vec<Segment> {
    let mut start = 0;
    segments
        .iter()
        .map(|&(duration, size)| {
            let segment = Segment {
                start,
                duration,
                size,
            };
            start += duration;
            segment
        })
        .collect()
}

/// `rendition` with `segments`, finished.
pub(crate) fn finished(mut rendition: Rendition, segments: Vec<Segment>) -> Rendition {
    for segment in segments {
        rendition.push_segment(segment).unwrap();
    }
    rendition.finish().unwrap();
    rendition
}

/// Contiguous segments from `start` with the given durations, all of `size` bytes.
pub(crate) fn segments_from(start: u64, durations: &[u64], size: u64) -> Vec<Segment> {
    segments(durations, size)
        .into_iter()
        .map(|s| Segment {
            start: s.start + start,
            ..s
        })
        .collect()
}

/// `rendition` with `before`, a discontinuity to `config`, `after`, finished.
pub(crate) fn finished_with_discontinuity(
    mut rendition: Rendition,
    before: Vec<Segment>,
    config: TrackConfig,
    after: Vec<Segment>,
) -> Rendition {
    for segment in before {
        rendition.push_segment(segment).unwrap();
    }
    rendition.begin_discontinuity(config).unwrap();
    finished(rendition, after)
}
