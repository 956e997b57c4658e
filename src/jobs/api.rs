//! The jobs of an asset, and a retry after it failed (admin token).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use super::queue;
use crate::api::{ApiError, ApiState};
use crate::vod::plan::TRANSCODE;
use crate::vod::transcode_spec::TranscodeSpec;
use crate::vod::videos;

pub fn admin_routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/videos/{id}/jobs", get(list))
        .route("/api/v1/videos/{id}/retry", post(retry))
        .route(
            "/api/v1/videos/{id}/transcode-status",
            get(transcode_status),
        )
}

async fn list(State(state): State<ApiState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    videos::existing(&state, &id).await?;
    let jobs = queue::of_video(&state.db, &id).await?;
    Ok(Json(json!({ "jobs": jobs })).into_response())
}

/// Each rendition's state, percent done and ETA, from the transcode jobs
/// that make them, and the overall figures.
async fn transcode_status(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let row = videos::existing(&state, &id).await?;
    let jobs = queue::of_video(&state.db, &id).await?;
    let now = chrono::Utc::now().timestamp_millis();
    let mut renditions = Vec::new();
    let (mut percent_sum, mut eta) = (0.0, None::<f64>);
    let transcodes: Vec<_> = jobs.iter().filter(|job| job.kind == TRANSCODE).collect();
    for job in &transcodes {
        let spec: Option<TranscodeSpec> = job
            .spec
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok());
        let percent = if job.state == queue::DONE {
            100.0
        } else {
            job.progress
        };
        let job_eta = job_eta(job.state.as_str(), percent, job.started_at, now);
        percent_sum += percent;
        if let Some(secs) = job_eta {
            eta = Some(eta.map_or(secs, |e: f64| e.max(secs)));
        }
        for name in spec.iter().flat_map(TranscodeSpec::names) {
            renditions.push(json!({
                "name": name,
                "job": job.profile,
                "state": job.state,
                "percent": percent,
                "eta_secs": job_eta,
                "error": job.error,
            }));
        }
    }
    let percent = if transcodes.is_empty() {
        if row.status == videos::READY {
            100.0
        } else {
            0.0
        }
    } else {
        percent_sum / transcodes.len() as f64
    };
    Ok(Json(json!({
        "status": row.status,
        "percent": percent,
        "eta_secs": eta,
        "renditions": renditions,
    }))
    .into_response())
}

/// Seconds left of a running job, from its pace so far.
fn job_eta(state: &str, percent: f64, started_at: Option<i64>, now: i64) -> Option<f64> {
    if state != queue::RUNNING || percent <= 0.0 {
        return None;
    }
    let elapsed = (now - started_at?) as f64 / 1000.0;
    Some((elapsed * (100.0 - percent) / percent).max(0.0))
}

/// Queues the failed work of an asset again (failed, or playable with a
/// rendition missing).
async fn retry(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let row = videos::existing(&state, &id).await?;
    let retryable = row.status == videos::FAILED || row.status == videos::PARTIALLY_READY;
    if !retryable || !state.vod.jobs().retry(&id).await? {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "only a video with failed work can be retried; this one is {}",
                row.status
            ),
        ));
    }
    videos::show(State(state), headers, Path(id)).await
}
