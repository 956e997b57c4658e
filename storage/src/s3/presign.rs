//! Presigned URLs: a holder of one can read an object, or send one part of a
//! multipart upload, straight to the bucket until the URL expires.

use std::time::Duration;

use aws_sdk_s3::presigning::PresigningConfig;

use super::S3Store;
use super::error::request_error;
use crate::error::Result;
use crate::key::validate_key;
use crate::store::check_part_number;

fn presigning(operation: &'static str, expires_in: Duration) -> Result<PresigningConfig> {
    PresigningConfig::expires_in(expires_in).map_err(|err| request_error(operation, err))
}

impl S3Store {
    /// A URL that GETs the object at `key` (Range requests included).
    pub async fn presign_get(&self, key: &str, expires_in: Duration) -> Result<String> {
        validate_key(key)?;
        let request = self
            .client
            .get_object()
            .bucket(&*self.bucket)
            .key(key)
            .presigned(presigning("GetObject", expires_in)?)
            .await
            .map_err(|err| request_error("GetObject", err))?;
        Ok(request.uri().to_owned())
    }

    /// A URL that PUTs part `number` of multipart upload `upload_id`.
    pub async fn presign_upload_part(
        &self,
        key: &str,
        upload_id: &str,
        number: u32,
        expires_in: Duration,
    ) -> Result<String> {
        validate_key(key)?;
        check_part_number(number)?;
        let request = self
            .client
            .upload_part()
            .bucket(&*self.bucket)
            .key(key)
            .upload_id(upload_id)
            .part_number(number as i32)
            .presigned(presigning("UploadPart", expires_in)?)
            .await
            .map_err(|err| request_error("UploadPart", err))?;
        Ok(request.uri().to_owned())
    }
}
