//! What a replay is made of, decided from a broadcast's recorded segments:
//! which renditions it lists, which segments, and where its discontinuities
//! are. Pure: the rows go in, rendition records come out.
//!
//! A replay lists the publish's own tracks (`source`, `audio`) and every
//! transcoded rung recorded for all of the same segments; a rung shed or
//! started late is left out (the VOD ladder makes it again). Segments are
//! the ones every listed track has; the files keep the numbers the live
//! playlist gave them, so a segment missing from the recording, a reconnect
//! or a changed init segment becomes a discontinuity.

use std::collections::{BTreeMap, HashMap};

use packager::vod::{Presentation, Rendition};

use crate::vod::rendition_record::{DiscontinuityRecord, RenditionRecord, TrackRecord};

/// The source video rendition and the audio rendition of a live broadcast.
pub const SOURCE: &str = "source";
pub const AUDIO: &str = "audio";

/// The name a live rendition is recorded under: the publish's own tracks
/// keep theirs; a transcoded rung is `live-{name}`, apart from the rung of
/// the VOD ladder that replaces it (its files are still fetched by players
/// that loaded the replay before).
pub fn recorded_name(live_name: &str) -> String {
    match live_name {
        SOURCE | AUDIO => live_name.to_owned(),
        rung => format!("{LIVE_RUNG_PREFIX}{rung}"),
    }
}

const LIVE_RUNG_PREFIX: &str = "live-";

/// Whether recorded rendition `name` is a live rung.
pub fn is_live_rung(name: &str) -> bool {
    name.starts_with(LIVE_RUNG_PREFIX)
}

/// One recorded segment (a row of `recording_segments`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedSegment {
    pub rendition: String,
    pub msn: u64,
    pub discontinuity: u32,
    pub init: u32,
    pub timescale: u32,
    pub start: u64,
    pub duration: u64,
    pub pdt_ms: i64,
    pub size: u64,
    pub samples: u64,
}

/// One recorded init segment (a row of `recording_inits`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedInit {
    pub rendition: String,
    pub init: u32,
    pub track: TrackRecord,
}

/// A stretch of the replay: a segment of its timeline rendition, where it
/// sits in the replay and when it was live.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Span {
    /// Seconds into the replay where it starts.
    pub position: f64,
    pub duration: f64,
    /// Its program date time, unix milliseconds.
    pub pdt_ms: i64,
}

/// A replay's renditions and its timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayPlan {
    pub renditions: Vec<RenditionRecord>,
    pub spans: Vec<Span>,
    /// The recorded rungs left out, and why.
    pub left_out: Vec<String>,
}

/// Why a recording makes no replay.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlanError {
    #[error("nothing of the broadcast was recorded")]
    Nothing,
    #[error("the recorded renditions do not make a presentation: {0}")]
    Presentation(String),
}

/// The replay of the recorded `segments` (any order) with their `inits`.
pub fn plan(segments: &[RecordedSegment], inits: &[RecordedInit]) -> Result<ReplayPlan, PlanError> {
    let tracks: HashMap<(&str, u32), &TrackRecord> = inits
        .iter()
        .map(|i| ((i.rendition.as_str(), i.init), &i.track))
        .collect();
    // Per rendition, by msn: only segments whose init segment was recorded play.
    let mut by_rendition: BTreeMap<&str, BTreeMap<u64, &RecordedSegment>> = BTreeMap::new();
    for segment in segments {
        if tracks.contains_key(&(segment.rendition.as_str(), segment.init)) {
            by_rendition
                .entry(&segment.rendition)
                .or_default()
                .insert(segment.msn, segment);
        }
    }
    let required: Vec<&str> = [SOURCE, AUDIO]
        .into_iter()
        .filter(|name| by_rendition.contains_key(name))
        .collect();
    let Some(&timeline) = required.first() else {
        return Err(PlanError::Nothing);
    };
    let msns: Vec<u64> = by_rendition[timeline]
        .keys()
        .copied()
        .filter(|msn| required.iter().all(|r| by_rendition[r].contains_key(msn)))
        .collect();
    if msns.is_empty() {
        return Err(PlanError::Nothing);
    }
    let mut left_out = Vec::new();
    let mut with_rungs = required.clone();
    for (name, recorded) in by_rendition
        .iter()
        .filter(|(name, _)| !required.contains(name))
    {
        let missing = msns
            .iter()
            .filter(|msn| !recorded.contains_key(msn))
            .count();
        if missing == 0 {
            with_rungs.push(name);
        } else {
            left_out.push(format!(
                "{name}: {missing} of {} segments missing",
                msns.len()
            ));
        }
    }
    let build = |names: &[&str]| -> Result<Vec<RenditionRecord>, PlanError> {
        let breaks = breaks(&msns, names, &by_rendition);
        let records: Vec<RenditionRecord> = names
            .iter()
            .map(|name| record(name, &msns, &breaks, &by_rendition[name], &tracks))
            .collect();
        check(&records)?;
        Ok(records)
    };
    let renditions = match build(&with_rungs) {
        Ok(records) => records,
        Err(e) if with_rungs.len() > required.len() => {
            left_out.push(format!("{}: {e}", with_rungs[required.len()..].join(", ")));
            build(&required)?
        }
        Err(e) => return Err(e),
    };
    let spans = spans(&msns, &by_rendition[timeline]);
    Ok(ReplayPlan {
        renditions,
        spans,
        left_out,
    })
}

/// Indexes into `msns` where a discontinuity begins: numbers skipped, a
/// reconnect, or a new init segment in any listed rendition.
fn breaks(
    msns: &[u64],
    names: &[&str],
    by_rendition: &BTreeMap<&str, BTreeMap<u64, &RecordedSegment>>,
) -> Vec<usize> {
    (1..msns.len())
        .filter(|&i| {
            msns[i] != msns[i - 1] + 1
                || names.iter().any(|name| {
                    let (before, now) = (
                        &by_rendition[name][&msns[i - 1]],
                        &by_rendition[name][&msns[i]],
                    );
                    (before.discontinuity, before.init) != (now.discontinuity, now.init)
                })
        })
        .collect()
}

fn record(
    name: &str,
    msns: &[u64],
    breaks: &[usize],
    recorded: &BTreeMap<u64, &RecordedSegment>,
    tracks: &HashMap<(&str, u32), &TrackRecord>,
) -> RenditionRecord {
    let segments: Vec<&RecordedSegment> = msns.iter().map(|msn| recorded[msn]).collect();
    let track = |segment: &RecordedSegment| (*tracks[&(name, segment.init)]).clone();
    let first = segments[0];
    let numbers = (first.init, file_number(first.msn));
    let discontinuities = breaks
        .iter()
        .map(|&index| DiscontinuityRecord {
            index,
            init: segments[index].init,
            first_number: file_number(segments[index].msn),
            track: track(segments[index]),
        })
        .collect();
    let track = track(first);
    let frame_rate = (track.codec == crate::vod::rendition_record::RecordCodec::H264)
        .then(|| frame_rate(&segments));
    RenditionRecord {
        name: name.to_owned(),
        track,
        frame_rate,
        language: None,
        segments: segments
            .iter()
            .map(|s| [s.start, s.duration, s.size])
            .collect(),
        complete: true,
        numbered_from: (numbers != (0, packager::vod::FIRST_SEGMENT_NUMBER)).then_some(numbers),
        discontinuities,
    }
}

/// The file number of live segment `msn`: `seg-<msn + 1>.m4s`, as VOD
/// segments count from 1.
pub fn file_number(msn: u64) -> u64 {
    msn + packager::vod::FIRST_SEGMENT_NUMBER
}

/// The frame rate the segments were recorded at: frames over seconds, as a
/// whole number or an NTSC rate (×1000/1001) when one is that close, else
/// in thousandths.
fn frame_rate(segments: &[&RecordedSegment]) -> [u32; 2] {
    let samples: u64 = segments.iter().map(|s| s.samples).sum();
    let ticks: u64 = segments.iter().map(|s| s.duration).sum();
    let timescale = segments.first().map_or(1, |s| s.timescale).max(1);
    if samples == 0 || ticks == 0 {
        return [30, 1];
    }
    let fps = samples as f64 * f64::from(timescale) / ticks as f64;
    // Tighter than the 0.1 % between 30 and 29.97.
    let close = |rate: f64| (fps - rate).abs() <= rate * 0.0004;
    let whole = fps.round();
    if close(whole) {
        return [whole as u32, 1];
    }
    let ntsc = (fps * 1.001).round();
    if close(ntsc * 1000.0 / 1001.0) {
        return [ntsc as u32 * 1000, 1001];
    }
    [(fps * 1000.0).round() as u32, 1000]
}

/// The records make renditions that one master playlist can list together.
fn check(records: &[RenditionRecord]) -> Result<(), PlanError> {
    let renditions = records
        .iter()
        .map(RenditionRecord::rendition)
        .collect::<Result<Vec<Rendition>, _>>()
        .map_err(|e| PlanError::Presentation(e.to_string()))?;
    Presentation::new(&renditions)
        .map(drop)
        .map_err(|e| PlanError::Presentation(e.to_string()))
}

fn spans(msns: &[u64], timeline: &BTreeMap<u64, &RecordedSegment>) -> Vec<Span> {
    let mut position = 0.0;
    msns.iter()
        .map(|msn| {
            let segment = timeline[msn];
            let duration = segment.duration as f64 / f64::from(segment.timescale.max(1));
            let span = Span {
                position,
                duration,
                pdt_ms: segment.pdt_ms,
            };
            position += duration;
            span
        })
        .collect()
}

/// Where in the replay something said at `unix_ms` (the live edge's program
/// date time when it was said) shows: inside the segment that was live
/// then, or at the start of the next one when it was said between two
/// (while the publisher was away). None after the last segment.
pub fn position(spans: &[Span], unix_ms: i64) -> Option<f64> {
    let index = spans.partition_point(|s| s.pdt_ms + (s.duration * 1000.0) as i64 <= unix_ms);
    let span = spans.get(index)?;
    let into = ((unix_ms - span.pdt_ms) as f64 / 1000.0).clamp(0.0, span.duration);
    Some(span.position + into)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vod::rendition_record::{test_audio_track, test_video_track};

    fn init(rendition: &str, init: u32) -> RecordedInit {
        RecordedInit {
            rendition: rendition.into(),
            init,
            track: if rendition == AUDIO {
                test_audio_track()
            } else {
                test_video_track(if rendition == SOURCE { 1280 } else { 640 })
            },
        }
    }

    /// Segment `msn` of one second, of a publish starting at `msn` `from`
    /// two seconds after the previous one ended.
    fn segment(rendition: &str, msn: u64, discontinuity: u32) -> RecordedSegment {
        let timescale = if rendition == AUDIO { 48_000 } else { 90_000 };
        let seconds = msn + 2 * u64::from(discontinuity);
        RecordedSegment {
            rendition: rendition.into(),
            msn,
            discontinuity,
            init: discontinuity,
            timescale,
            start: seconds * u64::from(timescale),
            duration: u64::from(timescale),
            pdt_ms: 1_000_000 + seconds as i64 * 1000,
            size: 1000,
            samples: if rendition == AUDIO { 47 } else { 30 },
        }
    }

    fn broadcast(
        renditions: &[&str],
        msns: std::ops::Range<u64>,
        reconnect_at: u64,
    ) -> Vec<RecordedSegment> {
        renditions
            .iter()
            .flat_map(|r| {
                msns.clone()
                    .map(move |msn| segment(r, msn, u32::from(msn >= reconnect_at)))
            })
            .collect()
    }

    fn inits(renditions: &[&str]) -> Vec<RecordedInit> {
        renditions
            .iter()
            .flat_map(|r| [init(r, 0), init(r, 1)])
            .collect()
    }

    fn names(plan: &ReplayPlan) -> Vec<&str> {
        plan.renditions.iter().map(|r| r.name.as_str()).collect()
    }

    #[test]
    fn a_whole_broadcast_replays_every_rendition_with_its_reconnect() {
        let all = [SOURCE, AUDIO, "360p"];
        let plan = plan(&broadcast(&all, 0..6, 4), &inits(&all)).unwrap();
        assert_eq!(names(&plan), [SOURCE, AUDIO, "360p"]);
        for record in &plan.renditions {
            assert_eq!(record.segments.len(), 6);
            assert_eq!(
                record.numbered_from, None,
                "msn 0 is seg-00001, init 0 init.mp4"
            );
            assert_eq!(record.discontinuities.len(), 1);
            assert_eq!(
                (
                    record.discontinuities[0].index,
                    record.discontinuities[0].init,
                    record.discontinuities[0].first_number
                ),
                (4, 1, 5)
            );
        }
        assert_eq!(plan.renditions[0].frame_rate, Some([30, 1]));
        assert_eq!(plan.renditions[1].frame_rate, None);
        assert_eq!(plan.spans.len(), 6);
        assert_eq!(plan.spans[4].position, 4.0);
        // Said during second 2 of the broadcast; said while the publisher was away.
        assert_eq!(position(&plan.spans, 1_002_500), Some(2.5));
        assert_eq!(position(&plan.spans, 1_004_500), Some(4.0));
        assert_eq!(position(&plan.spans, 1_006_000), Some(4.0));
        assert_eq!(position(&plan.spans, 1_007_250), Some(5.25));
        assert_eq!(position(&plan.spans, 1_009_000), None);
        assert_eq!(position(&plan.spans, 0), Some(0.0));
    }

    #[test]
    fn a_rung_missing_a_segment_is_left_out_and_lost_segments_become_discontinuities() {
        let mut segments = broadcast(&[SOURCE, AUDIO, "360p"], 0..8, 100);
        // The rung was shed at 3; audio segment 5 and both of 0 never got written.
        segments.retain(|s| {
            let lost =
                (s.rendition == "360p" && s.msn == 3) || (s.rendition == AUDIO && s.msn == 5);
            !lost && s.msn != 0
        });
        let plan = plan(&segments, &inits(&[SOURCE, AUDIO, "360p"])).unwrap();
        assert_eq!(names(&plan), [SOURCE, AUDIO]);
        assert_eq!(plan.left_out, ["360p: 1 of 6 segments missing"]);
        let source = &plan.renditions[0];
        assert_eq!(source.segments.len(), 6, "1-4, 6, 7");
        assert_eq!(source.numbered_from, Some((0, 2)));
        let jumps: Vec<(usize, u64)> = source
            .discontinuities
            .iter()
            .map(|d| (d.index, d.first_number))
            .collect();
        assert_eq!(jumps, [(4, 7)]);
        assert!(source.rendition().is_ok());
    }

    #[test]
    fn segments_without_their_init_segment_do_not_play() {
        let segments = broadcast(&[AUDIO], 0..3, 2);
        let recorded = [init(AUDIO, 0)];
        let plan = plan(&segments, &recorded).unwrap();
        assert_eq!(plan.renditions[0].segments.len(), 2);
        assert_eq!(plan.renditions[0].frame_rate, None);
        assert_eq!(super::plan(&[], &recorded), Err(PlanError::Nothing));
        assert_eq!(super::plan(&segments, &[]), Err(PlanError::Nothing));
    }

    #[test]
    fn misaligned_rungs_fall_back_to_the_source() {
        let mut segments = broadcast(&[SOURCE, "360p"], 0..3, 100);
        for s in segments.iter_mut().filter(|s| s.rendition == "360p") {
            s.start += 3;
        }
        let plan = plan(&segments, &inits(&[SOURCE, "360p"])).unwrap();
        assert_eq!(names(&plan), [SOURCE]);
        assert_eq!(plan.left_out.len(), 1);
        assert!(
            plan.left_out[0].starts_with("360p: "),
            "{:?}",
            plan.left_out
        );
    }

    #[test]
    fn frame_rates_are_read_from_samples() {
        let mut s = segment(SOURCE, 0, 0);
        let rate = |s: &RecordedSegment| frame_rate(&[s]);
        assert_eq!(rate(&s), [30, 1]);
        s.samples = 2997;
        s.duration = 90_000 * 100;
        assert_eq!(rate(&s), [30_000, 1001]);
        s.samples = 2500;
        assert_eq!(rate(&s), [25, 1]);
        s.samples = 1234;
        assert_eq!(rate(&s), [12_340, 1000]);
    }
}
