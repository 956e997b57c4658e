//! Live media routes: the master playlist at a URL that stays the same across
//! broadcasts, and per-broadcast media playlists, init segments, parts and
//! segments, all served from memory.
//!
//! `/live/{stream}/index.m3u8`                          master
//! `/live/{stream}/{broadcast}/{rendition}/index.m3u8`  media playlist (blocking reload, delta updates)
//! `/live/{stream}/{broadcast}/{rendition}/init{n}.mp4` init segment n (a new one per discontinuity or config change)
//! `/live/{stream}/{broadcast}/{rendition}/{msn}.m4s`   segment
//! `/live/{stream}/{broadcast}/{rendition}/{msn}.{p}.m4s` part

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use packager::{RenditionId, Resource};

use crate::chunks_body::{ChunksBody, RangeRequest, parse_range};
use crate::hls_query;
use crate::live::{Broadcast, LiveManager, WaitError};

const PLAYLIST_TYPE: &str = "application/vnd.apple.mpegurl";
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// A plain playlist reload changes with every part.
const PLAYLIST_CACHE: &str = "public, max-age=1";
/// A blocking reload's URL names the part it waited for, so a CDN may keep it.
const BLOCKING_PLAYLIST_CACHE: &str = "public, max-age=60";
const NO_STORE: &str = "no-store";

pub fn routes(live: Arc<LiveManager>, min_block_timeout: Duration) -> Router {
    Router::new()
        .route("/live/{stream}/index.m3u8", get(master))
        .route("/live/{stream}/{broadcast}/{rendition}/{file}", get(media))
        .with_state(MediaState {
            live,
            min_block_timeout,
        })
}

#[derive(Clone)]
struct MediaState {
    live: Arc<LiveManager>,
    /// A blocking request waits three of its playlist's target durations
    /// (RFC 8216bis 6.2.5.2), and at least this long.
    min_block_timeout: Duration,
}

fn text(status: StatusCode, message: impl Into<String>) -> Response {
    (status, [(header::CACHE_CONTROL, NO_STORE)], message.into()).into_response()
}

fn not_found() -> Response {
    text(StatusCode::NOT_FOUND, "not found\n")
}

async fn master(State(state): State<MediaState>, Path(stream): Path<String>) -> Response {
    let Some(broadcast) = state
        .live
        .stream(&stream)
        .and_then(|s| s.playable_broadcast())
    else {
        return text(StatusCode::NOT_FOUND, "stream is offline\n");
    };
    let playlist = broadcast
        .packager()
        .master_playlist(&format!("{}/", broadcast.id));
    playlist_response(playlist, PLAYLIST_CACHE)
}

async fn media(
    State(state): State<MediaState>,
    Path((stream, broadcast, rendition, file)): Path<(String, String, String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let Some(broadcast) = state
        .live
        .stream(&stream)
        .and_then(|s| s.broadcast(&broadcast))
    else {
        return not_found();
    };
    let Some((id, target)) = ({
        let packager = broadcast.packager();
        packager
            .rendition_by_name(&rendition)
            .and_then(|id| Some((id, packager.target_duration(id)?)))
    }) else {
        return not_found();
    };
    let deadline = Instant::now() + (target * 3).max(state.min_block_timeout);
    match Resource::parse(&file) {
        Some(Resource::Playlist) => playlist(&broadcast, id, query.as_deref(), deadline).await,
        Some(Resource::Init(number)) => match broadcast.packager().init(id, number) {
            Some(init) => bytes_response(vec![init], content_type(&rendition), &headers),
            None => not_found(),
        },
        Some(Resource::Part(msn, part)) => {
            if let Err(e) = broadcast.wait_for(id, msn, Some(part), deadline).await {
                return wait_error(e);
            }
            match broadcast.packager().part(id, msn, part) {
                Some(bytes) => bytes_response(vec![bytes], content_type(&rendition), &headers),
                None => not_found(),
            }
        }
        Some(Resource::Segment(msn)) => {
            if let Err(e) = broadcast.wait_for(id, msn, None, deadline).await {
                return wait_error(e);
            }
            match broadcast.packager().segment(id, msn) {
                Some(segment) => bytes_response(segment.chunks, content_type(&rendition), &headers),
                None => not_found(),
            }
        }
        None => not_found(),
    }
}

async fn playlist(
    broadcast: &Broadcast,
    id: RenditionId,
    query: Option<&str>,
    deadline: Instant,
) -> Response {
    let query = match hls_query::parse(query) {
        Ok(query) => query,
        Err(e) => return text(StatusCode::BAD_REQUEST, format!("{e}\n")),
    };
    let cache = match query.msn {
        Some(msn) => match broadcast.wait_for(id, msn, query.part, deadline).await {
            Ok(()) | Err(WaitError::Ended) => BLOCKING_PLAYLIST_CACHE,
            Err(e) => return wait_error(e),
        },
        None => PLAYLIST_CACHE,
    };
    match broadcast.packager().media_playlist(id, query.skip) {
        Some(playlist) => playlist_response(playlist, cache),
        None => not_found(),
    }
}

fn wait_error(error: WaitError) -> Response {
    match error {
        WaitError::TooFar => text(
            StatusCode::BAD_REQUEST,
            "_HLS_msn is more than two segments past the live edge\n",
        ),
        WaitError::Timeout => text(StatusCode::SERVICE_UNAVAILABLE, "not available yet\n"),
        WaitError::Ended => not_found(),
    }
}

fn playlist_response(playlist: String, cache: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, PLAYLIST_TYPE),
            (header::CACHE_CONTROL, cache),
        ],
        playlist,
    )
        .into_response()
}

fn content_type(rendition: &str) -> &'static str {
    if rendition == "audio" {
        "audio/mp4"
    } else {
        "video/mp4"
    }
}

/// Immutable media bytes, honouring a single `Range`.
fn bytes_response(chunks: Vec<Bytes>, content_type: &'static str, request: &HeaderMap) -> Response {
    let len: u64 = chunks.iter().map(|c| c.len() as u64).sum();
    let range = request.get(header::RANGE).and_then(|v| v.to_str().ok());
    let (status, start, end) = match parse_range(range, len) {
        RangeRequest::Full => (StatusCode::OK, 0, len),
        RangeRequest::Partial(start, end) => (StatusCode::PARTIAL_CONTENT, start, end),
        RangeRequest::Unsatisfiable => {
            let mut response = text(StatusCode::RANGE_NOT_SATISFIABLE, "range not satisfiable\n");
            response.headers_mut().insert(
                header::CONTENT_RANGE,
                header_value(format!("bytes */{len}")),
            );
            return response;
        }
    };
    let mut response = Response::new(Body::new(ChunksBody::new(chunks, start, end)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE));
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(
        header::CONTENT_LENGTH,
        header_value((end - start).to_string()),
    );
    if status == StatusCode::PARTIAL_CONTENT {
        headers.insert(
            header::CONTENT_RANGE,
            header_value(format!("bytes {start}-{}/{len}", end - 1)),
        );
    }
    response
}

fn header_value(value: String) -> HeaderValue {
    HeaderValue::try_from(value).unwrap_or_else(|_| HeaderValue::from_static(""))
}
