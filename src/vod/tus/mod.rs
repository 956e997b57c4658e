//! tus 1.0.0 (core, creation, creation-with-upload, creation-defer-length,
//! termination, expiration, checksum) on axum, into object storage through
//! `storage::ResumableUpload`. Bytes stream through: a PATCH body goes into
//! the upload's file on `fs` storage, or to a spool file and out to the
//! store in parts on `s3`, and the offset a response reports is durable in
//! the store.

pub mod headers;
mod lifecycle;
mod signing;
mod slots;
mod uploads;

use std::io;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{self, post};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::{Stream, StreamExt};
use serde::Deserialize;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tracing::{info, warn};

pub use signing::Signer;
pub use slots::Slots;
pub use uploads::UploadRow;

use crate::api::ApiState;
use headers::{
    CHECKSUM_ALGORITHMS, Checksum, ChecksumAlgorithm, EXTENSIONS, HeaderError, OFFSET_OCTET_STREAM,
    TUS_VERSION, http_date, parse_checksum, parse_count, parse_metadata,
};

/// The status tus gives a chunk whose checksum does not match.
const CHECKSUM_MISMATCH: u16 = 460;

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/uploads", post(create_plain))
        .route("/api/v1/videos/{id}/upload", post(create_for_video))
        .route(
            "/api/v1/uploads/{upload_id}",
            routing::head(head)
                .patch(patch)
                .delete(terminate)
                .post(method_override),
        )
}

/// A tus answer: a status, headers and a short text body.
struct TusResponse {
    status: StatusCode,
    headers: Vec<(HeaderName, HeaderValue)>,
    message: String,
}

impl TusResponse {
    fn new(status: StatusCode) -> TusResponse {
        TusResponse {
            status,
            headers: Vec::new(),
            message: String::new(),
        }
    }

    fn error(status: StatusCode, message: impl Into<String>) -> TusResponse {
        TusResponse {
            message: message.into(),
            ..TusResponse::new(status)
        }
    }

    fn header(mut self, name: impl Into<HeaderName>, value: impl ToString) -> TusResponse {
        if let Ok(value) = HeaderValue::from_str(&value.to_string()) {
            self.headers.push((name.into(), value));
        }
        self
    }

    fn offset(self, offset: u64) -> TusResponse {
        self.header(HeaderName::from_static("upload-offset"), offset)
    }

    fn expires(self, at: DateTime<Utc>) -> TusResponse {
        self.header(HeaderName::from_static("upload-expires"), http_date(at))
    }
}

impl IntoResponse for TusResponse {
    fn into_response(self) -> Response {
        let mut response = (self.status, self.message).into_response();
        let headers = response.headers_mut();
        headers.insert("tus-resumable", HeaderValue::from_static(TUS_VERSION));
        for (name, value) in self.headers {
            headers.insert(name, value);
        }
        response
    }
}

type TusResult = Result<TusResponse, TusResponse>;

impl From<HeaderError> for TusResponse {
    fn from(e: HeaderError) -> TusResponse {
        TusResponse::error(StatusCode::BAD_REQUEST, e.to_string())
    }
}

impl From<sqlx::Error> for TusResponse {
    fn from(e: sqlx::Error) -> TusResponse {
        warn!("database: {e}");
        TusResponse::error(StatusCode::SERVICE_UNAVAILABLE, "database error, try again")
    }
}

fn storage_error(e: storage::StorageError) -> TusResponse {
    warn!("upload storage: {e}");
    TusResponse::error(StatusCode::SERVICE_UNAVAILABLE, "storage error, try again")
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Every request but OPTIONS names the protocol version it speaks.
fn check_version(headers: &HeaderMap) -> Result<(), TusResponse> {
    match header(headers, "tus-resumable") {
        Some(TUS_VERSION) => Ok(()),
        _ => Err(TusResponse::error(
            StatusCode::PRECONDITION_FAILED,
            "Tus-Resumable: 1.0.0 is required",
        )
        .header(HeaderName::from_static("tus-version"), TUS_VERSION)),
    }
}

fn is_offset_stream(headers: &HeaderMap) -> bool {
    header(headers, "content-type")
        .and_then(|t| t.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case(OFFSET_OCTET_STREAM))
}

/// OPTIONS on an upload URL (plain, or a browser's CORS preflight, which
/// the CORS layer answers) tells what this server speaks. Wraps the CORS
/// layer, so both kinds get the tus headers.
pub async fn advertise(max_bytes: u64, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let upload_url = path == "/api/v1/uploads"
        || path.starts_with("/api/v1/uploads/")
        || (path.starts_with("/api/v1/videos/") && path.ends_with("/upload"));
    if request.method() != Method::OPTIONS || !upload_url {
        return next.run(request).await;
    }
    let mut response = next.run(request).await;
    *response.status_mut() = StatusCode::NO_CONTENT;
    let tus = TusResponse::new(StatusCode::NO_CONTENT)
        .header(HeaderName::from_static("tus-version"), TUS_VERSION)
        .header(HeaderName::from_static("tus-extension"), EXTENSIONS)
        .header(HeaderName::from_static("tus-max-size"), max_bytes)
        .header(
            HeaderName::from_static("tus-checksum-algorithm"),
            CHECKSUM_ALGORITHMS,
        )
        .into_response();
    response.headers_mut().extend(tus.headers().clone());
    response
}

#[derive(Deserialize)]
pub struct Signed {
    expires: Option<i64>,
    sig: Option<String>,
}

fn verify(state: &ApiState, path: &str, signed: &Signed) -> Result<(), TusResponse> {
    state
        .vod
        .signer()
        .verify(
            path,
            signed.expires,
            signed.sig.as_deref(),
            Utc::now().timestamp(),
        )
        .map_err(|e| match e {
            signing::SignatureError::Expired => {
                TusResponse::error(StatusCode::GONE, "this upload URL has expired")
            }
            _ => TusResponse::error(
                StatusCode::FORBIDDEN,
                "missing or wrong upload URL signature",
            ),
        })
}

/// `POST /api/v1/uploads` (admin token): the asset is made from the upload,
/// titled from its `title` or `filename` metadata.
async fn create_plain(State(state): State<ApiState>, headers: HeaderMap, body: Body) -> Response {
    let authorized = header(&headers, "authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|token| crate::api::is_admin_token(&state, token));
    if !authorized {
        return TusResponse::error(StatusCode::UNAUTHORIZED, "missing or wrong admin token")
            .into_response();
    }
    let created = async {
        check_version(&headers)?;
        let request = CreationRequest::parse(&state, &headers)?;
        let title = ["title", "filename"]
            .iter()
            .find_map(|key| headers::metadata_value(&request.metadata, key))
            .map(|t| t.trim().chars().take(200).collect::<String>())
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| "Untitled upload".to_owned());
        let video = crate::vod::videos::create(&state.db, &title, "").await?;
        create_upload(&state, &headers, &video.id, request, body).await
    };
    created.await.unwrap_or_else(|e| e).into_response()
}

/// `POST /api/v1/videos/{id}/upload?expires&sig`: the creation endpoint
/// bound to one asset (its `upload_url`).
async fn create_for_video(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    Query(signed): Query<Signed>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let created = async {
        check_version(&headers)?;
        verify(&state, &crate::vod::creation_path(&id), &signed)?;
        let video = crate::vod::videos::find(&state.db, &id)
            .await?
            .ok_or_else(|| TusResponse::error(StatusCode::NOT_FOUND, "no such video"))?;
        if video.status != crate::vod::videos::AWAITING_UPLOAD {
            return Err(TusResponse::error(
                StatusCode::CONFLICT,
                "this video has its source already",
            ));
        }
        let request = CreationRequest::parse(&state, &headers)?;
        // A new upload for the asset replaces an unfinished one.
        state.vod.abort_uploads_of(&id).await;
        create_upload(&state, &headers, &id, request, body).await
    };
    created.await.unwrap_or_else(|e| e).into_response()
}

/// What a creation request asks for.
struct CreationRequest {
    length: Option<u64>,
    metadata: Vec<headers::MetadataPair>,
}

impl CreationRequest {
    fn parse(state: &ApiState, headers: &HeaderMap) -> Result<CreationRequest, TusResponse> {
        let length = match (
            header(headers, "upload-length"),
            header(headers, "upload-defer-length"),
        ) {
            (Some(length), None) => Some(parse_count("Upload-Length", length)?),
            (None, Some("1")) => None,
            _ => {
                return Err(TusResponse::error(
                    StatusCode::BAD_REQUEST,
                    "send Upload-Length, or Upload-Defer-Length: 1",
                ));
            }
        };
        if length.is_some_and(|l| l > state.config.uploads.max_bytes) {
            return Err(too_large(state));
        }
        let metadata = parse_metadata(header(headers, "upload-metadata").unwrap_or_default())?;
        Ok(CreationRequest { length, metadata })
    }
}

fn too_large(state: &ApiState) -> TusResponse {
    TusResponse::error(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!(
            "uploads are at most {} bytes",
            state.config.uploads.max_bytes
        ),
    )
    .header(
        HeaderName::from_static("tus-max-size"),
        state.config.uploads.max_bytes,
    )
}

async fn create_upload(
    state: &ApiState,
    headers: &HeaderMap,
    video_id: &str,
    request: CreationRequest,
    body: Body,
) -> TusResult {
    let vod = &state.vod;
    let (row, upload) = vod
        .create_upload(video_id, request.length, &request.metadata)
        .await?;
    info!(video = video_id, upload = %row.id, length = ?row.length, "upload created");
    let location = format!(
        "{}{}",
        crate::vod::videos::base_url(state, headers),
        vod.upload_path_signed(&row)
    );
    let slot = vod.slots().slot(&row.id);
    let mut held = slot.try_hold().ok_or_else(busy)?;
    *held = Some(upload);
    let mut created = TusResponse::new(StatusCode::CREATED)
        .header(header::LOCATION, location)
        .expires(row.expires_at);
    // creation-with-upload: the body is the first chunk.
    if is_offset_stream(headers) {
        let offset = receive(state, &row, &slot, &mut held, headers, body).await?;
        created = created.offset(offset);
    }
    Ok(created)
}

fn busy() -> TusResponse {
    TusResponse::error(StatusCode::LOCKED, "another request is writing this upload")
}

/// The upload a signed URL names, if it is still there.
async fn signed_upload(
    state: &ApiState,
    upload_id: &str,
    signed: &Signed,
) -> Result<UploadRow, TusResponse> {
    verify(state, &crate::vod::upload_path(upload_id), signed)?;
    let row = uploads::find(&state.db, upload_id)
        .await?
        .ok_or_else(|| TusResponse::error(StatusCode::NOT_FOUND, "no such upload"))?;
    if row.completed_at.is_none() && row.expires_at < Utc::now() {
        return Err(TusResponse::error(
            StatusCode::GONE,
            "this upload has expired",
        ));
    }
    Ok(row)
}

async fn head(
    State(state): State<ApiState>,
    Path(upload_id): Path<String>,
    Query(signed): Query<Signed>,
    headers: HeaderMap,
) -> Response {
    let answered = async {
        check_version(&headers)?;
        let row = signed_upload(&state, &upload_id, &signed).await?;
        let offset = match row.length.filter(|_| row.completed_at.is_some()) {
            Some(length) => length,
            None => {
                let slot = state.vod.slots().slot(&row.id);
                match slot.hold_for_head().await {
                    Ok(mut held) => state
                        .vod
                        .load(&row, &mut held)
                        .await
                        .map_err(storage_error)?
                        .offset(),
                    Err(durable) => durable,
                }
            }
        };
        let mut response = TusResponse::new(StatusCode::OK)
            .offset(offset)
            .header(header::CACHE_CONTROL, "no-store")
            .header(HeaderName::from_static("upload-metadata"), &row.metadata)
            .expires(row.expires_at);
        response = match row.length {
            Some(length) => response.header(HeaderName::from_static("upload-length"), length),
            None => response.header(HeaderName::from_static("upload-defer-length"), 1),
        };
        Ok(response)
    };
    answered
        .await
        .unwrap_or_else(|e: TusResponse| e)
        .into_response()
}

async fn patch(
    State(state): State<ApiState>,
    Path(upload_id): Path<String>,
    Query(signed): Query<Signed>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let answered = async {
        check_version(&headers)?;
        if !is_offset_stream(&headers) {
            return Err(TusResponse::error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Content-Type must be application/offset+octet-stream",
            ));
        }
        let claimed = parse_count(
            "Upload-Offset",
            header(&headers, "upload-offset").unwrap_or_default(),
        )?;
        let mut row = signed_upload(&state, &upload_id, &signed).await?;
        if row.completed_at.is_some() {
            return Err(TusResponse::error(
                StatusCode::CONFLICT,
                "this upload is complete",
            ));
        }
        let slot = state.vod.slots().slot(&row.id);
        let mut held = slot.try_hold().ok_or_else(busy)?;
        let offset = state
            .vod
            .load(&row, &mut held)
            .await
            .map_err(storage_error)?
            .offset();
        if claimed != offset {
            return Err(TusResponse::error(
                StatusCode::CONFLICT,
                format!("Upload-Offset is {claimed} but the upload holds {offset} bytes"),
            )
            .offset(offset));
        }
        if let Some(length) = header(&headers, "upload-length") {
            let length = parse_count("Upload-Length", length)?;
            if row.length.is_some_and(|known| known != length) {
                return Err(TusResponse::error(
                    StatusCode::BAD_REQUEST,
                    "Upload-Length cannot change",
                ));
            }
            if length < offset {
                return Err(TusResponse::error(
                    StatusCode::BAD_REQUEST,
                    "Upload-Length is below the offset",
                ));
            }
            if length > state.config.uploads.max_bytes {
                return Err(too_large(&state));
            }
            if row.length.is_none() {
                uploads::set_length(&state.db, &row.id, length).await?;
                row.length = Some(length);
            }
        }
        let offset = receive(&state, &row, &slot, &mut held, &headers, body).await?;
        Ok(TusResponse::new(StatusCode::NO_CONTENT)
            .offset(offset)
            .expires(row.expires_at))
    };
    answered
        .await
        .unwrap_or_else(|e: TusResponse| e)
        .into_response()
}

/// Takes a chunk into the upload held in `held` and, when it was the last
/// one, completes the upload. Returns the new (durable) offset.
async fn receive(
    state: &ApiState,
    row: &UploadRow,
    slot: &slots::Slot,
    held: &mut slots::Held<'_>,
    headers: &HeaderMap,
    body: Body,
) -> Result<u64, TusResponse> {
    let checksum = header(headers, "upload-checksum")
        .map(parse_checksum)
        .transpose()?;
    let upload = state.vod.load(row, held).await.map_err(storage_error)?;
    let offset = upload.offset();
    slot.set_durable(offset);
    slot.heard();
    let room = row
        .length
        .map_or(state.config.uploads.max_bytes, |l| l.saturating_sub(offset));
    // A HEAD from a client that reconnected ends this body where it is.
    let chunks = body
        .into_data_stream()
        .inspect(|_| slot.heard())
        .take_until(slot.stopped());
    let chunks = within(chunks, room);
    let appended = match checksum {
        Some(checksum) => append_verified(state, upload, chunks, &checksum).await,
        None => upload
            .append(chunks)
            .await
            .map_err(|e| append_error(state, e)),
    };
    let offset = match appended {
        Ok(offset) => {
            slot.set_durable(offset);
            offset
        }
        Err(e) => {
            // The store may hold more than before: the next request reloads it.
            **held = None;
            return Err(e);
        }
    };
    if row.length == Some(offset) {
        state.vod.complete(row, held).await?;
    }
    Ok(offset)
}

/// Why a body was cut short on purpose.
#[derive(Debug, thiserror::Error)]
enum BodyError {
    #[error("the body is longer than Upload-Length allows")]
    TooLong,
    #[error("reading the body: {0}")]
    Read(#[from] axum::Error),
}

/// Passes at most `room` bytes: a chunk that would go past it fails the
/// body with `TooLong` (the chunks before it are kept).
fn within(
    chunks: impl Stream<Item = Result<Bytes, axum::Error>>,
    room: u64,
) -> impl Stream<Item = Result<Bytes, BodyError>> {
    let mut left = room;
    chunks.map(move |chunk| {
        let chunk = chunk?;
        left = left
            .checked_sub(chunk.len() as u64)
            .ok_or(BodyError::TooLong)?;
        Ok(chunk)
    })
}

fn append_error(state: &ApiState, e: storage::StorageError) -> TusResponse {
    if let storage::StorageError::Body(cause) = &e {
        if cause
            .downcast_ref::<BodyError>()
            .is_some_and(|b| matches!(b, BodyError::TooLong))
        {
            return TusResponse::error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "the body is longer than Upload-Length allows",
            )
            .header(
                HeaderName::from_static("tus-max-size"),
                state.config.uploads.max_bytes,
            );
        }
        // The client went away: what arrived is kept.
        return TusResponse::error(
            StatusCode::BAD_REQUEST,
            format!("the body ended early: {cause}"),
        );
    }
    storage_error(e)
}

/// With Upload-Checksum the chunk is spooled whole and checked before any of
/// it joins the upload; a mismatch discards it (460).
async fn append_verified(
    state: &ApiState,
    upload: &mut slots::Upload,
    chunks: impl Stream<Item = Result<Bytes, BodyError>>,
    checksum: &Checksum,
) -> Result<u64, TusResponse> {
    let spool = state.vod.spool_file();
    let result = spool_and_verify(&spool, chunks, checksum).await;
    let appended = match result {
        Ok(()) => {
            let file = tokio::fs::File::open(&spool).await.map_err(spool_error)?;
            upload
                .append(tokio_util::io::ReaderStream::new(file))
                .await
                .map_err(|e| append_error(state, e))
        }
        Err(e) => Err(e),
    };
    let _ = tokio::fs::remove_file(&spool).await;
    appended
}

fn spool_error(e: io::Error) -> TusResponse {
    warn!("upload spool: {e}");
    TusResponse::error(
        StatusCode::SERVICE_UNAVAILABLE,
        "could not spool the chunk, try again",
    )
}

async fn spool_and_verify(
    path: &std::path::Path,
    chunks: impl Stream<Item = Result<Bytes, BodyError>>,
    checksum: &Checksum,
) -> Result<(), TusResponse> {
    let mut file = tokio::fs::File::create(path).await.map_err(spool_error)?;
    let mut sha1 = Sha1::new();
    let mut sha256 = Sha256::new();
    let mut chunks = std::pin::pin!(chunks);
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|e| match e {
            BodyError::TooLong => TusResponse::error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "the body is longer than Upload-Length allows",
            ),
            BodyError::Read(e) => TusResponse::error(
                StatusCode::BAD_REQUEST,
                format!("the body ended early (chunk discarded): {e}"),
            ),
        })?;
        match checksum.algorithm {
            ChecksumAlgorithm::Sha1 => sha1.update(&chunk),
            ChecksumAlgorithm::Sha256 => sha256.update(&chunk),
        }
        file.write_all(&chunk).await.map_err(spool_error)?;
    }
    file.flush().await.map_err(spool_error)?;
    let digest: Vec<u8> = match checksum.algorithm {
        ChecksumAlgorithm::Sha1 => sha1.finalize().to_vec(),
        ChecksumAlgorithm::Sha256 => sha256.finalize().to_vec(),
    };
    if digest != checksum.digest {
        let status = StatusCode::from_u16(CHECKSUM_MISMATCH).unwrap_or(StatusCode::BAD_REQUEST);
        return Err(TusResponse::error(
            status,
            "Upload-Checksum does not match: the chunk was discarded",
        ));
    }
    Ok(())
}

async fn terminate(
    State(state): State<ApiState>,
    Path(upload_id): Path<String>,
    Query(signed): Query<Signed>,
    headers: HeaderMap,
) -> Response {
    let answered = async {
        check_version(&headers)?;
        let row = signed_upload(&state, &upload_id, &signed).await?;
        let slot = state.vod.slots().slot(&row.id);
        let mut held = slot.try_hold().ok_or_else(busy)?;
        state.vod.terminate(&row, &mut held).await?;
        Ok(TusResponse::new(StatusCode::NO_CONTENT))
    };
    answered
        .await
        .unwrap_or_else(|e: TusResponse| e)
        .into_response()
}

/// `X-HTTP-Method-Override` for clients that can only send POST.
async fn method_override(
    state: State<ApiState>,
    path: Path<String>,
    signed: Query<Signed>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match header(&headers, "x-http-method-override")
        .map(str::to_ascii_uppercase)
        .as_deref()
    {
        Some("PATCH") => patch(state, path, signed, headers, body).await,
        Some("DELETE") => terminate(state, path, signed, headers).await,
        Some("HEAD") => head(state, path, signed, headers).await,
        _ => TusResponse::error(
            StatusCode::METHOD_NOT_ALLOWED,
            "POST creates uploads at the creation URL",
        )
        .header(header::ALLOW, "OPTIONS, HEAD, PATCH, DELETE")
        .into_response(),
    }
}
