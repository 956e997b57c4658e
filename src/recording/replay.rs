//! The end of a broadcast: its replay, an asset made at once from the
//! recorded segments (no re-encoding, nothing copied; playable, and `ready`
//! once its thumbnails job is done), and the broadcast's row and
//! `stream.ended` webhook naming it, in one transaction.

use chrono::{DateTime, Utc};
use sqlx::{AnyConnection, Row};
use tracing::{info, warn};

use super::plan::{self, PlanError};
use super::{ladder, rows};
use crate::db::Db;
use crate::live::broadcasts;
use crate::vod::plan::VodLadder;
use crate::vod::videos;

/// When a broadcast ended.
#[derive(Debug, Clone, Copy)]
pub enum Ending {
    At(DateTime<Utc>),
    /// Its server died: when its recording ends, or when the server was
    /// last heard of if that is later.
    LastHeard(DateTime<Utc>),
}

/// Ends broadcast `id` with its replay, when anything of it was recorded,
/// and queues the replay's ladder job when `ladder` is given. Returns the
/// replay's id. Ending a broadcast that already ended changes nothing.
pub async fn end(
    db: &Db,
    id: &str,
    ending: Ending,
    ladder: Option<&VodLadder>,
) -> sqlx::Result<Option<String>> {
    let mut tx = db.pool().begin().await?;
    let made = make(&mut tx, id, ladder).await?;
    let ended_at = match ending {
        Ending::At(at) => at,
        Ending::LastHeard(heard) => made
            .as_ref()
            .and_then(|(_, end)| *end)
            .map_or(heard, |end| end.max(heard)),
    };
    let replay = made.map(|(replay, _)| replay);
    if broadcasts::ended(&mut tx, id, ended_at, replay.as_deref()).await? {
        tx.commit().await?;
        Ok(replay)
    } else {
        Ok(None)
    }
}

/// The replay's asset and renditions, inside the transaction that ends the
/// broadcast: its id and when its recording ends.
async fn make(
    conn: &mut AnyConnection,
    id: &str,
    ladder: Option<&VodLadder>,
) -> sqlx::Result<Option<(String, Option<DateTime<Utc>>)>> {
    let row = sqlx::query(
        "SELECT b.recording_id, b.started_at, b.ended_at, s.title FROM broadcasts b \
         JOIN streams s ON s.id = b.stream_id WHERE b.id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let recording_id: Option<String> = row.try_get("recording_id")?;
    let ended_at: Option<String> = row.try_get("ended_at")?;
    let (Some(recording_id), None) = (recording_id, ended_at) else {
        return Ok(None);
    };
    let (segments, inits) = rows::load(conn, id).await?;
    let plan = match plan::plan(&segments, &inits) {
        Ok(plan) => plan,
        Err(PlanError::Nothing) => return Ok(None),
        Err(e) => {
            warn!(broadcast = id, "no replay: {e}");
            return Ok(None);
        }
    };
    let title: String = row.try_get("title")?;
    let started_at: String = row.try_get("started_at")?;
    let title = format!(
        "{title} ({})",
        started_at
            .get(..16)
            .unwrap_or(&started_at)
            .replace('T', " ")
    );
    let asset = videos::Derived {
        id: &recording_id,
        title: &title,
        description: "",
        origin: videos::ORIGIN_LIVE,
        source: None,
        broadcast_id: Some(id),
    };
    videos::create_derived(conn, &asset).await?;
    let ladder_job = ladder::publish(conn, &recording_id, &plan.renditions, ladder).await?;
    videos::announce(conn, &recording_id, crate::webhooks::VIDEO_PARTIALLY_READY).await?;
    info!(
        broadcast = id,
        video = %recording_id,
        renditions = ?plan.renditions.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
        segments = plan.spans.len(),
        left_out = ?plan.left_out,
        ladder = ?ladder_job.as_ref().map(|job| job.spec.names().collect::<Vec<_>>()),
        "replay published"
    );
    let recording_end = plan
        .spans
        .last()
        .and_then(|s| DateTime::from_timestamp_millis(s.pdt_ms + (s.duration * 1000.0) as i64));
    Ok(Some((recording_id, recording_end)))
}
