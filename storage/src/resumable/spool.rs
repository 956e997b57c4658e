//! The local file where an upload's bytes wait until they make a part, so
//! that memory stays flat whatever the part size.

use std::io::SeekFrom;
use std::path::Path;

use tempfile::TempPath;
use tokio::fs::File;
use tokio::io::{AsyncSeekExt, AsyncWriteExt};

use crate::body::Body;
use crate::error::{Result, StorageError};

pub(super) struct Spool {
    file: File,
    /// Deletes the file when the spool is dropped.
    path: TempPath,
    len: u64,
}

impl Spool {
    pub(super) async fn new(dir: &Path) -> Result<Spool> {
        let (file, path) = tempfile::Builder::new()
            .prefix("tributary-upload-")
            .tempfile_in(dir)
            .map_err(|err| {
                StorageError::io(format!("create a spool file in {}", dir.display()), err)
            })?
            .into_parts();
        Ok(Spool {
            file: File::from_std(file),
            path,
            len: 0,
        })
    }

    pub(super) fn len(&self) -> u64 {
        self.len
    }

    pub(super) async fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.file
            .write_all(bytes)
            .await
            .map_err(|err| self.error("write", err))?;
        self.len += bytes.len() as u64;
        Ok(())
    }

    /// Its bytes, as a body read from the file by path. Waits for the writes
    /// in flight first.
    pub(super) async fn body(&mut self) -> Result<Body> {
        self.file
            .flush()
            .await
            .map_err(|err| self.error("write", err))?;
        Ok(Body::File {
            path: self.path.to_path_buf(),
            offset: 0,
            len: self.len,
        })
    }

    pub(super) async fn clear(&mut self) -> Result<()> {
        self.file
            .flush()
            .await
            .map_err(|err| self.error("write", err))?;
        self.file
            .set_len(0)
            .await
            .map_err(|err| self.error("truncate", err))?;
        self.file
            .seek(SeekFrom::Start(0))
            .await
            .map_err(|err| self.error("seek", err))?;
        self.len = 0;
        Ok(())
    }

    fn error(&self, context: &str, err: std::io::Error) -> StorageError {
        StorageError::io(format!("{context} {}", self.path.display()), err)
    }
}
