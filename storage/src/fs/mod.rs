//! The filesystem store: objects are files under a root directory, at their
//! key's relative path.
//!
//! Unlike S3, a key cannot be both an object and a "directory" of other
//! objects (`a` and `a/b`): the second write fails with an I/O error.

mod atomic;
mod list;
mod multipart;
mod upload_file;

use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_util::TryStreamExt;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

use crate::DEFAULT_PART_SIZE;
use crate::body::Body;
use crate::error::{Result, StorageError};
use crate::key::{validate_key, validate_prefix};
use crate::store::{Object, ObjectMeta, ObjectStore, Part, resolve_range};
use atomic::TempFile;
pub use upload_file::LocalUploads;
pub(crate) use upload_file::UploadFile;

/// How many bytes a read hands out at a time.
const READ_CHUNK: usize = 64 * 1024;

/// Objects in a local directory. Cloning is cheap.
#[derive(Debug, Clone)]
pub struct FsStore {
    root: Arc<Path>,
    part_size: u64,
}

impl FsStore {
    /// A store rooted at `root`, created when missing.
    pub async fn open(root: impl Into<PathBuf>) -> Result<FsStore> {
        let root: PathBuf = root.into();
        tokio::fs::create_dir_all(&root)
            .await
            .map_err(|err| StorageError::io(format!("create {}", root.display()), err))?;
        Ok(FsStore {
            root: root.into(),
            part_size: DEFAULT_PART_SIZE,
        })
    }

    /// Sets the size of the parts a resumable upload writes as it goes (and,
    /// on this store, how many bytes it takes at most between two syncs).
    pub fn with_part_size(self, part_size: u64) -> Result<FsStore> {
        if part_size == 0 {
            return Err(StorageError::Config("part size must not be 0".into()));
        }
        Ok(FsStore { part_size, ..self })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the object at `key` lives on disk (it may not exist).
    pub fn object_path(&self, key: &str) -> Result<PathBuf> {
        validate_key(key)?;
        Ok(self.root.join(key))
    }

    /// Removes the now empty directories from `dir` up to the root.
    async fn prune(&self, mut dir: &Path) {
        while dir != &*self.root && dir.starts_with(&self.root) {
            if tokio::fs::remove_dir(dir).await.is_err() {
                break;
            }
            let Some(parent) = dir.parent() else { break };
            dir = parent;
        }
    }
}

fn not_found_or_io(key: &str, context: &str, path: &Path, err: io::Error) -> StorageError {
    match err.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => StorageError::NotFound {
            key: key.to_owned(),
        },
        _ => StorageError::io(format!("{context} {}", path.display()), err),
    }
}

impl ObjectStore for FsStore {
    fn part_size(&self) -> u64 {
        self.part_size
    }

    fn min_part_size(&self) -> u64 {
        1
    }

    fn local_uploads(&self) -> Option<LocalUploads> {
        Some(LocalUploads::new(self.root.clone(), self.part_size))
    }

    async fn put(&self, key: &str, body: Body) -> Result<()> {
        let path = self.object_path(key)?;
        let mut temp = TempFile::beside(&path).await?;
        temp.write_body(body).await?;
        temp.commit(&path).await
    }

    async fn get(&self, key: &str, range: Option<Range<u64>>) -> Result<Object> {
        let path = self.object_path(key)?;
        let mut file = tokio::fs::File::open(&path)
            .await
            .map_err(|err| not_found_or_io(key, "open", &path, err))?;
        let meta = file
            .metadata()
            .await
            .map_err(|err| not_found_or_io(key, "stat", &path, err))?;
        if !meta.is_file() {
            return Err(StorageError::NotFound { key: key.into() });
        }
        let range = resolve_range(range, meta.len())?;
        file.seek(io::SeekFrom::Start(range.start))
            .await
            .map_err(|err| StorageError::io(format!("seek {}", path.display()), err))?;
        let reader = file.take(range.end - range.start);
        let body = ReaderStream::with_capacity(reader, READ_CHUNK)
            .map_err(move |err| StorageError::io(format!("read {}", path.display()), err));
        Ok(Object {
            size: meta.len(),
            range,
            body: Box::pin(body),
        })
    }

    async fn head(&self, key: &str) -> Result<ObjectMeta> {
        let path = self.object_path(key)?;
        let meta = tokio::fs::metadata(&path)
            .await
            .map_err(|err| not_found_or_io(key, "stat", &path, err))?;
        if !meta.is_file() {
            return Err(StorageError::NotFound { key: key.into() });
        }
        Ok(ObjectMeta {
            key: key.into(),
            size: meta.len(),
        })
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>> {
        validate_prefix(prefix)?;
        list::list(&self.root, prefix).await
    }

    async fn delete(&self, key: &str) -> Result<()> {
        let path = self.object_path(key)?;
        match tokio::fs::remove_file(&path).await {
            Ok(()) => {}
            Err(err)
                if matches!(
                    err.kind(),
                    io::ErrorKind::NotFound
                        | io::ErrorKind::NotADirectory
                        | io::ErrorKind::IsADirectory
                ) => {}
            Err(err) => {
                return Err(StorageError::io(format!("delete {}", path.display()), err));
            }
        }
        if let Some(dir) = path.parent() {
            self.prune(dir).await;
        }
        Ok(())
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<u64> {
        if prefix.is_empty() {
            return Err(StorageError::InvalidKey {
                key: String::new(),
                reason: "deleting needs a non-empty prefix",
            });
        }
        let objects = self.list(prefix).await?;
        for object in &objects {
            self.delete(&object.key).await?;
        }
        Ok(objects.len() as u64)
    }

    async fn create_upload(&self, key: &str) -> Result<String> {
        validate_key(key)?;
        multipart::create(&self.root, key).await
    }

    async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        number: u32,
        body: Body,
    ) -> Result<Part> {
        validate_key(key)?;
        multipart::upload_part(&self.root, key, upload_id, number, body).await
    }

    async fn list_parts(&self, key: &str, upload_id: &str) -> Result<Vec<Part>> {
        validate_key(key)?;
        multipart::list_parts(&self.root, key, upload_id).await
    }

    async fn complete_upload(&self, key: &str, upload_id: &str, parts: &[Part]) -> Result<()> {
        let path = self.object_path(key)?;
        multipart::complete(&self.root, key, upload_id, parts, &path).await
    }

    async fn abort_upload(&self, key: &str, upload_id: &str) -> Result<()> {
        validate_key(key)?;
        multipart::abort(&self.root, key, upload_id).await
    }
}
