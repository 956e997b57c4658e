//! Outgoing webhooks: endpoints configured through `/api/v1/webhooks`, and
//! events about VOD assets and broadcasts delivered to them.
//!
//! [`emit`] writes one `webhook_deliveries` row per subscribed endpoint, in
//! the caller's transaction, so an event exists exactly when the change that
//! caused it was committed. The deliverer ([`start`]) sends due rows, signed
//! (`signature`), and retries failures on the `backoff` schedule for a day. Several nodes may share a database: a node claims a row before it
//! sends it. See docs/webhooks.md for what receivers see.

mod api;
mod backoff;
mod delivery;
mod signature;

pub use api::admin_routes;
pub use delivery::start;

use chrono::Utc;
use serde::Serialize;
use serde_json::Value;
use sqlx::{AnyConnection, Row};
use tokio::sync::Notify;

use crate::db::timestamp;

pub const VIDEO_UPLOADED: &str = "video.uploaded";
pub const VIDEO_READY: &str = "video.ready";
pub const VIDEO_PARTIALLY_READY: &str = "video.partially_ready";
pub const VIDEO_FAILED: &str = "video.failed";
pub const VIDEO_DELETED: &str = "video.deleted";
pub const STREAM_STARTED: &str = "stream.started";
pub const STREAM_ENDED: &str = "stream.ended";

/// Every event an endpoint may subscribe to.
pub const EVENTS: &[&str] = &[
    VIDEO_UPLOADED,
    VIDEO_READY,
    VIDEO_PARTIALLY_READY,
    VIDEO_FAILED,
    VIDEO_DELETED,
    STREAM_STARTED,
    STREAM_ENDED,
];

/// Subscribes an endpoint to every event, present and future.
pub const ALL_EVENTS: &str = "*";

/// Where a delivery is.
const PENDING: &str = "pending";
const DELIVERED: &str = "delivered";
const FAILED: &str = "failed";

/// Wakes this process's deliverer when an event is emitted here.
static WAKE: Notify = Notify::const_new();

/// What a receiver gets, as JSON.
#[derive(Serialize)]
struct Event<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    created_at: &'a str,
    data: Value,
}

/// Queues `event` (one of [`EVENTS`]) with `data` (e.g. `{"video": …}`) for
/// every endpoint subscribed to it. Run it on the transaction that makes the
/// change the event reports, so both are committed or neither is:
///
/// ```ignore
/// let mut tx = db.pool().begin().await?;
/// sqlx::query("UPDATE videos …").execute(&mut *tx).await?;
/// webhooks::emit(&mut tx, webhooks::VIDEO_READY, json!({ "video": representation(&row) })).await?;
/// tx.commit().await?;
/// ```
pub async fn emit(conn: &mut AnyConnection, event: &str, data: Value) -> sqlx::Result<()> {
    debug_assert!(EVENTS.contains(&event), "unknown webhook event {event}");
    let endpoints = sqlx::query("SELECT id, events FROM webhook_endpoints")
        .fetch_all(&mut *conn)
        .await?;
    let mut subscribed = Vec::new();
    for row in &endpoints {
        let events: String = row.try_get("events")?;
        if subscribes(&events, event) {
            subscribed.push(row.try_get::<String, _>("id")?);
        }
    }
    if subscribed.is_empty() {
        return Ok(());
    }
    let now = Utc::now();
    let created_at = timestamp(now);
    let event_id = format!("evt_{}", crate::ids::secret());
    let body = serde_json::to_string(&Event {
        id: &event_id,
        kind: event,
        created_at: &created_at,
        data,
    })
    .map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let now_ms = now.timestamp_millis();
    let give_up_ms = now_ms.saturating_add(backoff::GIVE_UP_AFTER.as_millis() as i64);
    for endpoint_id in subscribed {
        sqlx::query(
            "INSERT INTO webhook_deliveries (id, endpoint_id, event_id, event_type, body, status, \
             attempts, next_attempt_ms, give_up_ms, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $8, $9)",
        )
        .bind(crate::ids::stream_id())
        .bind(endpoint_id)
        .bind(&event_id)
        .bind(event)
        .bind(&body)
        .bind(PENDING)
        .bind(now_ms)
        .bind(give_up_ms)
        .bind(&created_at)
        .execute(&mut *conn)
        .await?;
    }
    WAKE.notify_one();
    Ok(())
}

/// Whether an endpoint's stored `events` (a JSON array) include `event`.
fn subscribes(events: &str, event: &str) -> bool {
    match serde_json::from_str::<Vec<String>>(events) {
        Ok(events) => events.iter().any(|e| e == event || e == ALL_EVENTS),
        Err(e) => {
            tracing::warn!("a webhook endpoint's events are not a JSON list ({e}): skipped");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_get_what_they_subscribe_to() {
        assert!(subscribes(
            r#"["video.ready","video.failed"]"#,
            VIDEO_FAILED
        ));
        assert!(!subscribes(r#"["video.ready"]"#, VIDEO_DELETED));
        assert!(subscribes(r#"["*"]"#, VIDEO_DELETED));
        assert!(!subscribes("garbage", VIDEO_READY));
    }
}
