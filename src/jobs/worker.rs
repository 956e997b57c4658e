//! Workers: each claims one job at a time, runs it while renewing its lease,
//! and ends it (published, retried later or failed). A job whose claim is
//! lost (lease expired, asset deleted) is dropped mid-way, which kills its
//! media task; its output is never published.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use storage::AnyStore;
use tokio::sync::Notify;
use tracing::{info, warn};

use super::lifecycle::THUMBNAILS;
use super::lifecycle::{self, Failure, Output};
use super::queue::{self, Claim};
use super::{PROBE, probe, recorded_ladder, thumbnails, transcode};
use crate::db::Db;
use crate::vod::plan::{RECORDING, TRANSCODE, VodLadder};

/// How often an idle worker looks for work queued by another process.
const POLL: Duration = Duration::from_secs(1);
/// Renewals are at most this far apart, so a deletion stops work quickly.
const MAX_RENEW_EVERY: Duration = Duration::from_secs(5);

/// What a worker needs to run jobs.
pub struct WorkContext {
    pub db: Db,
    pub store: AnyStore,
    pub lease: Duration,
    /// This binary: media work runs in a child process of it.
    pub exe: PathBuf,
    /// Wakes idle workers when this process queues work.
    pub wake: Arc<Notify>,
    pub ladder: VodLadder,
    /// Where media tasks write their output before it goes to storage.
    pub work_dir: PathBuf,
}

/// How far the running job is, in percent; sent with each renewal.
#[derive(Debug, Default)]
pub struct Progress(AtomicU64);

impl Progress {
    pub fn set(&self, percent: f64) {
        self.0
            .store(percent.clamp(0.0, 100.0).to_bits(), Ordering::Relaxed);
    }

    pub fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }
}

/// Starts `count` workers on `ctx`.
pub fn start(ctx: Arc<WorkContext>, count: usize) {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .unwrap_or_else(|_| "host".into());
    for n in 0..count {
        let name = format!("{host}-{}-{n}", std::process::id());
        tokio::spawn(work(ctx.clone(), name));
    }
}

async fn work(ctx: Arc<WorkContext>, name: String) {
    info!(worker = %name, "job worker started");
    loop {
        fail_exhausted(&ctx).await;
        match queue::claim(&ctx.db, &name, ctx.lease).await {
            Ok(Some(claim)) => run(&ctx, &name, claim).await,
            Ok(None) => {
                tokio::select! {
                    () = ctx.wake.notified() => {}
                    () = tokio::time::sleep(POLL) => {}
                }
            }
            Err(e) => {
                warn!(worker = %name, "claiming a job: {e}");
                tokio::time::sleep(POLL).await;
            }
        }
    }
}

/// Jobs whose worker died on every try fail for good, with their asset.
async fn fail_exhausted(ctx: &WorkContext) {
    let Ok(claims) = queue::exhausted(&ctx.db).await else {
        return;
    };
    for claim in claims {
        let failure = Failure::permanent(
            "worker_lost",
            format!(
                "the worker running the {} job stopped responding {} times",
                claim.kind, claim.attempt
            ),
        );
        if let Err(e) = lifecycle::failed(&ctx.db, &claim, &failure).await {
            warn!(job = %claim.id, "failing an abandoned job: {e}");
        }
    }
}

async fn run(ctx: &WorkContext, name: &str, claim: Claim) {
    info!(worker = name, job = %claim.id, kind = %claim.kind, video = %claim.video_id,
          attempt = claim.attempt, "job claimed");
    if let Err(e) = lifecycle::started(&ctx.db, &claim).await {
        warn!(job = %claim.id, "marking the video processing: {e}");
    }
    let progress = Progress::default();
    let work = execute(ctx, &claim, &progress);
    tokio::pin!(work);
    let mut renew = tokio::time::interval((ctx.lease / 3).min(MAX_RENEW_EVERY));
    renew.tick().await;
    let result = loop {
        tokio::select! {
            result = &mut work => break Some(result),
            _ = renew.tick() => match queue::renew(&ctx.db, &claim, ctx.lease, progress.get()).await {
                Ok(true) => {}
                Ok(false) => break None,
                // The lease may still hold; the next renewal tells.
                Err(e) => warn!(job = %claim.id, "renewing the lease: {e}"),
            },
        }
    };
    let ended = match &result {
        None => Ok(false),
        Some(Ok(output)) => lifecycle::succeeded(&ctx.db, &claim, output).await,
        Some(Err(failure)) => {
            warn!(job = %claim.id, video = %claim.video_id, code = %failure.error.code,
                  "job failed: {}", failure.error.message);
            lifecycle::failed(&ctx.db, &claim, failure).await
        }
    };
    match ended {
        Ok(true) => info!(job = %claim.id, kind = %claim.kind, "job ended"),
        Ok(false) => warn!(job = %claim.id, attempt = claim.attempt,
                           "job no longer ours (lease lost or video deleted): stopped, nothing published"),
        Err(e) => warn!(job = %claim.id, "ending the job: {e} (it runs again when its lease ends)"),
    }
}

async fn execute(ctx: &WorkContext, claim: &Claim, progress: &Progress) -> Result<Output, Failure> {
    match claim.kind.as_str() {
        PROBE => probe::run(ctx, claim).await,
        TRANSCODE if claim.profile == RECORDING => recorded_ladder::run(ctx, claim, progress).await,
        TRANSCODE => transcode::run(ctx, claim, progress).await,
        THUMBNAILS => thumbnails::run(ctx, claim).await,
        other => Err(Failure::permanent(
            "unknown_job",
            format!("this server does not know {other} jobs"),
        )),
    }
}
