//! The deliverer: finds due deliveries, claims each one (so that one node at
//! a time sends it), sends it signed, and records the outcome on its row.

use std::collections::HashMap;
use std::error::Error as _;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use chrono::Utc;
use reqwest::header::CONTENT_TYPE;
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::{info, warn};

use super::{DELIVERED, FAILED, PENDING, WAKE, backoff, signature};
use crate::config::WebhookConfig;
use crate::db::{Db, timestamp};

const USER_AGENT: &str = "Tributary-Webhooks/1";
/// A receiver answers within this or the attempt fails.
const TIMEOUT: Duration = Duration::from_secs(10);
/// A claim outlasts the request it covers; the deliveries of a node that died
/// mid-request are sent again once their claims expire.
const CLAIM: Duration = Duration::from_secs(30);
/// Without news from `emit` in this process, due deliveries are looked for this often.
const POLL: Duration = Duration::from_secs(1);
/// `emit` wakes the deliverer before its transaction commits: look again this
/// soon after, when the rows are visible.
const SETTLE: Duration = Duration::from_millis(50);
/// Requests in flight from this node, and to one endpoint: a slow receiver
/// holds at most its share and never stalls the others.
const MAX_IN_FLIGHT: usize = 32;
const MAX_PER_ENDPOINT: usize = 4;
/// Due deliveries read per look.
const BATCH: i64 = 64;
/// Of an unsuccessful answer, this much of the body is kept as its error.
const ERROR_BODY: usize = 512;
/// Delivered and failed deliveries are kept this long for the API.
const KEEP_FINISHED: Duration = Duration::from_secs(7 * 24 * 3600);
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Starts this node's deliverer.
pub fn start(db: Db, config: &WebhookConfig) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(TIMEOUT)
        .build()
        .context("building the webhook HTTP client")?;
    let deliverer = Arc::new(Deliverer {
        pool: db.pool().clone(),
        client,
        first_step: config.retry_base,
        slots: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
        per_endpoint: Mutex::default(),
    });
    tokio::spawn(deliverer.run());
    Ok(())
}

struct Deliverer {
    pool: AnyPool,
    client: reqwest::Client,
    first_step: Duration,
    slots: Arc<Semaphore>,
    /// Requests in flight per endpoint id.
    per_endpoint: Mutex<HashMap<String, usize>>,
}

/// A due delivery and where it goes.
struct Due {
    id: String,
    endpoint_id: String,
    url: String,
    secret: String,
    event_type: String,
    body: Bytes,
    attempts: i64,
    give_up_ms: i64,
}

fn due_row(row: &AnyRow) -> sqlx::Result<Due> {
    Ok(Due {
        id: row.try_get("id")?,
        endpoint_id: row.try_get("endpoint_id")?,
        url: row.try_get("url")?,
        secret: row.try_get("secret")?,
        event_type: row.try_get("event_type")?,
        body: Bytes::from(row.try_get::<String, _>("body")?),
        attempts: row.try_get("attempts")?,
        give_up_ms: row.try_get("give_up_ms")?,
    })
}

/// What one attempt came to.
enum Outcome {
    Delivered { status: u16 },
    Failed { status: Option<u16>, error: String },
}

/// A request in flight: frees its slot and its endpoint's share when dropped.
struct InFlight {
    deliverer: Arc<Deliverer>,
    endpoint_id: String,
    _slot: OwnedSemaphorePermit,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut counts = self
            .deliverer
            .per_endpoint
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = counts.get_mut(&self.endpoint_id) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.endpoint_id);
            }
        }
        WAKE.notify_one();
    }
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

impl Deliverer {
    async fn run(self: Arc<Self>) {
        let mut pruned_at = None;
        let mut settle = false;
        loop {
            if pruned_at.is_none_or(|at: tokio::time::Instant| at.elapsed() >= PRUNE_EVERY) {
                if let Err(e) = prune(&self.pool, Utc::now()).await {
                    warn!("pruning old webhook deliveries: {e}");
                }
                pruned_at = Some(tokio::time::Instant::now());
            }
            let mut wait = self.pass().await.unwrap_or_else(|e| {
                warn!("webhook deliveries: {e}");
                POLL
            });
            if settle {
                wait = wait.min(SETTLE);
            }
            settle = tokio::select! {
                () = WAKE.notified() => true,
                () = tokio::time::sleep(wait) => false,
            };
        }
    }

    /// Starts what is due and free; returns how long to wait before the next look.
    async fn pass(self: &Arc<Self>) -> sqlx::Result<Duration> {
        let now = now_ms();
        // The backlog of an endpoint that has its share in flight is left out,
        // so that it never fills the batch and starves the others.
        let saturated = self.saturated_endpoints();
        let sql = format!(
            "SELECT d.id, d.endpoint_id, e.url, e.secret, d.event_type, d.body, d.attempts, \
             d.give_up_ms FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id \
             WHERE d.status = $1 AND d.next_attempt_ms <= $2 \
             AND (d.locked_until_ms IS NULL OR d.locked_until_ms < $3) {} \
             ORDER BY d.next_attempt_ms LIMIT $4",
            not_in("d.endpoint_id", 5, saturated.len())
        );
        let mut select = sqlx::query(&sql)
            .bind(PENDING)
            .bind(now)
            .bind(now)
            .bind(BATCH);
        for endpoint_id in &saturated {
            select = select.bind(endpoint_id);
        }
        let rows = select.fetch_all(&self.pool).await?;
        let mut no_slot = false;
        let mut saturated_now = false;
        for row in &rows {
            let due = due_row(row)?;
            let Ok(slot) = self.slots.clone().try_acquire_owned() else {
                no_slot = true;
                break;
            };
            if self.in_flight_to(&due.endpoint_id) >= MAX_PER_ENDPOINT {
                saturated_now = true;
                continue;
            }
            if !claim(&self.pool, &due.id, due.attempts, now).await? {
                continue;
            }
            *self
                .per_endpoint
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(due.endpoint_id.clone())
                .or_default() += 1;
            let in_flight = InFlight {
                deliverer: self.clone(),
                endpoint_id: due.endpoint_id.clone(),
                _slot: slot,
            };
            tokio::spawn(self.clone().deliver(due, in_flight));
        }
        if no_slot {
            // More is due than this node may start now: a finished request wakes the loop.
            return Ok(POLL);
        }
        if saturated_now || rows.len() as i64 == BATCH {
            // More of other endpoints may be due already.
            return Ok(Duration::ZERO);
        }
        let saturated = self.saturated_endpoints();
        let sql = format!(
            "SELECT MIN(next_attempt_ms) AS due_ms FROM webhook_deliveries \
             WHERE status = $1 AND (locked_until_ms IS NULL OR locked_until_ms < $2) {}",
            not_in("endpoint_id", 3, saturated.len())
        );
        let mut select = sqlx::query(&sql).bind(PENDING).bind(now);
        for endpoint_id in &saturated {
            select = select.bind(endpoint_id);
        }
        let next: Option<i64> = select.fetch_one(&self.pool).await?.try_get("due_ms")?;
        let until_next = next.map_or(POLL, |at| {
            Duration::from_millis(u64::try_from(at - now_ms()).unwrap_or(0))
        });
        Ok(until_next.clamp(SETTLE, POLL))
    }

    /// The endpoints with their whole share of requests in flight.
    fn saturated_endpoints(&self) -> Vec<String> {
        self.per_endpoint
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|(_, count)| **count >= MAX_PER_ENDPOINT)
            .map(|(id, _)| id.clone())
            .collect()
    }

    fn in_flight_to(&self, endpoint_id: &str) -> usize {
        self.per_endpoint
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(endpoint_id)
            .copied()
            .unwrap_or(0)
    }

    async fn deliver(self: Arc<Self>, due: Due, in_flight: InFlight) {
        let outcome = self.send(&due).await;
        if let Err(e) = self.record(&due, outcome).await {
            // The claim expires and the delivery is sent again.
            warn!(delivery = %due.id, "recording a webhook attempt: {e}");
        }
        drop(in_flight);
    }

    async fn send(&self, due: &Due) -> Outcome {
        let signed = signature::header(&due.secret, Utc::now().timestamp(), &due.body);
        let request = self
            .client
            .post(&due.url)
            .header(CONTENT_TYPE, "application/json")
            .header("Tributary-Event", &due.event_type)
            .header("Tributary-Delivery", &due.id)
            .header("Tributary-Signature", signed)
            .body(due.body.clone());
        match request.send().await {
            Ok(response) if response.status().is_success() => Outcome::Delivered {
                status: response.status().as_u16(),
            },
            Ok(response) => {
                let status = response.status().as_u16();
                let start = body_start(response).await;
                let error = if start.is_empty() {
                    format!("HTTP {status}")
                } else {
                    format!("HTTP {status}: {start}")
                };
                Outcome::Failed {
                    status: Some(status),
                    error,
                }
            }
            Err(e) => Outcome::Failed {
                status: None,
                error: describe(&e),
            },
        }
    }

    /// Writes the attempt on the row, unless another node took the delivery
    /// over meanwhile (its attempt count moved on).
    async fn record(&self, due: &Due, outcome: Outcome) -> sqlx::Result<()> {
        let attempts = due.attempts + 1;
        let now = Utc::now();
        let update = match &outcome {
            Outcome::Delivered { status } => sqlx::query(
                "UPDATE webhook_deliveries SET status = $1, attempts = $2, last_status = $3, \
                 last_error = NULL, delivered_at = $4, locked_until_ms = NULL \
                 WHERE id = $5 AND attempts = $6",
            )
            .bind(DELIVERED)
            .bind(attempts)
            .bind(i64::from(*status))
            .bind(timestamp(now)),
            Outcome::Failed { status, error } => {
                let next = backoff::next_attempt_ms(
                    self.first_step,
                    u32::try_from(attempts).unwrap_or(u32::MAX),
                    now.timestamp_millis(),
                    due.give_up_ms,
                );
                match next {
                    Some(next) => info!(
                        delivery = %due.id, url = %due.url, attempts,
                        "webhook attempt failed, retrying in {} ms: {error}",
                        next - now.timestamp_millis()
                    ),
                    None => warn!(
                        delivery = %due.id, url = %due.url, attempts,
                        "webhook delivery given up: {error}"
                    ),
                }
                sqlx::query(
                    "UPDATE webhook_deliveries SET status = $1, attempts = $2, last_status = $3, \
                     last_error = $4, next_attempt_ms = $5, locked_until_ms = NULL \
                     WHERE id = $6 AND attempts = $7",
                )
                .bind(if next.is_some() { PENDING } else { FAILED })
                .bind(attempts)
                .bind(status.map(i64::from))
                .bind(error.as_str())
                .bind(next.unwrap_or(now.timestamp_millis()))
            }
        };
        update
            .bind(&due.id)
            .bind(due.attempts)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

/// `AND column NOT IN ($first, …)` for `count` parameters; nothing for none.
fn not_in(column: &str, first: usize, count: usize) -> String {
    if count == 0 {
        return String::new();
    }
    let parameters: Vec<String> = (first..first + count).map(|n| format!("${n}")).collect();
    format!("AND {column} NOT IN ({})", parameters.join(", "))
}

/// Takes a due delivery for this node until the claim expires; false when
/// another node has it (or it moved on).
async fn claim(pool: &AnyPool, id: &str, attempts: i64, now: i64) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE webhook_deliveries SET locked_until_ms = $1 WHERE id = $2 AND status = $3 \
         AND attempts = $4 AND (locked_until_ms IS NULL OR locked_until_ms < $5)",
    )
    .bind(now.saturating_add(millis(CLAIM)))
    .bind(id)
    .bind(PENDING)
    .bind(attempts)
    .bind(now)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Forgets finished deliveries older than [`KEEP_FINISHED`].
async fn prune(pool: &AnyPool, now: chrono::DateTime<Utc>) -> sqlx::Result<u64> {
    let cutoff = now - KEEP_FINISHED;
    let done = sqlx::query("DELETE FROM webhook_deliveries WHERE status <> $1 AND created_at < $2")
        .bind(PENDING)
        .bind(timestamp(cutoff))
        .execute(pool)
        .await?;
    Ok(done.rows_affected())
}

/// The start of a response body, as text, for the delivery's error.
async fn body_start(mut response: reqwest::Response) -> String {
    let mut start = Vec::new();
    while start.len() < ERROR_BODY {
        match response.chunk().await {
            Ok(Some(chunk)) => start.extend_from_slice(&chunk),
            _ => break,
        }
    }
    start.truncate(ERROR_BODY);
    String::from_utf8_lossy(&start).trim().to_owned()
}

/// A failed request with its causes (reqwest's own message alone is vague).
fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return format!("no answer within {} s", TIMEOUT.as_secs());
    }
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(source) = cause {
        text.push_str(": ");
        text.push_str(&source.to_string());
        cause = source.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::test_db::databases;
    use crate::webhooks::api::insert_endpoint;
    use crate::webhooks::{VIDEO_DELETED, VIDEO_READY, emit};

    async fn endpoint(db: &Db, events: &[&str]) -> String {
        let events = events.iter().map(|e| e.to_string()).collect();
        insert_endpoint(db, "http://127.0.0.1:9/".into(), events, "s".repeat(16))
            .await
            .unwrap()
            .id
    }

    async fn deliveries(db: &Db) -> Vec<(String, String, String)> {
        sqlx::query(
            "SELECT endpoint_id, event_id, body FROM webhook_deliveries ORDER BY endpoint_id",
        )
        .fetch_all(db.pool())
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get("endpoint_id"), r.get("event_id"), r.get("body")))
        .collect()
    }

    #[test]
    fn saturated_endpoints_are_left_out_by_parameter() {
        assert_eq!(not_in("d.endpoint_id", 5, 0), "");
        assert_eq!(
            not_in("d.endpoint_id", 5, 2),
            "AND d.endpoint_id NOT IN ($5, $6)"
        );
    }

    #[tokio::test]
    async fn emit_queues_one_delivery_per_subscriber_in_the_callers_transaction() {
        for (kind, db) in databases().await {
            let deleted = endpoint(&db, &[VIDEO_DELETED]).await;
            let every = endpoint(&db, &["*"]).await;
            endpoint(&db, &[VIDEO_READY]).await;

            let mut tx = db.pool().begin().await.unwrap();
            emit(&mut tx, VIDEO_DELETED, json!({"video": {"id": "a"}}))
                .await
                .unwrap();
            tx.rollback().await.unwrap();
            assert!(deliveries(&db).await.is_empty(), "{kind}: rolled back");

            let mut tx = db.pool().begin().await.unwrap();
            emit(&mut tx, VIDEO_DELETED, json!({"video": {"id": "b"}}))
                .await
                .unwrap();
            tx.commit().await.unwrap();
            let rows = deliveries(&db).await;
            let mut endpoints: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
            endpoints.sort();
            let mut expected = [deleted.as_str(), every.as_str()];
            expected.sort();
            assert_eq!(endpoints, expected, "{kind}");
            assert_eq!(rows[0].1, rows[1].1, "{kind}: one event id");
            assert_eq!(rows[0].2, rows[1].2, "{kind}: one body");
            let body: serde_json::Value = serde_json::from_str(&rows[0].2).unwrap();
            assert_eq!(body["id"], rows[0].1, "{kind}");
            assert!(body["id"].as_str().unwrap().starts_with("evt_"), "{kind}");
            assert_eq!(body["type"], VIDEO_DELETED, "{kind}");
            assert_eq!(body["data"]["video"]["id"], "b", "{kind}");
            assert!(
                chrono::DateTime::parse_from_rfc3339(body["created_at"].as_str().unwrap()).is_ok(),
                "{kind}"
            );
        }
    }

    #[tokio::test]
    async fn a_delivery_is_claimed_by_one_node_at_a_time() {
        for (kind, db) in databases().await {
            endpoint(&db, &["*"]).await;
            let mut conn = db.pool().acquire().await.unwrap();
            emit(&mut conn, VIDEO_READY, json!({})).await.unwrap();
            drop(conn);
            let id: String = sqlx::query("SELECT id FROM webhook_deliveries")
                .fetch_one(db.pool())
                .await
                .unwrap()
                .get("id");
            let now = now_ms();
            assert!(claim(db.pool(), &id, 0, now).await.unwrap(), "{kind}");
            assert!(!claim(db.pool(), &id, 0, now + 1).await.unwrap(), "{kind}");
            assert!(
                !claim(db.pool(), &id, 1, now + millis(CLAIM) + 1)
                    .await
                    .unwrap(),
                "{kind}: a stale attempt count is fenced out"
            );
            assert!(
                claim(db.pool(), &id, 0, now + millis(CLAIM) + 1)
                    .await
                    .unwrap(),
                "{kind}: an expired claim is taken over"
            );
        }
    }

    #[tokio::test]
    async fn old_finished_deliveries_are_pruned_and_pending_ones_kept() {
        for (kind, db) in databases().await {
            endpoint(&db, &["*"]).await;
            let mut conn = db.pool().acquire().await.unwrap();
            emit(&mut conn, VIDEO_READY, json!({})).await.unwrap();
            emit(&mut conn, VIDEO_DELETED, json!({})).await.unwrap();
            drop(conn);
            sqlx::query("UPDATE webhook_deliveries SET status = $1 WHERE event_type = $2")
                .bind(DELIVERED)
                .bind(VIDEO_READY)
                .execute(db.pool())
                .await
                .unwrap();
            assert_eq!(prune(db.pool(), Utc::now()).await.unwrap(), 0, "{kind}");
            let later = Utc::now() + KEEP_FINISHED + chrono::Duration::seconds(1);
            assert_eq!(prune(db.pool(), later).await.unwrap(), 1, "{kind}");
            assert_eq!(deliveries(&db).await.len(), 1, "{kind}");
        }
    }
}
