//! The JSON API under `/api/v1`, guarded by the admin bearer token.

mod streams;

pub(crate) use streams::valid_host;

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde_json::json;
use tracing::error;

use crate::chat::ChatHub;
use crate::config::Config;
use crate::db::Db;
use crate::live::LiveManager;

#[derive(Clone)]
pub struct ApiState {
    pub db: Db,
    pub live: Arc<LiveManager>,
    pub config: Arc<Config>,
    pub admin_token: Arc<str>,
    pub chat: ChatHub,
    pub vod: Arc<crate::vod::Vod>,
}

pub fn routes(state: ApiState) -> Router {
    let admin = streams::admin_routes()
        .merge(crate::chat::admin_routes())
        .merge(crate::vod::videos::admin_routes())
        .merge(crate::jobs::admin_routes())
        .merge(crate::webhooks::admin_routes())
        .merge(crate::vod::direct::admin_routes())
        .route_layer(middleware::from_fn_with_state(state.clone(), require_admin));
    admin
        .merge(streams::public_routes())
        .merge(crate::chat::public_routes())
        .merge(crate::vod::tus::routes())
        .merge(crate::vod::playback::routes())
        .merge(crate::recording::chat_replay::routes())
        .with_state(state)
}

async fn require_admin(State(state): State<ApiState>, request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match presented {
        Some(token) if is_admin_token(&state, token) => next.run(request).await,
        _ => {
            let mut response =
                ApiError::new(StatusCode::UNAUTHORIZED, "missing or wrong admin token")
                    .into_response();
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
            response
        }
    }
}

/// Whether `token` is the admin token (compared in constant time).
pub(crate) fn is_admin_token(state: &ApiState, token: &str) -> bool {
    constant_time_eq(token.trim().as_bytes(), state.admin_token.as_bytes())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// An error answer: a status and a message, as `{"error": "…"}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }

    fn not_found() -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "no such stream")
    }

    fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, message)
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> ApiError {
        ApiError::new(rejection.status(), rejection.body_text())
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> ApiError {
        error!("database: {e}");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "database error")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.message }))).into_response()
    }
}
