//! `/api/v1/streams`: create, list, show, rotate the key of and delete
//! streams, list their broadcasts, and the public playback view the watch
//! page polls.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router, routing::get, routing::post};
use serde::{Deserialize, Serialize};

use super::{ApiError, ApiState};
use crate::db::{StreamRow, timestamp};
use crate::ladder_settings::LadderSettings;
use crate::live::LiveStatus;
use crate::live::broadcasts::{self, BroadcastView};

const MAX_TITLE: usize = 200;

/// Routes that need the admin token.
pub fn admin_routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/streams", post(create).get(list))
        .route(
            "/api/v1/streams/{id}",
            get(show).patch(update).delete(delete),
        )
        .route("/api/v1/streams/{id}/rotate-key", post(rotate_key))
        .route("/api/v1/streams/{id}/broadcasts", get(broadcasts))
}

/// Routes anyone may call.
pub fn public_routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/streams/{id}/playback", get(playback))
        .route("/api/v1/streams/{id}/thumbnail.jpg", get(thumbnail))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateStream {
    title: String,
    /// The stream's own ladder; the server's default when absent.
    ladder: Option<LadderSettings>,
}

/// `PATCH`: each field present is changed; `"ladder": null` returns the
/// stream to the server's default ladder.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateStream {
    title: Option<String>,
    #[serde(default, deserialize_with = "present")]
    ladder: Option<Option<LadderSettings>>,
}

/// Tells a field given as `null` (Some(None)) from a field left out (None).
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// The ladder a stream gets, and whether it is the stream's own.
#[derive(Serialize)]
struct LadderView {
    #[serde(flatten)]
    settings: LadderSettings,
    custom: bool,
}

/// A stream as the API shows it to its owner.
#[derive(Serialize)]
pub struct StreamView {
    id: String,
    title: String,
    stream_key: String,
    rtmp_url: String,
    srt_url: String,
    playback_url: String,
    watch_url: String,
    status: &'static str,
    created_at: String,
    ladder: LadderView,
    /// People watching or chatting (one each, whether they do one or both).
    viewers: u64,
    #[serde(flatten)]
    live: Option<LiveStatus>,
}

/// What a viewer may know of a stream.
#[derive(Serialize)]
struct PlaybackView {
    id: String,
    title: String,
    status: &'static str,
    playback_url: String,
    viewers: u64,
}

/// The base URLs the API hands out.
struct Urls {
    http: String,
    host: String,
}

impl Urls {
    fn new(state: &ApiState, headers: &HeaderMap) -> Urls {
        let http_port = state.config.http_addr.port();
        let request_host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .filter(|h| valid_host(h));
        match (&state.config.public_host, request_host) {
            (Some(host), _) => Urls {
                http: format!("http://{host}:{http_port}"),
                host: host.clone(),
            },
            (None, Some(authority)) => Urls {
                http: format!("http://{authority}"),
                host: strip_port(authority).to_owned(),
            },
            (None, None) => Urls {
                http: format!("http://localhost:{http_port}"),
                host: "localhost".into(),
            },
        }
    }

    fn playback(&self, id: &str) -> String {
        format!("{}/live/{id}/index.m3u8", self.http)
    }
}

pub(crate) fn valid_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
}

fn strip_port(authority: &str) -> &str {
    match authority.rfind(':') {
        Some(colon) if !authority[colon..].contains(']') => &authority[..colon],
        _ => authority,
    }
}

async fn view(state: &ApiState, urls: &Urls, row: StreamRow) -> StreamView {
    let viewers = state.chat.viewers(&row.id).await;
    let live = state.live.stream(&row.id).and_then(|s| s.status());
    let (rtmp_port, srt_port) = (state.config.rtmp_addr.port(), state.config.srt_addr.port());
    StreamView {
        rtmp_url: format!("rtmp://{}:{rtmp_port}/live", urls.host),
        srt_url: format!(
            "srt://{}:{srt_port}?streamid=#!::r=live/{},m=publish",
            urls.host, row.stream_key
        ),
        playback_url: urls.playback(&row.id),
        watch_url: format!("{}/watch/{}", urls.http, row.id),
        status: if live.is_some() { "live" } else { "idle" },
        ladder: LadderView {
            settings: LadderSettings::effective(&state.config.live.ladder, row.ladder.as_deref()),
            custom: row.ladder.is_some(),
        },
        id: row.id,
        title: row.title,
        stream_key: row.stream_key,
        created_at: row.created_at,
        viewers,
        live,
    }
}

async fn create(
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: Result<Json<CreateStream>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body?;
    let row = StreamRow {
        id: crate::ids::stream_id(),
        title: valid_title(&body.title)?,
        stream_key: crate::ids::secret(),
        created_at: timestamp(chrono::Utc::now()),
        ladder: body.ladder.as_ref().map(ladder_json).transpose()?,
    };
    state.db.create_stream(&row).await?;
    let view = view(&state, &Urls::new(&state, &headers), row).await;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

fn valid_title(title: &str) -> Result<String, ApiError> {
    let title = title.trim();
    if title.is_empty() || title.chars().count() > MAX_TITLE {
        return Err(ApiError::invalid(format!(
            "title must be 1 to {MAX_TITLE} characters"
        )));
    }
    Ok(title.to_owned())
}

fn ladder_json(ladder: &LadderSettings) -> Result<String, ApiError> {
    ladder
        .validate()
        .map_err(|e| ApiError::invalid(format!("ladder: {e}")))?;
    serde_json::to_string(ladder).map_err(|e| ApiError::invalid(format!("ladder: {e}")))
}

/// Applies to the next publish; a live broadcast keeps its ladder.
async fn update(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Json<UpdateStream>, JsonRejection>,
) -> Result<Json<StreamView>, ApiError> {
    let Json(body) = body?;
    find(&state, &id).await?;
    if let Some(title) = &body.title {
        state.db.set_title(&id, &valid_title(title)?).await?;
    }
    if let Some(ladder) = &body.ladder {
        let json = ladder.as_ref().map(ladder_json).transpose()?;
        state.db.set_ladder(&id, json.as_deref()).await?;
    }
    let row = find(&state, &id).await?;
    Ok(Json(view(&state, &Urls::new(&state, &headers), row).await))
}

async fn list(
    State(state): State<ApiState>,
    headers: HeaderMap,
) -> Result<Json<Vec<StreamView>>, ApiError> {
    let urls = Urls::new(&state, &headers);
    let rows = state.db.streams().await?;
    let mut views = Vec::with_capacity(rows.len());
    for row in rows {
        views.push(view(&state, &urls, row).await);
    }
    Ok(Json(views))
}

async fn find(state: &ApiState, id: &str) -> Result<StreamRow, ApiError> {
    if !crate::ids::is_id(id) {
        return Err(ApiError::not_found());
    }
    state.db.stream(id).await?.ok_or_else(ApiError::not_found)
}

async fn show(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<StreamView>, ApiError> {
    let row = find(&state, &id).await?;
    Ok(Json(view(&state, &Urls::new(&state, &headers), row).await))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BroadcastsQuery {
    limit: Option<u32>,
    /// `next_before` of the previous page.
    before: Option<String>,
}

#[derive(Serialize)]
struct BroadcastsPage {
    broadcasts: Vec<BroadcastView>,
    next_before: Option<String>,
}

const MAX_BROADCASTS_PAGE: u32 = 100;

/// The stream's broadcasts, newest first.
async fn broadcasts(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    query: Result<Query<BroadcastsQuery>, QueryRejection>,
) -> Result<Json<BroadcastsPage>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
    find(&state, &id).await?;
    let limit = query.limit.unwrap_or(20).clamp(1, MAX_BROADCASTS_PAGE);
    let page = broadcasts::list(&state.db, &id, limit, query.before.as_deref()).await?;
    let next_before = (page.len() == limit as usize)
        .then(|| page.last().map(broadcasts::cursor))
        .flatten();
    Ok(Json(BroadcastsPage {
        broadcasts: page,
        next_before,
    }))
}

/// A new key; a publisher using the old one is disconnected.
async fn rotate_key(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<StreamView>, ApiError> {
    find(&state, &id).await?;
    let key = crate::ids::secret();
    if !state.db.set_stream_key(&id, &key).await? {
        return Err(ApiError::not_found());
    }
    state.live.kick(&id);
    let row = find(&state, &id).await?;
    Ok(Json(view(&state, &Urls::new(&state, &headers), row).await))
}

async fn delete(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if !crate::ids::is_id(&id) || !state.db.delete_stream(&id).await? {
        return Err(ApiError::not_found());
    }
    state.live.remove(&id);
    state.chat.remove_room(&id);
    Ok(StatusCode::NO_CONTENT)
}

async fn playback(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let row = find(&state, &id).await?;
    let live = state
        .live
        .stream(&row.id)
        .and_then(|s| s.playable_broadcast())
        .is_some();
    let view = PlaybackView {
        playback_url: Urls::new(&state, &headers).playback(&row.id),
        viewers: state.chat.viewers(&row.id).await,
        id: row.id,
        title: row.title,
        status: if live { "live" } else { "idle" },
    };
    Ok(([(header::CACHE_CONTROL, "no-cache")], Json(view)).into_response())
}

/// The live poster, refreshed every few seconds while the stream is live.
async fn thumbnail(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let row = find(&state, &id).await?;
    let jpeg = state.live.stream(&row.id).and_then(|s| s.poster());
    match jpeg {
        Some(jpeg) => Ok((
            [
                (header::CONTENT_TYPE, "image/jpeg"),
                (header::CACHE_CONTROL, "public, max-age=5"),
            ],
            jpeg,
        )
            .into_response()),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "no thumbnail: the stream is not live",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        assert_eq!(strip_port("example.com:8080"), "example.com");
        assert_eq!(strip_port("[::1]:8080"), "[::1]");
        assert_eq!(strip_port("[::1]"), "[::1]");
        assert!(valid_host("127.0.0.1:8080"));
        assert!(!valid_host("evil.com/<script>"));
    }
}
