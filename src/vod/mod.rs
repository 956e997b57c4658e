//! VOD: assets (`videos`), their resumable uploads (tus) into object
//! storage or direct uploads to S3, the sweep that removes uploads left
//! unfinished, and the retention sweep (`retention`).

pub mod clip_range;
pub mod clips;
pub mod direct;
pub mod plan;
pub mod playback;
pub mod rendition_record;
pub mod renditions;
pub mod retention;
pub mod thumbnails;
pub mod transcode;
pub mod transcode_spec;
pub mod tus;
pub mod videos;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use storage::{AnyStore, FsStore, S3Store};

use crate::config::{Config, StorageConfig, UploadConfig};
use crate::db::Db;
use crate::jobs::Jobs;
use tus::{Signer, Slots, UploadRow};

/// How often unfinished uploads are checked for expiry.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

pub struct Vod {
    db: Db,
    store: AnyStore,
    /// Local files where upload chunks wait to become parts.
    spool_dir: PathBuf,
    uploads: UploadConfig,
    signer: Signer,
    slots: Slots,
    jobs: Jobs,
}

/// Where an asset's objects live in the store.
pub fn video_prefix(video_id: &str) -> String {
    format!("videos/{video_id}/")
}

/// The uploaded file of an asset, as it arrived.
pub fn source_key(video_id: &str) -> String {
    format!("{}source", video_prefix(video_id))
}

/// The tus creation endpoint of an asset (signed when handed out).
pub fn creation_path(video_id: &str) -> String {
    format!("/api/v1/videos/{video_id}/upload")
}

/// The URL of one upload (signed when handed out).
pub fn upload_path(upload_id: &str) -> String {
    format!("/api/v1/uploads/{upload_id}")
}

/// Opens the configured store.
pub async fn open_store(config: &Config) -> anyhow::Result<AnyStore> {
    Ok(match &config.storage {
        StorageConfig::Fs { part_size } => {
            let root = config.data_dir.join("objects");
            FsStore::open(&root)
                .await
                .and_then(|store| store.with_part_size(*part_size))
                .with_context(|| format!("opening object storage in {}", root.display()))?
                .into()
        }
        StorageConfig::S3(s3) => S3Store::new(s3.clone())
            .await
            .with_context(|| format!("S3 storage, bucket {}", s3.bucket))?
            .into(),
    })
}

impl Vod {
    /// The VOD side on `store`; starts the expiry and retention sweeps.
    pub async fn start(
        config: &Config,
        db: Db,
        store: AnyStore,
        jobs: Jobs,
        admin_token: &str,
    ) -> anyhow::Result<Arc<Vod>> {
        let spool_dir = config.data_dir.join("spool");
        tokio::fs::create_dir_all(&spool_dir)
            .await
            .with_context(|| format!("creating {}", spool_dir.display()))?;
        let vod = Arc::new(Vod {
            db,
            store,
            spool_dir,
            uploads: config.uploads.clone(),
            signer: Signer::new(admin_token),
            slots: Slots::default(),
            jobs,
        });
        let sweep_every = SWEEP_EVERY
            .min(config.uploads.expiry / 2)
            .max(Duration::from_secs(1));
        tokio::spawn(sweep_expired(Arc::downgrade(&vod), sweep_every));
        tokio::spawn(retention::run(
            Arc::downgrade(&vod),
            config.retention.clone(),
        ));
        Ok(vod)
    }

    pub fn store(&self) -> &AnyStore {
        &self.store
    }

    pub fn jobs(&self) -> &Jobs {
        &self.jobs
    }

    pub fn signer(&self) -> &Signer {
        &self.signer
    }

    pub fn slots(&self) -> &Slots {
        &self.slots
    }

    /// A fresh spool file name for a checksummed chunk.
    pub fn spool_file(&self) -> PathBuf {
        self.spool_dir
            .join(format!("chunk-{}", crate::ids::secret()))
    }

    /// The signed creation URL of an asset and when it expires.
    pub fn creation_url(&self, base: &str, video_id: &str) -> (String, DateTime<Utc>) {
        let expires = Utc::now() + self.uploads.expiry;
        let path = creation_path(video_id);
        let query = self.signer.query(&path, expires.timestamp());
        (format!("{base}{path}?{query}"), expires)
    }

    /// The signed path of an upload, valid until it expires.
    pub fn upload_path_signed(&self, row: &UploadRow) -> String {
        let path = upload_path(&row.id);
        format!(
            "{path}?{}",
            self.signer.query(&path, row.expires_at.timestamp())
        )
    }
}

async fn sweep_expired(vod: std::sync::Weak<Vod>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let Some(vod) = vod.upgrade() else { return };
        vod.remove_expired().await;
    }
}
