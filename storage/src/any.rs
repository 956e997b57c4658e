//! The store the server runs on, chosen by its configuration.

use std::ops::Range;
use std::time::Duration;

use crate::body::Body;
use crate::error::{Result, StorageError};
use crate::fs::{FsStore, LocalUploads};
use crate::s3::S3Store;
use crate::store::{Object, ObjectMeta, ObjectStore, Part};

/// Either backend, behind the one trait.
#[derive(Debug, Clone)]
pub enum AnyStore {
    Fs(FsStore),
    S3(S3Store),
}

impl From<FsStore> for AnyStore {
    fn from(store: FsStore) -> Self {
        AnyStore::Fs(store)
    }
}

impl From<S3Store> for AnyStore {
    fn from(store: S3Store) -> Self {
        AnyStore::S3(store)
    }
}

impl AnyStore {
    /// A URL a media reader (GStreamer) can read the object at `key` from:
    /// the file itself on `fs`, a presigned GET on `s3`.
    pub async fn read_url(&self, key: &str, expires_in: Duration) -> Result<String> {
        match self {
            AnyStore::Fs(store) => {
                let path = std::path::absolute(store.object_path(key)?)
                    .map_err(|err| StorageError::io(format!("resolve {key}"), err))?;
                Ok(format!("file://{}", path.display()))
            }
            AnyStore::S3(store) => store.presign_get(key, expires_in).await,
        }
    }
}

impl ObjectStore for AnyStore {
    fn part_size(&self) -> u64 {
        match self {
            AnyStore::Fs(store) => store.part_size(),
            AnyStore::S3(store) => store.part_size(),
        }
    }

    fn min_part_size(&self) -> u64 {
        match self {
            AnyStore::Fs(store) => store.min_part_size(),
            AnyStore::S3(store) => store.min_part_size(),
        }
    }

    async fn put(&self, key: &str, body: Body) -> Result<()> {
        match self {
            AnyStore::Fs(store) => store.put(key, body).await,
            AnyStore::S3(store) => store.put(key, body).await,
        }
    }

    async fn get(&self, key: &str, range: Option<Range<u64>>) -> Result<Object> {
        match self {
            AnyStore::Fs(store) => store.get(key, range).await,
            AnyStore::S3(store) => store.get(key, range).await,
        }
    }

    async fn head(&self, key: &str) -> Result<ObjectMeta> {
        match self {
            AnyStore::Fs(store) => store.head(key).await,
            AnyStore::S3(store) => store.head(key).await,
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>> {
        match self {
            AnyStore::Fs(store) => store.list(prefix).await,
            AnyStore::S3(store) => store.list(prefix).await,
        }
    }

    async fn delete(&self, key: &str) -> Result<()> {
        match self {
            AnyStore::Fs(store) => store.delete(key).await,
            AnyStore::S3(store) => store.delete(key).await,
        }
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<u64> {
        match self {
            AnyStore::Fs(store) => store.delete_prefix(prefix).await,
            AnyStore::S3(store) => store.delete_prefix(prefix).await,
        }
    }

    async fn create_upload(&self, key: &str) -> Result<String> {
        match self {
            AnyStore::Fs(store) => store.create_upload(key).await,
            AnyStore::S3(store) => store.create_upload(key).await,
        }
    }

    async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        number: u32,
        body: Body,
    ) -> Result<Part> {
        match self {
            AnyStore::Fs(store) => store.upload_part(key, upload_id, number, body).await,
            AnyStore::S3(store) => store.upload_part(key, upload_id, number, body).await,
        }
    }

    async fn list_parts(&self, key: &str, upload_id: &str) -> Result<Vec<Part>> {
        match self {
            AnyStore::Fs(store) => store.list_parts(key, upload_id).await,
            AnyStore::S3(store) => store.list_parts(key, upload_id).await,
        }
    }

    async fn complete_upload(&self, key: &str, upload_id: &str, parts: &[Part]) -> Result<()> {
        match self {
            AnyStore::Fs(store) => store.complete_upload(key, upload_id, parts).await,
            AnyStore::S3(store) => store.complete_upload(key, upload_id, parts).await,
        }
    }

    async fn abort_upload(&self, key: &str, upload_id: &str) -> Result<()> {
        match self {
            AnyStore::Fs(store) => store.abort_upload(key, upload_id).await,
            AnyStore::S3(store) => store.abort_upload(key, upload_id).await,
        }
    }

    fn local_uploads(&self) -> Option<LocalUploads> {
        match self {
            AnyStore::Fs(store) => store.local_uploads(),
            AnyStore::S3(store) => store.local_uploads(),
        }
    }
}
