//! An upload's bytes kept as parts, on any store: they wait in a spool until
//! they make a part, and what is too small for one is kept as a tail object
//! (see the module above for how).

use std::path::Path;

use bytes::Bytes;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use super::Target;
use super::spool::Spool;
use crate::body::Body;
use crate::error::Result;
use crate::store::{ObjectStore, Part};

pub(super) struct Parts {
    /// The parts in the store, by number.
    parts: Vec<Part>,
    /// The bytes past the parts: those of the tail object, then those of the
    /// current append.
    spool: Spool,
    /// How many of the spool's bytes the tail object holds.
    tail_stored: u64,
}

impl Parts {
    /// No parts yet; bytes wait in a file in `spool_dir`.
    pub(super) async fn new(spool_dir: &Path) -> Result<Parts> {
        Ok(Parts {
            parts: Vec::new(),
            spool: Spool::new(spool_dir).await?,
            tail_stored: 0,
        })
    }

    /// The bytes the store holds.
    pub(super) fn offset(&self) -> u64 {
        self.parts.iter().map(|part| part.size).sum::<u64>() + self.tail_stored
    }

    /// The upload holds its last, short, part (a completion was under way
    /// when the process stopped): it takes no more bytes.
    pub(super) fn sealed<S: ObjectStore>(&self, store: &S) -> bool {
        self.parts
            .last()
            .is_some_and(|part| part.size < store.min_part_size())
    }

    fn next_part_number(&self) -> u32 {
        self.parts.last().map_or(1, |part| part.number + 1)
    }

    /// Rebuilds the parts, the tail and the offset from the store.
    pub(super) async fn reload<S: ObjectStore>(&mut self, target: &Target<S>) -> Result<()> {
        self.parts = target
            .store
            .list_parts(&target.key, &target.upload_id)
            .await?;
        self.spool.clear().await?;
        self.tail_stored = 0;
        let live_tail =
            (!self.sealed(&target.store)).then(|| tail_key(target, self.next_part_number()));
        for object in target.store.list(&tail_prefix(target)).await? {
            if Some(&object.key) == live_tail.as_ref() {
                let mut tail = target.store.get(&object.key, None).await?.body;
                while let Some(chunk) = tail.next().await {
                    self.spool.write(&chunk?).await?;
                }
                self.tail_stored = self.spool.len();
            } else {
                delete_stale_tail(target, &object.key).await;
            }
        }
        Ok(())
    }

    /// Adds bytes to the spool, uploading a part each time it fills.
    pub(super) async fn write<S: ObjectStore>(
        &mut self,
        target: &Target<S>,
        mut chunk: Bytes,
    ) -> Result<()> {
        let part_size = target.store.part_size();
        while !chunk.is_empty() {
            let room = usize::try_from(part_size - self.spool.len()).unwrap_or(usize::MAX);
            let piece = chunk.split_to(room.min(chunk.len()));
            self.spool.write(&piece).await?;
            if self.spool.len() == part_size {
                self.upload_spool_as_part(target).await?;
            }
        }
        Ok(())
    }

    /// Makes what the spool holds beyond the tail object durable: as a part
    /// when the store takes a part that small, else as the new tail.
    pub(super) async fn persist<S: ObjectStore>(&mut self, target: &Target<S>) -> Result<()> {
        let len = self.spool.len();
        if len == self.tail_stored {
            return Ok(());
        }
        if len >= target.store.min_part_size() {
            return self.upload_spool_as_part(target).await;
        }
        let tail_key = tail_key(target, self.next_part_number());
        let body = self.spool.body().await?;
        target.store.put(&tail_key, body).await?;
        self.tail_stored = len;
        Ok(())
    }

    /// Joins the parts into the object; returns its size.
    pub(super) async fn complete<S: ObjectStore>(mut self, target: &Target<S>) -> Result<u64> {
        if self.spool.len() > 0 {
            self.upload_spool_as_part(target).await?;
        }
        // Tails go before the upload does: once it is complete, a crash
        // would leave them where no resume could find them.
        target.store.delete_prefix(&tail_prefix(target)).await?;
        if self.parts.is_empty() {
            // S3 completes no upload without a part: an empty object is a put.
            target.abort_upload_if_any().await?;
            target
                .store
                .put(&target.key, Body::Bytes(Bytes::new()))
                .await?;
        } else {
            target
                .store
                .complete_upload(&target.key, &target.upload_id, &self.parts)
                .await?;
        }
        Ok(self.offset())
    }

    /// Ends the upload and removes its parts and tails.
    pub(super) async fn abort<S: ObjectStore>(self, target: &Target<S>) -> Result<()> {
        target.abort_upload_if_any().await?;
        target.store.delete_prefix(&tail_prefix(target)).await?;
        Ok(())
    }

    async fn upload_spool_as_part<S: ObjectStore>(&mut self, target: &Target<S>) -> Result<()> {
        let number = self.next_part_number();
        let body = self.spool.body().await?;
        let part = target
            .store
            .upload_part(&target.key, &target.upload_id, number, body)
            .await?;
        self.parts.push(part);
        if self.tail_stored > 0 {
            // The part holds the tail's bytes now.
            delete_stale_tail(target, &tail_key(target, number)).await;
            self.tail_stored = 0;
        }
        self.spool.clear().await
    }
}

/// Tail objects share this prefix; the upload id is hashed in so that two
/// uploads to one key never see each other's tails.
fn tail_prefix<S>(target: &Target<S>) -> String {
    let digest = Sha256::digest(target.upload_id.as_bytes());
    let hash: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("{}.{hash}.tail.", target.key)
}

fn tail_key<S>(target: &Target<S>, part_number: u32) -> String {
    format!("{}{part_number}", tail_prefix(target))
}

/// A stale tail is ignored by every reader, so failing to delete it only
/// leaves it for the next resume or the abort.
async fn delete_stale_tail<S: ObjectStore>(target: &Target<S>, key: &str) {
    if let Err(err) = target.store.delete(key).await {
        tracing::warn!(key, %err, "could not delete a stale upload tail");
    }
}
