//! The probe job: what the uploaded source is, found by `media_probe` in a
//! child process reading the source straight from storage.

use std::time::Duration;

use serde_json::Value;

use super::lifecycle::{Failure, Output};
use super::media_task;
use super::queue::Claim;
use super::worker::WorkContext;
use crate::media_probe::SourceInfo;
use crate::vod::plan::plan;
use crate::vod::{source_key, videos};

/// A probe reads headers (and seeks); it never takes this long on a real file.
const TIMEOUT: Duration = Duration::from_secs(120);
const DISCOVERER_TIMEOUT_SECS: &str = "60";

pub async fn run(ctx: &WorkContext, claim: &Claim) -> Result<Output, Failure> {
    let video = videos::find(&ctx.db, &claim.video_id)
        .await
        .map_err(|e| Failure::transient("database_error", e.to_string()))?
        .ok_or_else(|| Failure::permanent("gone", "the video was deleted"))?;
    let size = video
        .source
        .as_deref()
        .and_then(|s| serde_json::from_str::<Value>(s).ok())
        .and_then(|source| source["size"].as_u64());
    if size == Some(0) {
        return Err(Failure::permanent(
            "empty_source",
            "the uploaded file is empty",
        ));
    }
    let key = source_key(&claim.video_id);
    let url = ctx
        .store
        .read_url(&key, TIMEOUT * 2)
        .await
        .map_err(|e| Failure::transient("storage_error", e.to_string()))?;
    let printed = media_task::run(
        &ctx.exe,
        &[
            "probe-source",
            "--timeout-secs",
            DISCOVERER_TIMEOUT_SECS,
            &url,
        ],
        TIMEOUT,
        |_| {},
    )
    .await?;
    let mut info: SourceInfo = serde_json::from_slice(&printed).map_err(|e| {
        Failure::transient("worker_error", format!("reading the probe's answer: {e}"))
    })?;
    // An audio file whose stream does not say its bitrate (MP3 without a
    // header that does) is almost all audio: its size says it.
    if let (None, Some(audio), Some(size)) = (&info.video, &mut info.audio, size)
        && audio.bitrate.is_none()
        && info.duration > 0.0
    {
        audio.bitrate = u32::try_from((size as f64 * 8.0 / info.duration) as u64).ok();
    }
    let jobs = plan(&info, &ctx.ladder)
        .map_err(|e| Failure::permanent(e.code(), e.to_string()))?
        .jobs;
    match serde_json::to_value(info) {
        Ok(Value::Object(details)) => Ok(Output::Probed { details, jobs }),
        _ => Err(Failure::transient(
            "worker_error",
            "the probe's answer is not an object",
        )),
    }
}
