//! The thumbnails job: the poster, sprite sheet and storyboard of a video
//! (the poster only of an audio file), made by the `tributary
//! thumbnails-source` child from the source in storage, then uploaded
//! beside the renditions. A source whose pictures cannot be made ends the
//! job without thumbnails: the video still plays.

use std::time::Duration;

use storage::{Body, ObjectStore};

use super::lifecycle::{Failure, Output};
use super::media_task;
use super::queue::Claim;
use super::recorded_source;
use super::work_dir::WorkDir;
use super::worker::WorkContext;
use crate::media_probe::SourceInfo;
use crate::vod::renditions::media_prefix;
use crate::vod::thumbnails::Thumbnails;
use crate::vod::{source_key, videos};

/// At most 100 key-unit seeks, each decoding one frame.
const TIMEOUT: Duration = Duration::from_secs(600);

pub async fn run(ctx: &WorkContext, claim: &Claim) -> Result<Output, Failure> {
    let video = videos::find(&ctx.db, &claim.video_id)
        .await
        .map_err(|e| Failure::transient("database_error", e.to_string()))?
        .ok_or_else(|| Failure::permanent("gone", "the video was deleted"))?;
    let uploaded: Option<SourceInfo> = video
        .source
        .as_deref()
        .and_then(|s| serde_json::from_str(s).ok());
    let out = WorkDir::create(&ctx.work_dir, claim).await?;
    // An upload's own file; else (a replay, a clip) its recorded video, a
    // file per stretch between reconnects: (URL, seconds) each.
    let (stretches, size): (Vec<(String, String)>, _) = match uploaded {
        Some(source) => {
            let url = ctx
                .store
                .read_url(&source_key(&claim.video_id), TIMEOUT * 2)
                .await
                .map_err(|e| Failure::transient("storage_error", e.to_string()))?;
            let size = source.video.as_ref().map(|video| video.upright());
            (vec![(url, source.duration.to_string())], size)
        }
        None if video.origin != videos::ORIGIN_UPLOAD => {
            let recorded = recorded_source::write_all(ctx, &claim.video_id, out.path()).await?;
            let Some(first) = recorded.first() else {
                return Ok(Output::Thumbnails(None));
            };
            let size = Some((first.width, first.height));
            let stretches = recorded
                .into_iter()
                .map(|part| (part.url, part.duration_secs.to_string()))
                .collect();
            (stretches, size)
        }
        None => return Ok(Output::Thumbnails(None)),
    };
    let out_arg = out.path().to_string_lossy().into_owned();
    let mut args = vec!["thumbnails-source", "--out", &out_arg];
    for (url, duration) in &stretches {
        args.extend(["--source", url, "--duration", duration]);
    }
    let size = size.map(|(width, height)| (width.to_string(), height.to_string()));
    if let Some((width, height)) = &size {
        args.extend(["--width", width, "--height", height]);
    }
    let answer = media_task::run(&ctx.exe, &args, TIMEOUT, |_| {}).await;
    let made: Thumbnails = match answer {
        Ok(answer) => serde_json::from_slice(&answer).map_err(|e| {
            Failure::transient(
                "worker_error",
                format!("reading the thumbnails' answer: {e}"),
            )
        })?,
        Err(failure) if !failure.retryable => {
            tracing::warn!(video = %claim.video_id, "no thumbnails: {}", failure.error.message);
            return Ok(Output::Thumbnails(None));
        }
        Err(failure) => return Err(failure),
    };
    let prefix = media_prefix(&claim.video_id);
    for file in made.files() {
        let body = Body::from_file(out.path().join(file))
            .await
            .map_err(|e| Failure::transient("worker_error", e.to_string()))?;
        ctx.store
            .put(&format!("{prefix}{file}"), body)
            .await
            .map_err(|e| Failure::transient("storage_error", format!("uploading {file}: {e}")))?;
    }
    Ok(Output::Thumbnails(Some(made)))
}
