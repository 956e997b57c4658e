//! The ladder job of a recording (a replay's): its rungs made from the
//! asset's recorded source rendition one part at a time (an init segment
//! and its segments, up to the next discontinuity, written as one file
//! into the work directory). Each part's rungs are cut at the part's
//! segment starts and uploaded under the part's segment numbers, with one
//! init segment per part, so that the rungs line up with the source and
//! share its discontinuities. The rungs are published together when the
//! last part is done; the asset's temporary (live) rungs then give way.

use packager::vod::{AssetFile, Part, Rendition};
use tokio::sync::mpsc::unbounded_channel;

use super::lifecycle::{Failure, Output};
use super::queue::Claim;
use super::recorded_source;
use super::transcode::{put_files, run_child, spec_of};
use super::work_dir::WorkDir;
use super::worker::{Progress, WorkContext};
use crate::vod::rendition_record::RenditionRecord;
use crate::vod::renditions::media_prefix;
use crate::vod::transcode::cuts::VIDEO_TIMESCALE;
use crate::vod::transcode_spec::TranscodeSpec;

pub async fn run(ctx: &WorkContext, claim: &Claim, progress: &Progress) -> Result<Output, Failure> {
    let spec = spec_of(claim)?;
    let source = recorded_source::largest_video(ctx, &claim.video_id)
        .await?
        .ok_or_else(|| Failure::permanent("no_source", "the recording has no video"))?;
    let timescale = f64::from(source.timescale().max(1));
    let total_secs = source.segments().iter().map(|s| s.duration).sum::<u64>() as f64 / timescale;
    let work = WorkDir::create(&ctx.work_dir, claim).await?;
    let mut rungs: Vec<Rendition> = Vec::new();
    let mut done_secs = 0.0;
    for (index, part) in source.parts().enumerate() {
        let part_spec = TranscodeSpec {
            cuts: part_cuts(&source, &part)?,
            ..spec.clone()
        };
        let file = work.path().join(format!("part-{index}.mp4"));
        let out = work.path().join(format!("part-{index}"));
        let recorded =
            recorded_source::write_part(ctx, &claim.video_id, &source, &part, &file).await?;
        // The child counts seconds in the part's own times.
        let offset = done_secs
            - part
                .segments
                .first()
                .map_or(0.0, |s| s.start as f64 / timescale);
        let (made, _) = unbounded_channel();
        let records = run_child(
            ctx,
            &recorded.url,
            &out,
            &part_spec,
            |secs| {
                if total_secs > 0.0 {
                    progress.set((offset + secs) / total_secs * 100.0);
                }
            },
            made,
        )
        .await?;
        let init = u32::try_from(index).map_err(|_| {
            Failure::permanent("too_many_parts", "the recording has too many parts")
        })?;
        let mut uploads = Vec::new();
        for record in &records {
            let made = record
                .rendition()
                .map_err(|e| Failure::transient("worker_error", e.to_string()))?;
            check_aligned(&source, &part, &made)?;
            uploads.extend(renumbered_files(
                &claim.video_id,
                &out,
                &made,
                init,
                part.first_number,
            ));
            append(&mut rungs, made, init, part.first_number)?;
        }
        put_files(ctx, uploads).await?;
        done_secs += recorded.duration_secs;
        // Only one part's files at a time in the work directory.
        let _ = tokio::fs::remove_file(&recorded.path).await;
        let _ = tokio::fs::remove_dir_all(&out).await;
    }
    let mut records = Vec::new();
    for mut rung in rungs {
        rung.finish()
            .map_err(|e| Failure::transient("worker_error", e.to_string()))?;
        records.push(RenditionRecord::of(&rung));
    }
    Ok(Output::Renditions(records))
}

/// The part's segment starts in 90 kHz ticks, where its rungs are cut.
fn part_cuts(source: &Rendition, part: &Part<'_>) -> Result<Vec<u64>, Failure> {
    let timescale = u128::from(source.timescale());
    part.segments
        .iter()
        .map(|s| {
            let ticks = u128::from(s.start) * u128::from(VIDEO_TIMESCALE);
            if timescale == 0 || ticks % timescale != 0 {
                return Err(Failure::permanent(
                    "unsupported_timescale",
                    format!(
                        "a segment start of the recording (timescale {timescale}) is not a whole number of 90 kHz ticks"
                    ),
                ));
            }
            u64::try_from(ticks / timescale)
                .map_err(|_| Failure::permanent("bad_rendition", "a segment start out of range"))
        })
        .collect()
}

/// A rung made from `part` has a segment for each of the part's, each
/// starting where the source's does.
fn check_aligned(source: &Rendition, part: &Part<'_>, made: &Rendition) -> Result<(), Failure> {
    let (made_scale, source_scale) = (u128::from(made.timescale()), u128::from(source.timescale()));
    let starts_match =
        made.segments().len() == part.segments.len()
            && made.segments().iter().zip(part.segments).all(|(m, s)| {
                u128::from(m.start) * source_scale == u128::from(s.start) * made_scale
            });
    if starts_match {
        Ok(())
    } else {
        Err(Failure::permanent(
            "misaligned",
            format!(
                "{} from segments {}..{} of the recording: {} segments that do not start where its {} do",
                made.name(),
                part.first_number,
                part.first_number + part.segments.len() as u64,
                made.segments().len(),
                part.segments.len(),
            ),
        ))
    }
}

/// The files the child wrote for `made` (init segment 0, segments from
/// the first number) and the keys they go to: init segment `init`, the
/// segments numbered from `first_number`.
fn renumbered_files(
    video_id: &str,
    out: &std::path::Path,
    made: &Rendition,
    init: u32,
    first_number: u64,
) -> Vec<(std::path::PathBuf, String)> {
    let prefix = media_prefix(video_id);
    let name = made.name();
    let init_file = (
        out.join(AssetFile::Init(name, 0).to_string()),
        format!("{prefix}{}", AssetFile::Init(name, init)),
    );
    let segments = made
        .numbered_segments()
        .zip(first_number..)
        .map(|((number, _), to)| {
            (
                out.join(AssetFile::Segment(name, number).to_string()),
                format!("{prefix}{}", AssetFile::Segment(name, to)),
            )
        });
    std::iter::once(init_file).chain(segments).collect()
}

/// Adds the segments of `made` (one part) to its rung, after a
/// discontinuity unless it is the first part.
fn append(
    rungs: &mut Vec<Rendition>,
    made: Rendition,
    init: u32,
    first_number: u64,
) -> Result<(), Failure> {
    let failed = |e: packager::vod::VodError| Failure::transient("worker_error", e.to_string());
    let index = match rungs.iter().position(|r| r.name() == made.name()) {
        Some(index) => {
            rungs[index]
                .begin_discontinuity_at(made.config().clone(), init, first_number)
                .map_err(failed)?;
            index
        }
        None => {
            let frame_rate = made
                .frame_rate()
                .ok_or_else(|| Failure::transient("worker_error", "a rung without a frame rate"))?;
            let mut rung =
                Rendition::video(made.name(), made.config().clone(), frame_rate).map_err(failed)?;
            rung.number_from(init, first_number).map_err(failed)?;
            rungs.push(rung);
            rungs.len() - 1
        }
    };
    for segment in made.segments() {
        rungs[index].push_segment(*segment).map_err(failed)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use packager::vod::{FrameRate, Presentation, Segment};

    use super::*;
    use crate::vod::rendition_record::test_video_track;

    fn video(name: &str) -> Rendition {
        let config = test_video_track(640).config().unwrap();
        Rendition::video(name, config, FrameRate::new(30, 1).unwrap()).unwrap()
    }

    fn segment(start: u64) -> Segment {
        Segment {
            start,
            duration: 180_000,
            size: 1000,
        }
    }

    /// A recording of two parts (segments 5 to 7; then, after a reconnect,
    /// 10 and 11 with init segment 1): the rung made of each part joins
    /// into one rendition numbered as the source, with its discontinuity,
    /// and its files go under those numbers.
    #[test]
    fn parts_join_into_one_rung_numbered_as_the_source() {
        let mut source = video("source");
        source.number_from(0, 5).unwrap();
        for start in [0, 180_000, 360_000] {
            source.push_segment(segment(start)).unwrap();
        }
        let config = source.config().clone();
        source.begin_discontinuity_at(config, 1, 10).unwrap();
        for start in [900_000, 1_080_000] {
            source.push_segment(segment(start)).unwrap();
        }
        source.finish().unwrap();
        let mut rungs = Vec::new();
        for (index, part) in source.parts().enumerate() {
            // What the child writes: its own numbers, the part's times.
            let mut made = video("360p");
            for s in part.segments {
                made.push_segment(*s).unwrap();
            }
            made.finish().unwrap();
            check_aligned(&source, &part, &made).unwrap();
            let init = index as u32;
            let files = renumbered_files("v1", Path::new("/w"), &made, init, part.first_number);
            if index == 1 {
                let prefix = media_prefix("v1");
                let expected: Vec<(PathBuf, String)> = [
                    ("360p/init.mp4", "360p/init-1.mp4"),
                    ("360p/seg-00001.m4s", "360p/seg-00010.m4s"),
                    ("360p/seg-00002.m4s", "360p/seg-00011.m4s"),
                ]
                .into_iter()
                .map(|(from, to)| (Path::new("/w").join(from), format!("{prefix}{to}")))
                .collect();
                assert_eq!(files, expected);
            }
            append(&mut rungs, made, init, part.first_number).unwrap();
        }
        let mut rung = rungs.pop().unwrap();
        rung.finish().unwrap();
        let numbers: Vec<u64> = rung.numbered_segments().map(|(n, _)| n).collect();
        assert_eq!(numbers, [5, 6, 7, 10, 11]);
        assert_eq!(
            rung.discontinuities().collect::<Vec<_>>(),
            source.discontinuities().collect::<Vec<_>>()
        );
        Presentation::new(&[source, rung]).unwrap();
    }

    #[test]
    fn a_rung_cut_elsewhere_is_refused() {
        let mut source = video("source");
        for start in [0, 180_000] {
            source.push_segment(segment(start)).unwrap();
        }
        let part = source.parts().next().unwrap();
        let mut made = video("360p");
        for start in [0, 181_000] {
            made.push_segment(segment(start)).unwrap();
        }
        let failure = check_aligned(&source, &part, &made).unwrap_err();
        assert_eq!(failure.error.code, "misaligned");
        let mut short = video("360p");
        short.push_segment(segment(0)).unwrap();
        assert!(check_aligned(&source, &part, &short).is_err());
    }
}
