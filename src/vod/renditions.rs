//! An asset's published renditions (rows of `video_renditions`) and the
//! manifests written from them. A rendition's row is written only once the
//! files it lists are in storage, so a manifest never names a missing file;
//! the manifests are made from the rows on request, so two jobs ending at
//! once can never overwrite each other's.
//!
//! A growing rendition (`complete = 0`, published segment by segment while
//! its job runs) is listed in the HLS master with an `EVENT` playlist; the
//! MPD waits for it to be complete.

use chrono::Utc;
use packager::vod::{Presentation, Rendition, VodError, master_playlist, media_playlist, mpd};
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::rendition_record::{RecordError, RenditionRecord};
use crate::db::{Db, timestamp};

/// Where an asset's media files live in the store, below its prefix.
pub fn media_prefix(video_id: &str) -> String {
    format!("{}media/", super::video_prefix(video_id))
}

/// Where the files of an asset's rendition `name` live in the store.
pub fn rendition_prefix(video_id: &str, name: &str) -> String {
    format!("{}{name}/", media_prefix(video_id))
}

/// One published rendition, as the API lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Published {
    pub name: String,
    pub kind: String,
    #[serde(skip_serializing_if = "is_zero")]
    pub width: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub height: i64,
    /// Measured average, bits per second.
    pub bitrate: i64,
    #[serde(skip)]
    pub temporary: bool,
    /// False while its job still writes it.
    #[serde(skip)]
    pub complete: bool,
    #[serde(skip)]
    pub record: RenditionRecord,
}

fn is_zero(value: &i64) -> bool {
    *value == 0
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("no rendition is published")]
    Nothing,
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error(transparent)]
    Vod(#[from] VodError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Publishes `record` (again, if a retried job made it anew). A growing
/// record never replaces a complete one, nor one that lists more segments
/// (a retried job starts its rendition again from the first segment).
pub async fn publish(
    conn: &mut AnyConnection,
    video_id: &str,
    record: &RenditionRecord,
    temporary: bool,
) -> sqlx::Result<()> {
    let json = serde_json::to_string(record).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let kind = if record.is_video() { "video" } else { "audio" };
    let segments = i64::try_from(record.segments.len()).unwrap_or(i64::MAX);
    sqlx::query(
        "INSERT INTO video_renditions (video_id, name, kind, width, height, bitrate, temporary, \
         record, created_at, complete, segments) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         ON CONFLICT (video_id, name) DO UPDATE SET kind = $3, width = $4, height = $5, \
         bitrate = $6, temporary = $7, record = $8, complete = $10, segments = $11 \
         WHERE $10 = 1 OR (video_renditions.complete = 0 AND video_renditions.segments <= $11)",
    )
    .bind(video_id)
    .bind(&record.name)
    .bind(kind)
    .bind(i64::from(record.track.width))
    .bind(i64::from(record.track.height))
    .bind(average_bitrate(record))
    .bind(i64::from(temporary))
    .bind(json)
    .bind(timestamp(Utc::now()))
    .bind(i64::from(record.complete))
    .bind(segments)
    .execute(conn)
    .await?;
    Ok(())
}

/// Withdraws those of `names` that are still growing (their job failed for
/// good).
pub async fn withdraw_growing(
    conn: &mut AnyConnection,
    video_id: &str,
    names: &[String],
) -> sqlx::Result<()> {
    for name in names {
        sqlx::query(
            "DELETE FROM video_renditions WHERE video_id = $1 AND name = $2 AND complete = 0",
        )
        .bind(video_id)
        .bind(name)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Removes the row of the temporary rendition `name` (its files are gone).
pub async fn remove_temporary(
    conn: &mut AnyConnection,
    video_id: &str,
    name: &str,
) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM video_renditions WHERE video_id = $1 AND name = $2 AND temporary = 1")
        .bind(video_id)
        .bind(name)
        .execute(conn)
        .await?;
    Ok(())
}

/// Bits per second over the whole rendition.
pub fn average_bitrate(record: &RenditionRecord) -> i64 {
    let bytes: u64 = record.segments.iter().map(|[_, _, size]| size).sum();
    let secs = record.duration_secs();
    if secs <= 0.0 {
        return 0;
    }
    (bytes as f64 * 8.0 / secs).round() as i64
}

pub async fn count(conn: &mut AnyConnection, video_id: &str) -> sqlx::Result<i64> {
    sqlx::query("SELECT COUNT(*) AS n FROM video_renditions WHERE video_id = $1")
        .bind(video_id)
        .fetch_one(conn)
        .await?
        .try_get("n")
}

/// The renditions an asset's manifests list: all published ones, except
/// that a temporary rendition is withdrawn once the asset is `ready` (its
/// ladder is complete). Video tallest first, then audio.
pub async fn listed(db: &Db, video_id: &str, ready: bool) -> sqlx::Result<Vec<Published>> {
    let rows = sqlx::query(
        "SELECT name, kind, width, height, bitrate, temporary, complete, record FROM video_renditions \
         WHERE video_id = $1 ORDER BY kind DESC, height DESC, bitrate DESC, name",
    )
    .bind(video_id)
    .fetch_all(db.pool())
    .await?;
    let mut published = rows
        .iter()
        .map(published_row)
        .collect::<sqlx::Result<Vec<_>>>()?;
    let has_ladder = published.iter().any(|p| p.kind == "video" && !p.temporary);
    if ready && has_ladder {
        published.retain(|p| !p.temporary);
    }
    Ok(published)
}

/// The record of published rendition `name`, if there is one.
pub async fn record(db: &Db, video_id: &str, name: &str) -> sqlx::Result<Option<RenditionRecord>> {
    let record: Option<String> =
        sqlx::query_scalar("SELECT record FROM video_renditions WHERE video_id = $1 AND name = $2")
            .bind(video_id)
            .bind(name)
            .fetch_optional(db.pool())
            .await?;
    record
        .map(|json| serde_json::from_str(&json).map_err(|e| sqlx::Error::Decode(Box::new(e))))
        .transpose()
}

fn published_row(row: &AnyRow) -> sqlx::Result<Published> {
    let record: String = row.try_get("record")?;
    let temporary: i64 = row.try_get("temporary")?;
    let complete: i64 = row.try_get("complete")?;
    Ok(Published {
        name: row.try_get("name")?,
        kind: row.try_get("kind")?,
        width: row.try_get("width")?,
        height: row.try_get("height")?,
        bitrate: row.try_get("bitrate")?,
        temporary: temporary != 0,
        complete: complete != 0,
        record: serde_json::from_str(&record).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
    })
}

/// The multivariant playlist of `published`.
pub fn master(published: &[Published]) -> Result<String, ManifestError> {
    let renditions = renditions(published)?;
    Ok(master_playlist(&Presentation::growing(&renditions)?))
}

/// The MPD of `published`: refused while one is growing.
pub fn dash_manifest(published: &[Published]) -> Result<String, ManifestError> {
    let renditions = renditions(published)?;
    Ok(mpd(&Presentation::new(&renditions)?)?)
}

fn renditions(published: &[Published]) -> Result<Vec<Rendition>, ManifestError> {
    if published.is_empty() {
        return Err(ManifestError::Nothing);
    }
    Ok(published
        .iter()
        .map(|p| p.record.rendition())
        .collect::<Result<Vec<Rendition>, _>>()?)
}

/// The media playlist of the published rendition `name`.
pub fn rendition_playlist(
    published: &[Published],
    name: &str,
) -> Option<Result<String, ManifestError>> {
    let found = published.iter().find(|p| p.name == name)?;
    Some(
        found
            .record
            .rendition()
            .map_err(ManifestError::from)
            .and_then(|rendition| media_playlist(&rendition).map_err(ManifestError::from)),
    )
}

/// The asset's duration: the longest published rendition's.
pub fn duration_secs(published: &[Published]) -> Option<f64> {
    published
        .iter()
        .map(|p| p.record.duration_secs())
        .reduce(f64::max)
}
