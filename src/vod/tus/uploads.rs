//! Rows of `uploads`: one per tus upload, bound to its asset.

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::db::{Db, timestamp};

#[derive(Debug, Clone)]
pub struct UploadRow {
    pub id: String,
    pub video_id: String,
    /// None while the client defers it.
    pub length: Option<u64>,
    /// Upload-Metadata, normalized, for HEAD.
    pub metadata: String,
    pub storage_key: String,
    pub store_upload_id: String,
    pub expires_at: DateTime<Utc>,
    pub completed_at: Option<String>,
}

const COLUMNS: &str =
    "id, video_id, upload_length, metadata, storage_key, store_upload_id, expires_at, completed_at";

fn upload_row(row: &AnyRow) -> sqlx::Result<UploadRow> {
    let length: Option<i64> = row.try_get("upload_length")?;
    let expires_at: String = row.try_get("expires_at")?;
    Ok(UploadRow {
        id: row.try_get("id")?,
        video_id: row.try_get("video_id")?,
        length: length.and_then(|l| u64::try_from(l).ok()),
        metadata: row.try_get("metadata")?,
        storage_key: row.try_get("storage_key")?,
        store_upload_id: row.try_get("store_upload_id")?,
        expires_at: DateTime::parse_from_rfc3339(&expires_at)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default(),
        completed_at: row.try_get("completed_at")?,
    })
}

fn db_length(length: u64) -> i64 {
    i64::try_from(length).unwrap_or(i64::MAX)
}

pub async fn insert(db: &Db, row: &UploadRow) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO uploads (id, video_id, upload_length, metadata, storage_key, store_upload_id, expires_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&row.id)
    .bind(&row.video_id)
    .bind(row.length.map(db_length))
    .bind(&row.metadata)
    .bind(&row.storage_key)
    .bind(&row.store_upload_id)
    .bind(timestamp(row.expires_at))
    .bind(timestamp(Utc::now()))
    .execute(db.pool())
    .await?;
    Ok(())
}

pub async fn find(db: &Db, id: &str) -> sqlx::Result<Option<UploadRow>> {
    if !crate::ids::is_id(id) {
        return Ok(None);
    }
    sqlx::query(&format!("SELECT {COLUMNS} FROM uploads WHERE id = $1"))
        .bind(id)
        .fetch_optional(db.pool())
        .await?
        .as_ref()
        .map(upload_row)
        .transpose()
}

/// Unfinished uploads of an asset.
pub async fn unfinished_of(db: &Db, video_id: &str) -> sqlx::Result<Vec<UploadRow>> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM uploads WHERE video_id = $1 AND completed_at IS NULL"
    ))
    .bind(video_id)
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(upload_row)
    .collect()
}

/// Unfinished uploads past their expiry.
pub async fn expired(db: &Db, now: DateTime<Utc>) -> sqlx::Result<Vec<UploadRow>> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM uploads WHERE completed_at IS NULL AND expires_at < $1"
    ))
    .bind(timestamp(now))
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(upload_row)
    .collect()
}

pub async fn set_length(db: &Db, id: &str, length: u64) -> sqlx::Result<()> {
    sqlx::query("UPDATE uploads SET upload_length = $1 WHERE id = $2 AND upload_length IS NULL")
        .bind(db_length(length))
        .bind(id)
        .execute(db.pool())
        .await?;
    Ok(())
}

pub async fn mark_completed(db: &Db, id: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE uploads SET completed_at = $1 WHERE id = $2")
        .bind(timestamp(Utc::now()))
        .bind(id)
        .execute(db.pool())
        .await?;
    Ok(())
}

pub async fn delete(db: &Db, id: &str) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM uploads WHERE id = $1")
        .bind(id)
        .execute(db.pool())
        .await?;
    Ok(())
}
