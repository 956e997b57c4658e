//! Which segments a clip is made of: pure, renditions in, renditions out.
//!
//! A clip keeps whole segments, so it is cut at keyframes without
//! re-encoding: from the segment playing at its start to the one playing
//! just before its end. Its segments keep their numbers and init segments,
//! so the clip's files have the same names as the source's (and a copy is a
//! copy of those files); where the source had a discontinuity, so does the
//! clip.

use std::collections::BTreeMap;

use packager::TrackConfig;
use packager::vod::{Presentation, Rendition, Segment, VodError};

/// Why a range makes no clip.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RangeError {
    #[error("start and end must be seconds, start at least 0 and end after start")]
    Invalid,
    #[error("the range starts after the end of the source ({0:.3} s)")]
    OutOfRange(f64),
    #[error("the source has no renditions")]
    Empty,
    #[error("the clip's renditions do not fit together: {0}")]
    Vod(String),
}

impl From<VodError> for RangeError {
    fn from(e: VodError) -> Self {
        RangeError::Vod(e.to_string())
    }
}

/// One segment of a source rendition with what it needs.
struct Numbered<'a> {
    segment: Segment,
    init: u32,
    config: &'a TrackConfig,
}

/// The clip of `renditions` (one presentation) from `start` to `end`
/// seconds, as a player counts them (the sum of the segments before).
/// Renditions missing a segment of the range are left out.
pub fn clip(renditions: &[Rendition], start: f64, end: f64) -> Result<Vec<Rendition>, RangeError> {
    if !(start.is_finite() && end.is_finite() && start >= 0.0 && end > start) {
        return Err(RangeError::Invalid);
    }
    let timeline = renditions
        .iter()
        .find(|r| r.is_video())
        .or(renditions.first())
        .ok_or(RangeError::Empty)?;
    let timescale = f64::from(timeline.timescale().max(1));
    let mut position = 0.0;
    let mut numbers = Vec::new();
    for (number, segment) in timeline.numbered_segments() {
        let duration = segment.duration as f64 / timescale;
        if position + duration > start && position < end {
            numbers.push(number);
        }
        position += duration;
    }
    if numbers.is_empty() {
        return Err(RangeError::OutOfRange(position));
    }
    let clipped = renditions
        .iter()
        .filter_map(|r| clip_rendition(r, &numbers).transpose())
        .collect::<Result<Vec<Rendition>, VodError>>()?;
    Presentation::new(&clipped)?;
    Ok(clipped)
}

/// The segments `numbers` of `rendition`; None when it lacks one.
fn clip_rendition(rendition: &Rendition, numbers: &[u64]) -> Result<Option<Rendition>, VodError> {
    let mut by_number = BTreeMap::new();
    for part in rendition.parts() {
        for (number, segment) in (part.first_number..).zip(part.segments) {
            by_number.insert(
                number,
                Numbered {
                    segment: *segment,
                    init: part.init,
                    config: part.config,
                },
            );
        }
    }
    let Some(chosen) = numbers
        .iter()
        .map(|n| by_number.get(n).map(|s| (*n, s)))
        .collect::<Option<Vec<_>>>()
    else {
        return Ok(None);
    };
    let (first_number, first) = chosen[0];
    let config = first.config.clone();
    let mut clip = match rendition.frame_rate() {
        Some(rate) => Rendition::video(rendition.name(), config, rate)?,
        None => Rendition::audio(rendition.name(), config, rendition.language())?,
    };
    clip.number_from(first.init, first_number)?;
    let mut previous = (first_number, first.init);
    for &(number, numbered) in &chosen {
        if number != first_number && (number != previous.0 + 1 || numbered.init != previous.1) {
            clip.begin_discontinuity_at(numbered.config.clone(), numbered.init, number)?;
        }
        clip.push_segment(numbered.segment)?;
        previous = (number, numbered.init);
    }
    clip.finish()?;
    Ok(Some(clip))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vod::rendition_record::{
        DiscontinuityRecord, RenditionRecord, test_audio_track, test_video_track,
    };

    /// 20 one-second segments numbered 1..=20, the last 8 after a reconnect
    /// (init 1, numbers 13.. after a skipped one).
    fn source(name: &str, video: bool) -> Rendition {
        let track = if video {
            test_video_track(640)
        } else {
            test_audio_track()
        };
        let ticks = u64::from(track.timescale());
        let segments: Vec<[u64; 3]> = (0..20u64)
            .map(|i| {
                let at = if i < 12 { i } else { i + 3 };
                [at * ticks, ticks, 1000]
            })
            .collect();
        RenditionRecord {
            name: name.into(),
            track: track.clone(),
            frame_rate: video.then_some([30, 1]),
            language: None,
            segments,
            complete: true,
            numbered_from: None,
            discontinuities: vec![DiscontinuityRecord {
                index: 12,
                init: 1,
                first_number: 14,
                track,
            }],
        }
        .rendition()
        .unwrap()
    }

    fn numbers(r: &Rendition) -> Vec<u64> {
        r.numbered_segments().map(|(n, _)| n).collect()
    }

    #[test]
    fn a_clip_keeps_whole_segments_with_their_numbers() {
        let renditions = [source("source", true), source("audio", false)];
        let clip = clip(&renditions, 2.5, 6.0).unwrap();
        assert_eq!(clip.len(), 2);
        assert_eq!(numbers(&clip[0]), [3, 4, 5, 6]);
        assert_eq!(numbers(&clip[1]), [3, 4, 5, 6]);
        assert_eq!(clip[0].init_of(3), Some(0));
        assert_eq!(clip[0].discontinuities().count(), 0);
    }

    #[test]
    fn a_clip_across_a_reconnect_keeps_its_discontinuity() {
        let renditions = [source("source", true)];
        let clip = clip(&renditions, 10.0, 15.0).unwrap();
        assert_eq!(numbers(&clip[0]), [11, 12, 14, 15, 16]);
        assert_eq!(clip[0].discontinuities().collect::<Vec<_>>(), [14]);
        assert_eq!(
            (clip[0].init_of(12), clip[0].init_of(14)),
            (Some(0), Some(1))
        );
    }

    #[test]
    fn bad_ranges_are_refused() {
        let renditions = [source("source", true)];
        assert_eq!(clip(&renditions, 5.0, 5.0), Err(RangeError::Invalid));
        assert_eq!(clip(&renditions, -1.0, 5.0), Err(RangeError::Invalid));
        assert_eq!(clip(&renditions, f64::NAN, 5.0), Err(RangeError::Invalid));
        assert_eq!(
            clip(&renditions, 20.0, 25.0),
            Err(RangeError::OutOfRange(20.0))
        );
        assert_eq!(clip(&[], 0.0, 5.0), Err(RangeError::Empty));
        // The end past the source's end takes what there is.
        assert_eq!(numbers(&clip(&renditions, 19.5, 99.0).unwrap()[0]), [21]);
    }
}
