//! Direct uploads to S3: the client PUTs the parts of an asset's source
//! straight to the bucket through presigned URLs, then sends their ETags to
//! `POST /api/v1/videos/{id}/complete`; the origin never carries the bytes.
//! Only on the `s3` storage backend.
//!
//! A direct upload is a row of `uploads` whose `part_size` is set (the
//! layout its URLs were made for), so the expiry sweep and the deletion of
//! the asset abort it as they abort a tus upload.

use std::time::Duration;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sqlx::Row;
use sqlx::any::AnyRow;
use storage::{AnyStore, MAX_PART_NUMBER, ObjectStore, Part, S3Store, StorageError};
use tracing::{info, warn};

use crate::api::{ApiError, ApiState};
use crate::db::{Db, timestamp};
use crate::vod::{source_key, videos};

const MIB: u64 = 1024 * 1024;
/// S3's largest object: 5 TiB.
const MAX_OBJECT_SIZE: u64 = 5 << 40;
/// The longest a SigV4 presigned URL lives: 7 days.
const MAX_URL_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);

/// Routes under the admin token.
pub fn admin_routes() -> Router<ApiState> {
    Router::new().route("/api/v1/videos/{id}/complete", post(complete))
}

/// How a source of `size` bytes is cut into parts: each of `part_size`
/// bytes but the last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Layout {
    size: u64,
    part_size: u64,
}

impl Layout {
    /// Parts of the `configured` size, raised (in whole MiB) so that they
    /// number 10,000 at most, and never below the store's `min`.
    fn new(size: u64, configured: u64, min: u64) -> Layout {
        let least = size.div_ceil(u64::from(MAX_PART_NUMBER)).div_ceil(MIB) * MIB;
        Layout {
            size,
            part_size: configured.max(least).max(min),
        }
    }

    fn count(&self) -> u32 {
        // At most MAX_PART_NUMBER, by the choice of part_size.
        u32::try_from(self.size.div_ceil(self.part_size)).unwrap_or(u32::MAX)
    }

    /// The size of part `number` (1 to `count`).
    fn part(&self, number: u32) -> u64 {
        let start = u64::from(number.saturating_sub(1)) * self.part_size;
        self.part_size.min(self.size.saturating_sub(start))
    }
}

/// A direct upload's row in `uploads`.
#[derive(Debug, Clone)]
struct DirectUpload {
    id: String,
    video_id: String,
    key: String,
    store_upload_id: String,
    layout: Layout,
    expires_at: DateTime<Utc>,
}

const COLUMNS: &str =
    "id, video_id, storage_key, store_upload_id, upload_length, part_size, expires_at";

fn direct_upload(row: &AnyRow) -> sqlx::Result<DirectUpload> {
    let size: i64 = row.try_get("upload_length")?;
    let part_size: i64 = row.try_get("part_size")?;
    let expires_at: String = row.try_get("expires_at")?;
    let decode = |e: Box<dyn std::error::Error + Send + Sync>| sqlx::Error::Decode(e);
    Ok(DirectUpload {
        id: row.try_get("id")?,
        video_id: row.try_get("video_id")?,
        key: row.try_get("storage_key")?,
        store_upload_id: row.try_get("store_upload_id")?,
        layout: Layout {
            size: u64::try_from(size).map_err(|e| decode(e.into()))?,
            part_size: u64::try_from(part_size).map_err(|e| decode(e.into()))?,
        },
        expires_at: DateTime::parse_from_rfc3339(&expires_at)
            .map_err(|e| decode(e.into()))?
            .with_timezone(&Utc),
    })
}

fn db_size(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

async fn insert(db: &Db, upload: &DirectUpload) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO uploads (id, video_id, upload_length, metadata, storage_key, store_upload_id, expires_at, created_at, part_size) \
         VALUES ($1, $2, $3, '', $4, $5, $6, $7, $8)",
    )
    .bind(&upload.id)
    .bind(&upload.video_id)
    .bind(db_size(upload.layout.size))
    .bind(&upload.key)
    .bind(&upload.store_upload_id)
    .bind(timestamp(upload.expires_at))
    .bind(timestamp(Utc::now()))
    .bind(db_size(upload.layout.part_size))
    .execute(db.pool())
    .await?;
    Ok(())
}

/// The asset's direct upload in progress, if any.
async fn unfinished_of(db: &Db, video_id: &str) -> sqlx::Result<Option<DirectUpload>> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM uploads \
         WHERE video_id = $1 AND part_size IS NOT NULL AND completed_at IS NULL \
         ORDER BY created_at DESC LIMIT 1"
    ))
    .bind(video_id)
    .fetch_optional(db.pool())
    .await?
    .as_ref()
    .map(direct_upload)
    .transpose()
}

async fn is_unfinished(db: &Db, id: &str) -> sqlx::Result<bool> {
    Ok(
        sqlx::query("SELECT id FROM uploads WHERE id = $1 AND completed_at IS NULL")
            .bind(id)
            .fetch_optional(db.pool())
            .await?
            .is_some(),
    )
}

fn storage_error(e: StorageError) -> ApiError {
    warn!("direct upload storage: {e}");
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "storage error, try again")
}

fn unprocessable(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, message)
}

fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, message)
}

fn conflict(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, message)
}

/// The declared size of the source, checked.
fn check_size(state: &ApiState, size: Option<u64>) -> Result<u64, ApiError> {
    let max = state.config.uploads.max_bytes.min(MAX_OBJECT_SIZE);
    match size {
        None => Err(unprocessable(
            "a direct upload needs the source's size in bytes (\"size\": N)",
        )),
        Some(0) => Err(unprocessable("size must be at least 1 byte")),
        Some(size) if size > max => Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("uploads are at most {max} bytes"),
        )),
        Some(size) => Ok(size),
    }
}

/// `POST /api/v1/videos` with `"direct": true` (or a `size`): a new asset
/// and the presigned part URLs of its source.
pub async fn create(
    state: &ApiState,
    headers: &HeaderMap,
    title: &str,
    description: &str,
    direct: bool,
    size: Option<u64>,
) -> Result<Response, ApiError> {
    if !direct {
        return Err(unprocessable(
            "size goes with \"direct\": true (a tus upload declares its Upload-Length)",
        ));
    }
    let AnyStore::S3(store) = state.vod.store() else {
        return Err(unprocessable(
            "direct uploads need the s3 storage backend; this server keeps objects on its \
             filesystem: create the video without \"direct\" and upload to its upload_url (tus)",
        ));
    };
    let size = check_size(state, size)?;
    let layout = Layout::new(size, store.part_size(), store.min_part_size());
    let video = videos::create(&state.db, title, description).await?;
    let started = start(state, store, &video.id, layout).await;
    let direct_upload = match started {
        Ok(direct_upload) => direct_upload,
        Err(e) => {
            // No asset without a way to upload its source.
            if let Err(e) = sqlx::query("DELETE FROM videos WHERE id = $1")
                .bind(&video.id)
                .execute(state.db.pool())
                .await
            {
                warn!(video = %video.id, "removing the video of a failed direct upload: {e}");
            }
            return Err(e);
        }
    };
    let complete_url = format!(
        "{}/api/v1/videos/{}/complete",
        videos::base_url(state, headers),
        video.id
    );
    // The asset without a tus upload_url: the source does not go through tus.
    let mut view = videos::representation(&video);
    view["direct_upload"] = direct_upload;
    view["direct_upload"]["complete_url"] = json!(complete_url);
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

/// Starts the multipart upload, records it and presigns its parts; returns
/// the `direct_upload` object of the answer.
async fn start(
    state: &ApiState,
    store: &S3Store,
    video_id: &str,
    layout: Layout,
) -> Result<Value, ApiError> {
    let key = source_key(video_id);
    let store_upload_id = store.create_upload(&key).await.map_err(storage_error)?;
    let expiry = state.config.uploads.expiry;
    let upload = DirectUpload {
        id: crate::ids::stream_id(),
        video_id: video_id.to_owned(),
        key,
        store_upload_id,
        layout,
        expires_at: Utc::now() + expiry,
    };
    if let Err(e) = insert(&state.db, &upload).await {
        abort(store, &upload).await;
        return Err(e.into());
    }
    let lifetime = expiry.min(MAX_URL_LIFETIME);
    let urls_expire = Utc::now() + lifetime;
    let mut parts = Vec::with_capacity(layout.count() as usize);
    for number in 1..=layout.count() {
        let url = store
            .presign_upload_part(&upload.key, &upload.store_upload_id, number, lifetime)
            .await
            .map_err(storage_error);
        let url = match url {
            Ok(url) => url,
            Err(e) => {
                abort(store, &upload).await;
                return Err(e);
            }
        };
        parts.push(json!({ "number": number, "size": layout.part(number), "url": url }));
    }
    info!(video = video_id, upload = %upload.id, size = layout.size, parts = parts.len(), "direct upload created");
    Ok(json!({
        "part_size": layout.part_size,
        "parts": parts,
        "expires_at": timestamp(urls_expire),
    }))
}

async fn abort(store: &S3Store, upload: &DirectUpload) {
    if let Err(e) = store
        .abort_upload(&upload.key, &upload.store_upload_id)
        .await
    {
        warn!(upload = %upload.id, "aborting a direct upload: {e}");
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Completion {
    parts: Vec<CompletedPart>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CompletedPart {
    number: u32,
    etag: String,
}

/// `POST /api/v1/videos/{id}/complete`: joins the parts the client PUT into
/// the asset's source.
async fn complete(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    body: Result<Json<Completion>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(completion) = body?;
    videos::find(&state.db, &id)
        .await?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "no such video"))?;
    // Its own task: a client that hangs up while the source is hashed does
    // not leave the asset half done.
    let finished = tokio::spawn(finish(state.clone(), id, completion.parts))
        .await
        .map_err(|e| {
            warn!("completing a direct upload: {e}");
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
        })??;
    // Uploaded or later: GET shows no more than the representation.
    Ok(Json(videos::representation(&finished)).into_response())
}

async fn finish(
    state: ApiState,
    video_id: String,
    listed: Vec<CompletedPart>,
) -> Result<videos::VideoRow, ApiError> {
    let Some(upload) = unfinished_of(&state.db, &video_id).await? else {
        return Err(no_upload(&state, &video_id).await);
    };
    // One completion at a time, and none while the sweep removes the upload.
    let slot = state.vod.slots().slot(&upload.id);
    let Some(_held) = slot.try_hold() else {
        return Err(conflict("this upload is being completed or removed"));
    };
    if !is_unfinished(&state.db, &upload.id).await? {
        return Err(no_upload(&state, &video_id).await);
    }
    if upload.expires_at < Utc::now() {
        return Err(ApiError::new(StatusCode::GONE, "this upload has expired"));
    }
    let parts = check_parts(&upload.layout, listed)?;
    let store = state.vod.store();
    assemble(store, &upload, &parts).await?;

    let object = store.get(&upload.key, None).await.map_err(storage_error)?;
    if object.size != upload.layout.size {
        return Err(discard(&state, &upload, object.size).await);
    }
    let sha256 = digest(object.body, object.size)
        .await
        .map_err(storage_error)?;
    // The asset first: a crash before the upload's row is marked leaves a
    // row that the sweep removes, never an upload that can't be completed.
    state
        .vod
        .jobs()
        .source_uploaded(&video_id, upload.layout.size, &sha256)
        .await?;
    sqlx::query("UPDATE uploads SET completed_at = $1 WHERE id = $2")
        .bind(timestamp(Utc::now()))
        .bind(&upload.id)
        .execute(state.db.pool())
        .await?;
    state.vod.slots().remove(&upload.id);
    info!(video = %video_id, upload = %upload.id, size = upload.layout.size, %sha256, "direct upload complete");
    videos::find(&state.db, &video_id)
        .await?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "no such video"))
}

/// Why an asset has no direct upload to complete.
async fn no_upload(state: &ApiState, video_id: &str) -> ApiError {
    match videos::find(&state.db, video_id).await {
        Ok(Some(video)) if video.status != videos::AWAITING_UPLOAD => {
            conflict("this video has its source already")
        }
        Ok(Some(_)) => conflict(
            "this video has no direct upload in progress: it was created without \"direct\", \
             or its upload expired or was replaced",
        ),
        Ok(None) => ApiError::new(StatusCode::NOT_FOUND, "no such video"),
        Err(e) => e.into(),
    }
}

/// The client's list, checked to name each part of the layout once, in
/// the order of their numbers.
fn check_parts(layout: &Layout, mut listed: Vec<CompletedPart>) -> Result<Vec<Part>, ApiError> {
    let count = layout.count();
    listed.sort_by_key(|part| part.number);
    for (index, part) in listed.iter().enumerate() {
        if part.number == 0 || part.number > count {
            return Err(bad_request(format!(
                "part {} is not in this upload, whose parts are 1 to {count}",
                part.number
            )));
        }
        if index > 0 && listed[index - 1].number == part.number {
            return Err(bad_request(format!("part {} is listed twice", part.number)));
        }
        if part.etag.trim_matches('"').trim().is_empty() {
            return Err(bad_request(format!("part {} has no etag", part.number)));
        }
    }
    if let Some(missing) = (1..=count).find(|number| {
        listed
            .get(*number as usize - 1)
            .is_none_or(|part| part.number != *number)
    }) {
        return Err(bad_request(format!(
            "part {missing} is missing: list each part from 1 to {count} with the ETag its PUT answered"
        )));
    }
    Ok(listed
        .into_iter()
        .map(|part| Part {
            number: part.number,
            size: layout.part(part.number),
            etag: quoted(&part.etag),
        })
        .collect())
}

/// An ETag as S3 sends it, in double quotes (clients often drop them).
fn quoted(etag: &str) -> String {
    format!("\"{}\"", etag.trim().trim_matches('"'))
}

/// Joins the parts into the source object. When the object is there
/// already, an earlier completion was cut short after joining them.
async fn assemble(store: &AnyStore, upload: &DirectUpload, parts: &[Part]) -> Result<(), ApiError> {
    match store.head(&upload.key).await {
        Ok(_) => return Ok(()),
        Err(e) if e.is_not_found() => {}
        Err(e) => return Err(storage_error(e)),
    }
    // Each part checked against the layout before completion, while the
    // client can still PUT it again: a store may end the upload on a failed
    // completion, and it would join parts of the wrong size.
    let stored = match store.list_parts(&upload.key, &upload.store_upload_id).await {
        Ok(stored) => stored,
        Err(e) if e.is_not_found() => return Err(gone()),
        Err(e) => return Err(storage_error(e)),
    };
    for part in parts {
        match stored.iter().find(|s| s.number == part.number) {
            None => {
                return Err(bad_request(format!(
                    "part {} was not uploaded: PUT it to its URL first",
                    part.number
                )));
            }
            Some(s) if s.size != part.size => {
                return Err(bad_request(format!(
                    "part {} holds {} bytes, not {}: PUT it again",
                    part.number, s.size, part.size
                )));
            }
            Some(_) => {}
        }
    }
    match store
        .complete_upload(&upload.key, &upload.store_upload_id, parts)
        .await
    {
        Ok(()) => Ok(()),
        Err(StorageError::PartsRejected { message }) => Err(bad_request(format!(
            "S3 refused the parts (check each part's ETag; the upload is still open): {message}"
        ))),
        Err(e) if e.is_not_found() => Err(gone()),
        Err(e) => Err(storage_error(e)),
    }
}

fn gone() -> ApiError {
    ApiError::new(
        StatusCode::GONE,
        "the upload is gone from the bucket (expired or aborted)",
    )
}

/// The joined object is not of the declared size (a part was replaced after
/// it was checked): it is deleted, and the asset waits for a new upload.
async fn discard(state: &ApiState, upload: &DirectUpload, size: u64) -> ApiError {
    warn!(video = %upload.video_id, upload = %upload.id, size, declared = upload.layout.size, "direct upload of the wrong size: discarded");
    if let Err(e) = state.vod.store().delete(&upload.key).await {
        warn!(upload = %upload.id, "deleting a discarded source: {e}");
    }
    if let Err(e) = sqlx::query("DELETE FROM uploads WHERE id = $1")
        .bind(&upload.id)
        .execute(state.db.pool())
        .await
    {
        warn!(upload = %upload.id, "removing a discarded upload: {e}");
    }
    unprocessable(format!(
        "the parts joined into {size} bytes, not the declared {}: the upload was discarded",
        upload.layout.size
    ))
}

/// The sha256 of an object's body, read once as it streams.
async fn digest(mut body: storage::ByteStream, size: u64) -> Result<String, StorageError> {
    let mut hasher = Sha256::new();
    let mut read = 0u64;
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        read += chunk.len() as u64;
        hasher.update(&chunk);
    }
    if read != size {
        return Err(StorageError::LengthMismatch {
            expected: size,
            actual: read,
        });
    }
    Ok(crate::ids::hex(&hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1024 * MIB;
    const MIN: u64 = 5 * MIB;

    #[test]
    fn parts_are_the_configured_size_when_they_fit() {
        let layout = Layout::new(12 * MIB + 1, 5 * MIB, MIN);
        assert_eq!(layout.part_size, 5 * MIB);
        assert_eq!(layout.count(), 3);
        assert_eq!(
            (1..=3).map(|n| layout.part(n)).collect::<Vec<_>>(),
            [5 * MIB, 5 * MIB, 2 * MIB + 1]
        );
        let exact = Layout::new(10 * MIB, 5 * MIB, MIN);
        assert_eq!((exact.count(), exact.part(2)), (2, 5 * MIB));
        let one = Layout::new(1, 50 * MIB, MIN);
        assert_eq!((one.count(), one.part(1)), (1, 1));
    }

    #[test]
    fn parts_grow_in_whole_mib_to_stay_within_10000() {
        // 50 MiB parts would be 10,240 of them.
        let layout = Layout::new(500 * GIB, 50 * MIB, MIN);
        assert_eq!(layout.part_size, 52 * MIB);
        assert_eq!(layout.count(), 9847);
        let max = Layout::new(MAX_OBJECT_SIZE, 50 * MIB, MIN);
        assert!(max.count() <= MAX_PART_NUMBER);
        assert_eq!(max.part_size % MIB, 0);
        let sum: u64 = (1..=max.count()).map(|n| max.part(n)).sum();
        assert_eq!(sum, MAX_OBJECT_SIZE);
        // Exactly 10,000 parts of the configured size: not raised.
        let full = Layout::new(10_000 * 8 * MIB, 8 * MIB, MIN);
        assert_eq!((full.part_size, full.count()), (8 * MIB, 10_000));
    }

    #[test]
    fn parts_are_never_below_the_minimum() {
        assert_eq!(Layout::new(100 * MIB, MIB, MIN).part_size, MIN);
    }

    fn listed(numbers: &[u32]) -> Vec<CompletedPart> {
        numbers
            .iter()
            .map(|&number| CompletedPart {
                number,
                etag: format!("etag{number}"),
            })
            .collect()
    }

    #[test]
    fn the_list_names_every_part_once() {
        let layout = Layout::new(12 * MIB, 5 * MIB, MIN);
        let parts = check_parts(&layout, listed(&[3, 1, 2])).unwrap();
        assert_eq!(
            parts
                .iter()
                .map(|p| (p.number, p.size, p.etag.as_str()))
                .collect::<Vec<_>>(),
            [
                (1, 5 * MIB, "\"etag1\""),
                (2, 5 * MIB, "\"etag2\""),
                (3, 2 * MIB, "\"etag3\"")
            ]
        );
        for wrong in [
            &[1, 2][..],
            &[1, 2, 3, 4],
            &[1, 2, 2, 3],
            &[0, 1, 2, 3],
            &[],
            &[1, 3],
        ] {
            assert!(check_parts(&layout, listed(wrong)).is_err(), "{wrong:?}");
        }
        let mut no_etag = listed(&[1, 2, 3]);
        no_etag[1].etag = "\"\"".into();
        assert!(check_parts(&layout, no_etag).is_err());
    }
}
