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
    let total: u64 = source.segments().iter().map(|s| s.duration).sum();
    let work = WorkDir::create(&ctx.work_dir, claim).await?;
    let mut rungs: Vec<Rendition> = Vec::new();
    let mut done = 0u64;
    for (index, part) in source.parts().enumerate() {
        let part_spec = TranscodeSpec {
            cuts: part_cuts(&source, &part)?,
            ..spec.clone()
        };
        let file = work.path().join(format!("part-{index}.mp4"));
        let out = work.path().join(format!("part-{index}"));
        let recorded =
            recorded_source::write_part(ctx, &claim.video_id, &source, &part, &file).await?;
        let timescale = f64::from(source.timescale().max(1));
        let before = done as f64 / timescale;
        let total_secs = total as f64 / timescale;
        let (made, _) = unbounded_channel();
        let records = run_child(
            ctx,
            &recorded.url,
            &out,
            &part_spec,
            |secs| {
                if total_secs > 0.0 {
                    progress.set(
                        (before + secs - part_start_secs(&part, timescale)) / total_secs * 100.0,
                    );
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
        done += part.segments.iter().map(|s| s.duration).sum::<u64>();
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

/// Seconds of the source before `part`'s first segment, as the child's
/// progress counts them (from the part's own times).
fn part_start_secs(part: &Part<'_>, timescale: f64) -> f64 {
    part.segments
        .first()
        .map_or(0.0, |s| s.start as f64 / timescale)
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
                        "the recording's timescale {timescale} is not a divisor of 90 kHz times"
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
