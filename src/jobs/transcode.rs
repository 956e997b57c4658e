//! A transcode job: the renditions its spec lists, made by the
//! `tributary transcode-source` child from the source in storage into a
//! local work folder, then uploaded to the asset's media prefix. Publishing
//! the renditions (their rows) comes after the last upload, in the
//! transaction that ends the job; the spec's early renditions are uploaded
//! and published segment by segment while the child runs, so the asset
//! plays after their first segments.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::{StreamExt, TryStreamExt, stream};
use packager::vod::AssetFile;
use serde_json::Value;
use storage::{Body, ObjectStore};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tracing::warn;

use super::lifecycle::{self, Failure, Output};
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
    let spec = spec_of(claim)?;
    let duration = source_duration(ctx, claim).await?;
    let url = ctx
        .store
        .read_url(&source_key(&claim.video_id), TIMEOUT)
        .await
        .map_err(|e| Failure::transient("storage_error", e.to_string()))?;
    let out = WorkDir::create(&ctx.work_dir, claim).await?;
    let (made, grown) = unbounded_channel();
    let child = run_child(
        ctx,
        &url,
        out.path(),
        &spec,
        |done_secs| {
            if duration > 0.0 {
                progress.set(done_secs / duration * 100.0);
            }
        },
        made,
    );
    let (renditions, early) = tokio::join!(child, publish_early(ctx, claim, out.path(), grown));
    let renditions = renditions?;
    upload(ctx, &claim.video_id, out.path(), &renditions, &early).await?;
    Ok(Output::Renditions(renditions))
}

/// The job's spec.
pub(super) fn spec_of(claim: &Claim) -> Result<TranscodeSpec, Failure> {
    claim
        .spec
        .as_deref()
        .and_then(|spec| serde_json::from_str(spec).ok())
        .ok_or_else(|| Failure::permanent("bad_spec", "the job does not say what to make"))
}

/// Runs the `transcode-source` child on `source` (a URL) into `out`:
/// seconds of the source done go to `progress` and each early rendition
/// grown to `made` as it reports them; the renditions it made (every one
/// `spec` asks for) when it is done.
pub(super) async fn run_child(
    ctx: &WorkContext,
    source: &str,
    out: &Path,
    spec: &TranscodeSpec,
    progress: impl Fn(f64),
    made: UnboundedSender<RenditionRecord>,
) -> Result<Vec<RenditionRecord>, Failure> {
    let spec_json =
        serde_json::to_string(spec).map_err(|e| Failure::permanent("bad_spec", e.to_string()))?;
    let out_arg = out.to_string_lossy().into_owned();
    let timeout_secs = TIMEOUT.as_secs().to_string();
    let args = [
        "transcode-source",
        "--source",
        source,
        "--out",
        &out_arg,
        "--spec",
        &spec_json,
        "--timeout-secs",
        &timeout_secs,
    ];
    let last = media_task::run(
        &ctx.exe,
        &args,
        TIMEOUT,
        move |line| match serde_json::from_slice(line) {
            Ok(TranscodeEvent::Progress { done_secs }) => progress(done_secs),
            Ok(TranscodeEvent::Made { rendition }) => {
                // The publisher ends when the child does: nobody to tell.
                let _ = made.send(rendition);
            }
            _ => {}
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
    check_made(spec, &renditions)?;
    Ok(renditions)
}

/// Segments of each early rendition already in storage (with its init
/// segment).
type Uploaded = HashMap<String, usize>;

/// Uploads and publishes each early rendition as the child reports it grew,
/// until the child ends; skips to the latest report of each when uploads
/// fall behind. A failure here only delays playback: the job's end uploads
/// and publishes everything again.
async fn publish_early(
    ctx: &WorkContext,
    claim: &Claim,
    dir: &Path,
    mut grown: UnboundedReceiver<RenditionRecord>,
) -> Uploaded {
    let mut uploaded = Uploaded::new();
    let mut ours = true;
    while let Some(first) = grown.recv().await {
        let mut latest = vec![first];
        while let Ok(next) = grown.try_recv() {
            match latest.iter_mut().find(|r| r.name == next.name) {
                Some(known) => *known = next,
                None => latest.push(next),
            }
        }
        for record in &latest {
            if !ours {
                break;
            }
            let done = uploaded.get(&record.name).copied();
            let files = rendition_files(record, done);
            if let Err(e) = upload_files(ctx, &claim.video_id, dir, files).await {
                warn!(job = %claim.id, rendition = %record.name, "{}", e.error.message);
                continue;
            }
            uploaded.insert(record.name.clone(), record.segments.len());
            match lifecycle::grew(&ctx.db, claim, record).await {
                Ok(true) => {}
                Ok(false) => ours = false,
                Err(e) => warn!(job = %claim.id, "publishing {} early: {e}", record.name),
            }
        }
    }
    uploaded
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

/// Every file of the renditions not uploaded early, from the work folder to
/// the store.
async fn upload(
    ctx: &WorkContext,
    video_id: &str,
    dir: &Path,
    renditions: &[RenditionRecord],
    early: &Uploaded,
) -> Result<(), Failure> {
    let files = renditions
        .iter()
        .flat_map(|r| rendition_files(r, early.get(&r.name).copied()))
        .collect();
    upload_files(ctx, video_id, dir, files).await
}

/// A rendition's files (paths below the media prefix), less the init
/// segment and the first `done` segments when `done` is known.
fn rendition_files(record: &RenditionRecord, done: Option<usize>) -> Vec<String> {
    let name = &record.name;
    let init = done.is_none().then(|| AssetFile::Init(name, 0).to_string());
    let segments = (done.unwrap_or(0)..record.segments.len()).map(|i| {
        AssetFile::Segment(name, packager::vod::FIRST_SEGMENT_NUMBER + i as u64).to_string()
    });
    init.into_iter().chain(segments).collect()
}

async fn upload_files(
    ctx: &WorkContext,
    video_id: &str,
    dir: &Path,
    files: Vec<String>,
) -> Result<(), Failure> {
    let prefix = media_prefix(video_id);
    let files = files
        .into_iter()
        .map(|file| (dir.join(&file), format!("{prefix}{file}")));
    put_files(ctx, files).await
}

/// Uploads each file to its key, a few at a time.
pub(super) async fn put_files(
    ctx: &WorkContext,
    files: impl IntoIterator<Item = (PathBuf, String)>,
) -> Result<(), Failure> {
    stream::iter(files)
        .map(|(path, key)| async move {
            let body = Body::from_file(&path).await?;
            ctx.store.put(&key, body).await
        })
        .buffer_unordered(UPLOADS)
        .try_collect::<()>()
        .await
        .map_err(|e| Failure::transient("storage_error", format!("uploading renditions: {e}")))
}
