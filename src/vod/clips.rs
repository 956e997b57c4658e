//! `POST /api/v1/videos {"clip_of": {...}, "title"}`: a new asset made of a
//! range of another one (a replay, an upload) or of a broadcast's recording
//! while it goes on, cut at keyframes without re-encoding. The chosen
//! segments and their init segments are copied under the clip's prefix, so
//! the clip outlives its source; the clip is published (playable,
//! `partially_ready` until its thumbnails, and the ladder of a clip with
//! live rungs, are made) before the request is answered.

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::{StreamExt, TryStreamExt};
use packager::vod::{AssetFile, Rendition};
use serde::Deserialize;
use serde_json::json;
use sqlx::Row;
use storage::{Body, ObjectStore};
use tracing::{error, info};

use super::clip_range::{self, RangeError};
use super::rendition_record::RenditionRecord;
use super::renditions::{self, media_prefix};
use super::videos;
use crate::api::{ApiError, ApiState};
use crate::recording::{plan, rows};

/// Files copied at once.
const PARALLEL_COPIES: usize = 4;
/// The longest clip, seconds: a clip is copied while its request waits.
const MAX_CLIP_SECS: f64 = 600.0;

/// What a clip is cut from: `{"video": ID}` or `{"stream": ID}` (the
/// stream's current or latest broadcast), and the range in seconds.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClipOf {
    stream: Option<String>,
    video: Option<String>,
    start: f64,
    end: f64,
}

fn unprocessable(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, message)
}

/// Makes the clip and answers with it.
pub async fn create(
    state: &ApiState,
    headers: &HeaderMap,
    title: &str,
    description: &str,
    clip_of: &ClipOf,
) -> Result<Response, ApiError> {
    if clip_of.end - clip_of.start > MAX_CLIP_SECS {
        return Err(unprocessable(format!(
            "a clip lasts at most {MAX_CLIP_SECS} s"
        )));
    }
    let (source_media, renditions) = match (&clip_of.video, &clip_of.stream) {
        (Some(video), None) => (media_prefix(video), video_renditions(state, video).await?),
        (None, Some(stream)) => broadcast_renditions(state, stream).await?,
        _ => return Err(unprocessable("clip_of names either a video or a stream")),
    };
    let clipped =
        clip_range::clip(&renditions, clip_of.start, clip_of.end).map_err(|e| match e {
            RangeError::Vod(_) => {
                error!("clip of {clip_of:?}: {e}");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the source cannot be clipped",
                )
            }
            e => unprocessable(e.to_string()),
        })?;
    let id = crate::ids::stream_id();
    let clip_media = media_prefix(&id);
    if let Err(e) = copy_files(state, &source_media, &clip_media, &clipped).await {
        error!(video = %id, "copying a clip's files: {e}");
        // Whatever was copied goes; nothing refers to it.
        let _ = state
            .vod
            .store()
            .delete_prefix(&super::video_prefix(&id))
            .await;
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "storage error, try again",
        ));
    }
    let source = json!({ "clip_of": {
        "video": clip_of.video, "stream": clip_of.stream, "start": clip_of.start, "end": clip_of.end,
    }});
    let mut tx = state.db.pool().begin().await?;
    let source = source.to_string();
    let asset = videos::Derived {
        id: &id,
        title,
        description,
        origin: videos::ORIGIN_CLIP,
        source: Some(&source),
        broadcast_id: None,
    };
    videos::create_derived(&mut tx, &asset).await?;
    let records: Vec<RenditionRecord> = clipped.iter().map(RenditionRecord::of).collect();
    let vod = &state.config.vod;
    let ladder = vod.ladder_recordings.then_some(&vod.ladder);
    crate::recording::ladder::publish(&mut tx, &id, &records, ladder).await?;
    videos::announce(&mut tx, &id, crate::webhooks::VIDEO_PARTIALLY_READY).await?;
    tx.commit().await?;
    info!(video = %id, ?clip_of, "clip published");
    let row = videos::existing(state, &id).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(videos::view(state, headers, row).await?),
    )
        .into_response())
}

/// The complete renditions a playable asset lists.
async fn video_renditions(state: &ApiState, id: &str) -> Result<Vec<Rendition>, ApiError> {
    let row = videos::find(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "no such video"))?;
    let ready = row.status == videos::READY;
    if !ready && row.status != videos::PARTIALLY_READY {
        return Err(unprocessable("the video does not play yet"));
    }
    renditions::listed(&state.db, id, ready)
        .await?
        .iter()
        .filter(|p| p.complete)
        .map(|p| p.record.rendition())
        .collect::<Result<_, _>>()
        .map_err(|e| {
            error!(video = id, "a published rendition does not read back: {e}");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the source cannot be clipped",
            )
        })
}

/// The recorded renditions of the stream's newest broadcast, and where
/// their files are.
async fn broadcast_renditions(
    state: &ApiState,
    stream_id: &str,
) -> Result<(String, Vec<Rendition>), ApiError> {
    let row = sqlx::query(
        "SELECT id, recording_id FROM broadcasts WHERE stream_id = $1 \
         ORDER BY started_at DESC, id DESC LIMIT 1",
    )
    .bind(stream_id)
    .fetch_optional(state.db.pool())
    .await?
    .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "the stream has no broadcast"))?;
    let broadcast: String = row.try_get("id")?;
    let recording: Option<String> = row.try_get("recording_id")?;
    let recording =
        recording.ok_or_else(|| unprocessable("the stream's broadcast is not recorded"))?;
    let mut conn = state.db.pool().acquire().await?;
    let (segments, inits) = rows::load(&mut conn, &broadcast).await?;
    let replay = plan::plan(&segments, &inits)
        .map_err(|e| unprocessable(format!("nothing to clip yet: {e}")))?;
    let renditions = replay
        .renditions
        .iter()
        .map(RenditionRecord::rendition)
        .collect::<Result<_, _>>()
        .map_err(|e| {
            error!(broadcast, "a recorded rendition does not read: {e}");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the broadcast cannot be clipped",
            )
        })?;
    Ok((media_prefix(&recording), renditions))
}

/// Copies the clip's init segments and segments from the source's media
/// prefix to the clip's, under the same names.
async fn copy_files(
    state: &ApiState,
    from: &str,
    to: &str,
    clipped: &[Rendition],
) -> storage::Result<()> {
    let mut files: Vec<String> = Vec::new();
    for rendition in clipped {
        for part in rendition.parts() {
            files.push(AssetFile::Init(rendition.name(), part.init).to_string());
        }
        files.extend(
            rendition
                .numbered_segments()
                .map(|(number, _)| AssetFile::Segment(rendition.name(), number).to_string()),
        );
    }
    files.dedup();
    let store = state.vod.store();
    futures::stream::iter(files)
        .map(|file| async move {
            let object = store.get(&format!("{from}{file}"), None).await?;
            let body = Body::Stream {
                stream: object.body,
                len: object.size,
            };
            store.put(&format!("{to}{file}"), body).await
        })
        .buffer_unordered(PARALLEL_COPIES)
        .try_collect()
        .await
}
