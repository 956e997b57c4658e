//! The renditions that one master playlist and one MPD list together.

use std::time::Duration;

use super::rendition::Rendition;
use crate::error::{ConfigError, VodError};

/// Renditions with checked keyframe alignment, ready for [`super::master_playlist`] and
/// [`super::mpd`].
///
/// Manifests list exactly the renditions given here and nothing else: to publish part of a
/// ladder (the rungs finished so far), pass only those. [`Presentation::new`] accepts
/// complete renditions only, so a master playlist never lists a rendition still being
/// written; [`Presentation::growing`] is the exception made for playing an asset while its
/// first rendition is written (HLS only: a static MPD cannot list it).
#[derive(Debug, Clone)]
pub struct Presentation<'a> {
    /// Lowest peak bandwidth first.
    video: Vec<&'a Rendition>,
    /// As given; the first is the default.
    audio: Vec<&'a Rendition>,
    /// The first rendition still being written, if any.
    incomplete: Option<&'a str>,
}

impl<'a> Presentation<'a> {
    /// Checks the renditions: at least one; each complete (so with segments) and with its
    /// own name; every video rendition with the segment start times of the first one (the
    /// ladder cuts every rung at the same keyframes, so a difference is a bug upstream).
    /// Audio is cut at its own frame boundaries and is not compared. Every rendition, audio
    /// too, has its discontinuities before the same segment numbers as the first one: the
    /// MPD makes one Period of the segments between two discontinuities.
    ///
    /// Video variants are ordered lowest peak bandwidth first (ties keep the given order):
    /// players start with the first variant listed, so playback starts quickly on any
    /// connection and adaptation climbs from there. Audio renditions keep the given order,
    /// and the first is the default.
    pub fn new(
        renditions: impl IntoIterator<Item = &'a Rendition>,
    ) -> Result<Presentation<'a>, VodError> {
        let presentation = Self::growing(renditions)?;
        match presentation.incomplete {
            Some(name) => Err(VodError::Incomplete(name.to_owned())),
            None => Ok(presentation),
        }
    }

    /// As [`Presentation::new`], but renditions may still be written: their media playlists
    /// are `EVENT` playlists that players reload. Video renditions written at different paces
    /// would not line up, so more than one video rendition must all be complete.
    pub fn growing(
        renditions: impl IntoIterator<Item = &'a Rendition>,
    ) -> Result<Presentation<'a>, VodError> {
        let mut video: Vec<&Rendition> = Vec::new();
        let mut audio: Vec<&Rendition> = Vec::new();
        let mut incomplete = None;
        for rendition in renditions {
            if !rendition.is_complete() {
                incomplete.get_or_insert(rendition.name());
            }
            if video
                .iter()
                .chain(&audio)
                .any(|other| other.name() == rendition.name())
            {
                return Err(ConfigError::DuplicateRendition(rendition.name().to_owned()).into());
            }
            if rendition.is_video() {
                video.push(rendition);
            } else {
                audio.push(rendition);
            }
        }
        if video.is_empty() && audio.is_empty() {
            return Err(VodError::NoRenditions);
        }
        if video.len() > 1
            && let Some(writing) = video.iter().find(|r| !r.is_complete())
        {
            return Err(VodError::Incomplete(writing.name().to_owned()));
        }
        check_alignment(&video)?;
        let given: Vec<&Rendition> = video.iter().chain(&audio).copied().collect();
        check_discontinuities(&given)?;
        video.sort_by_cached_key(|r| r.bandwidth().peak_bps);
        Ok(Presentation {
            video,
            audio,
            incomplete,
        })
    }

    /// The first rendition still being written, if any.
    pub fn incomplete(&self) -> Option<&'a str> {
        self.incomplete
    }

    /// The video renditions, lowest peak bandwidth first.
    pub fn video(&self) -> &[&'a Rendition] {
        &self.video
    }

    /// The audio renditions in the given order.
    pub fn audio(&self) -> &[&'a Rendition] {
        &self.audio
    }

    /// All renditions: video, then audio.
    pub fn renditions(&self) -> impl Iterator<Item = &'a Rendition> + '_ {
        self.video.iter().chain(&self.audio).copied()
    }

    /// From media time zero to the end of the rendition that ends last, rounded up to the
    /// nanosecond.
    pub fn duration(&self) -> Duration {
        self.renditions()
            .map(|r| nanos_ceil(r.end(), r.timescale()))
            .max()
            .map_or(Duration::ZERO, Duration::from_nanos)
    }

    /// The longest segment of any rendition, rounded up to the nanosecond.
    pub fn longest_segment(&self) -> Duration {
        self.renditions()
            .map(|r| nanos_ceil(u128::from(r.longest_segment()), r.timescale()))
            .max()
            .map_or(Duration::ZERO, Duration::from_nanos)
    }
}

fn nanos_ceil(ticks: u128, timescale: u32) -> u64 {
    let nanos = ticks
        .saturating_mul(1_000_000_000)
        .div_ceil(u128::from(timescale.max(1)));
    u64::try_from(nanos).unwrap_or(u64::MAX)
}

/// Every video rendition has the segment count and start times of the first one. Times are
/// compared exactly across timescales.
fn check_alignment(video: &[&Rendition]) -> Result<(), VodError> {
    let Some((reference, others)) = video.split_first() else {
        return Ok(());
    };
    for rendition in others {
        if rendition.segments().len() != reference.segments().len() {
            return Err(VodError::SegmentCount {
                rendition: rendition.name().to_owned(),
                reference: reference.name().to_owned(),
                count: rendition.segments().len(),
                expected: reference.segments().len(),
            });
        }
        let (timescale, reference_timescale) = (
            u128::from(rendition.timescale()),
            u128::from(reference.timescale()),
        );
        let misaligned = rendition
            .numbered_segments()
            .zip(reference.segments())
            .find(|((_, segment), expected)| {
                u128::from(segment.start) * reference_timescale
                    != u128::from(expected.start) * timescale
            });
        if let Some(((number, _), _)) = misaligned {
            return Err(VodError::Misaligned {
                rendition: rendition.name().to_owned(),
                reference: reference.name().to_owned(),
                number,
            });
        }
    }
    Ok(())
}

/// Every rendition has its discontinuities before the segment numbers the first one has
/// them. A rendition still being written is compared over the segments both have so far.
fn check_discontinuities(renditions: &[&Rendition]) -> Result<(), VodError> {
    let Some((reference, others)) = renditions.split_first() else {
        return Ok(());
    };
    for rendition in others {
        let bound = if rendition.is_complete() && reference.is_complete() {
            u64::MAX
        } else {
            rendition.next_number().min(reference.next_number())
        };
        let difference = first_difference(
            discontinuities_before(rendition, bound),
            discontinuities_before(reference, bound),
        );
        if let Some(number) = difference {
            return Err(VodError::DiscontinuityMismatch {
                rendition: rendition.name().to_owned(),
                reference: reference.name().to_owned(),
                number,
            });
        }
    }
    Ok(())
}

fn discontinuities_before(rendition: &Rendition, bound: u64) -> impl Iterator<Item = u64> {
    rendition
        .discontinuities()
        .take_while(move |&number| number < bound)
}

/// The first number that only one of two increasing sequences has.
fn first_difference(
    mut a: impl Iterator<Item = u64>,
    mut b: impl Iterator<Item = u64>,
) -> Option<u64> {
    loop {
        match (a.next(), b.next()) {
            (Some(x), Some(y)) if x == y => continue,
            (Some(x), Some(y)) => return Some(x.min(y)),
            (x, y) => return x.or(y),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{
        aac, avc, finished, finished_with_discontinuity, segments, segments_from,
    };
    use super::super::rendition::Segment;
    use super::*;

    #[test]
    fn needs_complete_distinct_renditions() {
        assert_eq!(Presentation::new([]).unwrap_err(), VodError::NoRenditions);
        let mut writing = avc("720p", 1280, 720);
        writing.push_segment(segments(&[90_000], 1)[0]).unwrap();
        assert_eq!(
            Presentation::new([&writing]).unwrap_err(),
            VodError::Incomplete("720p".into())
        );
        let a = finished(aac("x", None), segments(&[48_000], 1));
        let v = finished(avc("x", 1280, 720), segments(&[90_000], 1));
        assert_eq!(
            Presentation::new([&v, &a]).unwrap_err(),
            VodError::Config(ConfigError::DuplicateRendition("x".into()))
        );
    }

    #[test]
    fn a_growing_presentation_takes_one_video_rendition_being_written() {
        let mut writing = avc("360p", 640, 360);
        writing.push_segment(segments(&[90_000], 1)[0]).unwrap();
        let mut audio = aac("audio", None);
        audio.push_segment(segments(&[48_000], 1)[0]).unwrap();
        let growing = Presentation::growing([&writing, &audio]).unwrap();
        assert_eq!(growing.incomplete(), Some("360p"));
        assert_eq!(growing.renditions().count(), 2);
        let done = finished(avc("720p", 1280, 720), segments(&[90_000], 1));
        assert_eq!(
            Presentation::growing([&done, &writing]).unwrap_err(),
            VodError::Incomplete("360p".into())
        );
        let complete = Presentation::growing([&done]).unwrap();
        assert_eq!(complete.incomplete(), None);
    }

    #[test]
    fn video_renditions_must_line_up() {
        let reference = finished(avc("720p", 1280, 720), segments(&[90_000; 3], 100));
        let shorter = finished(avc("360p", 640, 360), segments(&[90_000; 2], 10));
        assert_eq!(
            Presentation::new([&reference, &shorter]).unwrap_err(),
            VodError::SegmentCount {
                rendition: "360p".into(),
                reference: "720p".into(),
                count: 2,
                expected: 3,
            }
        );
        // Segment 3 starts one frame late; the durations alone would not show it.
        let mut late = segments(&[90_000; 3], 10);
        late[1].duration += 3000;
        late[2].start += 3000;
        late[2].duration -= 3000;
        let late = finished(avc("360p", 640, 360), late);
        assert_eq!(
            Presentation::new([&reference, &late]).unwrap_err(),
            VodError::Misaligned {
                rendition: "360p".into(),
                reference: "720p".into(),
                number: 3,
            }
        );
        // The last segment may end differently (a rung's last frame); audio is not compared.
        let mut last_longer = segments(&[90_000; 3], 10);
        last_longer[2].duration += 3000;
        let last_longer = finished(avc("360p", 640, 360), last_longer);
        let audio = finished(aac("audio", None), segments(&[48_128, 47_872], 10));
        let presentation = Presentation::new([&reference, &last_longer, &audio]).unwrap();
        assert_eq!(presentation.renditions().count(), 3);
    }

    #[test]
    fn orders_video_by_peak_bandwidth_and_measures_duration() {
        let high = finished(avc("720p", 1280, 720), segments(&[360_000, 180_000], 1000));
        let low = finished(avc("360p", 640, 360), segments(&[360_000, 180_000], 100));
        let audio = finished(
            aac("audio", None),
            vec![Segment {
                start: 0,
                duration: 288_001,
                size: 10,
            }],
        );
        let presentation = Presentation::new([&high, &audio, &low]).unwrap();
        let names: Vec<&str> = presentation.video().iter().map(|r| r.name()).collect();
        assert_eq!(names, ["360p", "720p"]);
        assert_eq!(presentation.audio()[0].name(), "audio");
        // Audio ends last: 288001 / 48000 s, rounded up to the nanosecond.
        assert_eq!(presentation.duration(), Duration::from_nanos(6_000_020_834));
        assert_eq!(
            presentation.longest_segment(),
            Duration::from_nanos(6_000_020_834)
        );
    }

    /// A rendition with two segments of `duration`, a 1-segment gap, a discontinuity to its
    /// own config and one more segment.
    fn with_a_break(rendition: Rendition, duration: u64) -> Rendition {
        let config = rendition.config().clone();
        finished_with_discontinuity(
            rendition,
            segments(&[duration; 2], 10),
            config,
            segments_from(3 * duration, &[duration], 10),
        )
    }

    #[test]
    fn every_rendition_has_the_same_discontinuities() {
        let hd = with_a_break(avc("720p", 1280, 720), 90_000);
        let sd = with_a_break(avc("360p", 640, 360), 90_000);
        let audio = with_a_break(aac("audio", None), 48_000);
        assert!(Presentation::new([&hd, &sd, &audio]).is_ok());

        let mismatch = |rendition: &str, number| VodError::DiscontinuityMismatch {
            rendition: rendition.into(),
            reference: "720p".into(),
            number,
        };
        // The first video rendition is the reference, whatever the order given.
        let unbroken = finished(aac("audio", None), segments(&[48_000; 3], 10));
        assert_eq!(
            Presentation::new([&unbroken, &hd]).unwrap_err(),
            mismatch("audio", 3)
        );
        // The times of `hd`, the discontinuity one segment earlier.
        let (first, rest) = hd.segments().split_first().unwrap();
        let early = finished_with_discontinuity(
            avc("360p", 640, 360),
            vec![*first],
            hd.config().clone(),
            rest.to_vec(),
        );
        assert_eq!(
            Presentation::new([&hd, &early]).unwrap_err(),
            mismatch("360p", 2)
        );
    }

    #[test]
    fn a_rendition_being_written_is_compared_over_what_it_has() {
        let hd = with_a_break(avc("720p", 1280, 720), 90_000);
        let mut audio = aac("audio", None);
        for segment in segments(&[48_000; 2], 10) {
            audio.push_segment(segment).unwrap();
        }
        assert!(Presentation::growing([&hd, &audio]).is_ok());
        let mut unbroken = audio.clone();
        unbroken
            .push_segment(segments_from(96_000, &[48_000], 10)[0])
            .unwrap();
        assert_eq!(
            Presentation::growing([&hd, &unbroken]).unwrap_err(),
            VodError::DiscontinuityMismatch {
                rendition: "audio".into(),
                reference: "720p".into(),
                number: 3,
            }
        );
        audio
            .begin_discontinuity(aac("a", None).config().clone())
            .unwrap();
        assert!(Presentation::growing([&hd, &audio]).is_ok());
        audio
            .push_segment(segments_from(144_000, &[48_000], 10)[0])
            .unwrap();
        assert!(Presentation::growing([&hd, &audio]).is_ok());
    }
}
