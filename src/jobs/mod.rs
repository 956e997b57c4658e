//! VOD jobs: a durable queue in the metadata database (`queue`), what jobs do
//! to their asset's status (`lifecycle`), the workers that run them
//! (`worker`, in `serve` or in `tributary worker` processes) and the work
//! itself (`probe`, in child processes: `media_task`).

mod api;
pub mod lifecycle;
mod media_task;
mod probe;
pub mod queue;
mod recorded_ladder;
mod recorded_source;
mod thumbnails;
mod transcode;
mod work_dir;
mod worker;

use std::sync::Arc;

use anyhow::Context;
use tokio::sync::Notify;
use tracing::info;

pub use api::admin_routes;
pub use lifecycle::PROBE;
pub use queue::JobError;
pub use worker::WorkContext;

use crate::config::Config;
use crate::db::Db;

/// Queues work and wakes this process's workers.
#[derive(Clone)]
pub struct Jobs {
    db: Db,
    wake: Arc<Notify>,
}

impl Jobs {
    pub fn new(db: Db) -> Jobs {
        Jobs {
            db,
            wake: Arc::new(Notify::new()),
        }
    }

    /// The source is stored: the asset is uploaded and its probe queued.
    pub async fn source_uploaded(
        &self,
        video_id: &str,
        size: u64,
        sha256: &str,
    ) -> sqlx::Result<()> {
        lifecycle::source_uploaded(&self.db, video_id, size, sha256).await?;
        self.wake.notify_waiters();
        Ok(())
    }

    /// Queues a failed asset's failed jobs again; false when it had none.
    pub async fn retry(&self, video_id: &str) -> sqlx::Result<bool> {
        let retried = lifecycle::retry_asset(&self.db, video_id).await?;
        self.wake.notify_waiters();
        Ok(retried)
    }

    /// Starts `count` workers in this process on `store`.
    pub fn start_workers(
        &self,
        store: storage::AnyStore,
        config: &Config,
        count: usize,
    ) -> anyhow::Result<()> {
        if count == 0 {
            return Ok(());
        }
        let exe = std::env::current_exe().context("finding this binary for media tasks")?;
        let work_dir = config.data_dir.join("work");
        std::fs::create_dir_all(&work_dir)
            .with_context(|| format!("creating {}", work_dir.display()))?;
        let ctx = Arc::new(WorkContext {
            db: self.db.clone(),
            store,
            lease: config.jobs.lease,
            exe,
            wake: self.wake.clone(),
            ladder: config.vod.ladder.clone(),
            work_dir,
        });
        worker::start(ctx, count);
        Ok(())
    }
}

/// `tributary worker`: runs jobs only, beside servers on the same database
/// and storage, until interrupted.
pub async fn run_workers(config: Config) -> anyhow::Result<()> {
    let db = Db::connect(&config.database_url).await?;
    let store = crate::vod::open_store(&config).await?;
    let count = config.jobs.workers.max(1);
    Jobs::new(db).start_workers(store, &config, count)?;
    info!(workers = count, "tributary worker is running");
    tokio::signal::ctrl_c()
        .await
        .context("waiting for ctrl-c")?;
    Ok(())
}
