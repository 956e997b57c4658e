//! VOD playback: `/vod/{id}/…` serves an asset as [`AssetFile`] lays it
//! out. The manifests are made from the published renditions; the init and
//! media segments stream from storage, with a single `Range` honoured,
//! immutable for a year. No token: like live playback, the asset id is the
//! capability.

use std::ops::Range;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use packager::vod::{AssetFile, VodError};
use storage::{AnyStore, ObjectStore, S3Store, StorageError};

use super::renditions::{self, ManifestError, media_prefix};
use super::{thumbnails, videos};
use crate::api::ApiState;

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Manifests of an asset still being processed gain renditions.
const GROWING: &str = "public, max-age=2";
const SETTLED: &str = "public, max-age=3600";
const NO_STORE: &str = "no-store";
/// How long a presigned media URL lives, and how long its redirect may be
/// cached (well within it).
const PRESIGNED_FOR: std::time::Duration = std::time::Duration::from_secs(6 * 3600);
const REDIRECT_CACHE: &str = "public, max-age=3600";
const HLS: &str = "application/vnd.apple.mpegurl";
const DASH: &str = "application/dash+xml";

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/vod/{id}/{*path}", get(serve))
        .route("/watch/v/{id}", get(watch))
}

/// The asset's watch page; 404 until it plays.
async fn watch(State(state): State<ApiState>, Path(id): Path<String>) -> Response {
    if !crate::ids::is_id(&id) {
        return not_found();
    }
    match videos::find(&state.db, &id).await {
        Ok(Some(row)) if row.status == videos::READY || row.status == videos::PARTIALLY_READY => {
            let replay = row.origin == videos::ORIGIN_LIVE;
            crate::watch::vod_page(&id, &row.title, row.thumbnails.is_some(), replay)
                .into_response()
        }
        Ok(_) => text(
            StatusCode::NOT_FOUND,
            "no such video, or it is not playable yet",
        ),
        Err(e) => {
            tracing::warn!(video = id, "vod page: {e}");
            text(StatusCode::SERVICE_UNAVAILABLE, "try again")
        }
    }
}

/// The asset's multivariant playlist, relative to the origin or to
/// `playback_base_url`.
pub fn hls_path(video_id: &str) -> String {
    format!("/vod/{video_id}/{}", AssetFile::MasterPlaylist)
}

pub fn dash_path(video_id: &str) -> String {
    format!("/vod/{video_id}/{}", AssetFile::Mpd)
}

fn text(status: StatusCode, message: &str) -> Response {
    (
        status,
        [(header::CACHE_CONTROL, NO_STORE)],
        format!("{message}\n"),
    )
        .into_response()
}

fn not_found() -> Response {
    text(StatusCode::NOT_FOUND, "not found")
}

async fn serve(
    State(state): State<ApiState>,
    Path((id, path)): Path<(String, String)>,
    request: HeaderMap,
) -> Response {
    if !crate::ids::is_id(&id) {
        return not_found();
    }
    let mut response = if let Some(content_type) = thumbnail_type(&path) {
        let key = format!("{}{path}", media_prefix(&id));
        object(&state, &key, content_type, SETTLED, &request).await
    } else {
        match AssetFile::parse(&path) {
            Some(file) => asset_file(&state, &id, &path, file, &request).await,
            None => not_found(),
        }
    };
    // Players on other origins (an embed, a CDN'd page) may read it all.
    response.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    response
}

fn thumbnail_type(path: &str) -> Option<&'static str> {
    match path {
        thumbnails::POSTER | thumbnails::SPRITE => Some("image/jpeg"),
        thumbnails::STORYBOARD => Some("text/vtt"),
        _ => None,
    }
}

async fn asset_file(
    state: &ApiState,
    id: &str,
    path: &str,
    file: AssetFile<'_>,
    request: &HeaderMap,
) -> Response {
    match file {
        AssetFile::Init(..) | AssetFile::Segment(..) => {
            let key = format!("{}{path}", media_prefix(id));
            let kind = if path.starts_with("audio") {
                "audio/mp4"
            } else {
                "video/mp4"
            };
            object(state, &key, kind, IMMUTABLE, request).await
        }
        AssetFile::MasterPlaylist | AssetFile::Mpd | AssetFile::MediaPlaylist(_) => {
            manifest(state, id, file).await
        }
    }
}

async fn manifest(state: &ApiState, id: &str, file: AssetFile<'_>) -> Response {
    let row = match videos::find(&state.db, id).await {
        Ok(Some(row)) => row,
        Ok(None) => return not_found(),
        Err(e) => {
            tracing::warn!(video = id, "vod manifest: {e}");
            return text(StatusCode::SERVICE_UNAVAILABLE, "try again");
        }
    };
    let ready = row.status == videos::READY;
    let published = match renditions::listed(&state.db, id, ready).await {
        Ok(published) => published,
        Err(e) => {
            tracing::warn!(video = id, "vod manifest: {e}");
            return text(StatusCode::SERVICE_UNAVAILABLE, "try again");
        }
    };
    let made = match file {
        AssetFile::MasterPlaylist => renditions::master(&published).map(|text| (text, HLS)),
        AssetFile::Mpd => renditions::dash_manifest(&published).map(|text| (text, DASH)),
        AssetFile::MediaPlaylist(name) => match renditions::rendition_playlist(&published, name) {
            Some(playlist) => playlist.map(|text| (text, HLS)),
            None => return not_found(),
        },
        AssetFile::Init(..) | AssetFile::Segment(..) => return not_found(),
    };
    match made {
        Ok((body, content_type)) => {
            let cache = if ready { SETTLED } else { GROWING };
            (
                [
                    (header::CONTENT_TYPE, content_type),
                    (header::CACHE_CONTROL, cache),
                ],
                body,
            )
                .into_response()
        }
        // Nothing plays yet; or the MPD, while the first rendition grows.
        Err(ManifestError::Nothing | ManifestError::Vod(VodError::Incomplete(_))) => not_found(),
        Err(e) => {
            tracing::error!(video = id, "vod manifest: {e}");
            text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the manifest could not be made",
            )
        }
    }
}

/// What a `Range` header asks of an object whose size is not known yet.
enum Wanted {
    All,
    /// `bytes=a-b` or `bytes=a-` (end exclusive, maybe `u64::MAX`).
    From(Range<u64>),
    /// `bytes=-n`: the last n bytes.
    Last(u64),
}

/// A single range only; anything else (several ranges, another unit, a
/// malformed one) reads the whole object, as RFC 9110 allows.
fn wanted(request: &HeaderMap) -> Wanted {
    let Some(spec) = request
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().strip_prefix("bytes="))
        .filter(|spec| !spec.contains(','))
    else {
        return Wanted::All;
    };
    let Some((first, last)) = spec.split_once('-') else {
        return Wanted::All;
    };
    let (first, last) = (first.trim(), last.trim());
    match (first.parse::<u64>(), last.parse::<u64>()) {
        (Ok(start), Ok(end)) if end >= start => Wanted::From(start..end.saturating_add(1)),
        (Ok(start), Err(_)) if last.is_empty() => Wanted::From(start..u64::MAX),
        (Err(_), Ok(n)) if first.is_empty() && n > 0 => Wanted::Last(n),
        _ => Wanted::All,
    }
}

async fn object(
    state: &ApiState,
    key: &str,
    content_type: &'static str,
    cache: &'static str,
    request: &HeaderMap,
) -> Response {
    let store = state.vod.store();
    if let (true, AnyStore::S3(s3)) = (state.config.vod.redirect_to_storage, store) {
        return redirect(s3, key).await;
    }
    let range = match wanted(request) {
        Wanted::All => None,
        Wanted::From(range) => Some(range),
        Wanted::Last(n) => match store.head(key).await {
            Ok(meta) => Some(meta.size.saturating_sub(n)..u64::MAX),
            Err(e) => return storage_error(key, &e),
        },
    };
    let partial = range.is_some();
    let object = match store.get(key, range).await {
        Ok(object) => object,
        Err(StorageError::RangeNotSatisfiable { size, .. }) => {
            let mut response = text(StatusCode::RANGE_NOT_SATISFIABLE, "range not satisfiable");
            if let Ok(value) = HeaderValue::try_from(format!("bytes */{size}")) {
                response.headers_mut().insert(header::CONTENT_RANGE, value);
            }
            return response;
        }
        Err(e) => return storage_error(key, &e),
    };
    let (start, end) = (object.range.start, object.range.end);
    let mut response = Response::new(Body::from_stream(object.body));
    if partial {
        *response.status_mut() = StatusCode::PARTIAL_CONTENT;
    }
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(end - start));
    if partial
        && let Ok(value) =
            HeaderValue::try_from(format!("bytes {start}-{}/{}", end - 1, object.size))
    {
        headers.insert(header::CONTENT_RANGE, value);
    }
    response
}

/// A redirect to a presigned URL of the object: the bytes go from the
/// bucket (or its CDN) to the viewer, not through the origin. The redirect
/// itself may be cached for a while, less than the URL lives.
async fn redirect(s3: &S3Store, key: &str) -> Response {
    match s3.presign_get(key, PRESIGNED_FOR).await {
        Ok(url) => match HeaderValue::try_from(url) {
            Ok(location) => (
                StatusCode::FOUND,
                [
                    (header::LOCATION, location),
                    (
                        header::CACHE_CONTROL,
                        HeaderValue::from_static(REDIRECT_CACHE),
                    ),
                ],
            )
                .into_response(),
            Err(_) => text(StatusCode::INTERNAL_SERVER_ERROR, "bad presigned URL"),
        },
        Err(e) => storage_error(key, &e),
    }
}

fn storage_error(key: &str, e: &StorageError) -> Response {
    if e.is_not_found() {
        return not_found();
    }
    tracing::warn!(key, "vod object: {e}");
    text(StatusCode::BAD_GATEWAY, "storage is unavailable")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(value: &str) -> Wanted {
        let mut headers = HeaderMap::new();
        headers.insert(header::RANGE, HeaderValue::from_str(value).unwrap());
        wanted(&headers)
    }

    #[test]
    fn ranges() {
        assert!(matches!(wanted(&HeaderMap::new()), Wanted::All));
        assert!(matches!(range("bytes=0-99"), Wanted::From(r) if r == (0..100)));
        assert!(matches!(range("bytes=10-"), Wanted::From(r) if r == (10..u64::MAX)));
        assert!(matches!(range("bytes=-5"), Wanted::Last(5)));
        for odd in [
            "bytes=5-1",
            "bytes=-0",
            "bytes=0-1,4-5",
            "items=0-1",
            "bytes=x-1",
            "bytes=-",
        ] {
            assert!(matches!(range(odd), Wanted::All), "{odd}");
        }
    }
}
