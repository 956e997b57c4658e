//! A stream's broadcasts as rows of `broadcasts`: written when one starts
//! and when it ends, each with its webhook (`stream.started`,
//! `stream.ended`) in the same transaction, and listed newest first.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::db::{Db, timestamp};
use crate::webhooks;

/// A broadcast as the API and webhooks show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BroadcastView {
    pub id: String,
    pub stream_id: String,
    pub started_at: String,
    /// `None` while it goes on (or until the server that ran it comes back).
    pub ended_at: Option<String>,
    /// The VOD asset that replays it, once there is one.
    pub replay_video_id: Option<String>,
}

const COLUMNS: &str = "id, stream_id, started_at, ended_at, replay_video_id";

/// Records a broadcast of `stream_id` starting at `started_at`.
pub async fn started(
    db: &Db,
    id: &str,
    stream_id: &str,
    started_at: DateTime<Utc>,
) -> sqlx::Result<()> {
    let mut tx = db.pool().begin().await?;
    sqlx::query("INSERT INTO broadcasts (id, stream_id, started_at) VALUES ($1, $2, $3)")
        .bind(id)
        .bind(stream_id)
        .bind(timestamp(started_at))
        .execute(&mut *tx)
        .await?;
    announce(&mut tx, webhooks::STREAM_STARTED, id).await?;
    tx.commit().await
}

/// Records the end of broadcast `id` (once: a second call changes nothing).
pub async fn ended(db: &Db, id: &str, ended_at: DateTime<Utc>) -> sqlx::Result<()> {
    let mut tx = db.pool().begin().await?;
    let done =
        sqlx::query("UPDATE broadcasts SET ended_at = $1 WHERE id = $2 AND ended_at IS NULL")
            .bind(timestamp(ended_at))
            .bind(id)
            .execute(&mut *tx)
            .await?;
    if done.rows_affected() == 1 {
        announce(&mut tx, webhooks::STREAM_ENDED, id).await?;
    }
    tx.commit().await
}

/// Queues `event` with the stream and the broadcast as they are now.
async fn announce(conn: &mut AnyConnection, event: &str, id: &str) -> sqlx::Result<()> {
    let row = sqlx::query(&format!(
        "SELECT b.{}, s.title FROM broadcasts b JOIN streams s ON s.id = b.stream_id WHERE b.id = $1",
        COLUMNS.replace(", ", ", b.")
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Ok(());
    };
    let broadcast = view(&row)?;
    let title: String = row.try_get("title")?;
    let data = json!({
        "stream": {"id": broadcast.stream_id, "title": title},
        "broadcast": broadcast,
    });
    webhooks::emit(conn, event, data).await
}

/// A page of `stream_id`'s broadcasts, newest first, started before
/// `before` (a `started_at~id` cursor of the last one seen).
pub async fn list(
    db: &Db,
    stream_id: &str,
    limit: u32,
    before: Option<&str>,
) -> sqlx::Result<Vec<BroadcastView>> {
    let (before_at, before_id) = before
        .and_then(|cursor| cursor.split_once('~'))
        .unwrap_or(("9999", ""));
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM broadcasts WHERE stream_id = $1 \
         AND (started_at < $2 OR (started_at = $3 AND id < $4)) \
         ORDER BY started_at DESC, id DESC LIMIT $5"
    ))
    .bind(stream_id)
    .bind(before_at)
    .bind(before_at)
    .bind(before_id)
    .bind(i64::from(limit))
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(view)
    .collect()
}

/// The cursor that continues a listing after `last`.
pub fn cursor(last: &BroadcastView) -> String {
    format!("{}~{}", last.started_at, last.id)
}

fn view(row: &AnyRow) -> sqlx::Result<BroadcastView> {
    Ok(BroadcastView {
        id: row.try_get("id")?,
        stream_id: row.try_get("stream_id")?,
        started_at: row.try_get("started_at")?,
        ended_at: row.try_get("ended_at")?,
        replay_video_id: row.try_get("replay_video_id")?,
    })
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;
    use crate::db::StreamRow;
    use crate::test_db::databases;

    #[tokio::test]
    async fn broadcasts_start_end_once_and_list_newest_first() {
        for (kind, db) in databases().await {
            let stream = StreamRow {
                id: "s".into(),
                title: "the show".into(),
                stream_key: "key".into(),
                created_at: timestamp(Utc::now()),
                ladder: None,
            };
            db.create_stream(&stream).await.unwrap();
            let t0 = Utc::now();
            for (i, id) in ["b1", "b2", "b3"].iter().enumerate() {
                started(&db, id, "s", t0 + Duration::seconds(i as i64))
                    .await
                    .unwrap();
            }
            ended(&db, "b1", t0 + Duration::seconds(1)).await.unwrap();
            ended(&db, "b1", t0 + Duration::seconds(9)).await.unwrap();
            let all = list(&db, "s", 10, None).await.unwrap();
            let ids: Vec<&str> = all.iter().map(|b| b.id.as_str()).collect();
            assert_eq!(ids, ["b3", "b2", "b1"], "{kind}");
            assert_eq!(
                all[2].ended_at.as_deref(),
                Some(timestamp(t0 + Duration::seconds(1)).as_str()),
                "{kind}: the first end counts"
            );
            assert_eq!(all[0].ended_at, None);
            let first = list(&db, "s", 2, None).await.unwrap();
            let rest = list(&db, "s", 2, Some(&cursor(&first[1]))).await.unwrap();
            assert_eq!(rest, all[2..], "{kind}");
            assert!(list(&db, "other", 10, None).await.unwrap().is_empty());
            assert!(started(&db, "b4", "nope", t0).await.is_err(), "{kind}");
        }
    }
}
