//! A job's local work folder, where its media task writes before the
//! output goes to storage; removed when the job ends, however it ends.

use std::path::{Path, PathBuf};

use super::lifecycle::Failure;
use super::queue::Claim;

pub struct WorkDir {
    path: PathBuf,
}

impl WorkDir {
    /// The folder of this claim of the job, empty.
    pub async fn create(root: &Path, claim: &Claim) -> Result<WorkDir, Failure> {
        let path = root.join(format!("{}-{}", claim.id, claim.attempt));
        let made = async {
            // Left by an attempt of this job that died with its process.
            if tokio::fs::try_exists(&path).await? {
                tokio::fs::remove_dir_all(&path).await?;
            }
            tokio::fs::create_dir_all(&path).await
        };
        made.await.map_err(|e| {
            Failure::transient(
                "worker_error",
                format!("work folder {}: {e}", path.display()),
            )
        })?;
        Ok(WorkDir { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let path = std::mem::take(&mut self.path);
        // Off the async threads: a ladder's folder holds many files.
        std::thread::spawn(move || {
            if let Err(e) = std::fs::remove_dir_all(&path) {
                tracing::warn!(path = %path.display(), "removing a work folder: {e}");
            }
        });
    }
}
