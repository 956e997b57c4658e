//! An asset's published renditions (rows of `video_renditions`) and the
//! manifests written from them. A rendition's row is inserted only once its
//! every file is in storage, so a manifest never names a missing file; the
//! manifests are made from the rows on request, so two jobs ending at once
//! can never overwrite each other's.

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

/// Publishes `record` (again, if a retried job made it anew).
pub async fn publish(
    conn: &mut AnyConnection,
    video_id: &str,
    record: &RenditionRecord,
    temporary: bool,
) -> sqlx::Result<()> {
    let json = serde_json::to_string(record).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let kind = if record.is_video() { "video" } else { "audio" };
    sqlx::query(
        "INSERT INTO video_renditions (video_id, name, kind, width, height, bitrate, temporary, \
         record, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT (video_id, name) DO UPDATE SET kind = $3, width = $4, height = $5, \
         bitrate = $6, temporary = $7, record = $8",
    )
    .bind(video_id)
    .bind(&record.name)
    .bind(kind)
    .bind(i64::from(record.width))
    .bind(i64::from(record.height))
    .bind(average_bitrate(record))
    .bind(i64::from(temporary))
    .bind(json)
    .bind(timestamp(Utc::now()))
    .execute(conn)
    .await?;
    Ok(())
}

fn average_bitrate(record: &RenditionRecord) -> i64 {
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
        "SELECT name, kind, width, height, bitrate, temporary, record FROM video_renditions \
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

fn published_row(row: &AnyRow) -> sqlx::Result<Published> {
    let record: String = row.try_get("record")?;
    let temporary: i64 = row.try_get("temporary")?;
    Ok(Published {
        name: row.try_get("name")?,
        kind: row.try_get("kind")?,
        width: row.try_get("width")?,
        height: row.try_get("height")?,
        bitrate: row.try_get("bitrate")?,
        temporary: temporary != 0,
        record: serde_json::from_str(&record).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
    })
}

/// The multivariant playlist and the MPD of `published`.
pub fn manifests(published: &[Published]) -> Result<(String, String), ManifestError> {
    if published.is_empty() {
        return Err(ManifestError::Nothing);
    }
    let renditions = published
        .iter()
        .map(|p| p.record.rendition())
        .collect::<Result<Vec<Rendition>, _>>()?;
    let presentation = Presentation::new(&renditions)?;
    Ok((master_playlist(&presentation), mpd(&presentation)))
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
