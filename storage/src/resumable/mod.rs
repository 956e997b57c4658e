//! Resumable uploads (what a tus server needs) on any [`ObjectStore`]: bytes
//! are appended in requests of any size, the offset reported after each
//! request is durable in the store, and an upload can be picked up again by
//! another process after a crash.
//!
//! How the bytes are kept:
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

mod spool;

use std::path::Path;
use std::pin::pin;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use sha2::{Digest, Sha256};

use crate::body::Body;
use crate::error::{BoxError, Result, StorageError};
use crate::key::validate_key;
use crate::store::{ObjectStore, Part};
use spool::Spool;

/// A finished upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completed {
    pub size: u64,
    pub sha256: [u8; 32],
}

/// An upload in progress to `key`, appended to in requests of any size.
pub struct ResumableUpload<S> {
    store: S,
    key: String,
    upload_id: String,
    /// The parts in the store, by number.
    parts: Vec<Part>,
    /// The bytes past the parts: those of the tail object, then those of the
    /// current append.
    spool: Spool,
    /// How many of the spool's bytes the tail object holds.
    tail_stored: u64,
    /// None after a resume.
    hasher: Option<Sha256>,
    /// A store call failed part-way: what this value holds may be ahead of
    /// the store or behind it, so the next call reloads the store's state.
    stale: bool,
}

impl<S: ObjectStore> ResumableUpload<S> {
    /// Starts an upload to `key`; bytes wait in a file in `spool_dir` until
    /// they make a part.
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
        Ok(ResumableUpload {
            spool: Spool::new(spool_dir).await?,
            store,
            key: key.to_owned(),
            upload_id,
            parts: Vec::new(),
            tail_stored: 0,
            hasher: Some(Sha256::new()),
            stale: false,
        })
    }

    /// Picks up upload `upload_id` to `key` from what the store holds (after
    /// a restart, say). `UploadNotFound` when the store has no such upload.
    pub async fn resume(store: S, key: &str, upload_id: &str, spool_dir: &Path) -> Result<Self> {
        validate_key(key)?;
        let mut upload = ResumableUpload {
            spool: Spool::new(spool_dir).await?,
            store,
            key: key.to_owned(),
            upload_id: upload_id.to_owned(),
            parts: Vec::new(),
            tail_stored: 0,
            hasher: None,
            stale: true,
        };
        upload.reload().await?;
        Ok(upload)
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    pub fn upload_id(&self) -> &str {
        &self.upload_id
    }

    /// How many bytes the store holds for this upload. After an error from
    /// `append`, the store may hold more: `resume` tells exactly.
    pub fn offset(&self) -> u64 {
        self.parts.iter().map(|part| part.size).sum::<u64>() + self.tail_stored
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
        if self.sealed() {
            return Err(StorageError::UploadSealed {
                key: self.key.clone(),
            });
        }
        let mut stream = pin!(stream);
        let mut body_error = None;
        while let Some(item) = stream.next().await {
            match item {
                Ok(chunk) => {
                    if let Err(err) = self.spool_chunk(chunk).await {
                        self.stale = true;
                        return Err(err);
                    }
                }
                Err(err) => {
                    body_error = Some(StorageError::Body(err.into()));
                    break;
                }
            }
        }
        if let Err(err) = self.persist_rest().await {
            self.stale = true;
            return Err(err);
        }
        match body_error {
            Some(err) => Err(err),
            None => Ok(self.offset()),
        }
    }

    /// Joins every byte appended into the object at `key` and ends the
    /// upload.
    pub async fn complete(mut self) -> Result<Completed> {
        if self.stale {
            self.reload().await?;
        }
        if self.spool.len() > 0 {
            self.upload_spool_as_part().await?;
        }
        // Tails go before the upload does: once it is complete, a crash
        // would leave them where no resume could find them.
        self.store.delete_prefix(&self.tail_prefix()).await?;
        let size = self.offset();
        if self.parts.is_empty() {
            // S3 completes no upload without a part: an empty object is a put.
            self.abort_upload_if_any().await?;
            self.store.put(&self.key, Body::Bytes(Bytes::new())).await?;
        } else {
            self.store
                .complete_upload(&self.key, &self.upload_id, &self.parts)
                .await?;
        }
        let sha256 = match self.hasher.take() {
            Some(hasher) => hasher.finalize().into(),
            None => hash_object(&self.store, &self.key).await?,
        };
        Ok(Completed { size, sha256 })
    }

    /// Ends the upload and removes every byte it stored.
    pub async fn abort(self) -> Result<()> {
        self.abort_upload_if_any().await?;
        self.store.delete_prefix(&self.tail_prefix()).await?;
        Ok(())
    }

    /// The upload holds its last, short, part (a completion was under way
    /// when the process stopped): it takes no more bytes.
    fn sealed(&self) -> bool {
        self.parts
            .last()
            .is_some_and(|part| part.size < self.store.min_part_size())
    }

    fn next_part_number(&self) -> u32 {
        self.parts.last().map_or(1, |part| part.number + 1)
    }

    /// Tail objects share this prefix; the upload id is hashed in so that two
    /// uploads to one key never see each other's tails.
    fn tail_prefix(&self) -> String {
        let digest = Sha256::digest(self.upload_id.as_bytes());
        let hash: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        format!("{}.{hash}.tail.", self.key)
    }

    fn tail_key(&self, part_number: u32) -> String {
        format!("{}{part_number}", self.tail_prefix())
    }

    /// Rebuilds the parts, the tail and the offset from the store.
    async fn reload(&mut self) -> Result<()> {
        self.hasher = None;
        self.parts = self.store.list_parts(&self.key, &self.upload_id).await?;
        self.spool.clear().await?;
        self.tail_stored = 0;
        let live_tail = (!self.sealed()).then(|| self.tail_key(self.next_part_number()));
        for object in self.store.list(&self.tail_prefix()).await? {
            if Some(&object.key) == live_tail.as_ref() {
                let mut tail = self.store.get(&object.key, None).await?.body;
                while let Some(chunk) = tail.next().await {
                    self.spool.write(&chunk?).await?;
                }
                self.tail_stored = self.spool.len();
            } else {
                self.delete_stale_tail(&object.key).await;
            }
        }
        self.stale = false;
        Ok(())
    }

    /// Adds bytes to the spool, uploading a part each time it fills.
    async fn spool_chunk(&mut self, mut chunk: Bytes) -> Result<()> {
        let part_size = self.store.part_size();
        while !chunk.is_empty() {
            let room = usize::try_from(part_size - self.spool.len()).unwrap_or(usize::MAX);
            let piece = chunk.split_to(room.min(chunk.len()));
            self.spool.write(&piece).await?;
            if let Some(hasher) = &mut self.hasher {
                hasher.update(&piece);
            }
            if self.spool.len() == part_size {
                self.upload_spool_as_part().await?;
            }
        }
        Ok(())
    }

    /// Makes what the spool holds beyond the tail object durable: as a part
    /// when the store takes a part that small, else as the new tail.
    async fn persist_rest(&mut self) -> Result<()> {
        let len = self.spool.len();
        if len == self.tail_stored {
            return Ok(());
        }
        if len >= self.store.min_part_size() {
            return self.upload_spool_as_part().await;
        }
        let tail_key = self.tail_key(self.next_part_number());
        let body = self.spool.body().await?;
        self.store.put(&tail_key, body).await?;
        self.tail_stored = len;
        Ok(())
    }

    async fn upload_spool_as_part(&mut self) -> Result<()> {
        let number = self.next_part_number();
        let body = self.spool.body().await?;
        let part = self
            .store
            .upload_part(&self.key, &self.upload_id, number, body)
            .await?;
        self.parts.push(part);
        if self.tail_stored > 0 {
            // The part holds the tail's bytes now.
            self.delete_stale_tail(&self.tail_key(number)).await;
            self.tail_stored = 0;
        }
        self.spool.clear().await
    }

    /// A stale tail is ignored by every reader, so failing to delete it
    /// only leaves it for the next resume or the abort.
    async fn delete_stale_tail(&self, key: &str) {
        if let Err(err) = self.store.delete(key).await {
            tracing::warn!(key, %err, "could not delete a stale upload tail");
        }
    }

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
