//! The jobs of an asset, and a retry after it failed (admin token).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use super::queue;
use crate::api::{ApiError, ApiState};
use crate::vod::videos;

pub fn admin_routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/videos/{id}/jobs", get(list))
        .route("/api/v1/videos/{id}/retry", post(retry))
}

async fn list(State(state): State<ApiState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    videos::existing(&state, &id).await?;
    let jobs = queue::of_video(&state.db, &id).await?;
    Ok(Json(json!({ "jobs": jobs })).into_response())
}

/// Queues the failed work of a failed asset again.
async fn retry(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let row = videos::existing(&state, &id).await?;
    if row.status != videos::FAILED || !state.vod.jobs().retry(&id).await? {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "only a failed video can be retried; this one is {}",
                row.status
            ),
        ));
    }
    videos::show(State(state), headers, Path(id)).await
}
