//! The source of an asset that has no uploaded one (a replay, a clip): its
//! largest video rendition. A part of it (an init segment and the segments
//! that use it, up to the next discontinuity) is written as one file into
//! the job's work directory, a fragmented MP4 that any demuxer reads; the
//! file goes with the work directory when the job ends.

use std::path::{Path, PathBuf};

use futures::StreamExt;
use packager::vod::{AssetFile, Part, Rendition};
use storage::ObjectStore;
use tokio::io::AsyncWriteExt;

use super::lifecycle::Failure;
use super::worker::WorkContext;
use crate::vod::renditions::{self, media_prefix};

/// A written part and what a media task needs to know of it.
pub struct RecordedSource {
    /// `file://` and its absolute path, as media tasks take sources.
    pub url: String,
    pub path: PathBuf,
    pub duration_secs: f64,
    pub width: u32,
    pub height: u32,
}

/// Asset `video_id`'s largest complete video rendition, if it has one.
pub async fn largest_video(
    ctx: &WorkContext,
    video_id: &str,
) -> Result<Option<Rendition>, Failure> {
    let published = renditions::listed(&ctx.db, video_id, false)
        .await
        .map_err(|e| Failure::transient("database_error", e.to_string()))?;
    published
        .iter()
        .filter(|p| p.complete && p.record.is_video())
        .max_by_key(|p| (p.height, p.bitrate))
        .map(|largest| {
            largest
                .record
                .rendition()
                .map_err(|e| Failure::permanent("bad_rendition", e.to_string()))
        })
        .transpose()
}

/// Writes every part of asset `video_id`'s largest video rendition into
/// `dir`, a file each, in playing order; none when it has no video.
pub async fn write_all(
    ctx: &WorkContext,
    video_id: &str,
    dir: &Path,
) -> Result<Vec<RecordedSource>, Failure> {
    let Some(rendition) = largest_video(ctx, video_id).await? else {
        return Ok(Vec::new());
    };
    let mut written = Vec::new();
    for (index, part) in rendition.parts().enumerate() {
        let path = dir.join(format!("recorded-source-{index}.mp4"));
        written.push(write_part(ctx, video_id, &rendition, &part, &path).await?);
    }
    Ok(written)
}

/// Writes `part` of `rendition` (of asset `video_id`) to a new file at `path`.
pub async fn write_part(
    ctx: &WorkContext,
    video_id: &str,
    rendition: &Rendition,
    part: &Part<'_>,
    path: &Path,
) -> Result<RecordedSource, Failure> {
    let prefix = media_prefix(video_id);
    let mut keys = vec![format!(
        "{prefix}{}",
        AssetFile::Init(rendition.name(), part.init)
    )];
    keys.extend(
        (part.first_number..)
            .take(part.segments.len())
            .map(|number| format!("{prefix}{}", AssetFile::Segment(rendition.name(), number))),
    );
    let path =
        std::path::absolute(path).map_err(|e| Failure::transient("worker_error", e.to_string()))?;
    copy_into(ctx, &keys, &path)
        .await
        .map_err(|e| Failure::transient("storage_error", format!("reading the recording: {e}")))?;
    let ticks: u64 = part.segments.iter().map(|s| s.duration).sum();
    Ok(RecordedSource {
        url: format!("file://{}", path.display()),
        path,
        duration_secs: ticks as f64 / f64::from(rendition.timescale().max(1)),
        width: part.config.width,
        height: part.config.height,
    })
}

/// Appends the objects `keys`, in order, to a new file at `path`.
async fn copy_into(ctx: &WorkContext, keys: &[String], path: &Path) -> anyhow::Result<()> {
    let mut file = tokio::fs::File::create(path).await?;
    for key in keys {
        let mut body = ctx.store.get(key, None).await?.body;
        while let Some(chunk) = body.next().await {
            file.write_all(&chunk?).await?;
        }
    }
    file.flush().await?;
    Ok(())
}
