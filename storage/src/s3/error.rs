//! S3 errors, sorted into the ones callers act on and the rest.

use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use crate::error::StorageError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    NoSuchKey,
    NoSuchUpload,
    InvalidRange,
    /// Completion refused the list of parts: the upload is still open.
    PartsRejected,
    Other,
}

/// A failed S3 call: what it means to a store, and the SDK's error.
pub(super) struct Failure {
    kind: Kind,
    error: StorageError,
}

impl Failure {
    pub(super) fn of<E>(operation: &'static str, err: SdkError<E>) -> Failure
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let status = err
            .raw_response()
            .map(|response| response.status().as_u16());
        let kind = match (err.code(), status) {
            (Some("NoSuchUpload"), _) => Kind::NoSuchUpload,
            // HEAD answers carry no body, so no code: only a status.
            (Some("NoSuchKey" | "NotFound"), _) | (None, Some(404)) => Kind::NoSuchKey,
            (Some("InvalidRange"), _) | (_, Some(416)) => Kind::InvalidRange,
            (Some("InvalidPart" | "InvalidPartOrder" | "EntityTooSmall"), _) => Kind::PartsRejected,
            _ => Kind::Other,
        };
        if kind == Kind::PartsRejected {
            return Failure {
                kind,
                error: StorageError::PartsRejected {
                    message: format!(
                        "{}: {}",
                        err.code().unwrap_or_default(),
                        err.message().unwrap_or("no message")
                    ),
                },
            };
        }
        Failure {
            kind,
            error: StorageError::S3 {
                operation,
                message: DisplayErrorContext(&err).to_string(),
                source: Box::new(err),
            },
        }
    }

    pub(super) fn is_invalid_range(&self) -> bool {
        self.kind == Kind::InvalidRange
    }

    /// The error for a call on the object at `key`.
    pub(super) fn on_object(self, key: &str) -> StorageError {
        match self.kind {
            Kind::NoSuchKey => StorageError::NotFound { key: key.into() },
            _ => self.error,
        }
    }

    /// The error for a call on multipart upload `upload_id`.
    pub(super) fn on_upload(self, key: &str, upload_id: &str) -> StorageError {
        match self.kind {
            Kind::NoSuchUpload => StorageError::UploadNotFound {
                key: key.into(),
                upload_id: upload_id.into(),
            },
            _ => self.error,
        }
    }

    /// The error for a call on no object in particular.
    pub(super) fn other(self) -> StorageError {
        self.error
    }
}

/// An error for an answer that lacks what S3 always sends.
pub(super) fn malformed(operation: &'static str, what: &str) -> StorageError {
    StorageError::S3 {
        operation,
        message: format!("the answer has no {what}"),
        source: format!("{operation}: no {what}").into(),
    }
}

/// An error for a request the SDK could not build (or presign).
pub(super) fn request_error<E>(operation: &'static str, err: E) -> StorageError
where
    E: std::error::Error + Send + Sync + 'static,
{
    StorageError::S3 {
        operation,
        message: err.to_string(),
        source: Box::new(err),
    }
}
