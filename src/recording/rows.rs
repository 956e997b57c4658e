//! A recording's rows: `recording_inits` and `recording_segments`, written
//! once each file is in storage.

use std::collections::HashMap;

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::plan::{RecordedInit, RecordedSegment};
use crate::db::Db;
use crate::vod::rendition_record::TrackRecord;

/// Records init segments and segments written to storage, in one
/// transaction. Writing a row twice (a retried batch) changes nothing.
pub async fn insert(
    db: &Db,
    broadcast_id: &str,
    inits: &[RecordedInit],
    segments: &[RecordedSegment],
) -> sqlx::Result<()> {
    let mut tx = db.pool().begin().await?;
    for init in inits {
        let track =
            serde_json::to_string(&init.track).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
        sqlx::query(
            "INSERT INTO recording_inits (broadcast_id, rendition, init, config) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (broadcast_id, rendition, init) DO NOTHING",
        )
        .bind(broadcast_id)
        .bind(&init.rendition)
        .bind(i64::from(init.init))
        .bind(track)
        .execute(&mut *tx)
        .await?;
    }
    for s in segments {
        sqlx::query(
            "INSERT INTO recording_segments (broadcast_id, rendition, msn, discontinuity, init, \
             timescale, start_ticks, duration, pdt_ms, size, samples) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (broadcast_id, rendition, msn) DO NOTHING",
        )
        .bind(broadcast_id)
        .bind(&s.rendition)
        .bind(signed(s.msn))
        .bind(i64::from(s.discontinuity))
        .bind(i64::from(s.init))
        .bind(i64::from(s.timescale))
        .bind(signed(s.start))
        .bind(signed(s.duration))
        .bind(s.pdt_ms)
        .bind(signed(s.size))
        .bind(signed(s.samples))
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await
}

fn signed(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// Everything recorded of a broadcast.
pub async fn load(
    conn: &mut AnyConnection,
    broadcast_id: &str,
) -> sqlx::Result<(Vec<RecordedSegment>, Vec<RecordedInit>)> {
    let segments = sqlx::query(
        "SELECT rendition, msn, discontinuity, init, timescale, start_ticks, duration, pdt_ms, \
         size, samples FROM recording_segments WHERE broadcast_id = $1",
    )
    .bind(broadcast_id)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(segment)
    .collect::<sqlx::Result<Vec<_>>>()?;
    let mut inits = Vec::new();
    let rows =
        sqlx::query("SELECT rendition, init, config FROM recording_inits WHERE broadcast_id = $1")
            .bind(broadcast_id)
            .fetch_all(&mut *conn)
            .await?;
    for row in rows {
        let config: String = row.try_get("config")?;
        // A row this server cannot read is left out, as if never written.
        let Ok(track) = serde_json::from_str::<TrackRecord>(&config) else {
            continue;
        };
        inits.push(RecordedInit {
            rendition: row.try_get("rendition")?,
            init: unsigned(row.try_get("init")?),
            track,
        });
    }
    Ok((segments, inits))
}

/// The program date time (unix milliseconds) of each recorded segment of
/// one rendition, by msn.
pub async fn program_times(
    db: &Db,
    broadcast_id: &str,
    rendition: &str,
) -> sqlx::Result<HashMap<u64, i64>> {
    let rows: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT msn, pdt_ms FROM recording_segments WHERE broadcast_id = $1 AND rendition = $2",
    )
    .bind(broadcast_id)
    .bind(rendition)
    .fetch_all(db.pool())
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(msn, pdt_ms)| Some((u64::try_from(msn).ok()?, pdt_ms)))
        .collect())
}

fn segment(row: &AnyRow) -> sqlx::Result<RecordedSegment> {
    let number = |name: &str| {
        row.try_get::<i64, _>(name)
            .map(|v| u64::try_from(v).unwrap_or(0))
    };
    Ok(RecordedSegment {
        rendition: row.try_get("rendition")?,
        msn: number("msn")?,
        discontinuity: unsigned(row.try_get("discontinuity")?),
        init: unsigned(row.try_get("init")?),
        timescale: unsigned(row.try_get("timescale")?),
        start: number("start_ticks")?,
        duration: number("duration")?,
        pdt_ms: row.try_get("pdt_ms")?,
        size: number("size")?,
        samples: number("samples")?,
    })
}

fn unsigned(value: i64) -> u32 {
    u32::try_from(value).unwrap_or(0)
}
