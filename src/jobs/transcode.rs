//! A transcode job: the renditions its spec lists, made by the
//! `tributary transcode-source` child from the source in storage into a
//! local work folder, then uploaded to the asset's media prefix. Publishing
//! the renditions (their rows) comes after the last upload, in the
//! transaction that ends the job.

use std::path::Path;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt, stream};
use packager::vod::AssetFile;
use serde_json::Value;
use storage::{Body, ObjectStore};

use super::lifecycle::{Failure, Output};
use super::media_task;
use super::queue::Claim;
use super::work_dir::WorkDir;
use super::worker::{Progress, WorkContext};
use crate::vod::rendition_record::RenditionRecord;
use crate::vod::renditions::media_prefix;
use crate::vod::transcode_spec::{TranscodeEvent, TranscodeSpec};
use crate::vod::{source_key, videos};

/// The longest a transcode may run; the lease, not this, catches a hung
/// worker.
const TIMEOUT: Duration = Duration::from_secs(12 * 3600);
/// Files uploaded at once.
const UPLOADS: usize = 4;

pub async fn run(ctx: &WorkContext, claim: &Claim, progress: &Progress) -> Result<Output, Failure> {
    let spec: TranscodeSpec = claim
        .spec
        .as_deref()
        .and_then(|spec| serde_json::from_str(spec).ok())
        .ok_or_else(|| Failure::permanent("bad_spec", "the job does not say what to make"))?;
    let duration = source_duration(ctx, claim).await?;
    let url = ctx
        .store
        .read_url(&source_key(&claim.video_id), TIMEOUT)
        .await
        .map_err(|e| Failure::transient("storage_error", e.to_string()))?;
    let out = WorkDir::create(&ctx.work_dir, claim).await?;
    let spec_json =
        serde_json::to_string(&spec).map_err(|e| Failure::permanent("bad_spec", e.to_string()))?;
    let out_arg = out.path().to_string_lossy().into_owned();
    let last = media_task::run(
        &ctx.exe,
        &[
            "transcode-source",
            "--source",
            &url,
            "--out",
            &out_arg,
            "--spec",
            &spec_json,
            "--timeout-secs",
            &TIMEOUT.as_secs().to_string(),
        ],
        TIMEOUT,
        |line| {
            if let Ok(TranscodeEvent::Progress { done_secs }) = serde_json::from_slice(line)
                && duration > 0.0
            {
                progress.set(done_secs / duration * 100.0);
            }
        },
    )
    .await?;
    let renditions = match serde_json::from_slice(&last) {
        Ok(TranscodeEvent::Done { renditions }) => renditions,
        _ => {
            return Err(Failure::transient(
                "worker_error",
                "the transcode ended without listing its renditions",
            ));
        }
    };
    check_made(&spec, &renditions)?;
    upload(ctx, &claim.video_id, out.path(), &renditions).await?;
    Ok(Output::Renditions(renditions))
}

/// The source's duration in seconds, as the probe found it (0 when unknown).
async fn source_duration(ctx: &WorkContext, claim: &Claim) -> Result<f64, Failure> {
    let video = videos::find(&ctx.db, &claim.video_id)
        .await
        .map_err(|e| Failure::transient("database_error", e.to_string()))?
        .ok_or_else(|| Failure::permanent("gone", "the video was deleted"))?;
    Ok(video
        .source
        .as_deref()
        .and_then(|s| serde_json::from_str::<Value>(s).ok())
        .and_then(|source| source["duration"].as_f64())
        .unwrap_or(0.0))
}

/// Every rendition the spec asked for, and no other.
fn check_made(spec: &TranscodeSpec, made: &[RenditionRecord]) -> Result<(), Failure> {
    let mut asked: Vec<&str> = spec.names().collect();
    let mut got: Vec<&str> = made.iter().map(|r| r.name.as_str()).collect();
    asked.sort_unstable();
    got.sort_unstable();
    if asked == got {
        Ok(())
    } else {
        Err(Failure::transient(
            "worker_error",
            format!("asked for {asked:?}, the transcode made {got:?}"),
        ))
    }
}

/// Every file of the renditions, from the work folder to the store.
async fn upload(
    ctx: &WorkContext,
    video_id: &str,
    dir: &Path,
    renditions: &[RenditionRecord],
) -> Result<(), Failure> {
    let prefix = media_prefix(video_id);
    let files: Vec<String> = renditions
        .iter()
        .flat_map(|r| {
            let init = AssetFile::Init(&r.name).to_string();
            let segments = (0..r.segments.len() as u64).map(|i| {
                AssetFile::Segment(&r.name, packager::vod::FIRST_SEGMENT_NUMBER + i).to_string()
            });
            std::iter::once(init).chain(segments)
        })
        .collect();
    stream::iter(files)
        .map(|file| {
            let (path, key) = (dir.join(&file), format!("{prefix}{file}"));
            async move {
                let body = Body::from_file(&path).await?;
                ctx.store.put(&key, body).await
            }
        })
        .buffer_unordered(UPLOADS)
        .try_collect::<()>()
        .await
        .map_err(|e| Failure::transient("storage_error", format!("uploading renditions: {e}")))
}
