//! The chat's admin API (moderators, messages, bans, settings, the pin) and
//! the public socket and viewer heartbeat routes. docs/chat.md lists them.

use std::net::IpAddr;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use chat::moderation::MAX_TIMEOUT_SECS;
use chat::names::{valid_name, valid_viewer_id};
use chat::protocol::SettingsPatch;
use chat::{Action, ChatMessage, ErrorCode, IpTarget, ModerationError, Role, User};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::Row;

use super::store::{MESSAGE_COLUMNS, message_row};
use super::{moderators, socket};
use crate::api::{ApiError, ApiState};

const MAX_PAGE: u32 = 500;
const DEFAULT_PAGE: u32 = 100;

/// Routes that need the admin token.
pub fn admin_routes() -> Router<ApiState> {
    Router::new()
        .route(
            "/api/v1/streams/{id}/moderators",
            post(create_moderator).get(list_moderators),
        )
        .route(
            "/api/v1/streams/{id}/moderators/{moderator_id}",
            delete(revoke_moderator),
        )
        .route("/api/v1/streams/{id}/chat/messages", get(list_messages))
        .route(
            "/api/v1/streams/{id}/chat/messages/{message_id}",
            delete(delete_message),
        )
        .route("/api/v1/streams/{id}/chat/bans", post(ban).get(list_bans))
        .route("/api/v1/streams/{id}/chat/bans/{name}", delete(unban))
        .route(
            "/api/v1/streams/{id}/chat/settings",
            get(settings).patch(update_settings),
        )
        .route("/api/v1/streams/{id}/chat/pin", post(pin).delete(unpin))
}

/// Routes anyone may call.
pub fn public_routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/streams/{id}/chat", get(socket::chat_socket))
        .route("/api/v1/streams/{id}/viewers", post(heartbeat))
}

/// The admin API acts as the broadcaster.
fn admin() -> User {
    User {
        name: "admin".into(),
        role: Role::Broadcaster,
    }
}

async fn existing_stream(state: &ApiState, id: &str) -> Result<(), ApiError> {
    if crate::ids::is_id(id) && state.db.stream(id).await?.is_some() {
        Ok(())
    } else {
        Err(ApiError::new(StatusCode::NOT_FOUND, "no such stream"))
    }
}

fn moderation_error(e: ModerationError) -> ApiError {
    let status = match e.code {
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::Internal => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    ApiError::new(status, e.message)
}

async fn moderate(state: &ApiState, id: &str, action: Action) -> Result<Response, ApiError> {
    existing_stream(state, id).await?;
    state
        .chat
        .moderate(id, &admin(), action)
        .await
        .map_err(moderation_error)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewModerator {
    name: String,
}

async fn create_moderator(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    body: Result<Json<NewModerator>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body?;
    existing_stream(&state, &id).await?;
    if !valid_name(&body.name) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "name must be 1 to 25 letters, digits, _ or -",
        ));
    }
    let (moderator, token) = moderators::create(&state.db, &id, &body.name).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "id": moderator.id,
            "name": moderator.name,
            "token": token,
            "created_at": moderator.created_at,
        })),
    )
        .into_response())
}

async fn list_moderators(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    existing_stream(&state, &id).await?;
    let moderators = moderators::list(&state.db, &id).await?;
    Ok(Json(json!({ "moderators": moderators })).into_response())
}

async fn revoke_moderator(
    State(state): State<ApiState>,
    Path((id, moderator_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    existing_stream(&state, &id).await?;
    if !moderators::revoke(&state.db, &id, &moderator_id).await? {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "no such moderator"));
    }
    state.chat.moderator_revoked(&id, &moderator_id).await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MessagePage {
    broadcast: Option<String>,
    after: Option<u64>,
    limit: Option<u32>,
}

/// A stored message as the admin API shows it.
#[derive(Serialize)]
struct StoredView {
    #[serde(flatten)]
    message: ChatMessage,
    broadcast_id: Option<String>,
    deleted: bool,
}

async fn list_messages(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    query: Result<Query<MessagePage>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(page) = query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
    existing_stream(&state, &id).await?;
    let limit = page.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
    let after = i64::try_from(page.after.unwrap_or(0)).unwrap_or(i64::MAX);
    // The page's query, with or without a broadcast to keep to.
    let (filter, limit_param) = match page.broadcast {
        Some(_) => ("AND broadcast_id = $3", "$4"),
        None => ("", "$3"),
    };
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM chat_messages WHERE stream_id = $1 AND room_offset > $2 {filter} \
         ORDER BY room_offset LIMIT {limit_param}"
    );
    let mut query = sqlx::query(&sql).bind(&id).bind(after);
    if let Some(broadcast) = &page.broadcast {
        query = query.bind(broadcast);
    }
    let rows = query
        .bind(i64::from(limit))
        .fetch_all(state.db.pool())
        .await?;
    let messages = rows
        .iter()
        .map(|row| {
            message_row(row).map(|(message, broadcast_id, deleted)| StoredView {
                message,
                broadcast_id,
                deleted,
            })
        })
        .collect::<sqlx::Result<Vec<_>>>()?;
    let next_after = (messages.len() == limit as usize)
        .then(|| messages.last().map(|m| m.message.offset))
        .flatten();
    Ok(Json(json!({ "messages": messages, "next_after": next_after })).into_response())
}

async fn delete_message(
    State(state): State<ApiState>,
    Path((id, message_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    moderate(&state, &id, Action::Delete { id: message_id }).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewBan {
    name: String,
    ip: Option<IpAddr>,
    duration_secs: Option<u64>,
}

async fn ban(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    body: Result<Json<NewBan>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body?;
    let ip = body.ip.map_or(IpTarget::None, IpTarget::Address);
    let action = match body.duration_secs {
        Some(secs) if !(1..=MAX_TIMEOUT_SECS).contains(&secs) => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "duration_secs must be 1 to 1209600 (14 days)",
            ));
        }
        Some(secs) => Action::Timeout {
            name: body.name,
            secs,
            ip,
        },
        None => Action::Ban {
            name: body.name,
            ip,
        },
    };
    moderate(&state, &id, action).await?;
    Ok(StatusCode::CREATED.into_response())
}

async fn list_bans(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    existing_stream(&state, &id).await?;
    let now = crate::db::timestamp(chrono::Utc::now());
    let bans = sqlx::query(
        "SELECT name, ip, until_at, created_at FROM chat_bans WHERE stream_id = $1 AND (until_at IS NULL OR until_at > $2) \
         ORDER BY created_at",
    )
    .bind(&id)
    .bind(&now)
    .fetch_all(state.db.pool())
    .await?
    .iter()
    .map(|row| {
        Ok(json!({
            "name": row.try_get::<String, _>("name")?,
            "ip": row.try_get::<Option<String>, _>("ip")?,
            "until": row.try_get::<Option<String>, _>("until_at")?,
            "created_at": row.try_get::<String, _>("created_at")?,
        }))
    })
    .collect::<sqlx::Result<Vec<_>>>()?;
    Ok(Json(json!({ "bans": bans })).into_response())
}

async fn unban(
    State(state): State<ApiState>,
    Path((id, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    moderate(&state, &id, Action::Unban { name }).await
}

async fn settings(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    existing_stream(&state, &id).await?;
    let settings = state.chat.settings(&id).await.map_err(moderation_error)?;
    Ok(Json(settings).into_response())
}

async fn update_settings(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    body: Result<Json<SettingsPatch>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(patch) = body?;
    moderate(&state, &id, Action::Settings(patch)).await?;
    settings(State(state), Path(id)).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PinRequest {
    id: String,
}

async fn pin(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    body: Result<Json<PinRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body?;
    moderate(&state, &id, Action::Pin { id: body.id }).await
}

async fn unpin(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    moderate(&state, &id, Action::Unpin).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Heartbeat {
    viewer: String,
}

/// The player's heartbeat: this viewer is watching.
async fn heartbeat(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    body: Result<Json<Heartbeat>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body?;
    if !valid_viewer_id(&body.viewer) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "viewer must be 8 to 64 letters, digits, _ or -",
        ));
    }
    existing_stream(&state, &id).await?;
    state.chat.heartbeat(&id, &body.viewer).await;
    Ok(StatusCode::NO_CONTENT.into_response())
}
