//! The job queue's statements: enqueue, claim under a lease, renew, and end a
//! claim (done, retried later, or failed for good).
//!
//! The attempt number of a claim is its fencing token: every statement that
//! renews or ends a claim names it, so a worker that lost its lease (and whose
//! job another worker took) changes nothing.

use std::time::Duration;

use chrono::Utc;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::db::{Db, timestamp};

pub const QUEUED: &str = "queued";
pub const RUNNING: &str = "running";
pub const DONE: &str = "done";
pub const FAILED: &str = "failed";

/// Work to queue on an asset.
#[derive(Debug, Clone)]
pub struct NewJob<'a> {
    pub video_id: &'a str,
    pub kind: &'a str,
    /// Which variant of the work; "" when the kind has one.
    pub profile: &'a str,
    /// Higher runs first.
    pub priority: i64,
    pub max_attempts: i64,
    /// What the job makes, for kinds that need telling (JSON).
    pub spec: Option<&'a str>,
}

/// A job a worker holds: `attempt` fences every statement it makes.
#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    pub id: String,
    pub video_id: String,
    pub kind: String,
    pub profile: String,
    pub attempt: i64,
    pub max_attempts: i64,
    pub spec: Option<String>,
}

/// Why a job ended without its output.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct JobError {
    /// Stable, machine-readable (`not_media`, `empty_source`, ...).
    pub code: String,
    /// For people.
    pub message: String,
}

/// A job as the API shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct JobView {
    pub kind: String,
    pub profile: String,
    pub state: String,
    pub attempt: i64,
    pub max_attempts: i64,
    pub progress: f64,
    pub error: Option<serde_json::Value>,
    pub updated_at: String,
    /// Unix ms when the current or last claim began.
    #[serde(skip)]
    pub started_at: Option<i64>,
    #[serde(skip)]
    pub spec: Option<String>,
}

pub fn unix_ms(after: Duration) -> i64 {
    let ms = i64::try_from(after.as_millis()).unwrap_or(i64::MAX / 2);
    Utc::now().timestamp_millis().saturating_add(ms)
}

/// Queues `job` unless the same work (asset, kind, profile) is already there;
/// returns whether it was queued.
pub async fn enqueue(conn: &mut AnyConnection, job: &NewJob<'_>) -> sqlx::Result<bool> {
    let now = timestamp(Utc::now());
    let done = sqlx::query(
        "INSERT INTO jobs (id, video_id, kind, profile, priority, state, attempt, max_attempts, \
         run_after, progress, spec, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $8, 0, $9, $10, $11) \
         ON CONFLICT (video_id, kind, profile) DO NOTHING",
    )
    .bind(crate::ids::stream_id())
    .bind(job.video_id)
    .bind(job.kind)
    .bind(job.profile)
    .bind(job.priority)
    .bind(QUEUED)
    .bind(job.max_attempts)
    .bind(unix_ms(Duration::ZERO))
    .bind(job.spec)
    .bind(&now)
    .bind(&now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

const CLAIM_COLUMNS: &str = "id, video_id, kind, profile, attempt, max_attempts, spec";

fn claim_row(row: &AnyRow) -> sqlx::Result<Claim> {
    Ok(Claim {
        id: row.try_get("id")?,
        video_id: row.try_get("video_id")?,
        kind: row.try_get("kind")?,
        profile: row.try_get("profile")?,
        attempt: row.try_get("attempt")?,
        max_attempts: row.try_get("max_attempts")?,
        spec: row.try_get("spec")?,
    })
}

/// Claims the most urgent runnable job for `worker` in one statement: a
/// queued job whose backoff is over, or a running one whose lease ran out
/// (its worker died), if it has attempts left.
pub async fn claim(db: &Db, worker: &str, lease: Duration) -> sqlx::Result<Option<Claim>> {
    // PostgreSQL: concurrent claimers skip each other's rows instead of
    // waiting. SQLite runs one writer at a time, so the statement alone is enough.
    let lock = if db.is_postgres() {
        "FOR UPDATE SKIP LOCKED"
    } else {
        ""
    };
    let sql = format!(
        "UPDATE jobs SET state = $1, attempt = attempt + 1, locked_by = $2, locked_until = $3, \
         updated_at = $4, started_at = $9, progress = 0 \
         WHERE id = (SELECT id FROM jobs \
           WHERE ((state = $5 AND run_after <= $6) OR (state = $7 AND locked_until < $8)) \
           AND attempt < max_attempts \
           ORDER BY priority DESC, run_after, id LIMIT 1 {lock}) \
         RETURNING {CLAIM_COLUMNS}"
    );
    let now = unix_ms(Duration::ZERO);
    sqlx::query(&sql)
        .bind(RUNNING)
        .bind(worker)
        .bind(unix_ms(lease))
        .bind(timestamp(Utc::now()))
        .bind(QUEUED)
        .bind(now)
        .bind(RUNNING)
        .bind(now)
        .bind(now)
        .fetch_optional(db.pool())
        .await?
        .as_ref()
        .map(claim_row)
        .transpose()
}

/// Running jobs whose lease ran out with no attempt left: their worker died
/// on every try, so they fail for good rather than be claimed again.
pub async fn exhausted(db: &Db) -> sqlx::Result<Vec<Claim>> {
    sqlx::query(&format!(
        "SELECT {CLAIM_COLUMNS} FROM jobs WHERE state = $1 AND locked_until < $2 \
         AND attempt >= max_attempts"
    ))
    .bind(RUNNING)
    .bind(unix_ms(Duration::ZERO))
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(claim_row)
    .collect()
}

/// Extends the claim's lease and records its progress; false when the claim
/// is no longer this worker's (lease lost, job or asset deleted).
pub async fn renew(db: &Db, claim: &Claim, lease: Duration, progress: f64) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE jobs SET locked_until = $1, progress = $2 WHERE id = $3 AND attempt = $4 AND state = $5",
    )
    .bind(unix_ms(lease))
    .bind(progress.clamp(0.0, 100.0))
    .bind(&claim.id)
    .bind(claim.attempt)
    .bind(RUNNING)
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Checks, in `conn`'s transaction, that the claim is still this worker's,
/// and holds its row until the transaction ends (so no other statement can
/// end or take the job meanwhile).
pub async fn hold(conn: &mut AnyConnection, claim: &Claim) -> sqlx::Result<bool> {
    let held = sqlx::query(
        "UPDATE jobs SET updated_at = $1 WHERE id = $2 AND attempt = $3 AND state = $4",
    )
    .bind(timestamp(Utc::now()))
    .bind(&claim.id)
    .bind(claim.attempt)
    .bind(RUNNING)
    .execute(conn)
    .await?;
    Ok(held.rows_affected() == 1)
}

/// Ends the claim as done; false (and nothing changed) when it was lost.
pub async fn complete(conn: &mut AnyConnection, claim: &Claim) -> sqlx::Result<bool> {
    end(conn, claim, DONE, None, None).await
}

/// Ends the claim and queues the job again after `backoff`.
pub async fn retry_later(
    conn: &mut AnyConnection,
    claim: &Claim,
    error: &JobError,
    backoff: Duration,
) -> sqlx::Result<bool> {
    end(conn, claim, QUEUED, Some(error), Some(unix_ms(backoff))).await
}

/// Ends the claim as failed for good.
pub async fn fail(conn: &mut AnyConnection, claim: &Claim, error: &JobError) -> sqlx::Result<bool> {
    end(conn, claim, FAILED, Some(error), None).await
}

async fn end(
    conn: &mut AnyConnection,
    claim: &Claim,
    state: &str,
    error: Option<&JobError>,
    run_after: Option<i64>,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE jobs SET state = $1, locked_by = NULL, locked_until = NULL, \
         progress = CASE WHEN $2 = 'done' THEN 100 ELSE progress END, \
         error_code = $3, error_message = $4, run_after = COALESCE($5, run_after), updated_at = $6 \
         WHERE id = $7 AND attempt = $8 AND state = $9",
    )
    .bind(state)
    .bind(state)
    .bind(error.map(|e| e.code.as_str()))
    .bind(error.map(|e| e.message.as_str()))
    .bind(run_after)
    .bind(timestamp(Utc::now()))
    .bind(&claim.id)
    .bind(claim.attempt)
    .bind(RUNNING)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// How many of an asset's jobs are queued or running.
pub async fn unfinished(conn: &mut AnyConnection, video_id: &str) -> sqlx::Result<i64> {
    count_in(conn, video_id, &[QUEUED, RUNNING], "").await
}

/// How many of an asset's jobs failed for good, those of kind `except`
/// aside.
pub async fn failed(conn: &mut AnyConnection, video_id: &str, except: &str) -> sqlx::Result<i64> {
    count_in(conn, video_id, &[FAILED], except).await
}

/// Jobs of the asset in one of `states`, of any kind but `except`.
async fn count_in(
    conn: &mut AnyConnection,
    video_id: &str,
    states: &[&str],
    except: &str,
) -> sqlx::Result<i64> {
    let mut count: i64 = 0;
    for state in states {
        let n: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM jobs WHERE video_id = $1 AND state = $2 AND kind <> $3",
        )
        .bind(video_id)
        .bind(state)
        .bind(except)
        .fetch_one(&mut *conn)
        .await?
        .try_get("n")?;
        count += n;
    }
    Ok(count)
}

/// Queues an asset's failed jobs again with `extra_attempts` more tries;
/// returns how many.
pub async fn requeue_failed(
    conn: &mut AnyConnection,
    video_id: &str,
    extra_attempts: i64,
) -> sqlx::Result<u64> {
    // The attempt count goes on (it fences claims); the allowance grows.
    let done = sqlx::query(
        "UPDATE jobs SET state = $1, max_attempts = attempt + $2, run_after = $3, \
         error_code = NULL, error_message = NULL, progress = 0, updated_at = $4 \
         WHERE video_id = $5 AND state = $6",
    )
    .bind(QUEUED)
    .bind(extra_attempts)
    .bind(unix_ms(Duration::ZERO))
    .bind(timestamp(Utc::now()))
    .bind(video_id)
    .bind(FAILED)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// An asset's jobs, in the order they run (priority, then age).
pub async fn of_video(db: &Db, video_id: &str) -> sqlx::Result<Vec<JobView>> {
    sqlx::query(
        "SELECT kind, profile, state, attempt, max_attempts, progress, error_code, error_message, \
         updated_at, started_at, spec FROM jobs WHERE video_id = $1 \
         ORDER BY priority DESC, created_at, id",
    )
    .bind(video_id)
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(|row| {
        let code: Option<String> = row.try_get("error_code")?;
        let message: Option<String> = row.try_get("error_message")?;
        Ok(JobView {
            kind: row.try_get("kind")?,
            profile: row.try_get("profile")?,
            state: row.try_get("state")?,
            attempt: row.try_get("attempt")?,
            max_attempts: row.try_get("max_attempts")?,
            progress: row.try_get("progress")?,
            error: code.map(|code| serde_json::json!({"code": code, "message": message})),
            updated_at: row.try_get("updated_at")?,
            started_at: row.try_get("started_at")?,
            spec: row.try_get("spec")?,
        })
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_db::databases;
    use crate::vod::videos;

    const LEASE: Duration = Duration::from_secs(30);

    fn job<'a>(video_id: &'a str, profile: &'a str, priority: i64) -> NewJob<'a> {
        NewJob {
            video_id,
            kind: "probe",
            profile,
            priority,
            max_attempts: 2,
            spec: None,
        }
    }

    async fn video(db: &Db) -> String {
        videos::create(db, "t", "").await.unwrap().id
    }

    async fn push(db: &Db, job: &NewJob<'_>) -> bool {
        let mut conn = db.pool().acquire().await.unwrap();
        enqueue(&mut conn, job).await.unwrap()
    }

    /// Makes every lease look expired, as if its worker died long ago.
    async fn expire_leases(db: &Db) {
        sqlx::query("UPDATE jobs SET locked_until = 0 WHERE state = 'running'")
            .execute(db.pool())
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn the_same_work_is_queued_once_and_claimed_by_priority() {
        for (kind, db) in databases().await {
            let v = video(&db).await;
            assert!(push(&db, &job(&v, "low", 1)).await, "{kind}");
            assert!(push(&db, &job(&v, "high", 9)).await, "{kind}");
            assert!(
                !push(&db, &job(&v, "high", 9)).await,
                "{kind}: queued twice"
            );
            let first = claim(&db, "w1", LEASE).await.unwrap().unwrap();
            assert_eq!(
                (first.profile.as_str(), first.attempt),
                ("high", 1),
                "{kind}"
            );
            let second = claim(&db, "w2", LEASE).await.unwrap().unwrap();
            assert_eq!(second.profile, "low", "{kind}");
            assert_eq!(claim(&db, "w3", LEASE).await.unwrap(), None, "{kind}");
        }
    }

    #[tokio::test]
    async fn a_lost_lease_fences_the_old_claim() {
        for (kind, db) in databases().await {
            let v = video(&db).await;
            push(&db, &job(&v, "", 0)).await;
            let old = claim(&db, "w1", LEASE).await.unwrap().unwrap();
            assert!(renew(&db, &old, LEASE, 50.0).await.unwrap(), "{kind}");
            assert_eq!(
                claim(&db, "w2", LEASE).await.unwrap(),
                None,
                "{kind}: leased"
            );
            expire_leases(&db).await;
            let new = claim(&db, "w2", LEASE).await.unwrap().unwrap();
            assert_eq!(new.attempt, 2, "{kind}");
            // The first worker comes back: it can neither renew nor publish.
            assert!(!renew(&db, &old, LEASE, 90.0).await.unwrap(), "{kind}");
            let mut conn = db.pool().acquire().await.unwrap();
            assert!(!complete(&mut conn, &old).await.unwrap(), "{kind}");
            let error = JobError {
                code: "x".into(),
                message: "y".into(),
            };
            assert!(!fail(&mut conn, &old, &error).await.unwrap(), "{kind}");
            assert!(complete(&mut conn, &new).await.unwrap(), "{kind}");
            assert_eq!(unfinished(&mut conn, &v).await.unwrap(), 0, "{kind}");
            drop(conn);
            let jobs = of_video(&db, &v).await.unwrap();
            assert_eq!(
                (jobs[0].state.as_str(), jobs[0].progress),
                (DONE, 100.0),
                "{kind}"
            );
        }
    }

    #[tokio::test]
    async fn retries_wait_for_their_backoff_and_run_out() {
        for (kind, db) in databases().await {
            let v = video(&db).await;
            push(&db, &job(&v, "", 0)).await;
            let error = JobError {
                code: "storage_error".into(),
                message: "down".into(),
            };
            let first = claim(&db, "w", LEASE).await.unwrap().unwrap();
            let mut conn = db.pool().acquire().await.unwrap();
            assert!(
                retry_later(&mut conn, &first, &error, Duration::from_secs(60))
                    .await
                    .unwrap()
            );
            drop(conn);
            assert_eq!(
                claim(&db, "w", LEASE).await.unwrap(),
                None,
                "{kind}: backoff"
            );
            sqlx::query("UPDATE jobs SET run_after = 0")
                .execute(db.pool())
                .await
                .unwrap();
            let second = claim(&db, "w", LEASE).await.unwrap().unwrap();
            assert_eq!(second.attempt, 2, "{kind}");
            // Its worker dies with no attempt left: not claimable, but exhausted.
            expire_leases(&db).await;
            assert_eq!(claim(&db, "w", LEASE).await.unwrap(), None, "{kind}");
            assert_eq!(
                exhausted(&db).await.unwrap(),
                vec![second.clone()],
                "{kind}"
            );
            let mut conn = db.pool().acquire().await.unwrap();
            assert!(fail(&mut conn, &second, &error).await.unwrap(), "{kind}");
            drop(conn);
            let jobs = of_video(&db, &v).await.unwrap();
            assert_eq!(jobs[0].state, FAILED, "{kind}");
            assert_eq!(
                jobs[0].error.as_ref().unwrap()["code"],
                "storage_error",
                "{kind}"
            );
            // A retry from the API grants more attempts; the count goes on.
            let mut conn = db.pool().acquire().await.unwrap();
            assert_eq!(requeue_failed(&mut conn, &v, 3).await.unwrap(), 1, "{kind}");
            drop(conn);
            let third = claim(&db, "w", LEASE).await.unwrap().unwrap();
            assert_eq!((third.attempt, third.max_attempts), (3, 5), "{kind}");
        }
    }

    #[tokio::test]
    async fn concurrent_claimers_never_share_a_job() {
        for (kind, db) in databases().await {
            let v = video(&db).await;
            let profiles: Vec<String> = (0..30).map(|n| format!("p{n}")).collect();
            for profile in &profiles {
                push(&db, &job(&v, profile, 0)).await;
            }
            let claimers = (0..6).map(|n| {
                let db = db.clone();
                tokio::spawn(async move {
                    let mut mine = Vec::new();
                    while let Some(claim) = claim(&db, &format!("w{n}"), LEASE).await.unwrap() {
                        mine.push(claim.profile);
                    }
                    mine
                })
            });
            let mut claimed: Vec<String> = Vec::new();
            for claimer in claimers {
                claimed.extend(claimer.await.unwrap());
            }
            claimed.sort();
            let mut expected = profiles.clone();
            expected.sort();
            assert_eq!(claimed, expected, "{kind}: each job claimed exactly once");
        }
    }

    #[tokio::test]
    async fn deleting_the_video_ends_its_claims() {
        for (kind, db) in databases().await {
            let v = video(&db).await;
            push(&db, &job(&v, "", 0)).await;
            let held = claim(&db, "w", LEASE).await.unwrap().unwrap();
            sqlx::query("DELETE FROM videos WHERE id = $1")
                .bind(&v)
                .execute(db.pool())
                .await
                .unwrap();
            assert!(!renew(&db, &held, LEASE, 10.0).await.unwrap(), "{kind}");
        }
    }
}
