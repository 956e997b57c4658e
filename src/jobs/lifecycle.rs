//! What jobs do to their asset: `uploaded -> queued -> processing -> ready |
//! failed`. Each step is one transaction that ends (or starts) a job and
//! updates the asset's row, so the API, which reads rows, never sees one
//! without the other.

use std::time::Duration;

use serde_json::{Map, Value};
use sqlx::AnyConnection;

use super::queue::{self, Claim, JobError, NewJob};
use crate::db::Db;
use crate::vod::plan::{PlannedJob, TEMPORARY, TRANSCODE};
use crate::vod::rendition_record::RenditionRecord;
use crate::vod::thumbnails::Thumbnails;
use crate::vod::transcode_spec::TranscodeSpec;
use crate::vod::{renditions, videos};
use crate::webhooks;

/// The first job of every upload: what the source is.
pub const PROBE: &str = "probe";
/// Tries of a job before it fails for good (a retry from the API adds as many).
pub const ATTEMPTS: i64 = 3;
const PROBE_PRIORITY: i64 = 100;
/// The poster (and a video's storyboard); after its first rendition.
pub const THUMBNAILS: &str = "thumbnails";
const THUMBNAILS_PRIORITY: i64 = 85;

/// What a job hands back to publish.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// The probe: facts about the source, added to the asset's `source`,
    /// and the jobs that make its renditions.
    Probed {
        details: Map<String, Value>,
        jobs: Vec<PlannedJob>,
    },
    /// Renditions whose every file is in storage.
    Renditions(Vec<RenditionRecord>),
    /// The poster and storyboard are in storage (None: none could be made).
    Thumbnails(Option<Thumbnails>),
}

/// A job that ended without output, and whether another try may do better.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub error: JobError,
    /// False when the input itself is at fault (trying again changes nothing).
    pub retryable: bool,
}

impl Failure {
    pub fn permanent(code: &str, message: impl Into<String>) -> Failure {
        Failure {
            error: JobError {
                code: code.to_owned(),
                message: message.into(),
            },
            retryable: false,
        }
    }

    pub fn transient(code: &str, message: impl Into<String>) -> Failure {
        Failure {
            retryable: true,
            ..Failure::permanent(code, message)
        }
    }
}

/// The wait before try `attempt + 1`: 5 s, 20 s, 80 s, ... at most 10 min.
pub fn backoff(attempt: i64) -> Duration {
    let exponent = u32::try_from(attempt.clamp(1, 8) - 1).unwrap_or(0);
    Duration::from_secs(5 * 4u64.pow(exponent)).min(Duration::from_secs(600))
}

/// The source is stored: the asset is uploaded, and queued for its probe.
pub async fn source_uploaded(db: &Db, video_id: &str, size: u64, sha256: &str) -> sqlx::Result<()> {
    let mut tx = db.pool().begin().await?;
    videos::mark_uploaded(&mut tx, video_id, size, sha256).await?;
    videos::announce(&mut tx, video_id, webhooks::VIDEO_UPLOADED).await?;
    queue_work(
        &mut tx,
        &NewJob {
            video_id,
            kind: PROBE,
            profile: "",
            priority: PROBE_PRIORITY,
            max_attempts: ATTEMPTS,
            spec: None,
        },
    )
    .await?;
    tx.commit().await
}

/// Queues the asset's poster and storyboard.
pub async fn queue_thumbnails(conn: &mut AnyConnection, video_id: &str) -> sqlx::Result<()> {
    queue_work(
        conn,
        &NewJob {
            video_id,
            kind: THUMBNAILS,
            profile: "",
            priority: THUMBNAILS_PRIORITY,
            max_attempts: ATTEMPTS,
            spec: None,
        },
    )
    .await
}

/// Queues a transcode job of the asset.
pub async fn queue_transcode(
    conn: &mut AnyConnection,
    video_id: &str,
    job: &PlannedJob,
) -> sqlx::Result<()> {
    let spec = serde_json::to_string(&job.spec).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    queue_work(
        conn,
        &NewJob {
            video_id,
            kind: TRANSCODE,
            profile: &job.profile,
            priority: job.priority,
            max_attempts: ATTEMPTS,
            spec: Some(&spec),
        },
    )
    .await
}

async fn queue_work(conn: &mut AnyConnection, job: &NewJob<'_>) -> sqlx::Result<()> {
    queue::enqueue(conn, job).await?;
    videos::set_working_status(conn, job.video_id, videos::QUEUED).await
}

/// A worker claimed a job of the asset.
pub async fn started(db: &Db, claim: &Claim) -> sqlx::Result<()> {
    let mut conn = db.pool().acquire().await?;
    videos::set_working_status(&mut conn, &claim.video_id, videos::PROCESSING).await
}

/// Ends the claim and publishes `output` in one transaction; false, with
/// nothing published, when the claim was no longer this worker's.
pub async fn succeeded(db: &Db, claim: &Claim, output: &Output) -> sqlx::Result<bool> {
    let mut tx = db.pool().begin().await?;
    if !queue::complete(&mut tx, claim).await? {
        return Ok(false);
    }
    match output {
        Output::Probed { details, jobs } => {
            videos::add_source_details(&mut tx, &claim.video_id, details).await?;
            // Planned jobs mean something plays: it gets a poster.
            if !jobs.is_empty() {
                queue_thumbnails(&mut tx, &claim.video_id).await?;
            }
            for job in jobs {
                queue_transcode(&mut tx, &claim.video_id, job).await?;
            }
        }
        Output::Thumbnails(made) => {
            let json = made
                .as_ref()
                .map(serde_json::to_string)
                .transpose()
                .map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
            videos::set_thumbnails(&mut tx, &claim.video_id, json.as_deref()).await?;
        }
        Output::Renditions(records) => {
            for record in records {
                let temporary = record.name == TEMPORARY;
                renditions::publish(&mut tx, &claim.video_id, record, temporary).await?;
            }
        }
    }
    settle(&mut tx, &claim.video_id, None).await?;
    tx.commit().await?;
    Ok(true)
}

/// A growing rendition of a running job has new segments in storage: it is
/// published, and the asset plays, in one transaction while the claim is
/// this worker's; false (nothing published) when it is not.
pub async fn grew(db: &Db, claim: &Claim, record: &RenditionRecord) -> sqlx::Result<bool> {
    let mut tx = db.pool().begin().await?;
    if !queue::hold(&mut tx, claim).await? {
        return Ok(false);
    }
    let temporary = record.name == TEMPORARY;
    renditions::publish(&mut tx, &claim.video_id, record, temporary).await?;
    settle(&mut tx, &claim.video_id, None).await?;
    tx.commit().await?;
    Ok(true)
}

/// The asset's status from its jobs and renditions, after a job ended:
/// `ready` when every job is done; `partially_ready` while a rendition
/// plays and jobs remain, or for good when some failed (with `error`, the
/// last failure); `failed` when none plays and none can any more.
async fn settle(
    conn: &mut AnyConnection,
    video_id: &str,
    error: Option<&JobError>,
) -> sqlx::Result<()> {
    let unfinished = queue::unfinished(conn, video_id).await?;
    // An asset without thumbnails still plays in full.
    let failed = queue::failed(conn, video_id, THUMBNAILS).await?;
    let playable = renditions::count(conn, video_id).await? > 0;
    let error = error.map(|e| (e.code.as_str(), e.message.as_str()));
    if unfinished == 0 && failed == 0 {
        videos::set_ready(conn, video_id).await?;
        videos::announce(conn, video_id, webhooks::VIDEO_READY).await
    } else if playable {
        let was = videos::find_on(conn, video_id).await?.map(|row| row.status);
        videos::set_partially_ready(conn, video_id, error).await?;
        if was.as_deref() == Some(videos::PARTIALLY_READY) {
            return Ok(());
        }
        videos::announce(conn, video_id, webhooks::VIDEO_PARTIALLY_READY).await
    } else if unfinished == 0 || error.is_some() {
        let error = error.unwrap_or(("failed", "no rendition could be made"));
        videos::set_status(conn, video_id, videos::FAILED, Some(error)).await?;
        videos::announce(conn, video_id, webhooks::VIDEO_FAILED).await
    } else {
        Ok(())
    }
}

/// Ends the claim: queued again after a backoff when the failure may pass
/// and tries remain, else failed for good with the asset. False when the
/// claim was no longer this worker's.
pub async fn failed(db: &Db, claim: &Claim, failure: &Failure) -> sqlx::Result<bool> {
    let mut tx = db.pool().begin().await?;
    let again = failure.retryable && claim.attempt < claim.max_attempts;
    let ended = if again {
        queue::retry_later(&mut tx, claim, &failure.error, backoff(claim.attempt)).await?
    } else {
        queue::fail(&mut tx, claim, &failure.error).await?
    };
    if !ended {
        return Ok(false);
    }
    if again {
        // Its growing renditions stay: the next try writes them again.
        videos::set_working_status(&mut tx, &claim.video_id, videos::QUEUED).await?;
    } else {
        let early = claim
            .spec
            .as_deref()
            .and_then(|spec| serde_json::from_str::<TranscodeSpec>(spec).ok())
            .map(|spec| spec.early)
            .unwrap_or_default();
        renditions::withdraw_growing(&mut tx, &claim.video_id, &early).await?;
        settle(&mut tx, &claim.video_id, Some(&failure.error)).await?;
    }
    tx.commit().await?;
    Ok(true)
}

/// Queues an asset's failed jobs again; false when it had none. A playable
/// asset stays `partially_ready` meanwhile.
pub async fn retry_asset(db: &Db, video_id: &str) -> sqlx::Result<bool> {
    let mut tx = db.pool().begin().await?;
    if queue::requeue_failed(&mut tx, video_id, ATTEMPTS).await? == 0 {
        return Ok(false);
    }
    if renditions::count(&mut tx, video_id).await? > 0 {
        videos::set_partially_ready(&mut tx, video_id, None).await?;
    } else {
        videos::set_status(&mut tx, video_id, videos::QUEUED, None).await?;
    }
    tx.commit().await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::test_db::databases;
    use crate::vod::plan::{VodLadder, plan};

    const LEASE: Duration = Duration::from_secs(30);

    /// An H.264 source: `first` repackages it, `ladder` makes its rungs.
    fn probed() -> Output {
        probed_as("h264")
    }

    fn probed_as(codec: &str) -> Output {
        let source = serde_json::json!({
            "container": "mp4", "duration": 6.0,
            "video": {"codec": codec, "width": 1280, "height": 720, "fps": 30.0, "rotation": 0,
                      "profile": null, "bit_depth": 8, "chroma_format": "4:2:0", "bitrate": null},
            "audio": null,
        });
        let info = serde_json::from_value(source.clone()).unwrap();
        Output::Probed {
            details: source.as_object().unwrap().clone(),
            jobs: plan(&info, &VodLadder::default()).unwrap().jobs,
        }
    }

    fn record(name: &str) -> RenditionRecord {
        crate::vod::rendition_record::test_video_record(name)
    }

    async fn claim(db: &Db) -> Claim {
        queue::claim(db, "w", LEASE).await.unwrap().unwrap()
    }

    async fn status(db: &Db, id: &str) -> (String, Option<String>) {
        let row = videos::find(db, id).await.unwrap().unwrap();
        (row.status, row.error_code)
    }

    /// probe → first (publishes) → thumbnails → ladder: playable after the
    /// first rendition, ready after the last; a ladder that fails for good
    /// leaves the asset playable with the reason, and a retry brings it to
    /// ready without it ever stopping to play.
    #[tokio::test]
    async fn the_asset_plays_from_its_first_rendition_and_keeps_playing_when_a_rung_fails() {
        for (kind, db) in databases().await {
            let id = videos::create(&db, "t", "").await.unwrap().id;
            source_uploaded(&db, &id, 10, "ab").await.unwrap();
            let probe = claim(&db).await;
            assert!(succeeded(&db, &probe, &probed()).await.unwrap(), "{kind}");
            assert_eq!(status(&db, &id).await.0, videos::QUEUED, "{kind}");

            let first = claim(&db).await;
            assert_eq!(
                (first.kind.as_str(), first.profile.as_str()),
                (TRANSCODE, "first"),
                "{kind}"
            );
            started(&db, &first).await.unwrap();
            let output = Output::Renditions(vec![record("360p")]);
            assert!(succeeded(&db, &first, &output).await.unwrap(), "{kind}");
            assert_eq!(status(&db, &id).await.0, videos::PARTIALLY_READY, "{kind}");

            // Work on the other jobs never makes it look unplayable again.
            let thumbnails = claim(&db).await;
            assert_eq!(thumbnails.kind, THUMBNAILS, "{kind}");
            started(&db, &thumbnails).await.unwrap();
            assert_eq!(status(&db, &id).await.0, videos::PARTIALLY_READY, "{kind}");
            assert!(
                succeeded(&db, &thumbnails, &Output::Thumbnails(None))
                    .await
                    .unwrap()
            );

            let ladder = claim(&db).await;
            assert_eq!(ladder.profile, "ladder", "{kind}");
            let broken = Failure::permanent("decode_error", "the source stops decoding at 3 s");
            assert!(failed(&db, &ladder, &broken).await.unwrap(), "{kind}");
            assert_eq!(
                status(&db, &id).await,
                (videos::PARTIALLY_READY.into(), Some("decode_error".into())),
                "{kind}"
            );

            assert!(retry_asset(&db, &id).await.unwrap(), "{kind}");
            assert_eq!(status(&db, &id).await.0, videos::PARTIALLY_READY, "{kind}");
            let again = claim(&db).await;
            assert_eq!(
                (again.profile.as_str(), again.attempt),
                ("ladder", 2),
                "{kind}"
            );
            let output = Output::Renditions(vec![record("720p"), record("480p")]);
            assert!(succeeded(&db, &again, &output).await.unwrap(), "{kind}");
            assert_eq!(status(&db, &id).await.0, videos::READY, "{kind}");
            let mut conn = db.pool().acquire().await.unwrap();
            assert_eq!(
                renditions::count(&mut conn, &id).await.unwrap(),
                3,
                "{kind}"
            );
        }
    }

    /// An early rendition plays from its first segment while its job runs;
    /// it never shrinks (a retried job starts again from segment 1), a lost
    /// claim publishes nothing, and it is withdrawn when its job fails for
    /// good.
    #[tokio::test]
    async fn a_growing_rendition_plays_at_once_and_goes_when_its_job_fails() {
        for (kind, db) in databases().await {
            let id = videos::create(&db, "t", "").await.unwrap().id;
            source_uploaded(&db, &id, 10, "ab").await.unwrap();
            let probe = claim(&db).await;
            // HEVC: `first` encodes every rung, 360p early.
            assert!(succeeded(&db, &probe, &probed_as("hevc")).await.unwrap());
            let first = claim(&db).await;
            assert_eq!(first.profile, "first", "{kind}");
            started(&db, &first).await.unwrap();
            let growing = |segments: usize| RenditionRecord {
                segments: (0..segments as u64)
                    .map(|i| [i * 360_000, 360_000, 1000])
                    .collect(),
                complete: false,
                ..record("360p")
            };
            assert!(grew(&db, &first, &growing(1)).await.unwrap(), "{kind}");
            assert_eq!(status(&db, &id).await.0, videos::PARTIALLY_READY, "{kind}");
            let segments = |db: &Db| {
                let db = db.clone();
                let id = id.clone();
                async move {
                    let listed = renditions::listed(&db, &id, false).await.unwrap();
                    assert!(listed.iter().all(|p| !p.complete));
                    listed
                        .iter()
                        .map(|p| p.record.segments.len())
                        .collect::<Vec<_>>()
                }
            };
            assert!(grew(&db, &first, &growing(3)).await.unwrap());
            assert!(grew(&db, &first, &growing(2)).await.unwrap());
            assert_eq!(segments(&db).await, [3], "{kind}");

            let stale = Claim {
                attempt: first.attempt + 1,
                ..first.clone()
            };
            assert!(!grew(&db, &stale, &growing(5)).await.unwrap(), "{kind}");
            assert_eq!(segments(&db).await, [3], "{kind}");

            // A try that may pass keeps it; failing for good withdraws it.
            let flaky = Failure::transient("storage_error", "try again");
            assert!(failed(&db, &first, &flaky).await.unwrap());
            assert_eq!(segments(&db).await, [3], "{kind}");
            sqlx::query("UPDATE jobs SET run_after = 0")
                .execute(db.pool())
                .await
                .unwrap();
            let again = claim(&db).await;
            assert_eq!(again.profile, "first", "{kind}");
            assert!(grew(&db, &again, &growing(4)).await.unwrap());
            let broken = Failure::permanent("decode_error", "gave up");
            assert!(failed(&db, &again, &broken).await.unwrap());
            assert!(segments(&db).await.is_empty(), "{kind}");
            assert_eq!(
                status(&db, &id).await,
                (videos::FAILED.into(), Some("decode_error".into())),
                "{kind}"
            );
        }
    }

    /// Nothing published and nothing left to try: failed, with the reason;
    /// a thumbnails job that fails for good does not count against it.
    #[tokio::test]
    async fn an_asset_with_no_rendition_fails_and_thumbnails_never_fail_it() {
        for (kind, db) in databases().await {
            let id = videos::create(&db, "t", "").await.unwrap().id;
            source_uploaded(&db, &id, 10, "ab").await.unwrap();
            let probe = claim(&db).await;
            assert!(succeeded(&db, &probe, &probed()).await.unwrap());
            let first = claim(&db).await;
            let broken = Failure::permanent("decode_error", "nothing decodes");
            assert!(failed(&db, &first, &broken).await.unwrap(), "{kind}");
            assert_eq!(
                status(&db, &id).await,
                (videos::FAILED.into(), Some("decode_error".into())),
                "{kind}"
            );

            let other = videos::create(&db, "t", "").await.unwrap().id;
            source_uploaded(&db, &other, 10, "ab").await.unwrap();
            let probe = claim(&db).await;
            assert!(succeeded(&db, &probe, &probed()).await.unwrap());
            // The first asset's ladder job is still queued: finish this one's.
            loop {
                let job = claim(&db).await;
                if job.video_id != other {
                    let skipped = Failure::permanent("x", "y");
                    assert!(failed(&db, &job, &skipped).await.unwrap());
                    continue;
                }
                let output = match job.kind.as_str() {
                    THUMBNAILS => {
                        assert!(
                            failed(&db, &job, &Failure::permanent("thumbnail_error", "no"))
                                .await
                                .unwrap()
                        );
                        continue;
                    }
                    _ => Output::Renditions(vec![record(&job.profile)]),
                };
                assert!(succeeded(&db, &job, &output).await.unwrap());
                if status(&db, &other).await.0 == videos::READY {
                    break;
                }
            }
        }
    }
}
