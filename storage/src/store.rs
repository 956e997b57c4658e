//! The contract every backend keeps.

use std::fmt;
use std::future::Future;
use std::ops::Range;

use crate::body::{Body, ByteStream};
use crate::error::{Result, StorageError};
use crate::fs::LocalUploads;

/// An object's key and size, as `head` and `list` report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    pub key: String,
    pub size: u64,
}

/// A read in progress: the object's total size, the byte range being sent
/// and its chunks.
pub struct Object {
    pub size: u64,
    pub range: Range<u64>,
    pub body: ByteStream,
}

impl fmt::Debug for Object {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Object")
            .field("size", &self.size)
            .field("range", &self.range)
            .finish_non_exhaustive()
    }
}

/// One uploaded part of a multipart upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// 1 to [`MAX_PART_NUMBER`].
    pub number: u32,
    pub size: u64,
    pub etag: String,
}

/// S3's highest part number; the filesystem store keeps the same limit.
pub const MAX_PART_NUMBER: u32 = 10_000;

/// An object store: whole-object writes, ranged reads, listing, deletion and
/// multipart-shaped writes. Keys are checked by [`crate::validate_key`].
///
/// Multipart uploads follow S3: parts are numbered, a part may be uploaded
/// again under the same number (the last write wins), every part but the
/// last must have at least [`ObjectStore::min_part_size`] bytes, and
/// completion joins the listed parts in order and drops the others.
pub trait ObjectStore: Send + Sync + 'static {
    /// The size of the parts a [`crate::ResumableUpload`] sends as its bytes
    /// arrive (with [`ObjectStore::local_uploads`], how many bytes it takes
    /// at most between two syncs of its file).
    fn part_size(&self) -> u64;

    /// The smallest part the store accepts, the last one excepted.
    fn min_part_size(&self) -> u64;

    /// Writes a whole object, replacing any object at `key` at once: readers
    /// see the old object or the new one, never a part of either.
    fn put(&self, key: &str, body: Body) -> impl Future<Output = Result<()>> + Send;

    /// Reads an object, or the bytes `range` of it. The end of the range is
    /// clamped to the object's size (`start..u64::MAX` reads to the end).
    /// An empty range is `InvalidRange`; one that starts at or past the end is
    /// `RangeNotSatisfiable`.
    fn get(
        &self,
        key: &str,
        range: Option<Range<u64>>,
    ) -> impl Future<Output = Result<Object>> + Send;

    fn head(&self, key: &str) -> impl Future<Output = Result<ObjectMeta>> + Send;

    /// The objects whose keys start with `prefix` (a plain string prefix, as
    /// in S3), ordered by key.
    fn list(&self, prefix: &str) -> impl Future<Output = Result<Vec<ObjectMeta>>> + Send;

    /// Deletes an object; deleting a missing object succeeds.
    fn delete(&self, key: &str) -> impl Future<Output = Result<()>> + Send;

    /// Deletes every object whose key starts with a non-empty `prefix`;
    /// returns how many were deleted.
    fn delete_prefix(&self, prefix: &str) -> impl Future<Output = Result<u64>> + Send;

    /// Starts a multipart upload to `key`; returns its id.
    fn create_upload(&self, key: &str) -> impl Future<Output = Result<String>> + Send;

    fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        number: u32,
        body: Body,
    ) -> impl Future<Output = Result<Part>> + Send;

    /// The parts uploaded so far, by number.
    fn list_parts(
        &self,
        key: &str,
        upload_id: &str,
    ) -> impl Future<Output = Result<Vec<Part>>> + Send;

    /// Joins `parts` (ascending numbers) into the object at `key` and ends
    /// the upload.
    fn complete_upload(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[Part],
    ) -> impl Future<Output = Result<()>> + Send;

    /// Ends the upload and drops its parts.
    fn abort_upload(&self, key: &str, upload_id: &str) -> impl Future<Output = Result<()>> + Send;

    /// Where the store keeps uploads as local files, when it does (the
    /// filesystem store): a [`crate::ResumableUpload`] then appends bytes
    /// straight into one file of its upload, written once, instead of
    /// sending them as parts. None, the default, keeps it on parts.
    fn local_uploads(&self) -> Option<LocalUploads> {
        None
    }
}

/// Checks a requested range against an object's size; None reads it all.
pub(crate) fn resolve_range(range: Option<Range<u64>>, size: u64) -> Result<Range<u64>> {
    let Some(range) = range else {
        return Ok(0..size);
    };
    check_range(&range)?;
    if range.start >= size {
        return Err(StorageError::RangeNotSatisfiable {
            start: range.start,
            size,
        });
    }
    Ok(range.start..range.end.min(size))
}

pub(crate) fn check_range(range: &Range<u64>) -> Result<()> {
    if range.is_empty() {
        return Err(StorageError::InvalidRange {
            start: range.start,
            end: range.end,
        });
    }
    Ok(())
}

/// Checks a part number and, for completion, that numbers ascend.
pub(crate) fn check_part_number(number: u32) -> Result<()> {
    if number == 0 || number > MAX_PART_NUMBER {
        return Err(StorageError::InvalidPart {
            part_number: number,
            reason: "part numbers go from 1 to 10000",
        });
    }
    Ok(())
}

pub(crate) fn check_completion(parts: &[Part]) -> Result<()> {
    let Some(first) = parts.first() else {
        return Err(StorageError::InvalidPart {
            part_number: 0,
            reason: "an upload completes with one part at least",
        });
    };
    check_part_number(first.number)?;
    for pair in parts.windows(2) {
        if pair[1].number <= pair[0].number {
            return Err(StorageError::InvalidPart {
                part_number: pair[1].number,
                reason: "part numbers must ascend",
            });
        }
        check_part_number(pair[1].number)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_clamped_and_checked() {
        assert_eq!(resolve_range(None, 10).unwrap(), 0..10);
        assert_eq!(resolve_range(Some(2..5), 10).unwrap(), 2..5);
        assert_eq!(resolve_range(Some(2..u64::MAX), 10).unwrap(), 2..10);
        assert!(matches!(
            resolve_range(Some(5..5), 10),
            Err(StorageError::InvalidRange { .. })
        ));
        assert!(matches!(
            resolve_range(Some(10..11), 10),
            Err(StorageError::RangeNotSatisfiable {
                start: 10,
                size: 10
            })
        ));
        assert!(matches!(
            resolve_range(Some(0..1), 0),
            Err(StorageError::RangeNotSatisfiable { .. })
        ));
    }

    #[test]
    fn completion_needs_ascending_parts() {
        let part = |number| Part {
            number,
            size: 1,
            etag: String::new(),
        };
        assert!(check_completion(&[part(1), part(2), part(5)]).is_ok());
        assert!(check_completion(&[]).is_err());
        assert!(check_completion(&[part(2), part(2)]).is_err());
        assert!(check_completion(&[part(0)]).is_err());
        assert!(check_completion(&[part(1), part(10_001)]).is_err());
    }
}
