//! Atomic file writes: bytes go to a temporary file in the destination's
//! directory, which is synced and then renamed into place, so that a reader
//! or a crash sees the old file or the new one, never half of one.

use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use futures_util::StreamExt;
use tokio::fs::{File, OpenOptions};
use tokio::io::AsyncWriteExt;

use crate::body::Body;
use crate::error::{Result, StorageError};
use crate::key::RESERVED_PREFIX;

/// A file being written under a temporary name; removed when dropped
/// uncommitted.
pub(super) struct TempFile {
    path: PathBuf,
    file: File,
    committed: bool,
}

impl TempFile {
    /// Creates a temporary file in the directory `dest` will be in, creating
    /// that directory when missing.
    pub(super) async fn beside(dest: &Path) -> Result<TempFile> {
        let dir = parent(dest)?;
        let mut attempts = 0;
        loop {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(|err| StorageError::io(format!("create {}", dir.display()), err))?;
            let name = format!("{RESERVED_PREFIX}tmp-{:032x}", rand::random::<u128>());
            let path = dir.join(name);
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
                .await
            {
                Ok(file) => {
                    return Ok(TempFile {
                        path,
                        file,
                        committed: false,
                    });
                }
                // A concurrent delete may prune the directory once it is
                // empty, between its creation and ours.
                Err(err) if err.kind() == io::ErrorKind::NotFound && attempts < 3 => {
                    attempts += 1;
                }
                Err(err) => {
                    return Err(StorageError::io(format!("create {}", path.display()), err));
                }
            }
        }
    }

    /// Writes `body` and checks that it had the length it declared.
    pub(super) async fn write_body(&mut self, body: Body) -> Result<()> {
        match body {
            Body::Bytes(bytes) => self.write(&bytes).await,
            Body::File { path, offset, len } => self.copy_region(&path, offset, len).await,
            Body::Stream { mut stream, len } => {
                let mut written = 0u64;
                while let Some(chunk) = stream.next().await {
                    let chunk = chunk?;
                    written += chunk.len() as u64;
                    if written > len {
                        return Err(StorageError::LengthMismatch {
                            expected: len,
                            actual: written,
                        });
                    }
                    self.write(&chunk).await?;
                }
                if written != len {
                    return Err(StorageError::LengthMismatch {
                        expected: len,
                        actual: written,
                    });
                }
                Ok(())
            }
        }
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.file
            .write_all(bytes)
            .await
            .map_err(|err| StorageError::io(format!("write {}", self.path.display()), err))
    }

    /// Appends `len` bytes of `src` from `offset` on. The copy runs on a
    /// blocking thread with std's `io::copy`, which lets the kernel move the
    /// bytes (copy_file_range) instead of passing them through memory.
    pub(super) async fn copy_region(&mut self, src: &Path, offset: u64, len: u64) -> Result<()> {
        self.file
            .flush()
            .await
            .map_err(|err| StorageError::io(format!("write {}", self.path.display()), err))?;
        let mut dst = self
            .file
            .try_clone()
            .await
            .map_err(|err| StorageError::io(format!("open {}", self.path.display()), err))?
            .into_std()
            .await;
        let src = src.to_owned();
        let copied = tokio::task::spawn_blocking(move || -> io::Result<u64> {
            let mut src = std::fs::File::open(&src)?;
            src.seek(SeekFrom::Start(offset))?;
            io::copy(&mut src.take(len), &mut dst)
        })
        .await
        .map_err(|err| StorageError::io("copy", io::Error::other(err)))?
        .map_err(|err| StorageError::io(format!("copy into {}", self.path.display()), err))?;
        if copied != len {
            return Err(StorageError::LengthMismatch {
                expected: len,
                actual: copied,
            });
        }
        Ok(())
    }

    /// Syncs the file, renames it to `dest` and syncs the directory, so that
    /// the new name survives a crash too.
    pub(super) async fn commit(mut self, dest: &Path) -> Result<()> {
        let context = || format!("write {}", dest.display());
        self.file
            .flush()
            .await
            .map_err(|err| StorageError::io(context(), err))?;
        self.file
            .sync_all()
            .await
            .map_err(|err| StorageError::io(context(), err))?;
        tokio::fs::rename(&self.path, dest)
            .await
            .map_err(|err| StorageError::io(context(), err))?;
        self.committed = true;
        sync_dir(parent(dest)?).await
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.committed {
            // Unlinking is quick enough to do here; a crash leaves the file
            // behind, hidden from listings by its reserved name.
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

pub(super) async fn sync_dir(dir: &Path) -> Result<()> {
    let context = || format!("sync {}", dir.display());
    File::open(dir)
        .await
        .map_err(|err| StorageError::io(context(), err))?
        .sync_all()
        .await
        .map_err(|err| StorageError::io(context(), err))
}

pub(super) fn parent(path: &Path) -> Result<&Path> {
    path.parent().ok_or_else(|| {
        StorageError::io(
            format!("{} has no parent", path.display()),
            io::ErrorKind::InvalidInput.into(),
        )
    })
}
