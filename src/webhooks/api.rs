//! `/api/v1/webhooks`: create, list, show and delete endpoints, and see the
//! recent deliveries of one.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{ALL_EVENTS, EVENTS, PENDING};
use crate::api::{ApiError, ApiState};
use crate::db::{Db, timestamp};

const MAX_URL: usize = 2048;
const MIN_SECRET: usize = 16;
const MAX_SECRET: usize = 256;
const MAX_PAGE: u32 = 100;

/// An endpoint as stored.
#[derive(Debug, Clone)]
pub(super) struct EndpointRow {
    pub id: String,
    pub url: String,
    pub events: Vec<String>,
    pub secret: String,
    pub created_at: String,
}

/// Routes under the admin token.
pub fn admin_routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/webhooks", post(create).get(list))
        .route("/api/v1/webhooks/{id}", get(show).delete(remove))
        .route("/api/v1/webhooks/{id}/deliveries", get(deliveries))
}

pub(super) async fn insert_endpoint(
    db: &Db,
    url: String,
    events: Vec<String>,
    secret: String,
) -> sqlx::Result<EndpointRow> {
    let row = EndpointRow {
        id: crate::ids::stream_id(),
        url,
        events,
        secret,
        created_at: timestamp(Utc::now()),
    };
    let events = serde_json::to_string(&row.events).map_err(|e| sqlx::Error::Encode(e.into()))?;
    sqlx::query(
        "INSERT INTO webhook_endpoints (id, url, events, secret, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&row.id)
    .bind(&row.url)
    .bind(events)
    .bind(&row.secret)
    .bind(&row.created_at)
    .execute(db.pool())
    .await?;
    Ok(row)
}

fn endpoint_row(row: &AnyRow) -> sqlx::Result<EndpointRow> {
    let events: String = row.try_get("events")?;
    Ok(EndpointRow {
        id: row.try_get("id")?,
        url: row.try_get("url")?,
        events: serde_json::from_str(&events).map_err(|e| sqlx::Error::Decode(e.into()))?,
        secret: row.try_get("secret")?,
        created_at: row.try_get("created_at")?,
    })
}

/// An endpoint as the API shows it: never with its secret.
fn view(row: &EndpointRow) -> Value {
    json!({
        "id": row.id,
        "url": row.url,
        "events": row.events,
        "created_at": row.created_at,
    })
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, message)
}

/// An absolute http(s) URL with a host, normalized.
fn valid_url(url: &str) -> Result<String, ApiError> {
    let wrong = || {
        invalid(format!(
            "url must be an http or https URL with a host, at most {MAX_URL} characters"
        ))
    };
    if url.len() > MAX_URL {
        return Err(wrong());
    }
    let parsed = reqwest::Url::parse(url).map_err(|_| wrong())?;
    let has_host = parsed.host_str().is_some_and(|h| !h.is_empty());
    if !matches!(parsed.scheme(), "http" | "https") || !has_host || parsed.as_str().len() > MAX_URL
    {
        return Err(wrong());
    }
    Ok(parsed.into())
}

/// Known event names without repeats, or `["*"]` alone.
fn valid_events(events: Vec<String>) -> Result<Vec<String>, ApiError> {
    if events.is_empty() {
        return Err(invalid(format!(
            "events must list at least one of {}, or be [\"*\"]",
            EVENTS.join(", ")
        )));
    }
    if events.iter().any(|e| e == ALL_EVENTS) {
        return match events.len() {
            1 => Ok(events),
            _ => Err(invalid("\"*\" subscribes to every event: list it alone")),
        };
    }
    let mut known = Vec::new();
    for event in events {
        if !EVENTS.contains(&event.as_str()) {
            return Err(invalid(format!(
                "unknown event {event:?}: events are {} or \"*\"",
                EVENTS.join(", ")
            )));
        }
        if !known.contains(&event) {
            known.push(event);
        }
    }
    Ok(known)
}

fn valid_secret(secret: Option<String>) -> Result<String, ApiError> {
    let Some(secret) = secret else {
        return Ok(format!("whsec_{}", crate::ids::secret()));
    };
    let length = secret.chars().count();
    if !(MIN_SECRET..=MAX_SECRET).contains(&length) || secret.chars().any(char::is_control) {
        return Err(invalid(format!(
            "secret must be {MIN_SECRET} to {MAX_SECRET} printable characters (omit it to get a generated one)"
        )));
    }
    Ok(secret)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewEndpoint {
    url: String,
    events: Vec<String>,
    secret: Option<String>,
}

async fn create(
    State(state): State<ApiState>,
    body: Result<Json<NewEndpoint>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body?;
    let url = valid_url(&body.url)?;
    let events = valid_events(body.events)?;
    let secret = valid_secret(body.secret)?;
    let row = insert_endpoint(&state.db, url, events, secret).await?;
    let mut created = view(&row);
    // The only answer that shows the secret.
    created["secret"] = json!(row.secret);
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

async fn list(State(state): State<ApiState>) -> Result<Response, ApiError> {
    let rows = sqlx::query(
        "SELECT id, url, events, secret, created_at FROM webhook_endpoints ORDER BY created_at, id",
    )
    .fetch_all(state.db.pool())
    .await?
    .iter()
    .map(endpoint_row)
    .collect::<sqlx::Result<Vec<_>>>()?;
    Ok(Json(rows.iter().map(view).collect::<Vec<_>>()).into_response())
}

async fn existing(state: &ApiState, id: &str) -> Result<EndpointRow, ApiError> {
    let not_found = || ApiError::new(StatusCode::NOT_FOUND, "no such webhook");
    if !crate::ids::is_id(id) {
        return Err(not_found());
    }
    sqlx::query("SELECT id, url, events, secret, created_at FROM webhook_endpoints WHERE id = $1")
        .bind(id)
        .fetch_optional(state.db.pool())
        .await?
        .as_ref()
        .map(endpoint_row)
        .transpose()?
        .ok_or_else(not_found)
}

async fn show(State(state): State<ApiState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    Ok(Json(view(&existing(&state, &id).await?)).into_response())
}

/// Removes the endpoint and its deliveries, pending ones included.
async fn remove(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    existing(&state, &id).await?;
    sqlx::query("DELETE FROM webhook_endpoints WHERE id = $1")
        .bind(&id)
        .execute(state.db.pool())
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeliveriesQuery {
    limit: Option<u32>,
}

/// The endpoint's most recent deliveries, newest first.
async fn deliveries(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    query: Result<Query<DeliveriesQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
    existing(&state, &id).await?;
    let limit = query.limit.unwrap_or(50).clamp(1, MAX_PAGE);
    let rows = sqlx::query(
        "SELECT id, event_id, event_type, status, attempts, next_attempt_ms, last_status, \
         last_error, created_at, delivered_at FROM webhook_deliveries WHERE endpoint_id = $1 \
         ORDER BY created_at DESC, id DESC LIMIT $2",
    )
    .bind(&id)
    .bind(i64::from(limit))
    .fetch_all(state.db.pool())
    .await?
    .iter()
    .map(delivery_view)
    .collect::<sqlx::Result<Vec<_>>>()?;
    Ok(Json(rows).into_response())
}

fn delivery_view(row: &AnyRow) -> sqlx::Result<Value> {
    let status: String = row.try_get("status")?;
    let next_attempt_ms: i64 = row.try_get("next_attempt_ms")?;
    let next_attempt_at = (status == PENDING)
        .then(|| DateTime::<Utc>::from_timestamp_millis(next_attempt_ms).map(timestamp))
        .flatten();
    Ok(json!({
        "id": row.try_get::<String, _>("id")?,
        "event_id": row.try_get::<String, _>("event_id")?,
        "event_type": row.try_get::<String, _>("event_type")?,
        "status": status,
        "attempts": row.try_get::<i64, _>("attempts")?,
        "last_status": row.try_get::<Option<i64>, _>("last_status")?,
        "last_error": row.try_get::<Option<String>, _>("last_error")?,
        "next_attempt_at": next_attempt_at,
        "created_at": row.try_get::<String, _>("created_at")?,
        "delivered_at": row.try_get::<Option<String>, _>("delivered_at")?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn urls_are_http_or_https_with_a_host() {
        assert_eq!(
            valid_url("https://Example.com/hook?a=1").unwrap(),
            "https://example.com/hook?a=1"
        );
        assert!(valid_url("http://127.0.0.1:9/").is_ok());
        for bad in [
            "",
            "example.com/hook",
            "ftp://example.com/",
            "http://",
            "file:///etc/passwd",
            "mailto:a@b.c",
        ] {
            assert!(valid_url(bad).is_err(), "{bad}");
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL));
        assert!(valid_url(&long).is_err());
    }

    #[test]
    fn events_are_known_names_or_the_wildcard_alone() {
        assert_eq!(
            valid_events(strings(&["video.ready", "video.failed", "video.ready"])).unwrap(),
            strings(&["video.ready", "video.failed"])
        );
        assert_eq!(valid_events(strings(&["*"])).unwrap(), strings(&["*"]));
        assert!(valid_events(vec![]).is_err());
        assert!(valid_events(strings(&["video.nope"])).is_err());
        assert!(valid_events(strings(&["*", "video.ready"])).is_err());
    }

    #[test]
    fn secrets_are_generated_or_long_enough() {
        let generated = valid_secret(None).unwrap();
        assert!(generated.starts_with("whsec_") && generated.len() == 38);
        assert_ne!(generated, valid_secret(None).unwrap());
        assert!(valid_secret(Some("short".into())).is_err());
        assert!(valid_secret(Some("x".repeat(MAX_SECRET + 1))).is_err());
        assert!(valid_secret(Some("sixteen chars\n..".into())).is_err());
        assert_eq!(
            valid_secret(Some("a-long-enough-secret".into())).unwrap(),
            "a-long-enough-secret"
        );
    }
}
