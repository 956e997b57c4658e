//! A source file for an asset that has no uploaded one (a replay, a clip):
//! its largest video rendition's first init segment and the segments that
//! use it, written one after the other into the job's work directory (a
//! fragmented MP4 that any demuxer reads). The file goes with the work
//! directory when the job ends.

use std::path::Path;

use futures::StreamExt;
use packager::vod::AssetFile;
use storage::ObjectStore;
use tokio::io::AsyncWriteExt;

use super::lifecycle::Failure;
use super::worker::WorkContext;
use crate::vod::renditions::{self, media_prefix};

/// The written file and what the media task needs to know of it.
pub struct RecordedSource {
    /// `file://` and its absolute path, as media tasks take sources.
    pub url: String,
    pub duration_secs: f64,
    pub width: u32,
    pub height: u32,
}

/// Writes the source of asset `video_id` into `dir`; None when it has no
/// complete video rendition.
pub async fn write(
    ctx: &WorkContext,
    video_id: &str,
    dir: &Path,
) -> Result<Option<RecordedSource>, Failure> {
    let published = renditions::listed(&ctx.db, video_id, false)
        .await
        .map_err(|e| Failure::transient("database_error", e.to_string()))?;
    let Some(largest) = published
        .iter()
        .filter(|p| p.complete && p.record.is_video())
        .max_by_key(|p| p.height)
    else {
        return Ok(None);
    };
    let rendition = largest
        .record
        .rendition()
        .map_err(|e| Failure::permanent("bad_rendition", e.to_string()))?;
    let Some(part) = rendition.parts().next() else {
        return Ok(None);
    };
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
    let path = std::path::absolute(dir.join("recorded-source.mp4"))
        .map_err(|e| Failure::transient("worker_error", e.to_string()))?;
    copy_into(ctx, &keys, &path)
        .await
        .map_err(|e| Failure::transient("storage_error", format!("reading the recording: {e}")))?;
    let ticks: u64 = part.segments.iter().map(|s| s.duration).sum();
    Ok(Some(RecordedSource {
        url: format!("file://{}", path.display()),
        duration_secs: ticks as f64 / f64::from(rendition.timescale().max(1)),
        width: part.config.width,
        height: part.config.height,
    }))
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
