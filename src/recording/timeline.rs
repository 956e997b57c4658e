//! A published replay's timeline: where each moment of the live broadcast
//! sits in it, rebuilt from its timeline rendition (the segments the replay
//! plays, in order) and the program date times recorded for them. Pure.

use std::collections::HashMap;

use packager::vod::FIRST_SEGMENT_NUMBER;

use super::plan::Span;
use crate::vod::rendition_record::{RecordError, RenditionRecord};

/// The spans of a replay whose timeline rendition is `record`; `pdts` maps
/// a live msn to its program date time (unix milliseconds).
pub fn spans_of(
    record: &RenditionRecord,
    pdts: &HashMap<u64, i64>,
) -> Result<Vec<Span>, RecordError> {
    let rendition = record.rendition()?;
    let timescale = f64::from(rendition.timescale().max(1));
    let segments = rendition
        .numbered_segments()
        .map(|(number, segment)| (number, segment.duration as f64 / timescale));
    Ok(spans(segments, pdts))
}

/// The spans of `segments` (file number and seconds, in replay order). A
/// segment without a program date time still takes its place in the replay
/// but makes no span: moments in it show at the next one.
pub fn spans(
    segments: impl IntoIterator<Item = (u64, f64)>,
    pdts: &HashMap<u64, i64>,
) -> Vec<Span> {
    let mut position = 0.0;
    let mut spans = Vec::new();
    for (number, duration) in segments {
        if let Some(&pdt_ms) = live_msn(number).and_then(|msn| pdts.get(&msn)) {
            spans.push(Span {
                position,
                duration,
                pdt_ms,
            });
        }
        position += duration;
    }
    spans
}

/// The live msn of replay segment file `number` (the inverse of
/// [`super::plan::file_number`]).
fn live_msn(number: u64) -> Option<u64> {
    number.checked_sub(FIRST_SEGMENT_NUMBER)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recording::plan::{self, RecordedInit, RecordedSegment};
    use crate::vod::rendition_record::test_audio_track;

    /// One second of audio live as `msn`, `gap` seconds after the broadcast's
    /// start had it kept going.
    fn segment(msn: u64, publish: u32, gap: u64) -> RecordedSegment {
        RecordedSegment {
            rendition: plan::AUDIO.into(),
            msn,
            discontinuity: publish,
            init: 0,
            timescale: 48_000,
            start: (msn + gap) * 48_000,
            duration: 48_000,
            pdt_ms: 1_000_000 + (msn + gap) as i64 * 1000,
            size: 100,
            samples: 47,
        }
    }

    #[test]
    fn the_spans_of_a_published_replay_are_those_its_plan_had() {
        // msn 2 never written; a reconnect 3 s later from msn 5 on.
        let segments: Vec<RecordedSegment> = [0, 1, 3, 4]
            .into_iter()
            .map(|msn| segment(msn, 0, 0))
            .chain((5..8).map(|msn| segment(msn, 1, 3)))
            .collect();
        let inits = [RecordedInit {
            rendition: plan::AUDIO.into(),
            init: 0,
            track: test_audio_track(),
        }];
        let planned = plan::plan(&segments, &inits).unwrap();
        let pdts: HashMap<u64, i64> = segments.iter().map(|s| (s.msn, s.pdt_ms)).collect();
        let spans = spans_of(&planned.renditions[0], &pdts).unwrap();
        assert_eq!(spans, planned.spans);
        assert_eq!(spans[2].position, 2.0, "the lost segment takes no time");
        assert_eq!(plan::position(&spans, 1_002_500), Some(2.0));
        assert_eq!(
            plan::position(&spans, 1_006_000),
            Some(4.0),
            "said while away"
        );
        assert_eq!(plan::position(&spans, 1_009_500), Some(5.5));
    }

    #[test]
    fn a_segment_without_its_time_still_takes_its_place() {
        let pdts = HashMap::from([(0, 5_000), (2, 9_000)]);
        let spans = spans([(1, 2.0), (2, 2.0), (3, 1.5), (0, 1.0)], &pdts);
        assert_eq!(
            spans,
            [
                Span {
                    position: 0.0,
                    duration: 2.0,
                    pdt_ms: 5_000
                },
                Span {
                    position: 4.0,
                    duration: 1.5,
                    pdt_ms: 9_000
                },
            ],
            "number 0 is no live segment"
        );
    }
}
