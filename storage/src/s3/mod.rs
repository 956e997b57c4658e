//! The S3 store, on the AWS SDK: any S3-compatible server, or AWS itself.

mod body;
mod config;
mod error;
mod presign;

use std::ops::Range;
use std::sync::Arc;

use aws_sdk_s3::Client;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, Delete, ObjectIdentifier};

use crate::body::Body;
use crate::error::{Result, StorageError};
use crate::key::{validate_key, validate_prefix};
use crate::store::{
    Object, ObjectMeta, ObjectStore, Part, check_completion, check_part_number, check_range,
};
use config::MIN_PART_SIZE;
pub use config::S3Config;
use error::{Failure, malformed, request_error};

/// Objects in an S3 bucket. Cloning is cheap.
#[derive(Debug, Clone)]
pub struct S3Store {
    client: Client,
    bucket: Arc<str>,
    part_size: u64,
}

impl S3Store {
    /// A store on `config`'s bucket. No request is made: a wrong endpoint or
    /// missing credentials show on the first call.
    pub async fn new(config: S3Config) -> Result<S3Store> {
        config.check()?;
        Ok(S3Store {
            client: config.client().await,
            bucket: config.bucket.into(),
            part_size: config.part_size,
        })
    }

    /// The SDK client, for what the trait does not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }
}

/// An HTTP Range header for a checked, non-empty range.
fn range_header(range: &Range<u64>) -> String {
    if range.end == u64::MAX {
        format!("bytes={}-", range.start)
    } else {
        format!("bytes={}-{}", range.start, range.end - 1)
    }
}

/// `bytes <first>-<last>/<size>` as the range it names and the size.
fn parse_content_range(header: &str) -> Option<(Range<u64>, u64)> {
    let (span, size) = header.strip_prefix("bytes ")?.split_once('/')?;
    let (first, last) = span.split_once('-')?;
    let (first, last): (u64, u64) = (first.parse().ok()?, last.parse().ok()?);
    Some((first..last.checked_add(1)?, size.parse().ok()?))
}

fn to_i64(value: u64, what: &'static str) -> Result<i64> {
    i64::try_from(value).map_err(|_| StorageError::Config(format!("{what} {value} is too large")))
}

impl ObjectStore for S3Store {
    fn part_size(&self) -> u64 {
        self.part_size
    }

    fn min_part_size(&self) -> u64 {
        MIN_PART_SIZE
    }

    async fn put(&self, key: &str, body: Body) -> Result<()> {
        validate_key(key)?;
        let len = to_i64(body.len(), "length")?;
        self.client
            .put_object()
            .bucket(&*self.bucket)
            .key(key)
            .content_length(len)
            .body(body::to_sdk(body).await?)
            .send()
            .await
            .map_err(|err| Failure::of("PutObject", err).on_object(key))?;
        Ok(())
    }

    async fn get(&self, key: &str, range: Option<Range<u64>>) -> Result<Object> {
        validate_key(key)?;
        let mut request = self.client.get_object().bucket(&*self.bucket).key(key);
        if let Some(range) = &range {
            check_range(range)?;
            request = request.range(range_header(range));
        }
        let output = match request.send().await {
            Ok(output) => output,
            Err(err) => {
                let failure = Failure::of("GetObject", err);
                if let (true, Some(range)) = (failure.is_invalid_range(), &range) {
                    // S3 does not say how large the object is.
                    let size = self.head(key).await?.size;
                    return Err(StorageError::RangeNotSatisfiable {
                        start: range.start,
                        size,
                    });
                }
                return Err(failure.on_object(key));
            }
        };
        let (range, size) = match output.content_range().and_then(parse_content_range) {
            Some(found) => found,
            None => {
                let size = output
                    .content_length()
                    .and_then(|len| u64::try_from(len).ok())
                    .ok_or_else(|| malformed("GetObject", "Content-Length"))?;
                (0..size, size)
            }
        };
        Ok(Object {
            size,
            range,
            body: body::from_sdk(output.body, key.to_owned()),
        })
    }

    async fn head(&self, key: &str) -> Result<ObjectMeta> {
        validate_key(key)?;
        let output = self
            .client
            .head_object()
            .bucket(&*self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|err| Failure::of("HeadObject", err).on_object(key))?;
        let size = output
            .content_length()
            .and_then(|len| u64::try_from(len).ok())
            .ok_or_else(|| malformed("HeadObject", "Content-Length"))?;
        Ok(ObjectMeta {
            key: key.into(),
            size,
        })
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>> {
        validate_prefix(prefix)?;
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&*self.bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        let mut found = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|err| Failure::of("ListObjectsV2", err).other())?;
            for object in page.contents() {
                let key = object
                    .key()
                    .ok_or_else(|| malformed("ListObjectsV2", "Key"))?;
                let size = object.size().and_then(|size| u64::try_from(size).ok());
                found.push(ObjectMeta {
                    key: key.into(),
                    size: size.ok_or_else(|| malformed("ListObjectsV2", "Size"))?,
                });
            }
        }
        Ok(found)
    }

    async fn delete(&self, key: &str) -> Result<()> {
        validate_key(key)?;
        match self
            .client
            .delete_object()
            .bucket(&*self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(err) => match Failure::of("DeleteObject", err).on_object(key) {
                StorageError::NotFound { .. } => Ok(()),
                err => Err(err),
            },
        }
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<u64> {
        if prefix.is_empty() {
            return Err(StorageError::InvalidKey {
                key: String::new(),
                reason: "deleting needs a non-empty prefix",
            });
        }
        validate_prefix(prefix)?;
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&*self.bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        let mut deleted = 0;
        // Each page has 1000 keys at most, what one DeleteObjects takes.
        while let Some(page) = pages.next().await {
            let page = page.map_err(|err| Failure::of("ListObjectsV2", err).other())?;
            let objects = page
                .contents()
                .iter()
                .filter_map(|object| object.key())
                .map(|key| ObjectIdentifier::builder().key(key).build())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|err| request_error("DeleteObjects", err))?;
            if objects.is_empty() {
                continue;
            }
            let count = objects.len() as u64;
            let delete = Delete::builder()
                .set_objects(Some(objects))
                .quiet(true)
                .build()
                .map_err(|err| request_error("DeleteObjects", err))?;
            let output = self
                .client
                .delete_objects()
                .bucket(&*self.bucket)
                .delete(delete)
                .send()
                .await
                .map_err(|err| Failure::of("DeleteObjects", err).other())?;
            if let Some(error) = output.errors().first() {
                return Err(StorageError::S3 {
                    operation: "DeleteObjects",
                    message: format!(
                        "{} keys not deleted, {:?} first: {}",
                        output.errors().len(),
                        error.key().unwrap_or_default(),
                        error.message().unwrap_or_default()
                    ),
                    source: "DeleteObjects: some keys not deleted".into(),
                });
            }
            deleted += count;
        }
        Ok(deleted)
    }

    async fn create_upload(&self, key: &str) -> Result<String> {
        validate_key(key)?;
        let output = self
            .client
            .create_multipart_upload()
            .bucket(&*self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|err| Failure::of("CreateMultipartUpload", err).on_object(key))?;
        output
            .upload_id()
            .map(str::to_owned)
            .ok_or_else(|| malformed("CreateMultipartUpload", "UploadId"))
    }

    async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        number: u32,
        body: Body,
    ) -> Result<Part> {
        validate_key(key)?;
        check_part_number(number)?;
        let size = body.len();
        let output = self
            .client
            .upload_part()
            .bucket(&*self.bucket)
            .key(key)
            .upload_id(upload_id)
            .part_number(to_i32(number))
            .content_length(to_i64(size, "part length")?)
            .body(body::to_sdk(body).await?)
            .send()
            .await
            .map_err(|err| Failure::of("UploadPart", err).on_upload(key, upload_id))?;
        let etag = output
            .e_tag()
            .ok_or_else(|| malformed("UploadPart", "ETag"))?;
        Ok(Part {
            number,
            size,
            etag: etag.into(),
        })
    }

    async fn list_parts(&self, key: &str, upload_id: &str) -> Result<Vec<Part>> {
        validate_key(key)?;
        let mut pages = self
            .client
            .list_parts()
            .bucket(&*self.bucket)
            .key(key)
            .upload_id(upload_id)
            .into_paginator()
            .send();
        let mut parts = Vec::new();
        while let Some(page) = pages.next().await {
            let page =
                page.map_err(|err| Failure::of("ListParts", err).on_upload(key, upload_id))?;
            for part in page.parts() {
                let number = part.part_number().and_then(|n| u32::try_from(n).ok());
                let size = part.size().and_then(|size| u64::try_from(size).ok());
                parts.push(Part {
                    number: number.ok_or_else(|| malformed("ListParts", "PartNumber"))?,
                    size: size.ok_or_else(|| malformed("ListParts", "Size"))?,
                    // S3 always lists a part's ETag; s3s-fs (the test
                    // server) never does, and ignores them on completion.
                    etag: part.e_tag().unwrap_or_default().into(),
                });
            }
        }
        parts.sort_by_key(|part| part.number);
        Ok(parts)
    }

    async fn complete_upload(&self, key: &str, upload_id: &str, parts: &[Part]) -> Result<()> {
        validate_key(key)?;
        check_completion(parts)?;
        let completed = parts
            .iter()
            .map(|part| {
                CompletedPart::builder()
                    .part_number(to_i32(part.number))
                    .e_tag(&part.etag)
                    .build()
            })
            .collect();
        self.client
            .complete_multipart_upload()
            .bucket(&*self.bucket)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(completed))
                    .build(),
            )
            .send()
            .await
            .map_err(|err| Failure::of("CompleteMultipartUpload", err).on_upload(key, upload_id))?;
        Ok(())
    }

    async fn abort_upload(&self, key: &str, upload_id: &str) -> Result<()> {
        validate_key(key)?;
        self.client
            .abort_multipart_upload()
            .bucket(&*self.bucket)
            .key(key)
            .upload_id(upload_id)
            .send()
            .await
            .map_err(|err| Failure::of("AbortMultipartUpload", err).on_upload(key, upload_id))?;
        Ok(())
    }
}

/// A part number, checked to be at most 10000.
fn to_i32(number: u32) -> i32 {
    i32::try_from(number).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_headers() {
        assert_eq!(range_header(&(0..10)), "bytes=0-9");
        assert_eq!(range_header(&(5..u64::MAX)), "bytes=5-");
    }

    #[test]
    fn content_ranges() {
        assert_eq!(parse_content_range("bytes 0-9/100"), Some((0..10, 100)));
        assert_eq!(parse_content_range("bytes 5-5/6"), Some((5..6, 6)));
        assert_eq!(parse_content_range("bytes */100"), None);
        assert_eq!(parse_content_range("items 0-1/2"), None);
    }
}
