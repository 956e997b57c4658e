//! An upload's life on the VOD side: created with its asset, loaded into its
//! slot (from the store after a restart), completed into the asset's source,
//! terminated, or removed when it expires.

use chrono::Utc;
use storage::StorageError;
use tracing::{info, warn};

use super::headers::{MetadataPair, format_metadata};
use super::slots::{Held, Upload};
use super::uploads::{self, UploadRow};
use super::{TusResponse, storage_error};
use crate::vod::{Vod, source_key};

impl Vod {
    /// Starts an upload of an asset's source, in the store and in the database.
    pub(super) async fn create_upload(
        &self,
        video_id: &str,
        length: Option<u64>,
        metadata: &[MetadataPair],
    ) -> Result<(UploadRow, Upload), TusResponse> {
        let key = source_key(video_id);
        let upload = Upload::create(self.store.clone(), &key, &self.spool_dir)
            .await
            .map_err(storage_error)?;
        let row = UploadRow {
            id: crate::ids::stream_id(),
            video_id: video_id.to_owned(),
            length,
            metadata: format_metadata(metadata),
            storage_key: key,
            store_upload_id: upload.upload_id().to_owned(),
            expires_at: Utc::now() + self.uploads.expiry,
            completed_at: None,
        };
        if let Err(e) = uploads::insert(&self.db, &row).await {
            let _ = upload.abort().await;
            return Err(e.into());
        }
        Ok((row, upload))
    }

    /// The upload of `row` in its held slot, picked up from the store when
    /// this process has not seen it yet (a restart, another node).
    pub(super) async fn load<'h>(
        &self,
        row: &UploadRow,
        held: &'h mut Held<'_>,
    ) -> Result<&'h mut Upload, StorageError> {
        let upload = match held.take() {
            Some(upload) => upload,
            None => {
                Upload::resume(
                    self.store.clone(),
                    &row.storage_key,
                    &row.store_upload_id,
                    &self.spool_dir,
                )
                .await?
            }
        };
        Ok(held.insert(upload))
    }

    /// The last byte arrived: the source is assembled and the asset is uploaded.
    pub(super) async fn complete(
        &self,
        row: &UploadRow,
        held: &mut Held<'_>,
    ) -> Result<(), TusResponse> {
        let Some(upload) = held.take() else {
            return Ok(());
        };
        let completed = upload.complete().await.map_err(storage_error)?;
        uploads::mark_completed(&self.db, &row.id).await?;
        let sha256 = crate::ids::hex(&completed.sha256);
        self.jobs
            .source_uploaded(&row.video_id, completed.size, &sha256)
            .await?;
        self.slots.remove(&row.id);
        info!(video = %row.video_id, upload = %row.id, size = completed.size, %sha256, "upload complete");
        Ok(())
    }

    /// Removes an unfinished upload: its bytes and its row.
    pub(super) async fn terminate(
        &self,
        row: &UploadRow,
        held: &mut Held<'_>,
    ) -> Result<(), TusResponse> {
        match self.load(row, held).await {
            Ok(_) => {
                if let Some(upload) = held.take() {
                    upload.abort().await.map_err(storage_error)?;
                }
            }
            // Nothing left in the store: only the row remains.
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(storage_error(e)),
        }
        uploads::delete(&self.db, &row.id).await?;
        self.slots.remove(&row.id);
        Ok(())
    }

    /// Terminates the unfinished uploads of an asset (it is being deleted,
    /// or a new upload replaces them).
    pub async fn abort_uploads_of(&self, video_id: &str) {
        match uploads::unfinished_of(&self.db, video_id).await {
            Ok(rows) => self.terminate_all(&rows, "replaced or deleted").await,
            Err(e) => warn!(video = video_id, "listing uploads: {e}"),
        }
    }

    /// Removes every unfinished upload past its expiry.
    pub async fn remove_expired(&self) {
        match uploads::expired(&self.db, Utc::now()).await {
            Ok(rows) => self.terminate_all(&rows, "expired").await,
            Err(e) => warn!("listing expired uploads: {e}"),
        }
    }

    async fn terminate_all(&self, rows: &[UploadRow], why: &str) {
        for row in rows {
            let slot = self.slots.slot(&row.id);
            let Some(mut held) = slot.hold_after_stopping().await else {
                warn!(upload = %row.id, "upload still busy; not removed this time");
                continue;
            };
            match self.terminate(row, &mut held).await {
                Ok(()) => info!(video = %row.video_id, upload = %row.id, "upload {why}: removed"),
                Err(e) => warn!(upload = %row.id, "removing an upload: {}", e.message),
            }
        }
    }
}
