//! Resumable uploads (what a tus server needs) on any [`ObjectStore`]: bytes
//! are appended in requests of any size, the offset reported after each
//! request is durable in the store, and an upload can be picked up again by
//! another process after a crash.
//!
//! How the bytes are kept depends on the store. On one that keeps uploads
//! as local files ([`ObjectStore::local_uploads`]: the filesystem store),
//! each byte is written once, into one data file of the upload:
//! - An append writes the request's bytes to the file through a 1 MiB
//!   buffer. At its end (also when the request's body fails part-way: the
//!   bytes received are kept) the file is synced and the new offset is
//!   recorded beside it, synced too: the offset returned is durable. A long
//!   request is also synced every `part_size` bytes, so that a crash in the
//!   middle of it keeps as much as parts would have.
//! - Picking the upload up again cuts the file back to the recorded offset:
//!   bytes past it were never acknowledged and may not be on disk.
//! - Completion renames the file into place as the object.
//!
//! An upload begun through parts (before uploads were kept as one file) goes
//! on through parts, as on every other store (S3):
//! - Incoming bytes go to a local spool file; each time it holds
//!   `part_size` bytes they are uploaded as the next part.
//! - At the end of an append, what is left is uploaded as a part when the
//!   store accepts a part that small (always on the filesystem; from 5 MiB on
//!   S3). A smaller rest is the tail: it is written as an ordinary object,
//!   `<key>.<id hash>.tail.<N>`, where N is the number of the part it will
//!   begin, and joined to the bytes of the next append or completion.
//! - The durable offset is the size of the parts plus the size of the tail
//!   object whose number follows the last part. A tail with another number
//!   is one that a part has since absorbed (a crash came between the part
//!   and the tail's deletion): it is ignored and deleted.
//!
//! The sha256 of the whole upload is computed as bytes arrive. A resumed
//! upload has lost that state (the hasher's state cannot be saved), so its
//! completion reads the finished object back once to hash it.
//!
//! One upload must be driven by one `ResumableUpload` at a time: the caller
//! serializes requests for the same upload (as tus requires anyway).

mod parts;
mod spool;

use std::path::Path;
use std::pin::pin;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use sha2::{Digest, Sha256};

use crate::error::{BoxError, Result, StorageError};
use crate::fs::UploadFile;
use crate::key::validate_key;
use crate::store::ObjectStore;
use parts::Parts;

/// A finished upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completed {
    pub size: u64,
    pub sha256: [u8; 32],
}

/// An upload in progress to `key`, appended to in requests of any size.
pub struct ResumableUpload<S> {
    target: Target<S>,
    kept: Kept,
    /// None after a resume.
    hasher: Option<Sha256>,
    /// A store call failed part-way, or an append was dropped before its
    /// end: what this value holds may be ahead of the store or behind it, so
    /// the next call reloads the store's state.
    stale: bool,
}

/// The upload in its store.
struct Target<S> {
    store: S,
    key: String,
    upload_id: String,
}

/// Where the bytes go.
enum Kept {
    /// Into the upload's file, on a store that keeps uploads as local files.
    File(UploadFile),
    /// Into parts, through a spool.
    Parts(Parts),
}

impl<S: ObjectStore> ResumableUpload<S> {
    /// Starts an upload to `key`. On a store that keeps uploads as local
    /// files, bytes go straight to the upload's file; on others, they wait in
    /// a file in `spool_dir` until they make a part.
    pub async fn create(store: S, key: &str, spool_dir: &Path) -> Result<Self> {
        validate_key(key)?;
        if store.part_size() < store.min_part_size() {
            return Err(StorageError::Config(format!(
                "part size {} is below the store's minimum of {}",
                store.part_size(),
                store.min_part_size()
            )));
        }
        let upload_id = store.create_upload(key).await?;
        let target = Target {
            store,
            key: key.to_owned(),
            upload_id,
        };
        let kept = match target.store.local_uploads() {
            Some(uploads) => uploads
                .start(&target.key, &target.upload_id)
                .await
                .map(Kept::File),
            None => Parts::new(spool_dir).await.map(Kept::Parts),
        };
        let kept = match kept {
            Ok(kept) => kept,
            Err(err) => {
                // Nobody else knows the upload's id: it would never go.
                if let Err(abort) = target.abort_upload_if_any().await {
                    tracing::warn!(key, %abort, "could not abort an upload that failed to start");
                }
                return Err(err);
            }
        };
        Ok(ResumableUpload {
            target,
            kept,
            hasher: Some(Sha256::new()),
            stale: false,
        })
    }

    /// Picks up upload `upload_id` to `key` from what the store holds (after
    /// a restart, say). `UploadNotFound` when the store has no such upload.
    pub async fn resume(store: S, key: &str, upload_id: &str, spool_dir: &Path) -> Result<Self> {
        validate_key(key)?;
        let target = Target {
            store,
            key: key.to_owned(),
            upload_id: upload_id.to_owned(),
        };
        let file = match target.store.local_uploads() {
            Some(uploads) => uploads.open(key, upload_id).await?,
            None => None,
        };
        let kept = match file {
            Some(file) => Kept::File(file),
            None => {
                let mut parts = Parts::new(spool_dir).await?;
                parts.reload(&target).await?;
                Kept::Parts(parts)
            }
        };
        Ok(ResumableUpload {
            target,
            kept,
            hasher: None,
            stale: false,
        })
    }

    pub fn key(&self) -> &str {
        &self.target.key
    }

    pub fn upload_id(&self) -> &str {
        &self.target.upload_id
    }

    /// How many bytes the store holds for this upload. After an error from
    /// `append`, the store may hold more: `resume` tells exactly.
    pub fn offset(&self) -> u64 {
        match &self.kept {
            Kept::File(file) => file.durable(),
            Kept::Parts(parts) => parts.offset(),
        }
    }

    /// Appends the bytes of `stream` and makes them durable; returns the new
    /// offset. When the stream fails part-way (a client gone), the bytes
    /// received until then are kept and the stream's error is returned as
    /// `StorageError::Body`.
    pub async fn append<St, E>(&mut self, stream: St) -> Result<u64>
    where
        St: Stream<Item = Result<Bytes, E>>,
        E: Into<BoxError>,
    {
        if self.stale {
            self.reload().await?;
        }
        if let Kept::Parts(parts) = &self.kept
            && parts.sealed(&self.target.store)
        {
            return Err(StorageError::UploadSealed {
                key: self.target.key.clone(),
            });
        }
        // Cleared once the bytes are durable: an error, or a drop of this
        // future, leaves the upload to be reloaded.
        self.stale = true;
        let mut stream = pin!(stream);
        let mut body_error = None;
        while let Some(item) = stream.next().await {
            match item {
                Ok(chunk) => {
                    if let Some(hasher) = &mut self.hasher {
                        hasher.update(&chunk);
                    }
                    match &mut self.kept {
                        Kept::File(file) => file.write(&chunk).await?,
                        Kept::Parts(parts) => parts.write(&self.target, chunk).await?,
                    }
                }
                Err(err) => {
                    body_error = Some(StorageError::Body(err.into()));
                    break;
                }
            }
        }
        let offset = match &mut self.kept {
            Kept::File(file) => file.sync().await?,
            Kept::Parts(parts) => {
                parts.persist(&self.target).await?;
                parts.offset()
            }
        };
        self.stale = false;
        match body_error {
            Some(err) => Err(err),
            None => Ok(offset),
        }
    }

    /// Joins every byte appended into the object at `key` and ends the
    /// upload.
    pub async fn complete(mut self) -> Result<Completed> {
        if self.stale {
            self.reload().await?;
        }
        let size = match self.kept {
            Kept::File(file) => file.complete().await?,
            Kept::Parts(parts) => parts.complete(&self.target).await?,
        };
        let sha256 = match self.hasher.take() {
            Some(hasher) => hasher.finalize().into(),
            None => hash_object(&self.target.store, &self.target.key).await?,
        };
        Ok(Completed { size, sha256 })
    }

    /// Ends the upload and removes every byte it stored.
    pub async fn abort(self) -> Result<()> {
        match self.kept {
            Kept::File(file) => file.abort().await,
            Kept::Parts(parts) => parts.abort(&self.target).await,
        }
    }

    /// Brings this value back in line with the store, after a failed or
    /// dropped append.
    async fn reload(&mut self) -> Result<()> {
        self.hasher = None;
        match &mut self.kept {
            Kept::File(file) => file.reload().await?,
            Kept::Parts(parts) => parts.reload(&self.target).await?,
        }
        self.stale = false;
        Ok(())
    }
}

impl<S: ObjectStore> Target<S> {
    async fn abort_upload_if_any(&self) -> Result<()> {
        match self.store.abort_upload(&self.key, &self.upload_id).await {
            Err(StorageError::UploadNotFound { .. }) | Ok(()) => Ok(()),
            Err(err) => Err(err),
        }
    }
}

/// Reads an object back to hash it.
async fn hash_object<S: ObjectStore>(store: &S, key: &str) -> Result<[u8; 32]> {
    let mut body = store.get(key, None).await?.body;
    let mut hasher = Sha256::new();
    while let Some(chunk) = body.next().await {
        hasher.update(&chunk?);
    }
    Ok(hasher.finalize().into())
}
