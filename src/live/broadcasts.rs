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

/// A broadcast starting: which stream, when, on which server, and where its
/// recording goes (if it is recorded).
pub struct Start<'a> {
    pub id: &'a str,
    pub stream_id: &'a str,
    pub started_at: DateTime<Utc>,
    pub node_id: &'a str,
    pub recording_id: Option<&'a str>,
}

/// Records a broadcast starting.
pub async fn started(db: &Db, start: &Start<'_>) -> sqlx::Result<()> {
    let mut tx = db.pool().begin().await?;
    let at = timestamp(start.started_at);
    sqlx::query(
        "INSERT INTO broadcasts (id, stream_id, started_at, node_id, alive_at, recording_id)          VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(start.id)
    .bind(start.stream_id)
    .bind(&at)
    .bind(start.node_id)
    .bind(&at)
    .bind(start.recording_id)
    .execute(&mut *tx)
    .await?;
    announce(&mut tx, webhooks::STREAM_STARTED, start.id).await?;
    tx.commit().await
}

/// Records the end of broadcast `id` and its replay, if it has one (once: a
/// second call changes nothing and returns false).
pub async fn ended(
    conn: &mut AnyConnection,
    id: &str,
    ended_at: DateTime<Utc>,
    replay_video_id: Option<&str>,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE broadcasts SET ended_at = $1, replay_video_id = $2 WHERE id = $3 AND ended_at IS NULL",
    )
    .bind(timestamp(ended_at))
    .bind(replay_video_id)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 1 {
        announce(conn, webhooks::STREAM_ENDED, id).await?;
    }
    Ok(done.rows_affected() == 1)
}

/// This server's open broadcasts are still going on.
pub async fn alive(db: &Db, node_id: &str, at: DateTime<Utc>) -> sqlx::Result<()> {
    sqlx::query("UPDATE broadcasts SET alive_at = $1 WHERE node_id = $2 AND ended_at IS NULL")
        .bind(timestamp(at))
        .bind(node_id)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// An open broadcast whose server is gone.
#[derive(Debug, Clone, PartialEq)]
pub struct Abandoned {
    pub id: String,
    /// When its server last said it was alive.
    pub alive_at: String,
}

/// Open broadcasts that nobody runs: those of `restarted`, a server that
/// started again (before it starts any), and those whose server has not
/// said it is alive since `stale_before`.
pub async fn abandoned(
    db: &Db,
    restarted: Option<&str>,
    stale_before: DateTime<Utc>,
) -> sqlx::Result<Vec<Abandoned>> {
    sqlx::query(
        "SELECT id, COALESCE(alive_at, started_at) AS alive_at FROM broadcasts          WHERE ended_at IS NULL AND (node_id = $1 OR COALESCE(alive_at, started_at) < $2)",
    )
    .bind(restarted)
    .bind(timestamp(stale_before))
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(|row| {
        Ok(Abandoned {
            id: row.try_get("id")?,
            alive_at: row.try_get("alive_at")?,
        })
    })
    .collect()
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
            let start = |id, at| Start {
                id,
                stream_id: "s",
                started_at: at,
                node_id: "n",
                recording_id: None,
            };
            for (i, id) in ["b1", "b2", "b3"].iter().enumerate() {
                started(&db, &start(id, t0 + Duration::seconds(i as i64)))
                    .await
                    .unwrap();
            }
            let mut conn = db.pool().acquire().await.unwrap();
            let end = |at| t0 + Duration::seconds(at);
            assert!(ended(&mut conn, "b1", end(1), None).await.unwrap());
            assert!(!ended(&mut conn, "b1", end(9), Some("v")).await.unwrap());
            drop(conn);
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
            assert!(
                started(
                    &db,
                    &Start {
                        stream_id: "nope",
                        ..start("b4", t0)
                    }
                )
                .await
                .is_err(),
                "{kind}"
            );

            // b2 and b3 are open: a restart of node n finds both; another node
            // finds them once n has been silent long enough.
            let open = |found: Vec<Abandoned>| found.into_iter().map(|a| a.id).collect::<Vec<_>>();
            let mut mine = open(abandoned(&db, Some("n"), t0).await.unwrap());
            mine.sort();
            assert_eq!(mine, ["b2", "b3"], "{kind}");
            assert!(abandoned(&db, None, t0).await.unwrap().is_empty(), "{kind}");
            alive(&db, "n", t0 + Duration::seconds(60)).await.unwrap();
            let later = t0 + Duration::seconds(61);
            assert_eq!(
                abandoned(&db, None, later).await.unwrap().len(),
                2,
                "{kind}"
            );
            assert!(
                abandoned(&db, Some("other"), t0 + Duration::seconds(59))
                    .await
                    .unwrap()
                    .is_empty()
            );
        }
    }
}
