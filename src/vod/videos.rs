//! VOD assets: rows in `videos`, and `/api/v1/videos` (create, list, show,
//! edit, delete). Every change of status is one row update here.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::AnyConnection;
use sqlx::Row;
use sqlx::any::AnyRow;
use storage::{AnyStore, ObjectStore, StorageError};

use crate::api::{ApiError, ApiState};
use crate::db::{Db, timestamp};
use crate::vod::{playback, renditions, thumbnails};

const MAX_TITLE: usize = 200;
const MAX_DESCRIPTION: usize = 5000;
const MAX_PAGE: u32 = 100;

/// Where an asset is on its way to being watchable.
pub const AWAITING_UPLOAD: &str = "awaiting_upload";
pub const UPLOADED: &str = "uploaded";
pub const QUEUED: &str = "queued";
pub const PROCESSING: &str = "processing";
pub const READY: &str = "ready";
pub const PARTIALLY_READY: &str = "partially_ready";
pub const FAILED: &str = "failed";
const STATUSES: &[&str] = &[
    AWAITING_UPLOAD,
    UPLOADED,
    QUEUED,
    PROCESSING,
    READY,
    PARTIALLY_READY,
    FAILED,
];

#[derive(Debug, Clone)]
pub struct VideoRow {
    pub id: String,
    pub title: String,
    pub description: String,
    pub status: String,
    pub source: Option<String>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// What `thumbnails::make` made (JSON), once it has.
    pub thumbnails: Option<String>,
    /// `upload`, `live` (a broadcast's replay) or `clip`.
    pub origin: String,
    /// For a replay: the broadcast it replays.
    pub broadcast_id: Option<String>,
}

/// Where an asset comes from.
pub const ORIGIN_UPLOAD: &str = "upload";
pub const ORIGIN_LIVE: &str = "live";
pub const ORIGIN_CLIP: &str = "clip";

const COLUMNS: &str = "id, title, description, status, source, error_code, error_message, \
                       created_at, updated_at, thumbnails, origin, broadcast_id";

fn video_row(row: &AnyRow) -> sqlx::Result<VideoRow> {
    Ok(VideoRow {
        id: row.try_get("id")?,
        title: row.try_get("title")?,
        description: row.try_get("description")?,
        status: row.try_get("status")?,
        source: row.try_get("source")?,
        error_code: row.try_get("error_code")?,
        error_message: row.try_get("error_message")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        thumbnails: row.try_get("thumbnails")?,
        origin: row.try_get("origin")?,
        broadcast_id: row.try_get("broadcast_id")?,
    })
}

pub async fn create(db: &Db, title: &str, description: &str) -> sqlx::Result<VideoRow> {
    let now = timestamp(Utc::now());
    let row = VideoRow {
        id: crate::ids::stream_id(),
        title: title.to_owned(),
        description: description.to_owned(),
        status: AWAITING_UPLOAD.to_owned(),
        source: None,
        error_code: None,
        error_message: None,
        created_at: now.clone(),
        updated_at: now,
        thumbnails: None,
        origin: ORIGIN_UPLOAD.to_owned(),
        broadcast_id: None,
    };
    sqlx::query(
        "INSERT INTO videos (id, title, description, status, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&row.id)
    .bind(&row.title)
    .bind(&row.description)
    .bind(&row.status)
    .bind(&row.created_at)
    .bind(&row.updated_at)
    .execute(db.pool())
    .await?;
    Ok(row)
}

pub async fn find(db: &Db, id: &str) -> sqlx::Result<Option<VideoRow>> {
    let mut conn = db.pool().acquire().await?;
    find_on(&mut conn, id).await
}

/// `find` on a connection (a transaction's, say).
pub async fn find_on(conn: &mut AnyConnection, id: &str) -> sqlx::Result<Option<VideoRow>> {
    if !crate::ids::is_id(id) {
        return Ok(None);
    }
    sqlx::query(&format!("SELECT {COLUMNS} FROM videos WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?
        .as_ref()
        .map(video_row)
        .transpose()
}

/// The upload finished: the source is stored, its size and digest known.
pub async fn mark_uploaded(
    conn: &mut AnyConnection,
    id: &str,
    size: u64,
    sha256: &str,
) -> sqlx::Result<()> {
    let source = json!({ "size": size, "sha256": sha256 }).to_string();
    sqlx::query("UPDATE videos SET status = $1, source = $2, updated_at = $3 WHERE id = $4")
        .bind(UPLOADED)
        .bind(source)
        .bind(timestamp(Utc::now()))
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// An asset made from media already published elsewhere (a broadcast's
/// recording, a range of another asset): playable at once, `partially_ready`
/// until its thumbnails are made.
pub struct Derived<'a> {
    pub id: &'a str,
    pub title: &'a str,
    pub description: &'a str,
    pub origin: &'a str,
    /// What it was made from (JSON), for the API's `source`.
    pub source: Option<&'a str>,
    pub broadcast_id: Option<&'a str>,
}

pub async fn create_derived(conn: &mut AnyConnection, asset: &Derived<'_>) -> sqlx::Result<()> {
    let now = timestamp(Utc::now());
    sqlx::query(
        "INSERT INTO videos (id, title, description, status, source, created_at, updated_at, origin, broadcast_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8)",
    )
    .bind(asset.id)
    .bind(asset.title)
    .bind(asset.description)
    .bind(PARTIALLY_READY)
    .bind(asset.source)
    .bind(&now)
    .bind(asset.origin)
    .bind(asset.broadcast_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Queues webhook `event` with the asset as it is now.
pub async fn announce(conn: &mut AnyConnection, id: &str, event: &str) -> sqlx::Result<()> {
    if let Some(row) = find_on(conn, id).await? {
        let data = json!({ "video": representation(&row) });
        crate::webhooks::emit(conn, event, data).await?;
    }
    Ok(())
}

/// Moves the asset to `status`, with the reason when it failed (cleared otherwise).
pub async fn set_status(
    conn: &mut AnyConnection,
    id: &str,
    status: &str,
    error: Option<(&str, &str)>,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE videos SET status = $1, error_code = $2, error_message = $3, updated_at = $4 WHERE id = $5",
    )
    .bind(status)
    .bind(error.map(|(code, _)| code))
    .bind(error.map(|(_, message)| message))
    .bind(timestamp(Utc::now()))
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Every job of the asset is done: it is `ready` (its error cleared). Its
/// `ready_at`, which retention counts from, is when it became ready: kept
/// when it already was.
pub async fn set_ready(conn: &mut AnyConnection, id: &str) -> sqlx::Result<()> {
    let now = timestamp(Utc::now());
    sqlx::query(
        "UPDATE videos SET status = $1, error_code = NULL, error_message = NULL, updated_at = $2, \
         ready_at = CASE WHEN status = $3 AND ready_at IS NOT NULL THEN ready_at ELSE $4 END \
         WHERE id = $5",
    )
    .bind(READY)
    .bind(&now)
    .bind(READY)
    .bind(&now)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Sets a status of work in progress (`queued`, `processing`), unless the
/// asset already plays: it stays `partially_ready` while its other jobs run.
pub async fn set_working_status(
    conn: &mut AnyConnection,
    id: &str,
    status: &str,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE videos SET status = $1, updated_at = $2 WHERE id = $3 AND status <> $4")
        .bind(status)
        .bind(timestamp(Utc::now()))
        .bind(id)
        .bind(PARTIALLY_READY)
        .execute(conn)
        .await?;
    Ok(())
}

/// The asset plays; `error` says why a rendition is missing for good (an
/// error already recorded stays when there is no new one).
pub async fn set_partially_ready(
    conn: &mut AnyConnection,
    id: &str,
    error: Option<(&str, &str)>,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE videos SET status = $1, error_code = COALESCE($2, error_code), \
         error_message = COALESCE($3, error_message), updated_at = $4 WHERE id = $5",
    )
    .bind(PARTIALLY_READY)
    .bind(error.map(|(code, _)| code))
    .bind(error.map(|(_, message)| message))
    .bind(timestamp(Utc::now()))
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records the asset's thumbnails (None: none could be made).
pub async fn set_thumbnails(
    conn: &mut AnyConnection,
    id: &str,
    thumbnails: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE videos SET thumbnails = $1, updated_at = $2 WHERE id = $3")
        .bind(thumbnails)
        .bind(timestamp(Utc::now()))
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Adds facts to the asset's `source`, the others staying: what a probe
/// found, when retention deleted the file.
pub async fn add_source_details(
    conn: &mut AnyConnection,
    id: &str,
    details: &serde_json::Map<String, Value>,
) -> sqlx::Result<()> {
    let row = sqlx::query("SELECT source FROM videos WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    let Some(row) = row else { return Ok(()) };
    let current: Option<String> = row.try_get("source")?;
    let mut source = current
        .as_deref()
        .and_then(|s| serde_json::from_str::<serde_json::Map<String, Value>>(s).ok())
        .unwrap_or_default();
    source.extend(details.iter().map(|(k, v)| (k.clone(), v.clone())));
    sqlx::query("UPDATE videos SET source = $1, updated_at = $2 WHERE id = $3")
        .bind(Value::Object(source).to_string())
        .bind(timestamp(Utc::now()))
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Routes under the admin token.
pub fn admin_routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/videos", post(create_video).get(list))
        .route(
            "/api/v1/videos/{id}",
            get(show).patch(update).delete(remove),
        )
}

/// An asset as the API and webhook events show it (without upload URLs).
pub fn representation(row: &VideoRow) -> Value {
    json!({
        "id": row.id,
        "title": row.title,
        "description": row.description,
        "status": row.status,
        "origin": row.origin,
        "broadcast_id": row.broadcast_id,
        "source": row.source.as_deref().and_then(|s| serde_json::from_str::<Value>(s).ok()),
        "error": row.error_code.as_ref().map(|code| json!({"code": code, "message": row.error_message})),
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    })
}

/// An asset as the API shows it: with where to upload it while it waits,
/// and where to play it once a rendition is published.
pub(crate) async fn view(
    state: &ApiState,
    headers: &HeaderMap,
    row: VideoRow,
) -> Result<Value, ApiError> {
    let mut view = representation(&row);
    if row.status == AWAITING_UPLOAD {
        let (url, expires) = state.vod.creation_url(&base_url(state, headers), &row.id);
        view["upload_url"] = json!(url);
        view["upload_expires_at"] = json!(timestamp(expires));
    }
    if row.status == READY || row.status == PARTIALLY_READY {
        let published = renditions::listed(&state.db, &row.id, row.status == READY).await?;
        if !published.is_empty() {
            let base = match &state.config.vod.playback_base_url {
                Some(base) => base.clone(),
                None => base_url(state, headers),
            };
            view["hls_url"] = json!(format!("{base}{}", playback::hls_path(&row.id)));
            if published.iter().all(|p| p.complete) {
                view["dash_url"] = json!(format!("{base}{}", playback::dash_path(&row.id)));
            }
            view["duration"] = json!(renditions::duration_secs(&published));
            view["renditions"] = json!(published);
            let made = row
                .thumbnails
                .as_deref()
                .and_then(|json| serde_json::from_str::<thumbnails::Thumbnails>(json).ok());
            if let Some(made) = made {
                let media = format!("{base}/vod/{}/", row.id);
                view["thumbnail_url"] = json!(format!("{media}{}", thumbnails::POSTER));
                if made.has_storyboard() {
                    view["storyboard_url"] = json!(format!("{media}{}", thumbnails::STORYBOARD));
                }
            }
        }
    }
    Ok(view)
}

/// `http://host:port` as the client reached us (or the configured public host).
pub fn base_url(state: &ApiState, headers: &HeaderMap) -> String {
    let port = state.config.http_addr.port();
    if let Some(host) = &state.config.public_host {
        return format!("http://{host}:{port}");
    }
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| crate::api::valid_host(h));
    match host {
        Some(host) => format!("http://{host}"),
        None => format!("http://localhost:{port}"),
    }
}

fn text_field(value: &str, name: &str, max: usize, allow_empty: bool) -> Result<String, ApiError> {
    let value = value.trim();
    if (!allow_empty && value.is_empty()) || value.chars().count() > max {
        let least = if allow_empty { 0 } else { 1 };
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("{name} must be {least} to {max} characters"),
        ));
    }
    Ok(value.to_owned())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewVideo {
    title: String,
    #[serde(default)]
    description: String,
    /// The client PUTs the source straight to S3 (`crate::vod::direct`).
    #[serde(default)]
    direct: bool,
    size: Option<u64>,
    /// A range of another asset or of a broadcast (`crate::vod::clips`).
    clip_of: Option<crate::vod::clips::ClipOf>,
}

async fn create_video(
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: Result<Json<NewVideo>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body?;
    let title = text_field(&body.title, "title", MAX_TITLE, false)?;
    let description = text_field(&body.description, "description", MAX_DESCRIPTION, true)?;
    if let Some(clip_of) = &body.clip_of {
        return crate::vod::clips::create(&state, &headers, &title, &description, clip_of).await;
    }
    if body.direct || body.size.is_some() {
        return crate::vod::direct::create(
            &state,
            &headers,
            &title,
            &description,
            body.direct,
            body.size,
        )
        .await;
    }
    let row = create(&state.db, &title, &description).await?;
    Ok((
        StatusCode::CREATED,
        Json(view(&state, &headers, row).await?),
    )
        .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    status: Option<String>,
    limit: Option<u32>,
    /// `next_before` of the previous page.
    before: Option<String>,
}

#[derive(Serialize)]
struct Page {
    videos: Vec<Value>,
    next_before: Option<String>,
}

async fn list(
    State(state): State<ApiState>,
    headers: HeaderMap,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
    if let Some(status) = &query.status
        && !STATUSES.contains(&status.as_str())
    {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("status must be one of {}", STATUSES.join(", ")),
        ));
    }
    let limit = query.limit.unwrap_or(20).clamp(1, MAX_PAGE);
    // Newest first; `before` is the (created_at, id) cursor of the last row seen.
    let (before_at, before_id) = match query.before.as_deref().and_then(|b| b.split_once('~')) {
        Some((at, id)) => (at.to_owned(), id.to_owned()),
        None => ("9999".to_owned(), String::new()),
    };
    let status_filter = if query.status.is_some() {
        "AND status = $4"
    } else {
        ""
    };
    let limit_param = if query.status.is_some() { "$5" } else { "$4" };
    let sql = format!(
        "SELECT {COLUMNS} FROM videos WHERE (created_at < $1 OR (created_at = $2 AND id < $3)) {status_filter} \
         ORDER BY created_at DESC, id DESC LIMIT {limit_param}"
    );
    let mut select = sqlx::query(&sql)
        .bind(&before_at)
        .bind(&before_at)
        .bind(&before_id);
    if let Some(status) = &query.status {
        select = select.bind(status);
    }
    let rows = select
        .bind(i64::from(limit))
        .fetch_all(state.db.pool())
        .await?
        .iter()
        .map(video_row)
        .collect::<sqlx::Result<Vec<_>>>()?;
    let next_before = (rows.len() == limit as usize)
        .then(|| rows.last().map(|r| format!("{}~{}", r.created_at, r.id)))
        .flatten();
    let mut videos = Vec::with_capacity(rows.len());
    for row in rows {
        videos.push(view(&state, &headers, row).await?);
    }
    Ok(Json(Page {
        videos,
        next_before,
    })
    .into_response())
}

pub(crate) async fn existing(state: &ApiState, id: &str) -> Result<VideoRow, ApiError> {
    find(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "no such video"))
}

pub(crate) async fn show(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let row = existing(&state, &id).await?;
    Ok(Json(view(&state, &headers, row).await?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VideoPatch {
    title: Option<String>,
    description: Option<String>,
}

async fn update(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Json<VideoPatch>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(patch) = body?;
    let row = existing(&state, &id).await?;
    let title = match &patch.title {
        Some(title) => text_field(title, "title", MAX_TITLE, false)?,
        None => row.title,
    };
    let description = match &patch.description {
        Some(text) => text_field(text, "description", MAX_DESCRIPTION, true)?,
        None => row.description,
    };
    sqlx::query("UPDATE videos SET title = $1, description = $2, updated_at = $3 WHERE id = $4")
        .bind(&title)
        .bind(&description)
        .bind(timestamp(Utc::now()))
        .bind(&id)
        .execute(state.db.pool())
        .await?;
    let row = existing(&state, &id).await?;
    Ok(Json(view(&state, &headers, row).await?).into_response())
}

/// Removes the asset's every object and row (its uploads with it), and
/// emits `video.deleted` with the asset as it was.
async fn remove(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let row = existing(&state, &id).await?;
    state.vod.abort_uploads_of(&id).await;
    delete(&state.db, state.vod.store(), &row)
        .await
        .map_err(|e| match e {
            DeleteError::Storage(e) => {
                tracing::error!(video = %id, "deleting the video's objects: {e}");
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "storage error, try again")
            }
            DeleteError::Database(e) => e.into(),
        })?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Debug, thiserror::Error)]
pub enum DeleteError {
    #[error("deleting objects: {0}")]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Deletes an asset: every object under its prefix, then its row (its
/// renditions, jobs and uploads go with it by cascade) and, for a replay,
/// the recording rows of the files just deleted. `video.deleted` is emitted
/// with `row` only when this call removed the row, so of two racing deletes
/// (the API, the retention sweep of another node) one reports it. True when
/// it did.
pub async fn delete(db: &Db, store: &AnyStore, row: &VideoRow) -> Result<bool, DeleteError> {
    store
        .delete_prefix(&crate::vod::video_prefix(&row.id))
        .await?;
    let mut tx = db.pool().begin().await?;
    let deleted = sqlx::query("DELETE FROM videos WHERE id = $1")
        .bind(&row.id)
        .execute(&mut *tx)
        .await?;
    forget_recording(&mut tx, &row.id).await?;
    sqlx::query("UPDATE broadcasts SET replay_video_id = NULL WHERE replay_video_id = $1")
        .bind(&row.id)
        .execute(&mut *tx)
        .await?;
    let removed = deleted.rows_affected() == 1;
    if removed {
        let data = json!({ "video": representation(row) });
        crate::webhooks::emit(&mut tx, crate::webhooks::VIDEO_DELETED, data).await?;
    }
    tx.commit().await?;
    Ok(removed)
}

/// Deletes the recording of a broadcast stored under `recording_id` when no
/// asset replays it: its objects, then its rows.
pub async fn delete_recording(
    db: &Db,
    store: &AnyStore,
    recording_id: &str,
) -> Result<(), DeleteError> {
    store
        .delete_prefix(&crate::vod::video_prefix(recording_id))
        .await?;
    let mut tx = db.pool().begin().await?;
    forget_recording(&mut tx, recording_id).await?;
    tx.commit().await?;
    Ok(())
}

/// Drops the rows of the recording stored under `recording_id` (its files
/// are gone), and the broadcast's link to it.
async fn forget_recording(conn: &mut AnyConnection, recording_id: &str) -> sqlx::Result<()> {
    for table in ["recording_segments", "recording_inits"] {
        sqlx::query(&format!(
            "DELETE FROM {table} WHERE broadcast_id IN \
             (SELECT id FROM broadcasts WHERE recording_id = $1)"
        ))
        .bind(recording_id)
        .execute(&mut *conn)
        .await?;
    }
    sqlx::query("UPDATE broadcasts SET recording_id = NULL WHERE recording_id = $1")
        .bind(recording_id)
        .execute(conn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_db::databases;

    async fn ready_at(conn: &mut AnyConnection, id: &str) -> Option<String> {
        sqlx::query("SELECT ready_at FROM videos WHERE id = $1")
            .bind(id)
            .fetch_one(conn)
            .await
            .unwrap()
            .try_get("ready_at")
            .unwrap()
    }

    /// `ready_at` is when the asset last became ready: a second `set_ready`
    /// keeps it, becoming ready again after other work moves it on.
    #[tokio::test]
    async fn ready_at_is_when_the_asset_became_ready() {
        for (kind, db) in databases().await {
            let id = create(&db, "t", "").await.unwrap().id;
            let mut conn = db.pool().acquire().await.unwrap();
            assert_eq!(ready_at(&mut conn, &id).await, None, "{kind}");
            set_ready(&mut conn, &id).await.unwrap();
            let first = ready_at(&mut conn, &id).await.expect("set");
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            set_ready(&mut conn, &id).await.unwrap();
            assert_eq!(
                ready_at(&mut conn, &id).await.as_ref(),
                Some(&first),
                "{kind}"
            );
            set_status(&mut conn, &id, QUEUED, None).await.unwrap();
            set_ready(&mut conn, &id).await.unwrap();
            let again = ready_at(&mut conn, &id).await.expect("set");
            assert!(again > first, "{kind}: {again} after {first}");
            let row = find_on(&mut conn, &id).await.unwrap().unwrap();
            assert_eq!(row.status, READY, "{kind}");
        }
    }
}
