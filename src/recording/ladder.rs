//! The renditions of an asset made from a recording (a replay, a clip of
//! one), published with its poster job and, when the server runs the VOD
//! ladder on recordings, the ladder job made from its recorded source. The
//! live rungs are then temporary: they give way to the ladder's rungs once
//! the asset is ready, and players that loaded them before still find
//! their files for a while (`temporary_rendition_grace`).

use sqlx::AnyConnection;

use super::plan::{SOURCE, is_live_rung};
use crate::jobs::lifecycle;
use crate::vod::plan::{PlannedJob, RecordedVideo, VodLadder, recording_ladder};
use crate::vod::rendition_record::RenditionRecord;
use crate::vod::renditions;

/// Publishes `records` as asset `video_id`'s renditions and queues its
/// jobs; returns the ladder job, if it got one.
pub async fn publish(
    conn: &mut AnyConnection,
    video_id: &str,
    records: &[RenditionRecord],
    ladder: Option<&VodLadder>,
) -> sqlx::Result<Option<PlannedJob>> {
    let job = ladder.and_then(|settings| ladder_job(records, settings));
    for record in records {
        let temporary = job.is_some() && record.is_video() && record.name != SOURCE;
        renditions::publish(conn, video_id, record, temporary).await?;
    }
    lifecycle::queue_thumbnails(conn, video_id).await?;
    if let Some(job) = &job {
        lifecycle::queue_transcode(conn, video_id, job).await?;
    }
    Ok(job)
}

/// The ladder job of an asset with these renditions: made from its
/// recorded source, when its other video renditions are live rungs (not
/// another ladder's, as a clip of a replay already laddered has).
fn ladder_job(records: &[RenditionRecord], settings: &VodLadder) -> Option<PlannedJob> {
    let source = records.iter().find(|r| r.name == SOURCE)?;
    let only_live_rungs = records
        .iter()
        .filter(|r| r.is_video() && r.name != SOURCE)
        .all(|r| is_live_rung(&r.name));
    if !only_live_rungs {
        return None;
    }
    let recorded = RecordedVideo {
        width: source.track.width,
        height: source.track.height,
        bitrate_bps: u64::try_from(renditions::average_bitrate(source)).unwrap_or(0),
    };
    recording_ladder(&recorded, settings)
}
